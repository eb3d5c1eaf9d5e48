{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set ci_role_prefix %}gha-{{ service_name }}{% endset %}{% set publish_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-publish{% endset %}{% set staging_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-staging{% endset %}{% set production_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-production{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { loadConfig } = require('../src/config')

test('defaults suit a container next to the collector sidecar', () => {
  const config = loadConfig({})
  assert.equal(config.port, {{ http_port }})
  assert.equal(config.host, '0.0.0.0')
  assert.equal(config.environment, 'development')
})

test('bad values name the variable and what is allowed', () => {
  assert.throws(() => loadConfig({ PORT: 'abc' }), /PORT must be an integer from 1 to 65535/)
  assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL must be one of/)
  assert.throws(() => loadConfig({ DOWNSTREAM_URL: 'not a url' }), /DOWNSTREAM_URL must be an absolute/)
})

test('the release comes from OTEL_RESOURCE_ATTRIBUTES, else the image (SERVICE_VERSION), else 0.0.0-dev', () => {
  assert.equal(loadConfig({ SERVICE_VERSION: '2.3.4' }).serviceVersion, '2.3.4')
  assert.equal(loadConfig({ SERVICE_VERSION: '2.3.4', OTEL_RESOURCE_ATTRIBUTES: 'a=b,service.version=9.9.9' }).serviceVersion, '9.9.9')
  assert.equal(loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.version=1.0.0%2Bbuild.7' }).serviceVersion, '1.0.0+build.7')
  assert.equal(loadConfig({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod' }).serviceVersion, '0.0.0-dev')
  assert.equal(loadConfig({}).serviceVersion, '0.0.0-dev')
})
