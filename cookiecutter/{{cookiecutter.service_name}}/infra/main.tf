{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set github_owner_id = cookiecutter.github_owner_id %}{% set github_repository_id = cookiecutter.github_repository_id %}{% set oidc_subject_form = cookiecutter.oidc_subject_form %}{% set oidc_workflow_bound = (cookiecutter.oidc_workflow_bound in [true, 'true', 'yes', 'y', '1', 1]) %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set ci_role_prefix %}gha-{{ service_name }}{% endset %}{% set publish_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-publish{% endset %}{% set staging_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-staging{% endset %}{% set production_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-production{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "github_owner_id": "0", "github_repository_id": "0", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['github_owner_id'] if oidc_subject_form == 'immutable' and github_owner_id == placeholder_values.github_owner_id else []) + (['github_repository_id'] if oidc_subject_form == 'immutable' and github_repository_id == placeholder_values.github_repository_id else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set template_git_url_hcl %}{{ template_git_url | replace('\\', '\\\\') | replace('"', '\\"') | replace('${', '$${') | replace('%{', '%%{') }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}# {{ service_name }}: ECS service, ECR repository and the collector sidecar.
# The modules come from the Paved Road template at the release this service
# was generated from or last updated to ({{ _copier_answers._commit }});
# `copier update` moves the ref below together with the rest of the template.

provider "aws" {
  region              = var.aws_region
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = {
      "paved-road/service"     = var.service_name
      "paved-road/environment" = var.environment
      "paved-road/owner"       = var.owner
      "paved-road/repository"  = var.github_repository
      "paved-road/template"    = "{{ _copier_answers._commit }}"
    }
  }
}

locals {
  cluster_name = "${var.ecs_cluster_prefix}-${var.environment}"
  cluster_arn  = "arn:aws:ecs:${var.aws_region}:${var.aws_account_id}:cluster/${local.cluster_name}"
}

################################################################################
# Network: published by the platform next to each cluster
################################################################################

data "aws_ssm_parameter" "vpc_id" {
  name = "/paved-road/${local.cluster_name}/vpc-id"
}

data "aws_ssm_parameter" "private_subnet_ids" {
  name = "/paved-road/${local.cluster_name}/private-subnet-ids"
}

################################################################################
# ECR: one repository per service, owned by the environment that sets
# manage_ecr_repository (staging); the others look it up.
################################################################################

module "ecr_repository" {
  # checkov:skip=CKV_TF_1:Pinned to the template release tag that copier update moves; the template repository never moves a release tag.
  source = "git::{{ template_git_url_hcl }}//terraform-modules/ecr-repository?ref={{ _copier_answers._commit }}"
  count  = var.manage_ecr_repository ? 1 : 0

  # Pushes: the publish role's own policy (infra/ci_roles.tf), same account.
  name = var.ecr_repository
}

data "aws_ecr_repository" "this" {
  count = var.manage_ecr_repository ? 0 : 1

  name = var.ecr_repository
}

# Bootstrap (docs/terraform.md#bootstrap-order-of-a-new-service): the service
# runs no task until the image of its first task-definition revision
# (initial_image_tag) or any release is in the repository, so the first apply
# never starts tasks that cannot pull their image. Once a release exists the
# service is never parked again: a running service whose initial_image_tag was
# never pushed (first release 1.0.0, or the tag edited later) keeps its tasks.
# Read after the repository is created.
data "aws_ecr_images" "this" {
  repository_name = var.ecr_repository

  depends_on = [module.ecr_repository]
}

locals {
  image_tags         = [for i in data.aws_ecr_images.this.image_ids : i.image_tag if i.image_tag != null]
  seed_image_pushed  = contains(local.image_tags, var.initial_image_tag)
  release_pushed     = anytrue([for t in local.image_tags : can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", t))])
  ecr_repository_arn = var.manage_ecr_repository ? module.ecr_repository[0].repository_arn : data.aws_ecr_repository.this[0].arn
  ecr_repository_url = var.manage_ecr_repository ? module.ecr_repository[0].repository_url : data.aws_ecr_repository.this[0].repository_url
}

################################################################################
# ECS service with the OpenTelemetry Collector sidecar
################################################################################

module "service" {
  # checkov:skip=CKV_TF_1:Pinned to the template release tag that copier update moves; the template repository never moves a release tag.
  source = "git::{{ template_git_url_hcl }}//terraform-modules/ecs-service?ref={{ _copier_answers._commit }}"

  name               = var.service_name
  environment        = var.environment
  cluster_arn        = local.cluster_arn
  architectures      = var.architectures
  cpu                = var.cpu
  memory             = var.memory
  image              = "${local.ecr_repository_url}:${var.initial_image_tag}"
  ecr_repository_arn = local.ecr_repository_arn
  container_port     = var.http_port
  trace_sample_ratio = var.trace_sample_ratio

  environment_variables = var.environment_variables
  secrets               = var.secrets

  paused                     = !local.seed_image_pushed && !local.release_pushed
  desired_count              = var.desired_count
  autoscaling                = var.autoscaling
  capacity_provider_strategy = var.capacity_provider_strategy
  deployment_alarm_names     = var.deployment_alarm_names
  alarms                     = var.alarms

  vpc_id                  = nonsensitive(data.aws_ssm_parameter.vpc_id.value)
  subnet_ids              = split(",", nonsensitive(data.aws_ssm_parameter.private_subnet_ids.value))
  ingress_security_groups = var.ingress_security_groups
  load_balancers          = var.load_balancers
  egress_rules            = var.egress_rules

  log_retention_days = var.log_retention_days
}
