{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set ci_role_arn = cookiecutter.ci_role_arn %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['ci_role_arn'] if ('::' ~ placeholder_values.aws_account_id ~ ':') in ci_role_arn else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}'use strict'

// OpenTelemetry bootstrap. Preloaded before any application module:
//   NODE_OPTIONS="--require /app/src/telemetry.js"
// so the instrumentations can patch http, undici (fetch), fastify and pino as
// they load. It loads only what this service uses instead of the all-in-one
// auto-instrumentations package, and it installs no signal handlers: the app
// owns SIGTERM and calls shutdown() (src/server.js).
//
// Every default can be overridden by the standard OTEL_* variables:
// OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_EXPORTER_OTLP_ENDPOINT (and the per-signal variants, headers, timeout,
// compression), OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG,
// OTEL_METRIC_EXPORT_INTERVAL, OTEL_NODE_RESOURCE_DETECTORS, OTEL_LOG_LEVEL.
const path = require('node:path')

const DEFAULT_SAMPLER = 'parentbased_traceidratio'
const DEFAULT_SAMPLE_RATIO = {{ trace_sample_ratio }}
const DEFAULT_DETECTORS = ['env', 'host', 'process', 'container', 'ecs']
// Probes are not traced: they would cost a span per probe for nothing.
const HEALTH_PATHS = new Set(['/healthz', '/readyz'])

function pathOf (url) {
  const q = (url || '').indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

function env (name, fallback) {
  const value = process.env[name]
  return value === undefined || value.trim() === '' ? fallback : value.trim()
}

function buildSampler (otel) {
  const { AlwaysOnSampler, AlwaysOffSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = otel
  const name = env('OTEL_TRACES_SAMPLER', DEFAULT_SAMPLER)
  let ratio = Number(env('OTEL_TRACES_SAMPLER_ARG', String(DEFAULT_SAMPLE_RATIO)))
  if (!(ratio >= 0 && ratio <= 1)) ratio = DEFAULT_SAMPLE_RATIO
  switch (name) {
    case 'always_on': return new AlwaysOnSampler()
    case 'always_off': return new AlwaysOffSampler()
    case 'traceidratio': return new TraceIdRatioBasedSampler(ratio)
    case 'parentbased_always_on': return new ParentBasedSampler({ root: new AlwaysOnSampler() })
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) })
    default:
      console.warn(`telemetry: OTEL_TRACES_SAMPLER '${name}' is not supported, using ${DEFAULT_SAMPLER}`)
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) })
  }
}

function buildDetectors () {
  const names = env('OTEL_NODE_RESOURCE_DETECTORS', DEFAULT_DETECTORS.join(','))
    .split(',').map((s) => s.trim()).filter(Boolean)
  if (names.includes('none')) return []
  const resources = require('@opentelemetry/resources')
  const known = {
    env: () => resources.envDetector,
    host: () => resources.hostDetector,
    os: () => resources.osDetector,
    process: () => resources.processDetector,
    container: () => require('@opentelemetry/resource-detector-container').containerDetector,
    // Only ECS, and only on ECS: the other cloud detectors probe metadata
    // endpoints at start-up, and loading the package costs start-up time.
    ecs: () => (process.env.ECS_CONTAINER_METADATA_URI_V4 || process.env.ECS_CONTAINER_METADATA_URI)
      ? require('@opentelemetry/resource-detector-aws').awsEcsDetector
      : null
  }
  const chosen = names.includes('all') ? Object.keys(known) : names
  // env last, so OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME win over the rest.
  chosen.sort((a, b) => (a === 'env') - (b === 'env'))
  return chosen.filter((n) => known[n]).map((n) => known[n]()).filter(Boolean)
}

// The OTLP exporters pull in protobuf serialisation, the biggest share of the
// SDK's start-up time. They are loaded on their first export (the first batch,
// seconds after start-up), not before the first request can be served.
function lazyExporter (load) {
  let real
  const get = () => (real ??= load())
  return {
    export: (items, done) => get().export(items, done),
    forceFlush: () => (real ? real.forceFlush() : Promise.resolve()),
    shutdown: () => (real ? real.shutdown() : Promise.resolve())
  }
}

function lazyMetricExporter (load, AggregationTemporality) {
  // Same preference variable the OTLP metric exporter reads.
  const delta = env('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', 'cumulative').toLowerCase() === 'delta'
  return {
    ...lazyExporter(load),
    selectAggregationTemporality: () =>
      delta ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE
  }
}

function awsSdkPresent () {
  try {
    require.resolve('@smithy/smithy-client', { paths: [process.cwd()] })
    return true
  } catch {
    return false
  }
}

// Probes skip the http instrumentation entirely. Its ignore hook still binds
// the request and response emitters to a suppressed context, which costs
// about as much CPU as answering the probe; the unwrapped emit costs nothing.
// (bench/otel_overhead: /healthz CPU per request 1.7x bare -> 1.2x.)
function bypassProbes () {
  const http = require('node:http') // applies the instrumentation's patch now
  const instrumented = http.Server.prototype.emit
  const original = instrumented.__original
  if (typeof original !== 'function') return
  http.Server.prototype.emit = function emit (event, req) {
    if (event === 'request' && HEALTH_PATHS.has(pathOf(req.url))) {
      return original.apply(this, arguments)
    }
    return instrumented.apply(this, arguments)
  }
}

function start () {
  const api = require('@opentelemetry/api')
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks')
  const { CompositePropagator, W3CTraceContextPropagator, W3CBaggagePropagator } = require('@opentelemetry/core')
  const { resourceFromAttributes, detectResources } = require('@opentelemetry/resources')
  const traceSdk = require('@opentelemetry/sdk-trace')
  const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics')
  const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs')
  const { registerInstrumentations } = require('@opentelemetry/instrumentation')
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http')
  const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici')
  const { PinoInstrumentation } = require('@opentelemetry/instrumentation-pino')
  const { FastifyOtelInstrumentation } = require('@fastify/otel')

  const logLevel = env('OTEL_LOG_LEVEL', '').toUpperCase()
  if (logLevel && api.DiagLogLevel[logLevel] !== undefined) {
    api.diag.setLogger(new api.DiagConsoleLogger(), api.DiagLogLevel[logLevel])
  }

  const pkg = require(path.join(__dirname, '..', 'package.json'))
  const resource = resourceFromAttributes({
    'service.name': pkg.name,
    'service.version': pkg.version,
    'deployment.environment.name': env('DEPLOYMENT_ENVIRONMENT', 'development')
  }).merge(detectResources({ detectors: buildDetectors() }))

  const tracerProvider = new traceSdk.TracerProvider({
    resource,
    sampler: buildSampler(traceSdk),
    spanProcessors: [new traceSdk.BatchSpanProcessor({
      exporter: lazyExporter(() => {
        const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto')
        return new OTLPTraceExporter()
      })
    })]
  })
  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({
      exporter: lazyMetricExporter(() => {
        const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto')
        return new OTLPMetricExporter()
      }, AggregationTemporality),
      exportIntervalMillis: Number(env('OTEL_METRIC_EXPORT_INTERVAL', '60000'))
    })]
  })
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({
      exporter: lazyExporter(() => {
        const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto')
        return new OTLPLogExporter()
      })
    })]
  })

  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager())
  api.propagation.setGlobalPropagator(new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()]
  }))
  api.trace.setGlobalTracerProvider(tracerProvider)
  api.metrics.setGlobalMeterProvider(meterProvider)
  api.logs.setGlobalLoggerProvider(loggerProvider)

  const instrumentations = [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => HEALTH_PATHS.has(pathOf(req.url))
    }),
    new UndiciInstrumentation(),
    new FastifyOtelInstrumentation({
      registerOnInitialization: true,
      ignorePaths: (opts) => HEALTH_PATHS.has(pathOf(opts.url))
    }),
    new PinoInstrumentation()
  ]
  if (awsSdkPresent()) {
    const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk')
    instrumentations.push(new AwsInstrumentation())
  }
  registerInstrumentations({ instrumentations, tracerProvider, meterProvider, loggerProvider })
  bypassProbes()

  let stopped
  return function shutdown () {
    stopped ??= Promise.allSettled([
      tracerProvider.shutdown(),
      meterProvider.shutdown(),
      loggerProvider.shutdown()
    ])
    return stopped
  }
}

function disabled () {
  // The container health check shares NODE_OPTIONS; a probe needs no SDK.
  return env('OTEL_SDK_DISABLED', 'false').toLowerCase() === 'true' ||
    path.basename(process.argv[1] || '') === 'healthcheck.js'
}

const shutdown = disabled() ? async () => {} : start()
process[Symbol.for('paved-road.telemetry')] = { shutdown }
module.exports = { shutdown }
