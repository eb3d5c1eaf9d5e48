output "service_name" {
  description = "ECS service name"
  value       = module.service.service_name
}

output "service_arn" {
  description = "ECS service ARN"
  value       = module.service.service_arn
}

output "task_definition_family" {
  description = "Task-definition family CI deploys new revisions into"
  value       = module.service.task_definition_family
}

output "ecr_repository_url" {
  description = "ECR repository URL CI pushes to"
  value       = local.ecr_repository_url
}

output "log_group_names" {
  description = "CloudWatch log groups of the service"
  value       = module.service.log_group_names
}

output "task_role_name" {
  description = "Task role of the app (attach the app's own permissions)"
  value       = module.service.task_role_name
}

output "deployment_alarm_names" {
  description = "CloudWatch alarms ECS watches during a deployment (rolls back when one fires)"
  value       = module.service.deployment_alarm_names
}
