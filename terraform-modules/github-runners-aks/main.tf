locals {
  # Taint that keeps everything but runners off the runner pools.
  taint_key = "paved-road/github-runners"

  scale_set_names = { for arch in keys(var.node_pools) : arch => "${var.runner_scale_set_prefix}-${arch}" }

  controller_release = "arc"
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
  os_disk_type            = "Ephemeral"
  vnet_subnet_id          = var.vnet_subnet_id
  max_pods                = var.max_pods
  host_encryption_enabled = true

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

resource "helm_release" "controller" {
  name             = local.controller_release
  namespace        = var.controller_namespace
  create_namespace = true
  repository       = "oci://ghcr.io/actions/actions-runner-controller-charts"
  chart            = "gha-runner-scale-set-controller"
  version          = var.arc_chart_version
  wait             = true
}

resource "helm_release" "scale_set" {
  for_each = local.scale_set_names

  name             = each.value
  namespace        = var.runners_namespace
  create_namespace = true
  repository       = "oci://ghcr.io/actions/actions-runner-controller-charts"
  chart            = "gha-runner-scale-set"
  version          = var.arc_chart_version

  values = [yamlencode({
    githubConfigUrl = var.github_config_url
    # Name of an existing secret (GitHub App id, installation id, private
    # key): the credentials never pass through Terraform.
    githubConfigSecret = var.github_app_secret_name
    runnerScaleSetName = each.value
    runnerGroup        = var.runner_group
    minRunners         = var.min_runners
    maxRunners         = var.max_runners
    controllerServiceAccount = {
      namespace = var.controller_namespace
      name      = "${local.controller_release}-gha-rs-controller"
    }
    # Image builds need a Docker daemon next to the runner.
    containerMode = { type = "dind" }
    template = {
      spec = {
        nodeSelector = { "kubernetes.io/arch" = each.key }
        tolerations = [{
          key      = local.taint_key
          operator = "Equal"
          value    = each.key
          effect   = "NoSchedule"
        }]
        containers = [{
          name    = "runner"
          image   = var.runner_image
          command = ["/home/runner/run.sh"]
        }]
      }
    }
  })]

  depends_on = [helm_release.controller, azurerm_kubernetes_cluster_node_pool.this]
}
