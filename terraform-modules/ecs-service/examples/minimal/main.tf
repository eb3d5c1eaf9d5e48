# The defaults: ADOT collector, no load balancer, CPU and memory autoscaling.

provider "aws" {
  region = "eu-west-1"
}

module "ecs_service" {
  source = "../.."

  name               = "demo-service"
  environment        = "production"
  cluster_arn        = "arn:aws:ecs:eu-west-1:123456789012:cluster/apps-production"
  image              = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo-service:1.0.0"
  ecr_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/demo-service"
  vpc_id             = "vpc-0123456789abcdef0"
  subnet_ids         = ["subnet-0123456789abcdef0"]
}

output "service_name" {
  description = "Name of the ECS service"
  value       = module.ecs_service.service_name
}
