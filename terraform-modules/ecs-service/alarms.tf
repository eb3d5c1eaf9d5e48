################################################################################
# Deployment alarms: the service's own telemetry rolls a bad release back
################################################################################
#
# The app's OTLP metrics reach CloudWatch through the collector's awsemf
# exporter (templates/otel-collector-config.yaml.tftpl): namespace
# local.metrics_namespace, dimensions exactly as its metric_declarations list
# them, one data point per task per export (60 s by default). The alarms below
# read only series those declarations publish; tests/terraform/test_alarm_metrics.py
# renders both and fails when an alarm watches a metric that is never published.
#
# ECS watches the alarms during every deployment (rolling: while it rolls out
# and for a bake period after steady state; blue/green: also during
# bake_time_in_minutes) and rolls back when one goes into ALARM
# (aws_ecs_service.this, `alarms` block).
#
# http.server.request.duration is a delta base-2 exponential histogram
# (src/telemetry.js), which awsemf publishes as Values/Counts: CloudWatch
# computes SampleCount (requests) and percentiles from it. No `unit` is set on
# the alarms' metrics: an alarm's unit must equal the published one or it
# sees no data; the thresholds are in seconds, the unit of the OTel metric.

locals {
  # Used by the collector config (main.tf) and by the alarms: one namespace.
  metrics_namespace = coalesce(var.metrics_namespace, "ECS/${var.name}")

  alarm_base_dimensions = {
    "service.name"                = var.name
    "deployment.environment.name" = var.environment
  }
  alarm_actions = var.alarms.sns_topic_arn == null ? [] : [var.alarms.sns_topic_arn]

  error_rate_alarm = var.alarms.enabled && var.alarms.error_rate.enabled
  latency_alarm    = var.alarms.enabled && var.alarms.latency.enabled

  # Metric-math IDs start with a lowercase letter.
  error_status_queries = { for code in var.alarms.error_rate.status_codes : "status${code}" => tostring(code) }
  errors_expression    = "SUM([${join(", ", [for id in sort(keys(local.error_status_queries)) : "FILL(${id}, 0)"])}])"

  # What aws_ecs_service.this watches during deployments: these alarms (by
  # reference, so they exist before the service does) and the caller's own.
  deployment_alarm_names = distinct(concat(
    local.error_rate_alarm ? [aws_cloudwatch_metric_alarm.error_rate[0].alarm_name] : [],
    local.latency_alarm ? [aws_cloudwatch_metric_alarm.latency[0].alarm_name] : [],
    var.deployment_alarm_names,
  ))
}

resource "aws_cloudwatch_metric_alarm" "error_rate" {
  count = local.error_rate_alarm ? 1 : 0

  alarm_name = "${local.full_name}-http-5xx-rate"
  alarm_description = join(" ", [
    "${var.name} (${var.environment}) answered more than ${var.alarms.error_rate.threshold_percent}% of its requests with ${join("/", var.alarms.error_rate.status_codes)}",
    "in ${var.alarms.error_rate.datapoints_to_alarm} of ${var.alarms.error_rate.evaluation_periods} periods of ${var.alarms.error_rate.period_seconds} s",
    "(periods with fewer than ${var.alarms.error_rate.minimum_requests} requests never count).",
    "During a deployment ECS rolls the release back by itself: check `paved history`, then the release's errors",
    "(the app log group, X-Ray traces with fault=true) before deploying a fix.",
    "Outside a deployment: find the route in ${local.metrics_namespace} http.server.request.duration by http.route and",
    "http.response.status_code, and roll back with `paved rollback --previous` if the last release caused it.",
  ])

  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarms.error_rate.threshold_percent
  evaluation_periods  = var.alarms.error_rate.evaluation_periods
  datapoints_to_alarm = var.alarms.error_rate.datapoints_to_alarm
  # No requests (a quiet service) or too few (the expression gives 0) is not
  # an outage: a task that never serves is the circuit breaker's to judge
  # (health checks), and ALARM on missing data would roll back every deploy
  # of an idle service.
  treat_missing_data = "notBreaching"

  metric_query {
    id          = "rate"
    label       = "5xx share of requests (%)"
    expression  = "IF(requests >= ${var.alarms.error_rate.minimum_requests}, 100 * errors / requests, 0)"
    return_data = true
  }

  metric_query {
    id          = "errors"
    label       = "5xx responses"
    expression  = local.errors_expression
    return_data = false
  }

  metric_query {
    id          = "requests"
    label       = "Requests"
    return_data = false

    metric {
      namespace   = local.metrics_namespace
      metric_name = "http.server.request.duration"
      dimensions  = local.alarm_base_dimensions
      stat        = "SampleCount"
      period      = var.alarms.error_rate.period_seconds
    }
  }

  dynamic "metric_query" {
    for_each = local.error_status_queries
    content {
      id          = metric_query.key
      label       = "HTTP ${metric_query.value} responses"
      return_data = false

      metric {
        namespace   = local.metrics_namespace
        metric_name = "http.server.request.duration"
        dimensions  = merge(local.alarm_base_dimensions, { "http.response.status_code" = metric_query.value })
        stat        = "SampleCount"
        period      = var.alarms.error_rate.period_seconds
      }
    }
  }

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  count = local.latency_alarm ? 1 : 0

  alarm_name = "${local.full_name}-http-latency-${var.alarms.latency.percentile}"
  alarm_description = join(" ", [
    "${var.name} (${var.environment}): the ${var.alarms.latency.percentile} of server request duration exceeded ${var.alarms.latency.threshold_seconds} s",
    "in ${var.alarms.latency.datapoints_to_alarm} of ${var.alarms.latency.evaluation_periods} periods of ${var.alarms.latency.period_seconds} s",
    "(periods with fewer than ${var.alarms.latency.minimum_requests} requests never count).",
    "During a deployment ECS rolls the release back by itself: check `paved history`, then the release's slow spans in X-Ray",
    "(a slower dependency, an event-loop block) before deploying a fix.",
    "Outside a deployment: look at ${local.metrics_namespace} http.server.request.duration by http.route, the downstream calls",
    "and CPU; roll back with `paved rollback --previous` if the last release caused it.",
  ])

  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarms.latency.threshold_seconds
  evaluation_periods  = var.alarms.latency.evaluation_periods
  datapoints_to_alarm = var.alarms.latency.datapoints_to_alarm
  treat_missing_data  = "notBreaching" # as for the error rate: no traffic is not slow traffic

  metric_query {
    id          = "latency"
    label       = "${var.alarms.latency.percentile} request duration (s)"
    expression  = "IF(requests >= ${var.alarms.latency.minimum_requests}, duration, 0)"
    return_data = true
  }

  metric_query {
    id          = "duration"
    label       = "Request duration ${var.alarms.latency.percentile}"
    return_data = false

    metric {
      namespace   = local.metrics_namespace
      metric_name = "http.server.request.duration"
      dimensions  = local.alarm_base_dimensions
      stat        = var.alarms.latency.percentile
      period      = var.alarms.latency.period_seconds
    }
  }

  metric_query {
    id          = "requests"
    label       = "Requests"
    return_data = false

    metric {
      namespace   = local.metrics_namespace
      metric_name = "http.server.request.duration"
      dimensions  = local.alarm_base_dimensions
      stat        = "SampleCount"
      period      = var.alarms.latency.period_seconds
    }
  }

  alarm_actions = local.alarm_actions
  ok_actions    = local.alarm_actions

  tags = local.tags
}
