{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set github_owner_id = cookiecutter.github_owner_id %}{% set github_repository_id = cookiecutter.github_repository_id %}{% set oidc_subject_form = cookiecutter.oidc_subject_form %}{% set oidc_workflow_bound = (cookiecutter.oidc_workflow_bound in [true, 'true', 'yes', 'y', '1', 1]) %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set ci_role_prefix %}gha-{{ service_name }}{% endset %}{% set publish_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-publish{% endset %}{% set staging_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-staging{% endset %}{% set production_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-production{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "github_owner_id": "0", "github_repository_id": "0", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['github_owner_id'] if oidc_subject_form == 'immutable' and github_owner_id == placeholder_values.github_owner_id else []) + (['github_repository_id'] if oidc_subject_form == 'immutable' and github_repository_id == placeholder_values.github_repository_id else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set template_git_url_hcl %}{{ template_git_url | replace('\\', '\\\\') | replace('"', '\\"') | replace('${', '$${') | replace('%{', '%%{') }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}'use strict'

// Configuration comes from the environment only (twelve-factor); defaults suit
// a container on ECS with the collector sidecar next to it.

function integer (env, name, fallback, { min, max }) {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max} (got '${raw}')`)
  }
  return value
}

function url (env, name, fallback) {
  const raw = env[name] || fallback
  try {
    return new URL(raw).toString()
  } catch {
    throw new Error(`${name} must be an absolute http(s) URL (got '${raw}')`)
  }
}

// The release this process runs, reported as service.version by spans,
// metrics and every log line alike (src/telemetry.js and src/app.js both read
// it here). In order: service.version in OTEL_RESOURCE_ATTRIBUTES (the
// standard override, which the SDK's env detector also applies), then
// SERVICE_VERSION, which the image build bakes in (Dockerfile ARG/ENV, set by
// CI from the release tag), else DEV_VERSION: a build without a release
// (local `docker build`, compose, `npm start`) never claims to be one.
const DEV_VERSION = '0.0.0-dev'

function resourceAttribute (raw, key) {
  // W3C-baggage-like list: key=value pairs, comma-separated, values
  // percent-encoded (OpenTelemetry SDK environment variables specification).
  for (const pair of (raw || '').split(',')) {
    const eq = pair.indexOf('=')
    if (eq === -1 || pair.slice(0, eq).trim() !== key) continue
    try {
      return decodeURIComponent(pair.slice(eq + 1).trim())
    } catch {
      return undefined
    }
  }
  return undefined
}

function serviceVersion (env = process.env) {
  return resourceAttribute(env.OTEL_RESOURCE_ATTRIBUTES, 'service.version') ||
    (env.SERVICE_VERSION || '').trim() || DEV_VERSION
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function loadConfig (env = process.env) {
  const logLevel = env.LOG_LEVEL || 'info'
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got '${logLevel}')`)
  }
  return Object.freeze({
    host: env.HOST || '0.0.0.0',
    port: integer(env, 'PORT', {{ http_port }}, { min: 1, max: 65535 }),
    logLevel,
    environment: env.DEPLOYMENT_ENVIRONMENT || 'development',
    serviceVersion: serviceVersion(env),
    // The example dependency's default port is never this service's own.
    downstreamUrl: url(env, 'DOWNSTREAM_URL', 'http://127.0.0.1:{{ 8081 if http_port == 8080 else 8080 }}/'),
    downstreamTimeoutMs: integer(env, 'DOWNSTREAM_TIMEOUT_MS', 2000, { min: 1, max: 60000 }),
    // Well inside ECS's default stopTimeout of 30 s.
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10000, { min: 100, max: 120000 })
  })
}

module.exports = { loadConfig, serviceVersion }
