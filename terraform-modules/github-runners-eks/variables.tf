################################################################################
# Cluster and node groups
################################################################################

variable "cluster_name" {
  description = "Name of the existing EKS cluster the runners run on"
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the runner node groups"
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "node_groups" {
  description = "Runner node group per architecture: instance types (x86_64 for amd64, Graviton for arm64), autoscaling bounds and disk size"
  type = map(object({
    instance_types = list(string)
    min_size       = optional(number, 0)
    max_size       = optional(number, 10)
    desired_size   = optional(number, 1)
    disk_size_gb   = optional(number, 100)
  }))
  default = {
    amd64 = { instance_types = ["m7i.2xlarge"] }
    arm64 = { instance_types = ["m7g.2xlarge"] }
  }
  nullable = false

  validation {
    condition     = alltrue([for arch in keys(var.node_groups) : contains(["amd64", "arm64"], arch)]) && length(var.node_groups) > 0
    error_message = "node_groups keys must be amd64 and/or arm64."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.min_size <= g.desired_size && g.desired_size <= g.max_size && g.max_size >= 1])
    error_message = "node_groups sizes must satisfy min_size <= desired_size <= max_size and max_size >= 1."
  }
}

################################################################################
# Runners
################################################################################

variable "runner_scale_set_prefix" {
  description = "Runner scale sets are named <prefix>-amd64 and <prefix>-arm64; workflows use these names in runs-on"
  type        = string
  default     = "paved-runners"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.runner_scale_set_prefix))
    error_message = "runner_scale_set_prefix must be 2-40 lowercase letters, digits and hyphens starting with a letter."
  }
}

variable "github_config_url" {
  description = "GitHub organization or repository URL the runners register with (https://github.com/ORG)"
  type        = string

  validation {
    condition     = can(regex("^https://[^/]+/[^/]+(/[^/]+)?$", var.github_config_url))
    error_message = "github_config_url must be https://HOST/ORG or https://HOST/ORG/REPO."
  }
}

variable "github_app_secret_name" {
  description = "Existing Kubernetes secret in runners_namespace with github_app_id, github_app_installation_id and github_app_private_key (created outside Terraform, so no credential enters the state)"
  type        = string
}

variable "runner_group" {
  description = "GitHub runner group the scale sets join (restrict it to the repositories that may use these runners)"
  type        = string
  default     = "default"
}

variable "max_runners" {
  description = "Upper bound of concurrent runners per architecture"
  type        = number
  default     = 10

  validation {
    condition     = var.max_runners >= 1
    error_message = "max_runners must be at least 1."
  }
}

variable "min_runners" {
  description = "Idle runners kept per architecture (0 scales to zero between jobs)"
  type        = number
  default     = 0

  validation {
    condition     = var.min_runners >= 0
    error_message = "min_runners must be 0 or more."
  }
}

variable "runner_image" {
  description = "Pinned runner image (multi-arch; runner >= 2.327.1 for node24 actions)"
  type        = string
  default     = "ghcr.io/actions/actions-runner:2.337.0"

  validation {
    condition     = can(regex("(:[0-9]+\\.[0-9]+\\.[0-9]+|@sha256:[a-f0-9]{64})$", var.runner_image))
    error_message = "runner_image must be pinned to a version tag or a digest, never latest."
  }
}

variable "arc_chart_version" {
  description = "Version of both actions-runner-controller charts (gha-runner-scale-set-controller and gha-runner-scale-set must match)"
  type        = string
  default     = "0.14.2"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.arc_chart_version))
    error_message = "arc_chart_version must be an exact chart version X.Y.Z."
  }
}

variable "controller_namespace" {
  description = "Namespace of the actions-runner-controller"
  type        = string
  default     = "arc-systems"
}

variable "runners_namespace" {
  description = "Namespace of the runner pods (holds github_app_secret_name)"
  type        = string
  default     = "arc-runners"
}

variable "tags" {
  description = "Tags for the AWS resources"
  type        = map(string)
  default     = {}
  nullable    = false
}
