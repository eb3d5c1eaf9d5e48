# The runner group is an organization setting: a token with admin:org (or a
# GitHub App with organization "Self-hosted runners" write) in GITHUB_TOKEN.
provider "github" {
  owner = "acme"
}

provider "helm" {
  kubernetes = {
    config_path = "~/.kube/config"
  }
}

# Nodes labelled kubernetes.io/arch and tainted
# paved-road/github-runners=<arch>:NoSchedule exist already (the
# github-runners-eks and github-runners-aks modules create them).
module "arc_runner_scale_sets" {
  source = "../.."

  architectures = {
    amd64 = "runners-amd64"
    arm64 = "runners-arm64"
  }
  runner_scale_set_prefix = "paved-runners"
  github_config_url       = "https://github.com/acme"
  github_app_secret_name  = "github-app"
  github_plan             = "enterprise_cloud"
  runner_group = {
    name                    = "paved-road-releases"
    selected_repository_ids = [123456789]
    selected_workflows      = ["acme/demo-service/.github/workflows/ci.yml@refs/tags/v*"]
  }
}

output "runner_scale_set_names" {
  description = "runs-on labels per architecture"
  value       = module.arc_runner_scale_sets.runner_scale_set_names
}
