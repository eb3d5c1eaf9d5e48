{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set ci_role_arn = cookiecutter.ci_role_arn %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['ci_role_arn'] if ('::' ~ placeholder_values.aws_account_id ~ ':') in ci_role_arn else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}# {{ service_name }}: ECS service, ECR repository and the collector sidecar.
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
  source = "git::{{ template_git_url }}//terraform-modules/ecr-repository?ref={{ _copier_answers._commit }}"
  count  = var.manage_ecr_repository ? 1 : 0

  name                = var.ecr_repository
  push_principal_arns = [var.ci_role_arn]
}

data "aws_ecr_repository" "this" {
  count = var.manage_ecr_repository ? 0 : 1

  name = var.ecr_repository
}

locals {
  ecr_repository_arn = var.manage_ecr_repository ? module.ecr_repository[0].repository_arn : data.aws_ecr_repository.this[0].arn
  ecr_repository_url = var.manage_ecr_repository ? module.ecr_repository[0].repository_url : data.aws_ecr_repository.this[0].repository_url
}

################################################################################
# ECS service with the OpenTelemetry Collector sidecar
################################################################################

module "service" {
  # checkov:skip=CKV_TF_1:Pinned to the template release tag that copier update moves; the template repository never moves a release tag.
  source = "git::{{ template_git_url }}//terraform-modules/ecs-service?ref={{ _copier_answers._commit }}"

  name               = var.service_name
  environment        = var.environment
  service_version    = var.initial_image_tag
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

  desired_count          = var.desired_count
  autoscaling            = var.autoscaling
  deployment_alarm_names = var.deployment_alarm_names

  vpc_id                     = nonsensitive(data.aws_ssm_parameter.vpc_id.value)
  subnet_ids                 = split(",", nonsensitive(data.aws_ssm_parameter.private_subnet_ids.value))
  ingress_security_group_ids = var.ingress_security_group_ids
  load_balancer              = var.load_balancer

  log_retention_days = var.log_retention_days
}
