provider "aws" {
  region = "eu-west-1"
}

module "ecr_repository" {
  source = "../.."

  name                = "demo-service"
  push_principal_arns = ["arn:aws:iam::123456789012:role/github-actions-demo-service"]
  tags                = { team = "platform-team" }
}

output "repository_url" {
  description = "URL of the repository"
  value       = module.ecr_repository.repository_url
}
