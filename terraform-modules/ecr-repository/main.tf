################################################################################
# Repository
################################################################################

resource "aws_ecr_repository" "this" {
  name = var.name

  # A released tag never moves: an old task-definition revision pulls exactly
  # the image it was deployed with. Only the tags that are pointers by design
  # (the release builds' cache, buildcache-<arch>) may be overwritten.
  image_tag_mutability = length(var.mutable_tag_filters) > 0 ? "IMMUTABLE_WITH_EXCLUSION" : "IMMUTABLE"

  dynamic "image_tag_mutability_exclusion_filter" {
    for_each = var.mutable_tag_filters

    content {
      filter      = image_tag_mutability_exclusion_filter.value
      filter_type = "WILDCARD"
    }
  }
  force_delete = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

################################################################################
# Lifecycle: keep releases, expire untagged and sha-only images
################################################################################

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  policy = templatefile("${path.module}/templates/lifecycle-policy.json.tftpl", {
    untagged_expire_days = var.untagged_expire_days
    sha_tag_prefix       = var.sha_tag_prefix
    sha_expire_days      = var.sha_expire_days
  })
}

################################################################################
# Repository policy: who may push
################################################################################

data "aws_iam_policy_document" "push" {
  count = length(var.push_principal_arns) > 0 ? 1 : 0

  statement {
    sid = "CiPush"
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

    principals {
      type        = "AWS"
      identifiers = var.push_principal_arns
    }
  }
}

resource "aws_ecr_repository_policy" "this" {
  count = length(var.push_principal_arns) > 0 ? 1 : 0

  repository = aws_ecr_repository.this.name
  policy     = data.aws_iam_policy_document.push[0].json
}
