output "service_name" {
  description = "Name of the ECS service"
  value       = aws_ecs_service.this.name
}

output "service_arn" {
  description = "ARN of the ECS service"
  value       = aws_ecs_service.this.id
}

output "task_definition_family" {
  description = "Task-definition family; CI registers each deploy as a new revision of it"
  value       = aws_ecs_task_definition.this.family
}

output "task_definition_arn" {
  description = "ARN of the revision Terraform registered (the seed; the service may run a later CI revision)"
  value       = aws_ecs_task_definition.this.arn
}

output "container_definitions" {
  description = "Container definitions JSON (app and otel-collector) of the revision Terraform registered"
  value       = local.container_definitions
}

output "collector_config" {
  description = "Rendered OpenTelemetry Collector configuration (YAML)"
  value       = local.collector_config
}

output "log_group_names" {
  description = "CloudWatch log groups by purpose: app, collector, metrics (EMF), otlp_logs"
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "execution_role_arn" {
  description = "ARN of the task execution role"
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ARN of the task role"
  value       = aws_iam_role.task.arn
}

output "task_role_name" {
  description = "Name of the task role (attach further policies to it)"
  value       = aws_iam_role.task.name
}

output "security_group_id" {
  description = "ID of the tasks' security group"
  value       = aws_security_group.this.id
}

output "cpu_architecture" {
  description = "CPU architecture the tasks run on (ARM64 or X86_64)"
  value       = local.cpu_architecture
}

output "alarm_names" {
  description = "CloudWatch alarms the module created on the service's telemetry (error rate, latency), by kind; ECS rolls a deployment back when one fires"
  value = merge(
    local.error_rate_alarm ? { error_rate = aws_cloudwatch_metric_alarm.error_rate[0].alarm_name } : {},
    local.latency_alarm ? { latency = aws_cloudwatch_metric_alarm.latency[0].alarm_name } : {},
  )
}

output "deployment_alarm_names" {
  description = "Every alarm ECS watches during a deployment: the module's and deployment_alarm_names"
  value       = local.deployment_alarm_names
}
