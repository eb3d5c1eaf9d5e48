output "runner_scale_set_names" {
  description = "Runner scale set per architecture (<prefix>-amd64, <prefix>-arm64): the runs-on labels of the generated CI's build jobs"
  value       = module.runner_scale_sets.runner_scale_set_names
}

output "node_group_names" {
  description = "EKS node group per architecture"
  value       = { for arch, g in aws_eks_node_group.this : arch => g.node_group_name }
}

output "node_role_arn" {
  description = "IAM role of the runner nodes"
  value       = aws_iam_role.nodes.arn
}

output "arc_chart_version" {
  description = "Version of the controller and scale-set charts"
  value       = module.runner_scale_sets.arc_chart_version
}
