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

  # restricted_to_workflows is the guard; it exists only on these plans.
  lifecycle {
    precondition {
      condition     = contains(["enterprise_cloud", "enterprise_server"], var.github_plan)
      error_message = "runner groups restricted to selected workflows need GitHub Enterprise Cloud or Enterprise Server (github_plan = ${var.github_plan})."
    }
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
  # Naming the nodes here installs the controller after them.
  description = "actions-runner-controller for runners on ${join(", ", [for arch in sort(keys(var.architectures)) : var.architectures[arch]])}"

  # No toleration of the runner taint: the controller (which holds the
  # cluster-wide permissions to create runner pods) never shares a node with a
  # job, whose dind container is privileged. The cluster needs untainted
  # nodes (github-runners-eks creates a system node group; AKS has its system pool).
  values = [yamlencode({
    tolerations = []
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
    # namespace) with only what listenerTemplate holds. The listener holds the
    # GitHub App credentials: no toleration, so it runs on untainted (system)
    # nodes, never next to a job. ARC merges the container named "listener"
    # into its own; the CRD requires the containers list.
    listenerTemplate = {
      spec = {
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
