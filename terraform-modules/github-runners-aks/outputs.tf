output "runner_scale_set_names" {
  description = "Runner scale set per architecture (<prefix>-amd64, <prefix>-arm64): the runs-on labels of the generated CI's build jobs"
  value       = module.runner_scale_sets.runner_scale_set_names
}

output "node_pool_names" {
  description = "AKS node pool per architecture"
  value       = { for arch, p in azurerm_kubernetes_cluster_node_pool.this : arch => p.name }
}

output "arc_chart_version" {
  description = "Version of the controller and scale-set charts"
  value       = module.runner_scale_sets.arc_chart_version
}
