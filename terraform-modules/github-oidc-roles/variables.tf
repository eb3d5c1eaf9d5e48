variable "name_prefix" {
  description = "Prefix of the role names: <prefix>-publish and <prefix>-<environment> (the template uses gha-<service>)"
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,45}$", var.name_prefix))
    error_message = "name_prefix must be 1-45 IAM role-name characters (letters, digits and +=,.@_-), leaving room for the longest suffix -production."
  }
}

variable "github_repository" {
  description = "GitHub repository whose workflows may assume the roles, as OWNER/NAME (exactly as GitHub spells it: the OIDC subject is case-sensitive)"
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must look like OWNER/NAME."
  }
}

variable "subject_form" {
  description = "Subject form the repository's OIDC tokens carry: immutable (repo:OWNER@OWNER_ID/NAME@REPO_ID:..., every repository created, renamed or transferred on github.com after 2026-06-18, or opted in) or name-only (repo:OWNER/NAME:..., an older repository that has not opted in; the warnings output says why to move)"
  type        = string
  default     = "immutable"
  nullable    = false

  validation {
    condition     = contains(["immutable", "name-only"], var.subject_form)
    error_message = "subject_form must be one of immutable, name-only."
  }
}

variable "github_owner_id" {
  description = "Immutable numeric ID of the repository's owner (user or organisation), needed by subject_form immutable: gh api repos/OWNER/NAME --jq .owner.id"
  type        = string
  default     = null

  validation {
    condition     = var.github_owner_id == null || can(regex("^[0-9]{1,20}$", var.github_owner_id))
    error_message = "github_owner_id must be the owner's numeric ID (digits only), e.g. from gh api repos/OWNER/NAME --jq .owner.id."
  }
}

variable "github_repository_id" {
  description = "Immutable numeric ID of the repository, needed by subject_form immutable: gh api repos/OWNER/NAME --jq .id"
  type        = string
  default     = null

  validation {
    condition     = var.github_repository_id == null || can(regex("^[0-9]{1,20}$", var.github_repository_id))
    error_message = "github_repository_id must be the repository's numeric ID (digits only), e.g. from gh api repos/OWNER/NAME --jq .id."
  }
}

variable "workflow_bound_subjects" {
  description = "Trust the customised subject (claim keys repo, context, job_workflow_ref, in that order; infra/github sets it): publish only ci.yml run on a tag v*, staging and production only deploy.yml and rollback.yml run from the default branch. Recommended; set the repository's subject template first, or the roles refuse every token"
  type        = bool
  default     = false
  nullable    = false
}

variable "default_branch" {
  description = "Default branch deploy.yml and rollback.yml run from (used by workflow_bound_subjects)"
  type        = string
  default     = "main"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]{1,255}$", var.default_branch)) && !can(regex("(^/|/$|//|\\.\\.)", var.default_branch))
    error_message = "default_branch must be a branch name: letters, digits and ._/- (no leading or trailing /, no // or ..)."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the account's IAM OIDC provider for token.actions.githubusercontent.com (created once per account by the platform)"
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "publish_environment" {
  description = "GitHub environment of the release jobs (build and merge); its deployment policy must allow only tags v*.*.*"
  type        = string
  default     = "release"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.publish_environment)) && !contains(["staging", "production"], var.publish_environment)
    error_message = "publish_environment must be an environment name other than staging and production (a deploy environment's jobs must never be able to publish)."
  }
}

variable "publish" {
  description = "The image-publishing role: pushes to this one ECR repository, nothing else; null creates no publish role"
  type = object({
    ecr_repository_arn = string
  })
  default = null

  validation {
    condition     = var.publish == null || can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", var.publish.ecr_repository_arn))
    error_message = "publish.ecr_repository_arn must be an ECR repository ARN."
  }
}

variable "deploy" {
  description = "Deploy roles by GitHub environment (staging, production): each may update one ECS service, register revisions of its task-definition family, pass its task roles and read the ECR repository"
  type = map(object({
    ecs_service_arn        = string
    task_definition_family = string
    pass_role_arns         = list(string)
    ecr_repository_arn     = string
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for env in keys(var.deploy) : contains(["staging", "production"], env)])
    error_message = "deploy keys must be GitHub environments staging or production."
  }

  validation {
    condition = alltrue([for d in values(var.deploy) : (
      can(regex("^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:service/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+$", d.ecs_service_arn)) &&
      can(regex("^[A-Za-z0-9_-]{1,255}$", d.task_definition_family)) &&
      length(d.pass_role_arns) > 0 &&
      alltrue([for r in d.pass_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", r))]) &&
      can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", d.ecr_repository_arn))
    )])
    error_message = "each deploy entry needs an ECS service ARN (long format, arn:...:service/CLUSTER/NAME), a task-definition family, at least one IAM role ARN to pass and an ECR repository ARN."
  }
}

variable "max_session_duration" {
  description = "Maximum session length of the roles in seconds (a deploy waits up to 20 minutes)"
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be from 3600 to 43200 seconds."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary attached to every role; null for none"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the roles"
  type        = map(string)
  default     = {}
  nullable    = false
}
