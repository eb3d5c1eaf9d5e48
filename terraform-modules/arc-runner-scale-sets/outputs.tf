output "runner_scale_set_names" {
  description = "Runner scale set per architecture (<prefix>-amd64, <prefix>-arm64): the runs-on labels of the generated CI's build jobs"
  value       = local.scale_set_names
}

output "arc_chart_version" {
  description = "Version of the controller and scale-set charts"
  value       = var.arc_chart_version
}

output "controller_release_name" {
  description = "Helm release of the actions-runner-controller (its service account is <name>-gha-rs-controller)"
  value       = helm_release.controller.name
}

output "runner_scale_set_prefix" {
  description = "Prefix of the runner scale set names (the input, or its default paved-runners)"
  value       = var.runner_scale_set_prefix
}
