################################################################################
# From the Copier answers (github.auto.tfvars)
################################################################################

variable "github_owner" {
  description = "Owner (organisation or user) of the service's repository"
  type        = string
}

variable "github_repository_name" {
  description = "Name of the service's repository"
  type        = string
}

variable "github_repository_id" {
  description = "Numeric ID of the repository, as answered to copier (the AWS roles trust subjects carrying it); plan warns when GitHub reports another"
  type        = string
}

variable "oidc_workflow_bound" {
  description = "Set the repository's OIDC subject template to the claim keys repo, context, job_workflow_ref (what infra/ci_roles.tf trusts when oidc_workflow_bound is true); false keeps GitHub's default template"
  type        = bool
}

variable "default_branch" {
  description = "The branch deploy.yml and rollback.yml run from: the only ref the staging and production environments admit"
  type        = string
  default     = "main"
}

variable "default_branch_approvals" {
  description = "Approving reviews a pull request into the default branch needs (GitHub allows 1 to 10 here; the last pusher's own approval never counts)"
  type        = number
  default     = 1

  validation {
    condition     = var.default_branch_approvals >= 1 && var.default_branch_approvals <= 10 && floor(var.default_branch_approvals) == var.default_branch_approvals
    error_message = "default_branch_approvals must be a whole number from 1 to 10."
  }
}

################################################################################
# Only a human can choose these (README.md)
################################################################################

variable "production_reviewers" {
  description = "Required reviewers of the production environment: GitHub team IDs and user IDs (gh api orgs/ORG/teams/SLUG --jq .id; gh api users/LOGIN --jq .id); one approval is enough, the one who started the run cannot approve it"
  type = object({
    teams = optional(list(number), [])
    users = optional(list(number), [])
  })

  validation {
    condition     = length(var.production_reviewers.teams) + length(var.production_reviewers.users) >= 1 && length(var.production_reviewers.teams) + length(var.production_reviewers.users) <= 6
    error_message = "production_reviewers must name 1 to 6 teams and users in total (GitHub allows 6 required reviewers)."
  }
}

variable "staging_reviewers" {
  description = "Optional reviewers of the staging environment (team and user IDs); none by default"
  type = object({
    teams = optional(list(number), [])
    users = optional(list(number), [])
  })
  default = {}

  validation {
    condition     = length(var.staging_reviewers.teams) + length(var.staging_reviewers.users) <= 6
    error_message = "staging_reviewers may name at most 6 teams and users in total."
  }
}

variable "release_managers" {
  description = "Who may create v* tags (a release): bypass actors of the tag-creation ruleset, as GitHub team IDs and user IDs; nobody else can"
  type = object({
    teams = optional(list(number), [])
    users = optional(list(number), [])
  })

  validation {
    condition     = length(var.release_managers.teams) + length(var.release_managers.users) >= 1
    error_message = "release_managers must name at least one team or user ID (otherwise nobody can release)."
  }
}
