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

variable "system_node_group" {
  description = "Untainted node group for the runner controller, its listeners and cluster add-ons, which never run on runner nodes; created by default. null only for a cluster that already has untainted nodes (otherwise the controller stays Pending)"
  type = object({
    instance_types = optional(list(string), ["t4g.medium"])
    ami_type       = optional(string, "AL2023_ARM_64_STANDARD")
    min_size       = optional(number, 1)
    max_size       = optional(number, 2)
  })
  default = {}

  validation {
    condition     = var.system_node_group == null ? true : (var.system_node_group.min_size >= 1 && var.system_node_group.max_size >= var.system_node_group.min_size)
    error_message = "system_node_group needs min_size >= 1 and max_size >= min_size."
  }
}

################################################################################
# Runners: passed to arc-runner-scale-sets, which holds their defaults and
# validation (null = its default)
################################################################################

variable "runner_scale_set_prefix" {
  description = "Runner scale sets are named <prefix>-amd64 and <prefix>-arm64; workflows use these names in runs-on (null: paved-runners)"
  type        = string
  default     = null
}

variable "github_config_url" {
  description = "GitHub organization or repository URL the runners register with (https://github.com/ORG)"
  type        = string
}

variable "github_app_secret_name" {
  description = "Existing Kubernetes secret in runners_namespace with github_app_id, github_app_installation_id and github_app_private_key (created outside Terraform, so no credential enters the state)"
  type        = string
}

variable "github_plan" {
  description = "GitHub plan of the organization (passed to arc-runner-scale-sets, which refuses plans without workflow-restricted runner groups): enterprise_cloud or enterprise_server"
  type        = string
}

variable "runner_group" {
  description = "GitHub organization runner group created for the scale sets (arc-runner-scale-sets): only the selected repositories (IDs) and, in them, only the selected workflows (OWNER/REPO/.github/workflows/FILE@REF, e.g. the release workflow on tags) may use the runners; public repositories never"
  type = object({
    name                    = string
    selected_repository_ids = list(number)
    selected_workflows      = list(string)
  })
  nullable = false

  validation {
    condition     = var.runner_group.name != "" && lower(var.runner_group.name) != "default"
    error_message = "runner_group.name must name a dedicated group, not the organization's default group (every repository may use that one)."
  }

  validation {
    condition     = length(var.runner_group.selected_repository_ids) > 0 && length(var.runner_group.selected_workflows) > 0
    error_message = "runner_group needs at least one selected repository ID and one selected workflow."
  }

  validation {
    condition     = alltrue([for w in var.runner_group.selected_workflows : can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/\\.github/workflows/[^@/\\s]+\\.ya?ml@[^\\s]+$", w))])
    error_message = "runner_group.selected_workflows entries must look like OWNER/REPO/.github/workflows/FILE.yml@REF."
  }
}

variable "max_runners" {
  description = "Upper bound of concurrent runners per architecture (null: 10)"
  type        = number
  default     = null
}

variable "min_runners" {
  description = "Idle runners kept per architecture (null: 0, scale to zero between jobs)"
  type        = number
  default     = null
}

variable "runner_image" {
  description = "Pinned runner image, version tag or digest (null: ghcr.io/actions/actions-runner:2.337.0)"
  type        = string
  default     = null
}

variable "arc_chart_version" {
  description = "Version of both actions-runner-controller charts, exact X.Y.Z (null: 0.14.2)"
  type        = string
  default     = null
}

variable "controller_namespace" {
  description = "Namespace of the actions-runner-controller (null: arc-systems)"
  type        = string
  default     = null
}

variable "runners_namespace" {
  description = "Namespace of the runner pods, holds github_app_secret_name (null: arc-runners)"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the AWS resources"
  type        = map(string)
  default     = {}
  nullable    = false
}
