provider "aws" {
  region = "eu-west-1"
}

locals {
  account = "123456789012"
  ecr_arn = "arn:aws:ecr:eu-west-1:${local.account}:repository/demo-service"
}

# The three roles of one service. In a generated service, infra/ci_roles.tf
# creates the publish role in the state that owns the ECR repository (staging)
# and each deploy role in its own environment's state.
module "github_oidc_roles" {
  source = "../.."

  name_prefix       = "gha-demo-service"
  github_repository = "acme/demo-service"
  oidc_provider_arn = "arn:aws:iam::${local.account}:oidc-provider/token.actions.githubusercontent.com"

  # Immutable subjects (the default): gh api repos/acme/demo-service --jq '.owner.id, .id'
  github_owner_id         = "1234567"
  github_repository_id    = "765432109"
  workflow_bound_subjects = true

  publish = { ecr_repository_arn = local.ecr_arn }

  deploy = {
    for env in ["staging", "production"] : env => {
      ecs_service_arn        = "arn:aws:ecs:eu-west-1:${local.account}:service/apps-${env}/demo-service"
      task_definition_family = "demo-service-${env}"
      pass_role_arns = [
        "arn:aws:iam::${local.account}:role/demo-service-${env}-execution",
        "arn:aws:iam::${local.account}:role/demo-service-${env}-task",
      ]
      ecr_repository_arn = local.ecr_arn
    }
  }

  tags = { team = "platform-team" }
}

output "role_arns" {
  description = "Publish and deploy role ARNs"
  value = {
    publish = module.github_oidc_roles.publish_role_arn
    deploy  = module.github_oidc_roles.deploy_role_arns
  }
}
