# Three identities for one service's GitHub Actions, each assumable only from
# one GitHub environment:
#   <prefix>-publish     release jobs: push images to one ECR repository
#   <prefix>-staging     deploy/rollback jobs bound to environment staging
#   <prefix>-production  deploy/rollback jobs bound to environment production
# A job bound to an environment presents that environment's subject and no
# other, so nothing outside the production environment (and its protection
# rules) can assume the production role. See README.md for the GitHub side.
#
# The subject (`sub`) GitHub puts in the token (GitHub's OIDC reference,
# "Immutable subject claims", changelog 2026-04-23):
#   immutable  repo:OWNER@OWNER_ID/NAME@REPO_ID:environment:ENV   repositories created,
#              renamed or transferred after 2026-06-18, or opted in; a recycled
#              name never matches, since the IDs are never reused
#   name-only  repo:OWNER/NAME:environment:ENV   older repositories that have not opted in
# With workflow_bound_subjects, the repository's subject template includes
# job_workflow_ref after the context (claim keys repo, context,
# job_workflow_ref, which infra/github sets), and each role trusts only its
# workflow files at its refs:
#   ...:environment:ENV:job_workflow_ref:OWNER/NAME/.github/workflows/FILE@REF

locals {
  oidc_host = "token.actions.githubusercontent.com"

  owner_name = split("/", var.github_repository)[0]
  repo_name  = split("/", var.github_repository)[1]
  # What GitHub writes after `repo:` in the subject.
  repo_claim = var.subject_form == "immutable" ? "${local.owner_name}@${coalesce(var.github_owner_id, "unset")}/${local.repo_name}@${coalesce(var.github_repository_id, "unset")}" : var.github_repository

  # job_workflow_ref names the workflow file by OWNER/NAME (not IDs), at the ref it ran from.
  workflows = "${var.github_repository}/.github/workflows"

  publish_subjects = var.workflow_bound_subjects ? [
    "repo:${local.repo_claim}:environment:${var.publish_environment}:job_workflow_ref:${local.workflows}/ci.yml@refs/tags/v*",
  ] : ["repo:${local.repo_claim}:environment:${var.publish_environment}"]

  # Deploys and rollbacks run deploy.yml and rollback.yml from the default
  # branch only (ci.yml dispatches deploy.yml there): a tag's older copy of
  # deploy.yml (`gh workflow run deploy.yml --ref v1.0.0`) is refused.
  deploy_subjects = { for env in keys(var.deploy) : env => (var.workflow_bound_subjects ? [
    for workflow in ["deploy.yml", "rollback.yml"] :
    "repo:${local.repo_claim}:environment:${env}:job_workflow_ref:${local.workflows}/${workflow}@refs/heads/${var.default_branch}"
  ] : ["repo:${local.repo_claim}:environment:${env}"]) }

  # StringLike only where a pattern is meant (the publish role's v* tags); no
  # name GitHub allows contains * or ? (git refuses them in refs).
  publish_subject_test = var.workflow_bound_subjects ? "StringLike" : "StringEquals"

  subject_warnings = var.subject_form == "name-only" ? [
    "github-oidc-roles: the roles trust the name-only subject repo:${var.github_repository}:...; a repository recreated under this name after a rename or deletion would be trusted too. Opt the repository into immutable subject claims and set subject_form = \"immutable\" with its owner and repository IDs.",
  ] : []

  # arn:PARTITION:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE
  deploy_targets = { for env, d in var.deploy : env => {
    arn_prefix = join(":", slice(split(":", d.ecs_service_arn), 0, 5))
    cluster    = split("/", d.ecs_service_arn)[1]
    service    = split("/", d.ecs_service_arn)[2]
  } }

  ids_error = "subject_form \"immutable\" needs github_owner_id and github_repository_id (gh api repos/${var.github_repository} --jq '.owner.id, .id'); use subject_form \"name-only\" only for a repository that has not opted into immutable subject claims."
}

# A warning at plan time, not an error: the name-only form is what older
# repositories present until they opt in.
check "immutable_subject" {
  assert {
    condition     = var.subject_form == "immutable"
    error_message = join(" ", concat(local.subject_warnings, ["(no warning)"]))
  }
}

################################################################################
# Trust: one GitHub environment per role
################################################################################

data "aws_iam_policy_document" "publish_trust" {
  # checkov:skip=CKV_AWS_358:checkov's repository pattern predates GitHub's immutable subjects (OWNER@ID/NAME@ID) and rejects them; the subject is exact (tests/terraform/test_oidc_trust.py)
  count = var.publish == null ? 0 : 1

  statement {
    sid     = "GitHubReleaseEnvironment"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = local.publish_subject_test
      variable = "${local.oidc_host}:sub"
      values   = local.publish_subjects
    }
  }
}

data "aws_iam_policy_document" "deploy_trust" {
  # checkov:skip=CKV_AWS_358:checkov's repository pattern predates GitHub's immutable subjects (OWNER@ID/NAME@ID) and rejects them; the subject is exact (tests/terraform/test_oidc_trust.py)
  for_each = var.deploy

  statement {
    sid     = "GitHubDeployEnvironment"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = local.deploy_subjects[each.key]
    }
  }
}

################################################################################
# Publish role: push to one repository (no delete, no other repository)
################################################################################

resource "aws_iam_role" "publish" {
  count = var.publish == null ? 0 : 1

  name                 = "${var.name_prefix}-publish"
  description          = "GitHub Actions ${var.github_repository}, environment ${var.publish_environment}: push release images"
  assume_role_policy   = data.aws_iam_policy_document.publish_trust[0].json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = var.subject_form == "name-only" || (var.github_owner_id != null && var.github_repository_id != null)
      error_message = local.ids_error
    }
  }
}

data "aws_iam_policy_document" "publish" {
  count = var.publish == null ? 0 : 1

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPushServiceRepository"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [var.publish.ecr_repository_arn]
  }
}

resource "aws_iam_role_policy" "publish" {
  count = var.publish == null ? 0 : 1

  name   = "publish-images"
  role   = aws_iam_role.publish[0].id
  policy = data.aws_iam_policy_document.publish[0].json
}

################################################################################
# Deploy roles: one ECS service, its task-definition family, its task roles
################################################################################

resource "aws_iam_role" "deploy" {
  for_each = var.deploy

  name                 = "${var.name_prefix}-${each.key}"
  description          = "GitHub Actions ${var.github_repository}, environment ${each.key}: deploy and roll back ${local.deploy_targets[each.key].service}"
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust[each.key].json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = var.subject_form == "name-only" || (var.github_owner_id != null && var.github_repository_id != null)
      error_message = local.ids_error
    }
  }
}

data "aws_iam_policy_document" "deploy" {
  for_each = var.deploy

  statement {
    sid       = "UpdateTheService"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService", "ecs:ListServiceDeployments"]
    resources = [each.value.ecs_service_arn]
  }

  statement {
    sid     = "FollowAndStopItsDeployments"
    actions = ["ecs:DescribeServiceDeployments", "ecs:StopServiceDeployment"]
    resources = [
      "${local.deploy_targets[each.key].arn_prefix}:service-deployment/${local.deploy_targets[each.key].cluster}/${local.deploy_targets[each.key].service}/*",
    ]
  }

  statement {
    sid     = "ReadItsServiceRevisions"
    actions = ["ecs:DescribeServiceRevisions"]
    resources = [
      "${local.deploy_targets[each.key].arn_prefix}:service-revision/${local.deploy_targets[each.key].cluster}/${local.deploy_targets[each.key].service}/*",
    ]
  }

  # These task-definition calls have no resource-level permissions (Service
  # Authorization Reference). No DeregisterTaskDefinition: with "*" it would
  # reach every family in the account; the CLI's clean-up of an unused revision
  # after a failed update then just reports that it kept it.
  statement {
    sid       = "RegisterRevisions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }

  # Tag-on-create of a revision (paved:release, paved:digest, paved:made-by)
  # needs TagResource; only while registering, only in its own family.
  statement {
    sid       = "TagItsRevisionsOnCreate"
    actions   = ["ecs:TagResource"]
    resources = ["${local.deploy_targets[each.key].arn_prefix}:task-definition/${each.value.task_definition_family}:*"]

    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RegisterTaskDefinition"]
    }
  }

  statement {
    sid       = "PassOnlyItsTaskRoles"
    actions   = ["iam:PassRole"]
    resources = each.value.pass_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # Resolve releases to digests and fetch the manifests whose attestation the
  # deploy verifies; no push.
  statement {
    sid       = "EcrReadServiceRepository"
    actions   = ["ecr:BatchGetImage", "ecr:DescribeImages", "ecr:DescribeRepositories", "ecr:GetDownloadUrlForLayer", "ecr:ListImages"]
    resources = [each.value.ecr_repository_arn]
  }
}

resource "aws_iam_role_policy" "deploy" {
  for_each = var.deploy

  name   = "deploy-${each.key}"
  role   = aws_iam_role.deploy[each.key].id
  policy = data.aws_iam_policy_document.deploy[each.key].json
}
