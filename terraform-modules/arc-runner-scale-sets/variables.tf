################################################################################
# Nodes the runners run on
################################################################################

variable "architectures" {
  description = "Architectures (amd64, arm64) to run a scale set for, each mapped to the node group or pool that hosts it; referencing those nodes here installs each scale set after its nodes"
  type        = map(string)
  nullable    = false

  validation {
    condition     = length(var.architectures) > 0 && alltrue([for arch in keys(var.architectures) : contains(["amd64", "arm64"], arch)])
    error_message = "architectures keys must be amd64 and/or arm64."
  }
}

variable "node_taint_key" {
  description = "Key of the NoSchedule taint (value = architecture) on the runner nodes; runner pods tolerate it"
  type        = string
  default     = "paved-road/github-runners"
  nullable    = false

  validation {
    condition     = can(regex("^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$", var.node_taint_key))
    error_message = "node_taint_key must be a Kubernetes label key such as paved-road/github-runners."
  }
}

################################################################################
# Runners
################################################################################

variable "runner_scale_set_prefix" {
  description = "Runner scale sets are named <prefix>-amd64 and <prefix>-arm64; workflows use these names in runs-on"
  type        = string
  default     = "paved-runners"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.runner_scale_set_prefix))
    error_message = "runner_scale_set_prefix must be 2-40 lowercase letters, digits and hyphens starting with a letter."
  }
}

variable "github_config_url" {
  description = "GitHub organization or repository URL the runners register with (https://github.com/ORG)"
  type        = string

  validation {
    condition     = can(regex("^https://[^/\\s]+/[^/\\s]+(/[^/\\s]+)?$", var.github_config_url))
    error_message = "github_config_url must be https://HOST/ORG or https://HOST/ORG/REPO."
  }
}

variable "github_app_secret_name" {
  description = "Existing Kubernetes secret in runners_namespace with github_app_id, github_app_installation_id and github_app_private_key (created outside Terraform, so no credential enters the state)"
  type        = string
}

variable "github_plan" {
  description = "GitHub plan of the organization the runners register with. The runner group's restriction to selected workflows (the guard that keeps a same-repository pull request, which runs its own copy of ci.yml, off these privileged runners) exists only on GitHub Enterprise Cloud and Enterprise Server 3.5+ (github/docs, restrict-groups-to-workflows): enterprise_cloud or enterprise_server; the module refuses free, pro and team"
  type        = string
  nullable    = false

  validation {
    condition     = contains(["enterprise_cloud", "enterprise_server"], var.github_plan)
    error_message = "github_plan must be one of enterprise_cloud, enterprise_server: on free, pro and team plans a runner group cannot be restricted to selected workflows, so any writer's pull request could edit runs-on and reach these privileged runners (use runner_mode github-hosted or build-cloud there)."
  }
}

variable "runner_group" {
  description = "GitHub organization runner group the module creates for the scale sets: only the selected repositories (IDs) and, in them, only the selected workflows (OWNER/REPO/.github/workflows/FILE@REF, e.g. the release workflow on tags) may use the runners; public repositories never"
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
  description = "Upper bound of concurrent runners per architecture"
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.max_runners >= 1
    error_message = "max_runners must be at least 1."
  }
}

variable "min_runners" {
  description = "Idle runners kept per architecture (0 scales to zero between jobs)"
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.min_runners >= 0
    error_message = "min_runners must be 0 or more."
  }
}

variable "runner_image" {
  description = "Pinned runner image (multi-arch; runner >= 2.327.1 for node24 actions)"
  type        = string
  default     = "ghcr.io/actions/actions-runner:2.337.0"
  nullable    = false

  validation {
    condition     = can(regex("(:[0-9]+\\.[0-9]+\\.[0-9]+|@sha256:[a-f0-9]{64})$", var.runner_image))
    error_message = "runner_image must be pinned to a version tag or a digest, never latest."
  }
}

variable "arc_chart_version" {
  description = "Version of both actions-runner-controller charts (gha-runner-scale-set-controller and gha-runner-scale-set must match)"
  type        = string
  default     = "0.14.2"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.arc_chart_version))
    error_message = "arc_chart_version must be an exact chart version X.Y.Z."
  }
}

variable "controller_namespace" {
  description = "Namespace of the actions-runner-controller"
  type        = string
  default     = "arc-systems"
  nullable    = false
}

variable "runners_namespace" {
  description = "Namespace of the runner pods (holds github_app_secret_name)"
  type        = string
  default     = "arc-runners"
  nullable    = false
}
