locals {
  scale_set_names = { for arch in keys(var.architectures) : arch => "${var.runner_scale_set_prefix}-${arch}" }

  controller_release = "arc"
}

################################################################################
# The runner group: a pull request runs its own copy of the workflow, so no
# `if:` in a workflow can keep it off these runners. The group can: only the
# selected repositories and, in them, only the selected workflows at the given
# refs get a runner; public repositories (any fork) never.
################################################################################

resource "github_actions_runner_group" "this" {
  name                       = var.runner_group.name
  visibility                 = "selected"
  selected_repository_ids    = var.runner_group.selected_repository_ids
  restricted_to_workflows    = true
  selected_workflows         = var.runner_group.selected_workflows
  allows_public_repositories = false
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
  # Naming the nodes here installs the controller after them.
  description = "actions-runner-controller for runners on ${join(", ", [for arch in sort(keys(var.architectures)) : var.architectures[arch]])}"

  # The controller may run on runner nodes (it tolerates their taint), so the
  # release does not time out on a cluster whose only nodes are runner nodes.
  values = [yamlencode({
    tolerations = [{
      key      = var.node_taint_key
      operator = "Exists"
      effect   = "NoSchedule"
    }]
  })]
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
    runnerGroup        = github_actions_runner_group.this.name
    minRunners         = var.min_runners
    maxRunners         = var.max_runners
    controllerServiceAccount = {
      namespace = var.controller_namespace
      name      = "${local.controller_release}-gha-rs-controller"
    }
    # Image builds need a Docker daemon next to the runner.
    containerMode = { type = "dind" }
    # The controller starts one listener pod per scale set (in its own
    # namespace) and gives it only what listenerTemplate holds: without the
    # toleration it stays Pending on a cluster whose only nodes are runner
    # nodes, and no runner is ever requested. ARC merges the container named
    # "listener" into its own; the CRD requires the containers list.
    listenerTemplate = {
      spec = {
        tolerations = [{
          key      = var.node_taint_key
          operator = "Exists"
          effect   = "NoSchedule"
        }]
        containers = [{ name = "listener" }]
      }
    }
    template = {
      spec = {
        nodeSelector = { "kubernetes.io/arch" = each.key }
        tolerations = [{
          key      = var.node_taint_key
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

  depends_on = [helm_release.controller]
}
