################################################################################
# Cluster and node pools
################################################################################

variable "kubernetes_cluster_id" {
  description = "ID of the existing AKS cluster the runners run on"
  type        = string

  validation {
    condition     = can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft.ContainerService/managedClusters/[^/]+$", var.kubernetes_cluster_id))
    error_message = "kubernetes_cluster_id must be an AKS cluster resource ID."
  }
}

variable "max_pods" {
  description = "Pods per runner node (runner pods, their dind sidecars and daemon sets)"
  type        = number
  default     = 50

  validation {
    condition     = var.max_pods >= 50 && var.max_pods <= 250
    error_message = "max_pods must be from 50 to 250."
  }
}

variable "vnet_subnet_id" {
  description = "Subnet of the runner node pools; null uses the cluster's default"
  type        = string
  default     = null
}

variable "node_pools" {
  description = "Runner node pool per architecture: VM size, autoscaling bounds, OS disk size and type. An Ephemeral OS disk (the default: faster, nothing persists between runners) needs a size with a local temp or cache disk, the \"d\" sizes (Standard_D8ds_v5, Standard_D8pds_v5 for arm64), and os_disk_size_gb within that disk; otherwise use os_disk_type = \"Managed\""
  type = map(object({
    vm_size         = string
    min_count       = optional(number, 0)
    max_count       = optional(number, 10)
    os_disk_size_gb = optional(number, 128)
    os_disk_type    = optional(string, "Ephemeral")
  }))
  default = {
    amd64 = { vm_size = "Standard_D8ds_v5" }
    arm64 = { vm_size = "Standard_D8pds_v5" }
  }
  nullable = false

  validation {
    condition     = alltrue([for arch in keys(var.node_pools) : contains(["amd64", "arm64"], arch)]) && length(var.node_pools) > 0
    error_message = "node_pools keys must be amd64 and/or arm64."
  }

  validation {
    condition     = alltrue([for p in values(var.node_pools) : p.min_count <= p.max_count && p.max_count >= 1])
    error_message = "node_pools must satisfy min_count <= max_count and max_count >= 1."
  }

  # Azure size names: Standard_<family><vCPUs>[-<constrained>]<feature letters>_v<N>;
  # "d" = local temp disk, "p" = Arm (Ampere). AKS rejects an Ephemeral OS disk
  # on a size without a cache or temp disk (VMCacheSizeTooSmall).
  validation {
    condition     = alltrue([for p in values(var.node_pools) : contains(["Ephemeral", "Managed"], p.os_disk_type) && (p.os_disk_type == "Managed" || can(regex("^Standard_[A-Z]+[0-9]+(-[0-9]+)?[a-z]*d[a-z]*_v[0-9]+$", p.vm_size)))])
    error_message = "node_pools: os_disk_type must be Ephemeral or Managed, and Ephemeral needs a VM size with a local disk, a \"d\" size such as Standard_D8ds_v5 or Standard_D8pds_v5 (Standard_D8s_v5 has none)."
  }

  validation {
    condition     = alltrue([for arch, p in var.node_pools : (arch == "arm64") == can(regex("^Standard_[A-Z]+[0-9]+(-[0-9]+)?[a-z]*p[a-z]*_v[0-9]+$", p.vm_size))])
    error_message = "node_pools: arm64 needs an Arm VM size (a \"p\" size such as Standard_D8pds_v5) and amd64 an x86 one."
  }
}

variable "host_encryption_enabled" {
  description = "Encrypt the runner nodes' temp and OS disks (incl. ephemeral) at the host. Needs the subscription feature Microsoft.Compute/EncryptionAtHost registered once (az feature register --namespace Microsoft.Compute --name EncryptionAtHost, then az provider register -n Microsoft.Compute); without it AKS refuses the pool. false only where that registration is not possible"
  type        = bool
  default     = true
  nullable    = false
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
  description = "Tags for the Azure resources"
  type        = map(string)
  default     = {}
  nullable    = false
}
