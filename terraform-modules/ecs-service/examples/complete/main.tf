# Every option on: a load balancer in front, secrets from SSM and Secrets
# Manager, alarm rollback, ECS Exec, KMS-encrypted logs, the contrib collector.

provider "aws" {
  region = "eu-west-1"

  default_tags {
    tags = { "paved-road/example" = "ecs-service-complete" }
  }
}

module "ecs_service" {
  source = "../.."

  name            = "orders"
  environment     = "staging"
  cluster_arn     = "arn:aws:ecs:eu-west-1:123456789012:cluster/apps-staging"
  architectures   = ["amd64", "arm64"]
  cpu             = 1024
  memory          = 2048

  image              = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders@sha256:0f3c6c0f1a4a4f05f8a4c0a7d9f5f3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6"
  ecr_repository_arn = "arn:aws:ecr:eu-west-1:123456789012:repository/orders"
  container_port     = 3000
  trace_sample_ratio = 0.25

  environment_variables = {
    DOWNSTREAM_URL = "https://inventory.internal.example.com"
  }
  secrets = {
    DATABASE_URL = "arn:aws:ssm:eu-west-1:123456789012:parameter/orders/staging/database-url"
    API_TOKEN    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders/staging/api-AbCdEf:token::"
  }
  secrets_kms_key_arns = ["arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"]

  collector = {
    distribution = "contrib"
    cpu          = 256
    memory       = 512
  }

  log_retention_days = 400
  log_kms_key_arn    = "arn:aws:kms:eu-west-1:123456789012:key/66666666-7777-8888-9999-000000000000"

  desired_count          = 3
  deployment_alarm_names = ["orders-staging-5xx"]

  vpc_id                     = "vpc-0123456789abcdef0"
  subnet_ids                 = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  ingress_security_group_ids = ["sg-0aaaaaaaaaaaaaaaa"]
  load_balancer = {
    arn               = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/internal/50dc6c495c0c9188"
    security_group_id = "sg-0bbbbbbbbbbbbbbbb"
    target_group_arn  = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/orders-staging/73e2d6bc24d8a067"
  }

  enable_execute_command = true
  task_role_statements = [
    {
      sid       = "OrdersQueue"
      actions   = ["sqs:SendMessage"]
      resources = ["arn:aws:sqs:eu-west-1:123456789012:orders-staging"]
    },
  ]

  autoscaling = {
    min_capacity        = 3
    max_capacity        = 12
    requests_per_target = 500
  }

  tags = { team = "checkout" }
}

output "container_definitions" {
  description = "Container definitions the module registers"
  value       = module.ecs_service.container_definitions
}
