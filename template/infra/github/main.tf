################################################################################
# GitHub's gates for the service, as code (integrations/github 6.13.0; every
# argument as that version's docs/resources/*.md documents it). What the
# workflows rely on:
#   environment release      tags v*.*.* only            (ci.yml build, merge)
#   environment staging      the default branch only     (deploy.yml, rollback.yml)
#   environment production   the default branch only, required reviewers,
#                            no self-review, admins cannot bypass
#   tag rulesets on v*       only release managers create; nobody updates or deletes
#   branch ruleset           the default branch changes only through approved pull requests
#   OIDC subject template    repo, context, job_workflow_ref (oidc_workflow_bound)
# ci.yml's first release job checks that a tag's commit is on the default
# branch: no ruleset can express "only on commits reachable from the default
# branch" for a tag.
################################################################################

provider "github" {
  owner = var.github_owner
}

data "github_repository" "this" {
  full_name = "${var.github_owner}/${var.github_repository_name}"
}

# The IDs answered to copier are the ones the AWS roles trust (immutable subjects).
check "repository_id_matches_the_answer" {
  assert {
    condition     = tostring(data.github_repository.this.repo_id) == var.github_repository_id
    error_message = "GitHub reports repository ID ${data.github_repository.this.repo_id} for ${var.github_owner}/${var.github_repository_name}, but the service answered github_repository_id = ${var.github_repository_id}: the AWS roles will refuse its tokens. Run copier update --trust -d github_repository_id=${data.github_repository.this.repo_id}."
  }
}

locals {
  environments = {
    release = {
      reviewers = { teams = [], users = [] }
      branches  = []
      tags      = ["v*.*.*"]
    }
    staging = {
      reviewers = var.staging_reviewers
      branches  = [var.default_branch]
      tags      = []
    }
    production = {
      reviewers = var.production_reviewers
      branches  = [var.default_branch]
      tags      = []
    }
  }

  policies = merge(
    { for pair in flatten([for env, e in local.environments : [for b in e.branches : { env = env, branch = b }]]) :
    "${pair.env}:branch:${pair.branch}" => { environment = pair.env, branch = pair.branch, tag = null } },
    { for pair in flatten([for env, e in local.environments : [for t in e.tags : { env = env, tag = t }]]) :
    "${pair.env}:tag:${pair.tag}" => { environment = pair.env, branch = null, tag = pair.tag } },
  )
}

resource "github_repository_environment" "this" {
  for_each = local.environments

  repository          = var.github_repository_name
  environment         = each.key
  can_admins_bypass   = false
  prevent_self_review = true

  dynamic "reviewers" {
    for_each = length(each.value.reviewers.teams) + length(each.value.reviewers.users) > 0 ? [each.value.reviewers] : []
    content {
      teams = reviewers.value.teams
      users = reviewers.value.users
    }
  }

  deployment_branch_policy {
    protected_branches     = false
    custom_branch_policies = true
  }
}

resource "github_repository_environment_deployment_policy" "this" {
  for_each = local.policies

  repository     = var.github_repository_name
  environment    = github_repository_environment.this[each.value.environment].environment
  branch_pattern = each.value.branch
  tag_pattern    = each.value.tag
}

# Creating a v* tag is a release: only the release managers may.
resource "github_repository_ruleset" "release_tags_create" {
  name        = "release tags: only release managers create"
  repository  = var.github_repository_name
  target      = "tag"
  enforcement = "active"

  conditions {
    ref_name {
      include = ["refs/tags/v*"]
      exclude = []
    }
  }

  dynamic "bypass_actors" {
    for_each = var.release_managers.teams
    content {
      actor_id    = bypass_actors.value
      actor_type  = "Team"
      bypass_mode = "always"
    }
  }

  dynamic "bypass_actors" {
    for_each = var.release_managers.users
    content {
      actor_id    = bypass_actors.value
      actor_type  = "User"
      bypass_mode = "always"
    }
  }

  rules {
    creation = true
  }
}

# A published release never moves or disappears, for anyone (no bypass actors).
resource "github_repository_ruleset" "release_tags_immutable" {
  name        = "release tags: immutable"
  repository  = var.github_repository_name
  target      = "tag"
  enforcement = "active"

  conditions {
    ref_name {
      include = ["refs/tags/v*"]
      exclude = []
    }
  }

  rules {
    update   = true
    deletion = true
  }
}

# "On the default branch" is what every gate above trusts: ci.yml's check of
# a release tag's commit, the staging and production environments, and the
# workflow-bound role subjects (deploy.yml and rollback.yml at
# refs/heads/<default branch>). So it changes only through a pull request
# approved by someone other than its last pusher, for everyone (no bypass
# actors), and is never force-pushed or deleted.
resource "github_repository_ruleset" "default_branch" {
  name        = "default branch: reviewed pull requests only"
  repository  = var.github_repository_name
  target      = "branch"
  enforcement = "active"

  conditions {
    ref_name {
      include = ["refs/heads/${var.default_branch}"]
      exclude = []
    }
  }

  rules {
    deletion         = true
    non_fast_forward = true

    pull_request {
      required_approving_review_count = var.default_branch_approvals
      dismiss_stale_reviews_on_push   = true
      require_last_push_approval      = true
    }
  }
}

# What infra/ci_roles.tf trusts: the default template, or (oidc_workflow_bound)
# repo, context and job_workflow_ref, in that order.
resource "github_actions_repository_oidc_subject_claim_customization_template" "this" {
  repository         = var.github_repository_name
  use_default        = !var.oidc_workflow_bound
  include_claim_keys = var.oidc_workflow_bound ? ["repo", "context", "job_workflow_ref"] : null
}
