# Every option on: two target groups (public and internal ALB), Fargate Spot
# next to on-demand, secrets from SSM and Secrets Manager, alarm rollback, a
# tuned circuit breaker, ECS Exec (with its writable SSM agent volumes),
# KMS-encrypted logs, the contrib collector, extra ephemeral storage, prefix
# list and downstream egress rules, an IAM path and permissions boundary.

provider "aws" {
  region = "eu-west-1"

  default_tags {
    tags = { "paved-road/example" = "ecs-service-complete" }
  }
}

module "ecs_service" {
  source = "../.."

  name          = "orders"
  environment   = "staging"
  cluster_arn   = "arn:aws:ecs:eu-west-1:123456789012:cluster/apps-staging"
  architectures = ["amd64", "arm64"]
  cpu           = 1024
  memory        = 2048

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
  deployment_circuit_breaker = {
    enable   = true
    rollback = true
  }
  deployment_strategy   = "ROLLING"
  force_new_deployment  = true
  ephemeral_storage_gib = 40

  # One on-demand task always, then three Spot tasks for every on-demand one.
  capacity_provider_strategy = [
    { capacity_provider = "FARGATE", base = 1, weight = 1 },
    { capacity_provider = "FARGATE_SPOT", weight = 3 },
  ]

  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  ingress_security_groups = {
    public-alb    = "sg-0bbbbbbbbbbbbbbbb"
    internal-alb  = "sg-0dddddddddddddddd"
    batch-workers = "sg-0aaaaaaaaaaaaaaaa"
  }
  ingress_rules = {
    vpn-metrics = { description = "Metrics port from the VPN", from_port = 9464, to_port = 9464, cidr_ipv4 = "10.8.0.0/16" }
  }
  egress_rules = {
    https      = { description = "HTTPS to AWS APIs and downstream services", from_port = 443, to_port = 443, cidr_ipv4 = "0.0.0.0/0" }
    s3-gateway = { description = "ECR image layers through the S3 gateway endpoint", from_port = 443, to_port = 443, prefix_list_id = "pl-6da54004" }
    postgres   = { description = "Orders database", from_port = 5432, to_port = 5432, referenced_security_group_id = "sg-0cccccccccccccccc" }
  }
  load_balancers = {
    public = {
      scale_on_requests = true
      load_balancer_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/public/50dc6c495c0c9188"
      target_group_arn  = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/orders-staging/73e2d6bc24d8a067"
    }
    internal = {
      target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/orders-staging-int/83e2d6bc24d8a068"
    }
  }

  iam_role_path                = "/services/"
  iam_permissions_boundary_arn = "arn:aws:iam::123456789012:policy/service-boundary"

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
