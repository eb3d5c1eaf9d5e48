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

  # IAM appends 26 characters to a name_prefix and allows 64 in a role name,
  # so a name_prefix may hold 38: the runner prefix is cut to 31 here.
  role_name_prefix = "${trimsuffix(substr(local.prefix, 0, 31), "-")}-nodes-"

  # Cluster autoscaler tags belong on the node groups' Auto Scaling groups:
  # tags of aws_eks_node_group stay on the node group. The node-template tags
  # let it scale a group up from zero for pods that need its labels and taint.
  asg_tags = merge([
    for arch in keys(var.node_groups) : {
      for key, value in {
        "k8s.io/cluster-autoscaler/enabled"                                    = "true"
        "k8s.io/cluster-autoscaler/${var.cluster_name}"                        = "owned"
        "k8s.io/cluster-autoscaler/node-template/label/paved-road/runner-arch" = arch
        "k8s.io/cluster-autoscaler/node-template/label/kubernetes.io/arch"     = arch
        "k8s.io/cluster-autoscaler/node-template/taint/${local.taint_key}"     = "${arch}:NoSchedule"
      } : "${arch} ${key}" => { arch = arch, key = key, value = value }
    }
  ]...)
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
  name_prefix        = local.role_name_prefix
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

# Runner nodes: IMDSv2 only, with a hop limit of 1, so a job's containers
# (one network hop further than the node) cannot reach the instance metadata
# service and the node role's credentials (EC2 User Guide, "Configure the
# instance metadata options": the PUT response hop limit). The root volume is
# set here, as EKS refuses disk_size on a node group with a launch template.
resource "aws_launch_template" "runners" {
  for_each = var.node_groups

  name_prefix = "${local.prefix}-${each.key}-"

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = each.value.disk_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = var.tags
  }

  tags = var.tags
}

resource "aws_eks_node_group" "this" {
  for_each = var.node_groups

  cluster_name    = var.cluster_name
  node_group_name = "${local.prefix}-${each.key}"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = var.subnet_ids
  ami_type        = local.ami_types[each.key]
  capacity_type   = "ON_DEMAND"
  instance_types  = each.value.instance_types

  launch_template {
    id      = aws_launch_template.runners[each.key].id
    version = aws_launch_template.runners[each.key].latest_version
  }

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

  tags = var.tags

  # The cluster autoscaler moves desired_size.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.nodes]
}

resource "aws_autoscaling_group_tag" "this" {
  for_each = local.asg_tags

  autoscaling_group_name = aws_eks_node_group.this[each.value.arch].resources[0].autoscaling_groups[0].name

  tag {
    key                 = each.value.key
    value               = each.value.value
    propagate_at_launch = false
  }
}

################################################################################
# System node group: untainted nodes for the controller and cluster add-ons,
# for clusters that have none (the runner groups admit only runners)
################################################################################

resource "aws_eks_node_group" "system" {
  count = var.system_node_group == null ? 0 : 1

  cluster_name    = var.cluster_name
  node_group_name = "${local.prefix}-system"
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = var.subnet_ids
  ami_type        = var.system_node_group.ami_type
  capacity_type   = "ON_DEMAND"
  instance_types  = var.system_node_group.instance_types

  scaling_config {
    min_size     = var.system_node_group.min_size
    max_size     = var.system_node_group.max_size
    desired_size = var.system_node_group.min_size
  }

  update_config {
    max_unavailable = 1
  }

  tags = var.tags

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

  # The controller and each scale set are installed after the runner node
  # groups; the controller and the listeners run on untainted nodes (the
  # system node group), never on runner nodes.
  architectures  = { for arch, nodes in aws_eks_node_group.this : arch => nodes.node_group_name }
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
