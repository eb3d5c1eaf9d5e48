################################################################################
# Service identity
################################################################################

variable "name" {
  description = "Service name: the ECS service, the app's OTEL_SERVICE_NAME and the prefix of every resource name"
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "name must be 2-32 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment (deployment.environment.name in telemetry, suffix of IAM, log group and parameter names)"
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}$", var.environment))
    error_message = "environment must be 1-16 lowercase letters, digits and hyphens, starting with a letter (e.g. staging, production)."
  }
}

variable "tags" {
  description = "Tags for every resource (ECS propagates the service's tags to its tasks)"
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Task definition
################################################################################

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs on"
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/.+$", var.cluster_arn))
    error_message = "cluster_arn must be an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)."
  }
}

variable "architectures" {
  description = "CPU architectures the service's image is built for (amd64, arm64); tasks run on ARM64 (Graviton) when arm64 is among them, otherwise on X86_64"
  type        = list(string)
  default     = ["amd64", "arm64"]

  validation {
    condition     = length(var.architectures) > 0 && alltrue([for a in var.architectures : contains(["amd64", "arm64"], a)])
    error_message = "architectures must be a non-empty list of amd64, arm64."
  }
}

variable "cpu" {
  description = "Task CPU units (Fargate: 256, 512, 1024, 2048, 4096, 8192, 16384); memory must be a valid Fargate combination for it"
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  description = "Task memory in MiB; checked against the Fargate combinations for cpu when the task definition is planned"
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880 && floor(var.memory) == var.memory
    error_message = "memory must be a whole number of MiB from 512 to 122880."
  }
}

variable "image" {
  description = "Image of the first task-definition revision, by digest (REPO@sha256:...) or tag (REPO:1.2.3); later revisions come from CI deploys"
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.image))
    error_message = "image must be REPOSITORY:TAG or REPOSITORY@sha256:DIGEST."
  }
}

variable "ecr_repository_arn" {
  description = "ARN of the ECR repository the app image is pulled from (scopes the execution role's ECR permissions)"
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", var.ecr_repository_arn))
    error_message = "ecr_repository_arn must be an ECR repository ARN (arn:aws:ecr:REGION:ACCOUNT:repository/NAME)."
  }
}

variable "container_port" {
  description = "Port the app listens on inside the container"
  type        = number
  default     = 3000

  validation {
    condition     = var.container_port >= 1024 && var.container_port <= 65535
    error_message = "container_port must be from 1024 to 65535."
  }
}

variable "app_user" {
  description = "User the app container runs as: uid:gid of the image's non-root node user"
  type        = string
  default     = "1000:1000"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$", var.app_user)) && !contains(["0", "root"], split(":", var.app_user)[0])
    error_message = "app_user must be a non-root user, USER or USER:GROUP (names or IDs, no spaces)."
  }
}

variable "stop_timeout" {
  description = "Seconds ECS waits after SIGTERM before SIGKILL (the app drains and flushes telemetry in this time; Fargate maximum 120)"
  type        = number
  default     = 30

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be from 2 to 120 seconds."
  }
}

variable "health_check_start_period" {
  description = "Seconds after start during which failed app health checks do not count"
  type        = number
  default     = 20

  validation {
    condition     = var.health_check_start_period >= 0 && var.health_check_start_period <= 300
    error_message = "health_check_start_period must be from 0 to 300 seconds."
  }
}

variable "trace_sample_ratio" {
  description = "Root sampling ratio for parentbased_traceidratio (OTEL_TRACES_SAMPLER_ARG)"
  type        = number
  default     = 1

  validation {
    condition     = var.trace_sample_ratio >= 0 && var.trace_sample_ratio <= 1
    error_message = "trace_sample_ratio must be from 0 to 1."
  }
}

variable "environment_variables" {
  description = "Extra plain environment variables for the app container; the names the module sets itself (OTEL_*, PORT, SERVICE_VERSION, DEPLOYMENT_ENVIRONMENT) are refused"
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.environment_variables) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "environment_variables keys must be environment variable names (letters, digits, underscores; not starting with a digit)."
  }

  # Keep in sync with local.module_environment (tests/terraform checks it).
  validation {
    condition     = alltrue([for k in keys(var.environment_variables) : !startswith(k, "OTEL_") && !contains(["PORT", "SERVICE_VERSION", "DEPLOYMENT_ENVIRONMENT"], k)])
    error_message = "environment_variables must not set OTEL_*, PORT, SERVICE_VERSION or DEPLOYMENT_ENVIRONMENT: the module sets them."
  }
}

variable "secrets" {
  description = "Secrets for the app container: environment variable name => ARN of an SSM parameter or a Secrets Manager secret (optionally with :json-key:version-stage:version-id); the module's own names are refused as for environment_variables"
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for v in values(var.secrets) : can(regex("^arn:aws[a-z-]*:(ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+|secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+)$", v))])
    error_message = "secrets values must be ARNs of SSM parameters (arn:aws:ssm:...:parameter/NAME) or Secrets Manager secrets (arn:aws:secretsmanager:...:secret:NAME)."
  }

  validation {
    condition     = alltrue([for k in keys(var.secrets) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k)) && !startswith(k, "OTEL_") && !contains(["PORT", "SERVICE_VERSION", "DEPLOYMENT_ENVIRONMENT"], k)])
    error_message = "secrets keys must be environment variable names other than OTEL_*, PORT, SERVICE_VERSION and DEPLOYMENT_ENVIRONMENT (the module sets those)."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the app's secrets (the execution role may decrypt with them); empty when AWS-managed keys are used"
  type        = list(string)
  default     = []
  nullable    = false
}

################################################################################
# Collector sidecar
################################################################################

variable "collector" {
  description = "OpenTelemetry Collector sidecar: distribution (adot = AWS Distro for OpenTelemetry, contrib = upstream otel contrib), cpu units and memory (MiB) reserved for it"
  type = object({
    distribution = optional(string, "adot")
    cpu          = optional(number, 128)
    memory       = optional(number, 256)
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains(["adot", "contrib"], var.collector.distribution)
    error_message = "collector.distribution must be one of adot, contrib."
  }

  validation {
    condition     = var.collector.cpu >= 64 && var.collector.memory >= 128
    error_message = "collector.cpu must be at least 64 and collector.memory at least 128 (MiB)."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch metrics namespace for the app's OTLP metrics (written as EMF); null means ECS/<name>"
  type        = string
  default     = null
}

################################################################################
# Logs
################################################################################

variable "log_retention_days" {
  description = "Retention of the module's CloudWatch log groups in days"
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the log groups; null keeps CloudWatch Logs' default encryption"
  type        = string
  default     = null
}

################################################################################
# Service
################################################################################

variable "desired_count" {
  description = "Tasks the service runs when autoscaling is null (Terraform keeps the count there through an Application Auto Scaling target with min = max = desired_count); with autoscaling, the count the service is created with. 0 parks the service, e.g. until its first release is deployed"
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.desired_count >= 0 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count must be a whole number, 0 or more."
  }
}

variable "paused" {
  description = "Run no task (Application Auto Scaling min = max = 0) while true, e.g. until the image of the first revision is pushed; autoscaling policies stay in place. May be unknown until apply"
  type        = bool
  default     = false
  nullable    = false
}

variable "capacity_provider_strategy" {
  description = "Fargate capacity providers and their shares, e.g. [{capacity_provider = \"FARGATE\", base = 1, weight = 1}, {capacity_provider = \"FARGATE_SPOT\", weight = 3}]; empty runs every task on FARGATE (launch type). The cluster must have these providers associated"
  type = list(object({
    capacity_provider = string
    weight            = optional(number, 1)
    base              = optional(number, 0)
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for s in var.capacity_provider_strategy : contains(["FARGATE", "FARGATE_SPOT"], s.capacity_provider)])
    error_message = "capacity_provider_strategy[*].capacity_provider must be FARGATE or FARGATE_SPOT."
  }

  validation {
    condition     = alltrue([for s in var.capacity_provider_strategy : s.weight >= 0 && s.weight <= 1000 && s.base >= 0 && s.base <= 100000]) && length([for s in var.capacity_provider_strategy : s if s.base > 0]) <= 1 && length(distinct([for s in var.capacity_provider_strategy : s.capacity_provider])) == length(var.capacity_provider_strategy)
    error_message = "capacity_provider_strategy: weight 0-1000, base 0-100000, a base on at most one provider, each provider once."
  }

  validation {
    condition     = length(var.capacity_provider_strategy) == 0 || anytrue([for s in var.capacity_provider_strategy : s.weight > 0])
    error_message = "capacity_provider_strategy needs a provider with weight > 0."
  }
}

variable "deployment_strategy" {
  description = "How ECS replaces tasks on a deployment: ROLLING, or BLUE_GREEN (ECS-native blue/green; every load_balancers entry then needs alternate_target_group_arn, production_listener_rule_arn and role_arn)"
  type        = string
  default     = "ROLLING"
  nullable    = false

  validation {
    condition     = contains(["ROLLING", "BLUE_GREEN"], var.deployment_strategy)
    error_message = "deployment_strategy must be one of ROLLING, BLUE_GREEN."
  }
}

variable "blue_green_bake_time_minutes" {
  description = "BLUE_GREEN only: minutes the new (green) tasks take production traffic while the old (blue) ones stay up for an instant rollback"
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.blue_green_bake_time_minutes >= 0 && var.blue_green_bake_time_minutes <= 1440
    error_message = "blue_green_bake_time_minutes must be from 0 to 1440."
  }
}

variable "deployment_circuit_breaker" {
  description = "Deployment circuit breaker: stop a deployment whose tasks keep failing to start (enable) and roll back to the last completed one (rollback)"
  type = object({
    enable   = optional(bool, true)
    rollback = optional(bool, true)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.deployment_circuit_breaker.enable || !var.deployment_circuit_breaker.rollback
    error_message = "deployment_circuit_breaker.rollback needs enable = true."
  }
}

variable "deployment_minimum_healthy_percent" {
  description = "Lower bound of running tasks during a deployment, in percent of desired_count"
  type        = number
  default     = 100

  validation {
    condition     = var.deployment_minimum_healthy_percent >= 0 && var.deployment_minimum_healthy_percent <= 100
    error_message = "deployment_minimum_healthy_percent must be from 0 to 100."
  }
}

variable "deployment_maximum_percent" {
  description = "Upper bound of running tasks during a deployment, in percent of desired_count"
  type        = number
  default     = 200

  validation {
    condition     = var.deployment_maximum_percent >= 100 && var.deployment_maximum_percent <= 400
    error_message = "deployment_maximum_percent must be from 100 to 400."
  }
}

variable "deployment_alarm_names" {
  description = "CloudWatch alarms that fail and roll back a deployment when they go into ALARM; empty disables alarm rollback"
  type        = list(string)
  default     = []
  nullable    = false
}

variable "force_new_deployment" {
  description = "Start a new deployment of the service's running task definition whenever Terraform updates the service (needed to change capacity_provider_strategy in place). A collector configuration change redeploys nothing: it registers a new task definition revision, which the next paved deploy (of a new release or the running one) ships"
  type        = bool
  default     = true
  nullable    = false
}

variable "ephemeral_storage_gib" {
  description = "Fargate ephemeral storage of the task in GiB (21-200); null keeps Fargate's default of 20 GiB"
  type        = number
  default     = null

  validation {
    condition     = var.ephemeral_storage_gib == null ? true : (var.ephemeral_storage_gib >= 21 && var.ephemeral_storage_gib <= 200 && floor(var.ephemeral_storage_gib) == var.ephemeral_storage_gib)
    error_message = "ephemeral_storage_gib must be a whole number from 21 to 200, or null."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds the service ignores load balancer health checks after a task starts (only with load_balancers)"
  type        = number
  default     = 30
}

variable "vpc_id" {
  description = "VPC of the service's security group"
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the tasks (private subnets; tasks get no public IP)"
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must name at least one subnet, each subnet-<hex>."
  }
}

variable "load_balancers" {
  description = "Target groups (ip target type) the app container registers in, by a name you choose (static map keys). Per entry: target_group_arn; container_port (default container_port); scale_on_requests with load_balancer_arn (the ALB) adds an ALB requests-per-target autoscaling policy; for BLUE_GREEN also alternate_target_group_arn, production_listener_rule_arn, optional test_listener_rule_arn, and role_arn (the role ECS uses to shift listener traffic). Admit the load balancer's security group with ingress_security_groups"
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
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for k, lb in var.load_balancers : can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/.+$", lb.target_group_arn))])
    error_message = "load_balancers[*].target_group_arn must be a target group ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID)."
  }

  validation {
    condition     = alltrue([for k, lb in var.load_balancers : !lb.scale_on_requests || can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:loadbalancer/app/.+$", lb.load_balancer_arn))])
    error_message = "load_balancers[*].scale_on_requests needs load_balancer_arn, the ARN of an Application Load Balancer."
  }
}

variable "ingress_security_groups" {
  description = "Security groups admitted to container_port (the load balancers' groups, callers inside the VPC), by a name you choose: label => security group ID. The keys must be static; the IDs may come from resources created in the same apply"
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "ingress_rules" {
  description = "Further ingress rules of the tasks' security group, by a static name. Each names exactly one source: cidr_ipv4, cidr_ipv6, prefix_list_id or referenced_security_group_id; ip_protocol tcp/udp/icmp/-1 and a port range"
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
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for r in values(var.ingress_rules) : length(compact([r.cidr_ipv4, r.cidr_ipv6, r.prefix_list_id, r.referenced_security_group_id])) == 1 && contains(["tcp", "udp", "icmp", "icmpv6", "-1"], r.ip_protocol) && (r.ip_protocol == "-1" || (r.from_port != null && r.to_port != null))])
    error_message = "ingress_rules: each rule needs exactly one of cidr_ipv4, cidr_ipv6, prefix_list_id, referenced_security_group_id, an ip_protocol of tcp, udp, icmp, icmpv6 or -1, and from_port/to_port unless ip_protocol is -1."
  }
}

variable "egress_rules" {
  description = "Egress rules of the tasks' security group, by a static name (same fields as ingress_rules). The default allows HTTPS anywhere (AWS APIs, ECR); add a prefix_list_id rule such as the S3 gateway endpoint's (ECR image layers come from S3) or downstream ports, and narrow the default for a private VPC"
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
  default = {
    https = { description = "HTTPS to AWS APIs, ECR and downstream services", from_port = 443, to_port = 443, cidr_ipv4 = "0.0.0.0/0" }
  }
  nullable = false

  validation {
    condition     = alltrue([for r in values(var.egress_rules) : length(compact([r.cidr_ipv4, r.cidr_ipv6, r.prefix_list_id, r.referenced_security_group_id])) == 1 && contains(["tcp", "udp", "icmp", "icmpv6", "-1"], r.ip_protocol) && (r.ip_protocol == "-1" || (r.from_port != null && r.to_port != null))])
    error_message = "egress_rules: each rule needs exactly one of cidr_ipv4, cidr_ipv6, prefix_list_id, referenced_security_group_id, an ip_protocol of tcp, udp, icmp, icmpv6 or -1, and from_port/to_port unless ip_protocol is -1."
  }
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the tasks: adds the SSM messages permissions to the task role and writable task volumes at /managed-agents, /var/lib/amazon/ssm and /var/log/amazon/ssm (the SSM agent needs them; the root filesystem stays read-only)"
  type        = bool
  default     = false
}

variable "iam_role_path" {
  description = "Path of the module's IAM roles"
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = can(regex("^/([\\x21-\\x7E]{0,510}/)?$", var.iam_role_path))
    error_message = "iam_role_path must start and end with / (e.g. / or /services/)."
  }
}

variable "iam_permissions_boundary_arn" {
  description = "ARN of the IAM policy set as permissions boundary on the module's roles; null for none"
  type        = string
  default     = null

  validation {
    condition     = var.iam_permissions_boundary_arn == null ? true : can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", var.iam_permissions_boundary_arn))
    error_message = "iam_permissions_boundary_arn must be an IAM policy ARN (arn:aws:iam::ACCOUNT:policy/NAME)."
  }
}

variable "task_role_statements" {
  description = "The app's own IAM statements for the task role (no \"*\" action; scope resources)"
  type = list(object({
    sid       = optional(string)
    effect    = optional(string, "Allow")
    actions   = list(string)
    resources = list(string)
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for s in var.task_role_statements : !contains(s.actions, "*") && !contains(s.resources, "*")])
    error_message = "task_role_statements must not use \"*\" as an action or a resource."
  }
}

################################################################################
# Autoscaling
################################################################################

variable "autoscaling" {
  description = "Target-tracking autoscaling: task bounds and targets for CPU %, memory % and (per load balancer with scale_on_requests) ALB requests per target; null disables, and desired_count then sets the count"
  type = object({
    min_capacity               = optional(number, 2)
    max_capacity               = optional(number, 10)
    cpu_target                 = optional(number, 60)
    memory_target              = optional(number, 75)
    requests_per_target        = optional(number, 1000)
    scale_in_cooldown_seconds  = optional(number, 300)
    scale_out_cooldown_seconds = optional(number, 60)
  })
  default = {}

  validation {
    condition     = var.autoscaling == null ? true : (var.autoscaling.min_capacity >= 1 && var.autoscaling.max_capacity >= var.autoscaling.min_capacity)
    error_message = "autoscaling.min_capacity must be at least 1 and max_capacity at least min_capacity."
  }
}

################################################################################
# Deployment alarms (alarms.tf)
################################################################################

variable "alarms" {
  description = "CloudWatch alarms on the service's own telemetry (http.server.request.duration as the collector publishes it), created by default and wired into the deployment alarms with rollback: error_rate (share of responses with one of status_codes, in percent) and latency (a percentile of the request duration, in seconds). Each fires when datapoints_to_alarm of evaluation_periods periods breach; a period with fewer than minimum_requests requests never breaches. sns_topic_arn (optional) is notified on ALARM and OK. enabled = false creates neither (deployment_alarm_names still apply)"
  type = object({
    enabled       = optional(bool, true)
    sns_topic_arn = optional(string)
    error_rate = optional(object({
      enabled             = optional(bool, true)
      threshold_percent   = optional(number, 5)
      minimum_requests    = optional(number, 20)
      status_codes        = optional(list(number), [500, 502, 503, 504])
      period_seconds      = optional(number, 60)
      evaluation_periods  = optional(number, 3)
      datapoints_to_alarm = optional(number, 2)
    }), {})
    latency = optional(object({
      enabled             = optional(bool, true)
      percentile          = optional(string, "p99")
      threshold_seconds   = optional(number, 2)
      minimum_requests    = optional(number, 20)
      period_seconds      = optional(number, 60)
      evaluation_periods  = optional(number, 3)
      datapoints_to_alarm = optional(number, 2)
    }), {})
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.alarms.error_rate.threshold_percent > 0 && var.alarms.error_rate.threshold_percent < 100
    error_message = "alarms.error_rate.threshold_percent must be above 0 and below 100 (a percentage of requests)."
  }

  validation {
    condition     = length(var.alarms.error_rate.status_codes) >= 1 && length(var.alarms.error_rate.status_codes) <= 8 && alltrue([for c in var.alarms.error_rate.status_codes : c >= 500 && c <= 599 && floor(c) == c]) && length(distinct(var.alarms.error_rate.status_codes)) == length(var.alarms.error_rate.status_codes)
    error_message = "alarms.error_rate.status_codes must list 1 to 8 distinct status codes from 500 to 599 (a CloudWatch alarm reads at most 10 metrics; the request count is one)."
  }

  validation {
    condition     = can(regex("^p(50|75|90|95|99|99\\.9)$", var.alarms.latency.percentile))
    error_message = "alarms.latency.percentile must be one of p50, p75, p90, p95, p99, p99.9."
  }

  validation {
    condition     = var.alarms.latency.threshold_seconds > 0
    error_message = "alarms.latency.threshold_seconds must be above 0 (seconds, the unit of http.server.request.duration)."
  }

  validation {
    condition     = alltrue([for a in [var.alarms.error_rate, var.alarms.latency] : a.minimum_requests >= 1 && floor(a.minimum_requests) == a.minimum_requests])
    error_message = "alarms.error_rate.minimum_requests and alarms.latency.minimum_requests must be whole numbers of at least 1."
  }

  validation {
    condition     = alltrue([for a in [var.alarms.error_rate, var.alarms.latency] : a.period_seconds >= 60 && a.period_seconds <= 3600 && a.period_seconds % 60 == 0])
    error_message = "alarms.*.period_seconds must be a multiple of 60 from 60 to 3600 (the collector publishes one data point per task per 60 s export)."
  }

  validation {
    condition     = alltrue([for a in [var.alarms.error_rate, var.alarms.latency] : a.evaluation_periods >= 1 && a.datapoints_to_alarm >= 1 && a.datapoints_to_alarm <= a.evaluation_periods && floor(a.evaluation_periods) == a.evaluation_periods && floor(a.datapoints_to_alarm) == a.datapoints_to_alarm && a.evaluation_periods * a.period_seconds <= 86400])
    error_message = "alarms.*: datapoints_to_alarm must be from 1 to evaluation_periods, both whole numbers, and evaluation_periods x period_seconds at most one day."
  }

  validation {
    condition     = var.alarms.sns_topic_arn == null ? true : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$", var.alarms.sns_topic_arn))
    error_message = "alarms.sns_topic_arn must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or null."
  }
}
