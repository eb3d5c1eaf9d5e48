output "repository_name" {
  description = "Name of the repository"
  value       = aws_ecr_repository.this.name
}

output "repository_arn" {
  description = "ARN of the repository (input of the ecs-service module)"
  value       = aws_ecr_repository.this.arn
}

output "repository_url" {
  description = "URL of the repository (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME)"
  value       = aws_ecr_repository.this.repository_url
}

output "lifecycle_policy" {
  description = "The lifecycle policy JSON applied to the repository"
  value       = aws_ecr_lifecycle_policy.this.policy
}
