# The runner group is an organization setting: a token with admin:org (or a
# GitHub App with organization "Self-hosted runners" write) in GITHUB_TOKEN.
provider "github" {
  owner = "acme"
}

provider "aws" {
  region = "eu-west-1"
}

data "aws_eks_cluster" "this" {
  name = "ci"
}

provider "helm" {
  kubernetes = {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", data.aws_eks_cluster.this.name]
    }
  }
}

module "github_runners" {
  source = "../.."

  cluster_name            = data.aws_eks_cluster.this.name
  subnet_ids              = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
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
