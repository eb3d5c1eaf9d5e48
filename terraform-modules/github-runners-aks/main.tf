locals {
  # Taint that keeps everything but runners off the runner pools.
  taint_key = "paved-road/github-runners"
}

################################################################################
# Node pools: one per architecture, autoscaled, tainted for runners only
################################################################################

resource "azurerm_kubernetes_cluster_node_pool" "this" {
  for_each = var.node_pools

  # Linux pool names: up to 12 lowercase alphanumerics.
  name                    = "gha${each.key}"
  kubernetes_cluster_id   = var.kubernetes_cluster_id
  vm_size                 = each.value.vm_size
  mode                    = "User"
  os_type                 = "Linux"
  os_sku                  = "AzureLinux"
  os_disk_size_gb         = each.value.os_disk_size_gb
  os_disk_type            = each.value.os_disk_type
  vnet_subnet_id          = var.vnet_subnet_id
  max_pods                = var.max_pods
  host_encryption_enabled = var.host_encryption_enabled

  auto_scaling_enabled = true
  min_count            = each.value.min_count
  max_count            = each.value.max_count

  node_labels = {
    "paved-road/runner-arch" = each.key
  }
  node_taints = ["${local.taint_key}=${each.key}:NoSchedule"]

  tags = var.tags

  # The cluster autoscaler moves node_count.
  lifecycle {
    ignore_changes = [node_count]
  }
}

################################################################################
# actions-runner-controller and one runner scale set per architecture
################################################################################

module "runner_scale_sets" {
  source = "../arc-runner-scale-sets"

  # Each scale set is installed after the node pool of its architecture.
  architectures  = { for arch, nodes in azurerm_kubernetes_cluster_node_pool.this : arch => nodes.name }
  node_taint_key = local.taint_key

  runner_scale_set_prefix = var.runner_scale_set_prefix
  github_config_url       = var.github_config_url
  github_app_secret_name  = var.github_app_secret_name
  github_plan             = var.github_plan
  runner_group            = var.runner_group
  min_runners             = var.min_runners
  max_runners             = var.max_runners
  runner_image            = var.runner_image
  arc_chart_version       = var.arc_chart_version
  controller_namespace    = var.controller_namespace
  runners_namespace       = var.runners_namespace
}

# The releases lived in this module before: keep them in place (no uninstall
# and reinstall) on the first apply after the move.
moved {
  from = helm_release.controller
  to   = module.runner_scale_sets.helm_release.controller
}

moved {
  from = helm_release.scale_set
  to   = module.runner_scale_sets.helm_release.scale_set
}
