################################################################################
# From the Copier answers (environments/<env>.tfvars)
################################################################################

variable "service_name" {
  description = "Service name (ECS service, ECR repository, telemetry service.name)"
  type        = string
}

variable "environment" {
  description = "Environment this configuration deploys (staging or production)"
  type        = string

  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be one of staging, production."
  }
}

variable "owner" {
  description = "Owning team, as in catalog-info.yaml"
  type        = string
}

variable "github_repository" {
  description = "GitHub repository of the service (OWNER/NAME)"
  type        = string
}

variable "github_owner_id" {
  description = "Numeric ID of the repository's owner (gh api repos/OWNER/NAME --jq .owner.id); GitHub's immutable OIDC subjects carry it"
  type        = string
}

variable "github_repository_id" {
  description = "Numeric ID of the repository (gh api repos/OWNER/NAME --jq .id); GitHub's immutable OIDC subjects carry it"
  type        = string
}

variable "oidc_subject_form" {
  description = "Subject form of the repository's OIDC tokens: immutable (repo:OWNER@ID/NAME@ID) or name-only (an older repository that has not opted in)"
  type        = string
}

variable "oidc_workflow_bound" {
  description = "Whether the roles trust only their workflow files (the subject template infra/github sets: repo, context, job_workflow_ref)"
  type        = bool
}

variable "aws_region" {
  description = "AWS region of the service"
  type        = string
}

variable "aws_account_id" {
  description = "AWS account the configuration may touch (the provider refuses any other)"
  type        = string
}

variable "ecs_cluster_prefix" {
  description = "The service runs on the cluster <prefix>-<environment>"
  type        = string
}

variable "ecr_repository" {
  description = "ECR repository of the service's images"
  type        = string
}

variable "manage_ecr_repository" {
  description = "Whether this environment's state owns the ECR repository (exactly one environment does)"
  type        = bool
}

variable "architectures" {
  description = "Architectures the image is built for (amd64, arm64); ARM64 tasks when arm64 is built"
  type        = list(string)
}

variable "http_port" {
  description = "Port the app listens on"
  type        = number
}

variable "trace_sample_ratio" {
  description = "Root trace sampling ratio"
  type        = number
}

################################################################################
# Per environment
################################################################################

variable "initial_image_tag" {
  description = "SemVer tag of the image the first task-definition revision uses (your first release); the service runs no task until this tag is in ECR. CI deploys replace the revision and Terraform never reverts them"
  type        = string
}

variable "cpu" {
  description = "Task CPU units (Fargate)"
  type        = number
}

variable "memory" {
  description = "Task memory in MiB (a Fargate combination with cpu)"
  type        = number
}

variable "desired_count" {
  description = "Tasks the service runs when autoscaling is null"
  type        = number
}

variable "autoscaling" {
  description = "Autoscaling bounds and targets (see the ecs-service module); null disables"
  type = object({
    min_capacity        = optional(number, 2)
    max_capacity        = optional(number, 10)
    cpu_target          = optional(number, 60)
    memory_target       = optional(number, 75)
    requests_per_target = optional(number, 1000)
  })
}

variable "log_retention_days" {
  description = "Retention of the service's log groups in days"
  type        = number
}

variable "environment_variables" {
  description = "Extra environment variables for the app"
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "App secrets: variable name => SSM parameter or Secrets Manager ARN"
  type        = map(string)
  default     = {}
}

variable "deployment_alarm_names" {
  description = "Further CloudWatch alarms that roll a deployment back (besides the module's error-rate and latency alarms)"
  type        = list(string)
  default     = []
}

variable "alarms" {
  description = "The service's error-rate and latency alarms, which roll a bad deployment back (see the ecs-service module's alarms variable and README.md): thresholds, periods, datapoints, an sns_topic_arn to notify, enabled = false to turn them off. {} keeps the module's defaults"
  type        = any
  default     = {}

  # The module's object type silently drops a field it does not know, so a
  # misspelt setting (threshold for threshold_percent) would leave the default
  # in force without a word: refuse unknown fields here, where they are typed.
  # The lists are the module's alarms attributes (a test compares them).
  validation {
    condition     = try(alltrue([for k in keys(var.alarms) : contains(["enabled", "sns_topic_arn", "error_rate", "latency"], k)]), false)
    error_message = "alarms must be an object with only the fields enabled, sns_topic_arn, error_rate, latency."
  }

  validation {
    condition     = try(alltrue([for k in keys(try(coalesce(var.alarms.error_rate), {})) : contains(["enabled", "threshold_percent", "minimum_requests", "status_codes", "period_seconds", "evaluation_periods", "datapoints_to_alarm"], k)]), false)
    error_message = "alarms.error_rate may set only enabled, threshold_percent, minimum_requests, status_codes, period_seconds, evaluation_periods, datapoints_to_alarm."
  }

  validation {
    condition     = try(alltrue([for k in keys(try(coalesce(var.alarms.latency), {})) : contains(["enabled", "percentile", "threshold_seconds", "minimum_requests", "period_seconds", "evaluation_periods", "datapoints_to_alarm"], k)]), false)
    error_message = "alarms.latency may set only enabled, percentile, threshold_seconds, minimum_requests, period_seconds, evaluation_periods, datapoints_to_alarm."
  }
}

variable "ingress_security_groups" {
  description = "Security groups that may call the service on its port (a load balancer's, other services'): label => security group ID"
  type        = map(string)
  default     = {}
}

variable "load_balancers" {
  description = "Target groups the service registers in, by label (see the ecs-service module's load_balancers)"
  type = map(object({
    target_group_arn             = string
    container_port               = optional(number)
    scale_on_requests            = optional(bool, false)
    load_balancer_arn            = optional(string)
    alternate_target_group_arn   = optional(string)
    production_listener_rule_arn = optional(string)
    test_listener_rule_arn       = optional(string)
    role_arn                     = optional(string)
  }))
  default = {}
}

variable "capacity_provider_strategy" {
  description = "Fargate capacity providers (FARGATE, FARGATE_SPOT) with weight and base; empty runs every task on FARGATE"
  type = list(object({
    capacity_provider = string
    weight            = optional(number, 1)
    base              = optional(number, 0)
  }))
  default = []
}

variable "egress_rules" {
  description = "Egress rules of the tasks' security group (see the ecs-service module); null keeps the module's default (HTTPS anywhere)"
  type = map(object({
    description                  = optional(string)
    ip_protocol                  = optional(string, "tcp")
    from_port                    = optional(number)
    to_port                      = optional(number)
    cidr_ipv4                    = optional(string)
    cidr_ipv6                    = optional(string)
    prefix_list_id               = optional(string)
    referenced_security_group_id = optional(string)
  }))
  default = null
}
