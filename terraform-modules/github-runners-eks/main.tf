locals {
  # The arch label every Kubernetes node carries, the EKS AMI per arch, and
  # the taint that keeps everything but runners off the runner nodes.
  ami_types = {
    amd64 = "AL2023_x86_64_STANDARD"
    arm64 = "AL2023_ARM_64_STANDARD"
  }
  taint_key = "paved-road/github-runners"

  # The prefix after arc-runner-scale-sets applied its default and validation;
  # node groups and the IAM role are named after it like the scale sets.
  prefix = module.runner_scale_sets.runner_scale_set_prefix
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
  name_prefix        = "${local.prefix}-nodes-"
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
  node_group_name = "${local.prefix}-${each.key}"
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

module "runner_scale_sets" {
  source = "../arc-runner-scale-sets"

  # Each scale set is installed after the node group of its architecture.
  architectures  = { for arch, nodes in aws_eks_node_group.this : arch => nodes.node_group_name }
  node_taint_key = local.taint_key

  runner_scale_set_prefix = var.runner_scale_set_prefix
  github_config_url       = var.github_config_url
  github_app_secret_name  = var.github_app_secret_name
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
