{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set github_owner_id = cookiecutter.github_owner_id %}{% set github_repository_id = cookiecutter.github_repository_id %}{% set oidc_subject_form = cookiecutter.oidc_subject_form %}{% set oidc_workflow_bound = (cookiecutter.oidc_workflow_bound in [true, 'true', 'yes', 'y', '1', 1]) %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set ci_role_prefix %}gha-{{ service_name }}{% endset %}{% set publish_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-publish{% endset %}{% set staging_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-staging{% endset %}{% set production_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-production{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "github_owner_id": "0", "github_repository_id": "0", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['github_owner_id'] if oidc_subject_form == 'immutable' and github_owner_id == placeholder_values.github_owner_id else []) + (['github_repository_id'] if oidc_subject_form == 'immutable' and github_repository_id == placeholder_values.github_repository_id else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set template_git_url_hcl %}{{ template_git_url | replace('\\', '\\\\') | replace('"', '\\"') | replace('${', '$${') | replace('%{', '%%{') }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}################################################################################
# GitHub Actions identities (OIDC), one per stage; see
# .github/workflows/README.md for the GitHub environments they trust.
#   {{ publish_role_arn }}     environment release    (state that owns the ECR repository)
#   {{ staging_role_arn }}     environment staging    (staging state)
#   {{ production_role_arn }}  environment production (production state)
################################################################################

# Created once per account by the platform and shared by every repository.
data "aws_iam_openid_connect_provider" "github" {
  url = "https://token.actions.githubusercontent.com"
}

module "ci_roles" {
  # checkov:skip=CKV_TF_1:Pinned to the template release tag that copier update moves; the template repository never moves a release tag.
  source = "git::{{ template_git_url_hcl }}//terraform-modules/github-oidc-roles?ref={{ _copier_answers._commit }}"

  name_prefix       = "{{ ci_role_prefix }}"
  github_repository = var.github_repository
  oidc_provider_arn = data.aws_iam_openid_connect_provider.github.arn

  # The subject GitHub's tokens carry (README.md, "Repository setup").
  subject_form            = var.oidc_subject_form
  github_owner_id         = var.github_owner_id
  github_repository_id    = var.github_repository_id
  workflow_bound_subjects = var.oidc_workflow_bound

  # The publish role lives with the repository it pushes to.
  publish = var.manage_ecr_repository ? { ecr_repository_arn = local.ecr_repository_arn } : null

  # This state's environment gets its own deploy role and no other.
  deploy = {
    (var.environment) = {
      ecs_service_arn        = module.service.service_arn
      task_definition_family = module.service.task_definition_family
      pass_role_arns         = [module.service.execution_role_arn, module.service.task_role_arn]
      ecr_repository_arn     = local.ecr_repository_arn
    }
  }
}

output "ci_role_warnings" {
  description = "Why the roles' trust is weaker than it could be (name-only subjects)"
  value       = module.ci_roles.warnings
}

output "ci_role_arns" {
  description = "GitHub Actions roles this state manages: publish (if it owns the ECR repository) and this environment's deploy role"
  value = {
    publish = module.ci_roles.publish_role_arn
    deploy  = module.ci_roles.deploy_role_arns[var.environment]
  }
}
