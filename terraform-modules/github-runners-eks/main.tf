locals {
  # The arch label every Kubernetes node carries, the EKS AMI per arch, and
  # the taint that keeps everything but runners off the runner nodes.
  ami_types = {
    amd64 = "AL2023_x86_64_STANDARD"
    arm64 = "AL2023_ARM_64_STANDARD"
  }
  taint_key = "paved-road/github-runners"

  scale_set_names = { for arch in keys(var.node_groups) : arch => "${var.runner_scale_set_prefix}-${arch}" }

  controller_release = "arc"
}

data "aws_partition" "current" {}

################################################################################
# Node IAM role
################################################################################

data "aws_iam_policy_document" "nodes_assume" {
  statement {
    sid     = "Ec2Assume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "nodes" {
  name_prefix        = "${var.runner_scale_set_prefix}-nodes-"
  description        = "Nodes of the GitHub runner node groups on ${var.cluster_name}"
  assume_role_policy = data.aws_iam_policy_document.nodes_assume.json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "nodes" {
  for_each = toset(["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly"])

  role       = aws_iam_role.nodes.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

################################################################################
# Node groups: one per architecture, tainted for runners only
################################################################################

resource "aws_eks_node_group" "this" {
  for_each = var.node_groups

  cluster_name    = var.cluster_name
  node_group_name = "${var.runner_scale_set_prefix}-${each.key}"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = var.subnet_ids
  ami_type        = local.ami_types[each.key]
  capacity_type   = "ON_DEMAND"
  instance_types  = each.value.instance_types
  disk_size       = each.value.disk_size_gb

  scaling_config {
    min_size     = each.value.min_size
    max_size     = each.value.max_size
    desired_size = each.value.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  labels = {
    "paved-road/runner-arch" = each.key
  }

  taint {
    key    = local.taint_key
    value  = each.key
    effect = "NO_SCHEDULE"
  }

  tags = merge(var.tags, {
    "k8s.io/cluster-autoscaler/enabled"             = "true"
    "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
  })

  # The cluster autoscaler moves desired_size.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.nodes]
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

  depends_on = [helm_release.controller, aws_eks_node_group.this]
}
