# The runner group is an organization setting: a token with admin:org (or a
# GitHub App with organization "Self-hosted runners" write) in GITHUB_TOKEN.
provider "github" {
  owner = "acme"
}

provider "azurerm" {
  features {}
  subscription_id = "00000000-0000-0000-0000-000000000000"
}

data "azurerm_kubernetes_cluster" "this" {
  name                = "ci"
  resource_group_name = "ci"
}

provider "helm" {
  kubernetes = {
    host                   = data.azurerm_kubernetes_cluster.this.kube_config[0].host
    cluster_ca_certificate = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate)
    client_certificate     = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].client_certificate)
    client_key             = base64decode(data.azurerm_kubernetes_cluster.this.kube_config[0].client_key)
  }
}

module "github_runners" {
  source = "../.."

  kubernetes_cluster_id   = data.azurerm_kubernetes_cluster.this.id
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
  value       = module.github_runners.runner_scale_set_names
}
