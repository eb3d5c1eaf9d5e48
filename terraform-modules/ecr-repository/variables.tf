variable "name" {
  description = "Repository name (the service name)"
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name)) && length(var.name) >= 2 && length(var.name) <= 256
    error_message = "name must be a valid ECR repository name: lowercase letters, digits and . _ - / separators, 2-256 characters."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key that encrypts images; null uses the AWS-managed aws/ecr key"
  type        = string
  default     = null
}

variable "untagged_expire_days" {
  description = "Days after which untagged images expire"
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_expire_days >= 1 && floor(var.untagged_expire_days) == var.untagged_expire_days
    error_message = "untagged_expire_days must be a whole number of days, at least 1."
  }
}

variable "sha_tag_prefix" {
  description = "Prefix of the commit tags CI pushes (docker/metadata-action type=sha gives sha-<short sha>)"
  type        = string
  default     = "sha-"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,32}$", var.sha_tag_prefix)) && !can(regex("^[0-9v]", var.sha_tag_prefix))
    error_message = "sha_tag_prefix must be 1-32 tag characters and must not start with a digit or v (it would overlap SemVer tags)."
  }
}

variable "sha_expire_days" {
  description = "Days after which images that carry only a commit tag (no SemVer tag) expire"
  type        = number
  default     = 30

  validation {
    condition     = var.sha_expire_days >= 1 && floor(var.sha_expire_days) == var.sha_expire_days
    error_message = "sha_expire_days must be a whole number of days, at least 1."
  }
}

variable "mutable_tag_filters" {
  description = "Wildcard filters of the only tags that may be overwritten (IMMUTABLE_WITH_EXCLUSION); the default is the CI build cache. Empty makes every tag immutable"
  type        = list(string)
  default     = ["buildcache-*"]
  nullable    = false

  validation {
    condition     = length(var.mutable_tag_filters) <= 5 && alltrue([for f in var.mutable_tag_filters : can(regex("^[A-Za-uw-z][0-9A-Za-z._-]*\\*?$", f)) && length(f) <= 128])
    error_message = "mutable_tag_filters takes at most 5 filters, each a literal prefix starting with a letter other than v and an optional trailing *, so no filter can ever match a release tag (X.Y.Z, vX.Y.Z) or its X.Y.Z-<arch> images."
  }
}

variable "push_principal_arns" {
  description = "IAM roles allowed to push (the CI role assumed through GitHub OIDC); pulls stay with each account's own IAM"
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.push_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", a))])
    error_message = "push_principal_arns must be IAM role ARNs."
  }
}

variable "force_delete" {
  description = "Allow Terraform to delete the repository while it still holds images (off: releases are rollback targets)"
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the repository"
  type        = map(string)
  default     = {}
  nullable    = false
}
