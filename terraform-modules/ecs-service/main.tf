data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  full_name  = "${var.name}-${var.environment}"
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Fargate's valid task sizes: memory (MiB) choices per cpu value.
  fargate_memory_options = {
    "256"   = [512, 1024, 2048]
    "512"   = [for gb in range(1, 5) : gb * 1024]
    "1024"  = [for gb in range(2, 9) : gb * 1024]
    "2048"  = [for gb in range(4, 17) : gb * 1024]
    "4096"  = [for gb in range(8, 31) : gb * 1024]
    "8192"  = [for gb in range(16, 61, 4) : gb * 1024]
    "16384" = [for gb in range(32, 121, 8) : gb * 1024]
  }

  cpu_architecture = contains(var.architectures, "arm64") ? "ARM64" : "X86_64"

  # Pinned collector images. ADOT reads its config from AOT_CONFIG_CONTENT and
  # ships /healthcheck; the upstream contrib image has neither a shell nor a
  # health-check binary, so it gets no container health check and the app
  # waits only for it to START.
  collector_distributions = {
    adot = {
      image             = "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0"
      config_env        = "AOT_CONFIG_CONTENT"
      command           = []
      health_check      = true
      depends_condition = "HEALTHY"
    }
    contrib = {
      image             = "otel/opentelemetry-collector-contrib:0.159.0"
      config_env        = "OTEL_COLLECTOR_CONFIG"
      command           = ["--config=env:OTEL_COLLECTOR_CONFIG"]
      health_check      = false
      depends_condition = "START"
    }
  }
  collector = local.collector_distributions[var.collector.distribution]

  log_group_prefix = "/ecs/${var.name}/${var.environment}"
  log_groups = {
    app       = "${local.log_group_prefix}/app"
    collector = "${local.log_group_prefix}/otel-collector"
    metrics   = "${local.log_group_prefix}/otel-metrics"
    otlp_logs = "${local.log_group_prefix}/otel-logs"
  }

  # The collector config rides in the collector container's environment, so
  # it is part of the task definition: changing it registers a new revision,
  # and deploying or rolling back to a revision runs that revision's config.
  collector_config = templatefile("${path.module}/templates/otel-collector-config.yaml.tftpl", {
    listen_address         = "127.0.0.1"
    aws_exporters          = true
    local_exporters        = false
    traces_exporters       = "awsxray"
    metrics_exporters      = "awsemf"
    logs_exporters         = "awscloudwatchlogs"
    region                 = local.region
    service_name           = var.name
    environment            = var.environment
    metrics_namespace      = local.metrics_namespace
    metrics_log_group      = local.log_groups.metrics
    otlp_logs_log_group    = local.log_groups.otlp_logs
    memory_limit_mib       = floor(var.collector.memory * 0.8)
    memory_spike_limit_mib = floor(var.collector.memory * 0.2)
  })

  # Environment the module sets itself: environment_variables and secrets may
  # not use these names (variables.tf lists them for the validation; a test
  # keeps both lists equal).
  module_environment = {
    OTEL_SERVICE_NAME = var.name
    # service.version is not set here: the image carries its release
    # (SERVICE_VERSION build arg), so a rollback reports the version it runs.
    OTEL_RESOURCE_ATTRIBUTES    = "deployment.environment.name=${var.environment}"
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:4318"
    OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf"
    OTEL_TRACES_SAMPLER         = "parentbased_traceidratio"
    OTEL_TRACES_SAMPLER_ARG     = tostring(var.trace_sample_ratio)
    PORT                        = tostring(var.container_port)
    DEPLOYMENT_ENVIRONMENT      = var.environment
  }
  app_environment = merge(var.environment_variables, local.module_environment)

  # Container definitions are HCL values passed through jsonencode(), so every
  # interpolated value is JSON-escaped (quotes, backslashes, control
  # characters); ECS camelCase keys as in the RegisterTaskDefinition API.
  # The app's memory is a hard limit, the task's memory less the collector's:
  # the container's own cgroup carries it (memory.max, or
  # memory.limit_in_bytes on cgroup v1), where Node reads the memory it may
  # use and sizes V8's heap from (node src/api/environment.cc, libuv
  # uv_get_constrained_memory; a memoryReservation alone is a soft limit,
  # memory.low on cgroup v2, which libuv does not read). An app that outgrows
  # it is stopped as "OutOfMemoryError", the collector still running to flush.
  app_container = {
    name                   = "app"
    image                  = var.image
    essential              = true
    cpu                    = var.cpu - var.collector.cpu
    memory                 = var.memory - var.collector.memory
    user                   = var.app_user
    readonlyRootFilesystem = true
    stopTimeout            = var.stop_timeout
    portMappings = [{
      name          = "http"
      containerPort = var.container_port
      hostPort      = var.container_port
      protocol      = "tcp"
      appProtocol   = "http"
    }]
    healthCheck = {
      command     = ["CMD", "node", "src/healthcheck.js"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = var.health_check_start_period
    }
    mountPoints = [for v in local.app_volumes : { sourceVolume = v.name, containerPath = v.path, readOnly = false }]
    environment = [for k in sort(keys(local.app_environment)) : { name = k, value = local.app_environment[k] }]
    secrets     = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
    dependsOn   = [{ containerName = "otel-collector", condition = local.collector.depends_condition }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = local.log_groups.app
        awslogs-region        = local.region
        awslogs-stream-prefix = "app"
        mode                  = "non-blocking"
        max-buffer-size       = "4m"
      }
    }
  }

  collector_container = merge(
    {
      name                   = "otel-collector"
      image                  = local.collector.image
      essential              = true
      cpu                    = var.collector.cpu
      memory                 = var.collector.memory
      readonlyRootFilesystem = true
      command                = local.collector.command
      environment            = [{ name = local.collector.config_env, value = local.collector_config }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = local.log_groups.collector
          awslogs-region        = local.region
          awslogs-stream-prefix = "otel-collector"
        }
      }
    },
    !local.collector.health_check ? {} : {
      healthCheck = {
        command     = ["CMD", "/healthcheck"]
        interval    = 10
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
    },
  )

  container_definitions = jsonencode([local.app_container, local.collector_container])

  # Task-scoped volumes the app writes to; the root filesystem stays read-only.
  # ECS Exec runs the SSM agent inside the app container, and the agent needs
  # writable /managed-agents, /var/lib/amazon/ssm and /var/log/amazon/ssm
  # (aws/containers-roadmap#1359), so those are volumes when Exec is on.
  app_volumes = concat(
    [{ name = "tmp", path = "/tmp" }],
    !var.enable_execute_command ? [] : [
      { name = "ssm-managed-agents", path = "/managed-agents" },
      { name = "ssm-agent-state", path = "/var/lib/amazon/ssm" },
      { name = "ssm-agent-logs", path = "/var/log/amazon/ssm" },
    ],
  )

  # Secrets Manager valueFrom may carry :json-key:stage:version after the
  # secret ARN; IAM wants the secret ARN itself.
  ssm_secret_arns = distinct([for v in values(var.secrets) : v if can(regex("^arn:[^:]+:ssm:", v))])
  secretsmanager_secret_arns = distinct([
    for v in values(var.secrets) : join(":", slice(split(":", v), 0, 7)) if can(regex("^arn:[^:]+:secretsmanager:", v))
  ])

  autoscaling_enabled = var.autoscaling != null
  # Application Auto Scaling owns the task count in both modes: with
  # autoscaling off, a target with min = max = desired_count holds it there,
  # so changing desired_count changes the count (RegisterScalableTarget moves
  # the current capacity into the new range).
  # paused may be unknown until apply: it only feeds values, never a count or for_each.
  capacity = {
    min = var.paused ? 0 : (local.autoscaling_enabled ? var.autoscaling.min_capacity : var.desired_count)
    max = var.paused ? 0 : (local.autoscaling_enabled ? var.autoscaling.max_capacity : var.desired_count)
  }
  cluster_name = element(split("/", var.cluster_arn), length(split("/", var.cluster_arn)) - 1)

  # ALB request-count policies: one per load balancer with scale_on_requests
  # (a known bool: filtering on an ARN that may be unknown until apply would
  # make the policies' for_each unknown).
  alb_resource_labels = {
    for k, lb in var.load_balancers : k => format(
      "%s/%s",
      regex("loadbalancer/(app/.+)$", lb.load_balancer_arn)[0],
      regex("(targetgroup/.+)$", lb.target_group_arn)[0],
    ) if lb.scale_on_requests
  }
  scaling_policies = !local.autoscaling_enabled ? {} : merge(
    {
      cpu    = { metric = "ECSServiceAverageCPUUtilization", target = var.autoscaling.cpu_target, label = null }
      memory = { metric = "ECSServiceAverageMemoryUtilization", target = var.autoscaling.memory_target, label = null }
    },
    { for k, label in local.alb_resource_labels : "requests-${k}" => { metric = "ALBRequestCountPerTarget", target = var.autoscaling.requests_per_target, label = label } },
  )

  # Security-group rules by static keys: for_each keys must be known at plan
  # time, while the IDs (values) may come from resources created in the same
  # apply. Nothing here filters on such a value (an unknown condition would
  # make the whole map unknown).
  ingress_rules = merge(
    { for k, id in var.ingress_security_groups : "sg-${k}" => {
      description = "App port from ${k}", ip_protocol = "tcp", from_port = var.container_port, to_port = var.container_port
      cidr_ipv4   = null, cidr_ipv6 = null, prefix_list_id = null, referenced_security_group_id = id
    } },
    { for k, r in var.ingress_rules : "rule-${k}" => r },
  )

  tags = merge(var.tags, {
    "paved-road/service"     = var.name
    "paved-road/environment" = var.environment
  })
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.log_groups

  # checkov:skip=CKV_AWS_158:KMS encryption is an explicit choice (log_kms_key_arn); by default CloudWatch Logs encrypts with its own keys.
  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = local.tags
}

################################################################################
# Task definition
################################################################################

resource "aws_ecs_task_definition" "this" {
  family                   = local.full_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = local.container_definitions

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = local.cpu_architecture
  }

  # The app's root filesystem is read-only; these task-scoped volumes are
  # its writable paths (local.app_volumes).
  dynamic "volume" {
    for_each = local.app_volumes
    content {
      name = volume.value.name
    }
  }

  dynamic "ephemeral_storage" {
    for_each = var.ephemeral_storage_gib == null ? [] : [var.ephemeral_storage_gib]
    content {
      size_in_gib = ephemeral_storage.value
    }
  }

  # Older revisions stay ACTIVE: rollback points the service at them.
  skip_destroy = true

  tags = merge(local.tags, { "paved:made-by" = "terraform" })

  # The containers log to these groups and the roles' policies must exist
  # before the first task of this revision starts (names alone do not order).
  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.execution,
    aws_iam_role_policy.task,
  ]

  lifecycle {
    precondition {
      condition     = contains(local.fargate_memory_options[tostring(var.cpu)], var.memory)
      error_message = "memory ${var.memory} is not a Fargate combination for cpu ${var.cpu}; valid: ${join(", ", [for m in local.fargate_memory_options[tostring(var.cpu)] : tostring(m)])}."
    }
    precondition {
      condition     = var.cpu > var.collector.cpu && var.memory > var.collector.memory
      error_message = "The task's cpu and memory must exceed what the collector sidecar reserves."
    }
    precondition {
      condition     = length(setintersection(keys(var.environment_variables), keys(var.secrets))) == 0
      error_message = "A name is both in environment_variables and in secrets: ${join(", ", setintersection(keys(var.environment_variables), keys(var.secrets)))}."
    }
  }
}

################################################################################
# Security group
################################################################################

resource "aws_security_group" "this" {
  # name_prefix: a forced replacement creates the new group before deleting
  # the old one, which a fixed name would collide with (InvalidGroup.Duplicate).
  name_prefix = "${local.full_name}-"
  description = "Tasks of ${local.full_name}"
  vpc_id      = var.vpc_id

  tags = merge(local.tags, { Name = local.full_name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = local.ingress_rules

  security_group_id            = aws_security_group.this.id
  description                  = each.value.description
  ip_protocol                  = each.value.ip_protocol
  from_port                    = each.value.ip_protocol == "-1" ? null : each.value.from_port
  to_port                      = each.value.ip_protocol == "-1" ? null : each.value.to_port
  cidr_ipv4                    = each.value.cidr_ipv4
  cidr_ipv6                    = each.value.cidr_ipv6
  prefix_list_id               = each.value.prefix_list_id
  referenced_security_group_id = each.value.referenced_security_group_id

  tags = local.tags
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = var.egress_rules

  security_group_id            = aws_security_group.this.id
  description                  = each.value.description
  ip_protocol                  = each.value.ip_protocol
  from_port                    = each.value.ip_protocol == "-1" ? null : each.value.from_port
  to_port                      = each.value.ip_protocol == "-1" ? null : each.value.to_port
  cidr_ipv4                    = each.value.cidr_ipv4
  cidr_ipv6                    = each.value.cidr_ipv6
  prefix_list_id               = each.value.prefix_list_id
  referenced_security_group_id = each.value.referenced_security_group_id

  tags = local.tags
}

################################################################################
# Service
################################################################################

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = local.capacity.min
  launch_type                        = length(var.capacity_provider_strategy) == 0 ? "FARGATE" : null
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  health_check_grace_period_seconds  = length(var.load_balancers) == 0 ? null : var.health_check_grace_period_seconds
  enable_execute_command             = var.enable_execute_command
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  # No trigger on the collector configuration: it is part of the task
  # definition, so a change registers a new revision, which the next
  # `paved deploy` copies (docs/telemetry.md). Redeploying the running
  # revision would restart tasks on the old configuration.
  force_new_deployment = var.force_new_deployment

  dynamic "capacity_provider_strategy" {
    for_each = var.capacity_provider_strategy
    content {
      capacity_provider = capacity_provider_strategy.value.capacity_provider
      weight            = capacity_provider_strategy.value.weight
      base              = capacity_provider_strategy.value.base
    }
  }

  deployment_controller {
    type = "ECS"
  }

  deployment_configuration {
    strategy             = var.deployment_strategy
    bake_time_in_minutes = var.deployment_strategy == "BLUE_GREEN" ? var.blue_green_bake_time_minutes : null
  }

  deployment_circuit_breaker {
    enable   = var.deployment_circuit_breaker.enable
    rollback = var.deployment_circuit_breaker.rollback
  }

  # The module's own alarms (alarms.tf) and any the caller adds: ECS fails
  # and rolls back a deployment when one of them goes into ALARM.
  dynamic "alarms" {
    for_each = length(local.deployment_alarm_names) > 0 ? [1] : []
    content {
      alarm_names = local.deployment_alarm_names
      enable      = true
      rollback    = true
    }
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = var.load_balancers
    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = "app"
      container_port   = coalesce(load_balancer.value.container_port, var.container_port)

      dynamic "advanced_configuration" {
        for_each = var.deployment_strategy == "BLUE_GREEN" ? [load_balancer.value] : []
        content {
          alternate_target_group_arn = advanced_configuration.value.alternate_target_group_arn
          production_listener_rule   = advanced_configuration.value.production_listener_rule_arn
          test_listener_rule         = advanced_configuration.value.test_listener_rule_arn
          role_arn                   = advanced_configuration.value.role_arn
        }
      }
    }
  }

  tags = local.tags

  # Tasks start only once their roles may pull the image, read the secrets
  # and write the logs, and their security group lets them reach ECR: the
  # references above name the roles and groups, not these policies and rules.
  depends_on = [
    aws_iam_role_policy.execution,
    aws_iam_role_policy.task,
    aws_cloudwatch_log_group.this,
    aws_vpc_security_group_egress_rule.this,
    aws_vpc_security_group_ingress_rule.this,
  ]

  # CI registers a task-definition revision per deploy and points the service
  # at it (a rollback points it at an older one); Application Auto Scaling
  # owns the count (aws_appautoscaling_target below, in both modes).
  # Terraform seeds both and never reverts them (see README).
  lifecycle {
    ignore_changes = [task_definition, desired_count]

    precondition {
      condition = var.deployment_strategy == "ROLLING" || (length(var.load_balancers) > 0 && alltrue([
        for lb in values(var.load_balancers) : lb.alternate_target_group_arn != null && lb.production_listener_rule_arn != null && lb.role_arn != null
      ]))
      error_message = "deployment_strategy BLUE_GREEN needs load_balancers, each with alternate_target_group_arn, production_listener_rule_arn and role_arn."
    }
    # Blue/green registers each new revision's tasks in the other target group
    # of the pair, so production traffic alternates between the two; a
    # requests-per-target policy names one group and would read an idle one
    # after every other deployment (and scale in under load).
    precondition {
      condition     = var.deployment_strategy == "ROLLING" || !anytrue([for lb in values(var.load_balancers) : lb.scale_on_requests])
      error_message = "load_balancers[*].scale_on_requests needs deployment_strategy ROLLING: BLUE_GREEN alternates traffic between the two target groups, so requests per target would be read from an idle one."
    }
  }
}

################################################################################
# Autoscaling: owns the task count (policies only when autoscaling is set)
################################################################################

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  resource_id        = "service/${local.cluster_name}/${aws_ecs_service.this.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = local.capacity.min
  max_capacity       = local.capacity.max

  tags = local.tags
}

resource "aws_appautoscaling_policy" "this" {
  for_each = local.scaling_policies

  name               = "${local.full_name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.target
    scale_in_cooldown  = var.autoscaling.scale_in_cooldown_seconds
    scale_out_cooldown = var.autoscaling.scale_out_cooldown_seconds

    predefined_metric_specification {
      predefined_metric_type = each.value.metric
      resource_label         = each.value.label
    }
  }
}

################################################################################
# IAM: execution role (ECS agent: pull the image, write logs, read secrets)
################################################################################

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    sid     = "EcsTasksAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name                 = "${local.full_name}-execution"
  path                 = var.iam_role_path
  permissions_boundary = var.iam_permissions_boundary_arn
  description          = "ECS task execution role of ${local.full_name}"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = local.tags
}

data "aws_iam_policy_document" "execution" {
  # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
  statement {
    sid       = "EcrAuthorizationToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "EcrPullServiceImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [var.ecr_repository_arn]
  }

  statement {
    sid       = "WriteContainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for k in ["app", "collector"] : "${aws_cloudwatch_log_group.this[k].arn}:log-stream:*"]
  }

  dynamic "statement" {
    for_each = length(local.ssm_secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadSsmParameters"
      actions   = ["ssm:GetParameters"]
      resources = local.ssm_secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.secretsmanager_secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadSecretsManagerSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secretsmanager_secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

################################################################################
# IAM: task role (the containers: collector exports, ECS Exec, the app's own)
################################################################################

resource "aws_iam_role" "task" {
  name                 = "${local.full_name}-task"
  path                 = var.iam_role_path
  permissions_boundary = var.iam_permissions_boundary_arn
  description          = "ECS task role of ${local.full_name} (app and otel-collector)"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = local.tags
}

data "aws_iam_policy_document" "task" {
  # checkov:skip=CKV_AWS_111:X-Ray has no resource-level permissions; AWS requires "*" for these actions.
  # checkov:skip=CKV_AWS_356:X-Ray has no resource-level permissions; AWS requires "*" for these actions.
  statement {
    sid = "CollectorXRay"
    actions = [
      "xray:GetSamplingRules",
      "xray:GetSamplingStatisticSummaries",
      "xray:GetSamplingTargets",
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "CollectorLogs"
    actions   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = flatten([for k in ["metrics", "otlp_logs"] : [aws_cloudwatch_log_group.this[k].arn, "${aws_cloudwatch_log_group.this[k].arn}:log-stream:*"]])
  }

  dynamic "statement" {
    for_each = var.enable_execute_command ? [1] : []
    content {
      # ssmmessages has no resource-level permissions: AWS requires "*".
      sid = "EcsExec"
      actions = [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
      ]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.task_role_statements
    content {
      sid       = statement.value.sid
      effect    = statement.value.effect
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "task"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

################################################################################
# State moves from earlier releases of this module
################################################################################

moved {
  from = aws_appautoscaling_target.this[0]
  to   = aws_appautoscaling_target.this
}

moved {
  from = aws_vpc_security_group_egress_rule.https["0.0.0.0/0"]
  to   = aws_vpc_security_group_egress_rule.this["https"]
}
