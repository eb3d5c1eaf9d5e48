{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set github_owner_id = cookiecutter.github_owner_id %}{% set github_repository_id = cookiecutter.github_repository_id %}{% set oidc_subject_form = cookiecutter.oidc_subject_form %}{% set oidc_workflow_bound = (cookiecutter.oidc_workflow_bound in [true, 'true', 'yes', 'y', '1', 1]) %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set ci_role_prefix %}gha-{{ service_name }}{% endset %}{% set publish_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-publish{% endset %}{% set staging_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-staging{% endset %}{% set production_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-production{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "github_owner_id": "0", "github_repository_id": "0", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['github_owner_id'] if oidc_subject_form == 'immutable' and github_owner_id == placeholder_values.github_owner_id else []) + (['github_repository_id'] if oidc_subject_form == 'immutable' and github_repository_id == placeholder_values.github_repository_id else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set template_git_url_hcl %}{{ template_git_url | replace('\\', '\\\\') | replace('"', '\\"') | replace('${', '$${') | replace('%{', '%%{') }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}# staging: rendered from the Copier answers. Edit the per-environment values
# below freely; `copier update` merges template changes around your edits.

service_name          = "{{ service_name }}"
environment           = "staging"
owner                 = "{{ owner }}"
github_repository     = "{{ github_repository }}"
github_owner_id       = "{{ github_owner_id }}"
github_repository_id  = "{{ github_repository_id }}"
oidc_subject_form     = "{{ oidc_subject_form }}"
oidc_workflow_bound   = {{ 'true' if oidc_workflow_bound else 'false' }}
aws_region            = "{{ aws_region }}"
aws_account_id        = "{{ aws_account_id }}"
ecs_cluster_prefix    = "{{ ecs_cluster_prefix }}"
ecr_repository        = "{{ ecr_repository }}"
manage_ecr_repository = true
architectures         = {{ architectures | tojson }}
http_port             = {{ http_port }}
trace_sample_ratio    = {{ trace_sample_ratio }}

initial_image_tag  = "0.1.0"
cpu                = 512
memory             = 1024
desired_count      = 1
log_retention_days = 365

autoscaling = {
  min_capacity = 1
  max_capacity = 3
}
