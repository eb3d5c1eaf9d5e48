# ECS-native blue/green behind one ALB: ECS shifts the production listener
# rule from the blue to the green target group, keeps blue for the bake time
# (instant rollback), and the circuit breaker stays on. Autoscaling off: the
# service runs exactly desired_count tasks and Terraform can change that.

provider "aws" {
  region = "eu-west-1"
}

module "ecs_service" {
  source = "../.."

  name               = "payments"
  environment        = "production"
  cluster_arn        = "arn:aws:ecs:eu-west-1:123456789012:cluster/apps-production"
  image              = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments:2.3.1"
  ecr_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/payments"
  vpc_id             = "vpc-0123456789abcdef0"
  subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

  deployment_strategy          = "BLUE_GREEN"
  blue_green_bake_time_minutes = 10
  deployment_circuit_breaker   = { enable = true, rollback = true }

  load_balancers = {
    public = {
      load_balancer_arn            = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/public/50dc6c495c0c9188"
      target_group_arn             = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/payments-blue/73e2d6bc24d8a067"
      alternate_target_group_arn   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/payments-green/93e2d6bc24d8a069"
      production_listener_rule_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/public/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
      test_listener_rule_arn       = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/public/50dc6c495c0c9188/f2f7dc8efc522ab2/1683b2d02a6cabef"
      role_arn                     = "arn:aws:iam::123456789012:role/ecs-blue-green-elb"
    }
  }

  ingress_security_groups = {
    public-alb = "sg-0bbbbbbbbbbbbbbbb"
  }

  autoscaling   = null
  desired_count = 4
}

output "service_name" {
  description = "Name of the ECS service"
  value       = module.ecs_service.service_name
}
