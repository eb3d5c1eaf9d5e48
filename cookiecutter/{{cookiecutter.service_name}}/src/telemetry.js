{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set ci_role_prefix %}gha-{{ service_name }}{% endset %}{% set publish_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-publish{% endset %}{% set staging_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-staging{% endset %}{% set production_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-production{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set template_git_url_hcl %}{{ template_git_url | replace('\\', '\\\\') | replace('"', '\\"') | replace('${', '$${') | replace('%{', '%%{') }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}'use strict'

// OpenTelemetry for this service, in two parts.
//
// 1. The API your code uses (safe to require anywhere, tests included):
//      const { tracer, meter } = require('./telemetry')
//      const orders = tracer('orders')           // a named tracer, cheap, cache it per module
//      const placed = meter('orders').createCounter('orders.placed')
//      await orders.startActiveSpan('orders.place', async (span) => { ...; span.end() })
//      placed.add(1, { outcome: 'ok' })         // attribute values from a small fixed set only
//    Without the bootstrap (unit tests, OTEL_SDK_DISABLED=true) these are no-ops.
//
// 2. The bootstrap, which runs only when this file is preloaded before any
//    application module:  NODE_OPTIONS="--require /app/src/telemetry.js"
//    It instruments http (server spans and the request-duration metric),
//    undici (fetch client spans, trace-context propagation) and pino (trace
//    ids in the stdout JSON logs), and names each server span after its Fastify
//    route through Fastify's own diagnostics channel. Every choice below was
//    made by measuring CPU per request (bench/otel_overhead.py); the figures
//    are in the comments. It installs no signal handlers: src/server.js owns
//    SIGTERM and calls shutdown().
//
// This file belongs to the template: `copier update` replaces it. Put your own
// spans and metrics in your routes, not here.
//
// Every default can be overridden by the standard OTEL_* variables:
// OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_EXPORTER_OTLP_ENDPOINT (and the per-signal variants, headers, timeout,
// compression), OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG,
// OTEL_METRIC_EXPORT_INTERVAL, OTEL_NODE_RESOURCE_DETECTORS, OTEL_LOGS_EXPORTER,
// OTEL_LOG_LEVEL. service.version comes from SERVICE_VERSION, which the image
// build sets (Dockerfile ARG), else from package.json.
const path = require('node:path')
const api = require('@opentelemetry/api')

const DEFAULT_SAMPLER = 'parentbased_traceidratio'
const DEFAULT_SAMPLE_RATIO = {{ trace_sample_ratio }}
const DEFAULT_DETECTORS = ['env', 'host', 'process', 'container', 'ecs']
// Probes are not traced: they would cost a span per probe for nothing.
const HEALTH_PATHS = new Set(['/healthz', '/readyz'])

/** A tracer for your own spans, e.g. tracer('orders'). */
function tracer (name, version) {
  return api.trace.getTracer(name, version)
}

/** A meter for your own metrics, e.g. meter('orders').createCounter('orders.placed'). */
function meter (name, version) {
  return api.metrics.getMeter(name, version)
}

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
// SDK's start-up time. They are loaded after start-up (first export, or a
// second after start), not before the first request can be served, and not
// at SIGTERM, when loading them would delay the final flush.
const WARM_EXPORTERS_AFTER_MS = 1000
function lazyExporter (load) {
  let real
  const get = () => (real ??= load())
  setTimeout(get, WARM_EXPORTERS_AFTER_MS).unref()
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

// Names the server span "GET /orders/:id" and sets http.route on the span and
// on http.server.request.duration, from Fastify's diagnostics channel (Fastify
// publishes it only while someone subscribes). This replaces @fastify/otel,
// whose per-hook lifecycle spans cost 45-65 us of CPU per request
// (bench/otel_overhead) and which nobody reads next to the server span.
function nameServerSpansAfterRoutes (core) {
  const dc = require('node:diagnostics_channel')
  dc.subscribe('tracing:fastify.request.handler:start', (message) => {
    const rpc = core.getRPCMetadata(api.context.active())
    if (rpc && rpc.type === core.RPCType.HTTP && message.route) rpc.route = message.route.url
  })
}

function start () {
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks')
  const core = require('@opentelemetry/core')
  const { resourceFromAttributes, detectResources } = require('@opentelemetry/resources')
  const traceSdk = require('@opentelemetry/sdk-trace')
  const metricsSdk = require('@opentelemetry/sdk-metrics')
  const { registerInstrumentations } = require('@opentelemetry/instrumentation')
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http')
  const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici')
  const { PinoInstrumentation } = require('@opentelemetry/instrumentation-pino')
  const { serviceVersion } = require('./config')

  const logLevel = env('OTEL_LOG_LEVEL', '').toUpperCase()
  if (logLevel && api.DiagLogLevel[logLevel] !== undefined) {
    api.diag.setLogger(new api.DiagConsoleLogger(), api.DiagLogLevel[logLevel])
  }

  const pkg = require(path.join(__dirname, '..', 'package.json'))
  const resource = resourceFromAttributes({
    'service.name': pkg.name,
    'service.version': serviceVersion(),
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
  const meterProvider = new metricsSdk.MeterProvider({
    resource,
    // Client-call durations are on the client spans already (X-Ray shows
    // them per downstream); as a metric nobody reads them, so they are not
    // aggregated or exported. The collector's awsemf declarations name what is
    // published as CloudWatch metrics (terraform-modules/ecs-service).
    views: [{
      instrumentName: 'http.client.request.duration',
      aggregation: { type: metricsSdk.AggregationType.DROP }
    }],
    readers: [new metricsSdk.PeriodicExportingMetricReader({
      exporter: lazyMetricExporter(() => {
        const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto')
        return new OTLPMetricExporter()
      }, metricsSdk.AggregationTemporality),
      exportIntervalMillis: Number(env('OTEL_METRIC_EXPORT_INTERVAL', '60000'))
    })]
  })
  // Logs go to stdout as JSON with trace_id/span_id (pino), which the awslogs
  // driver already ships to CloudWatch; exporting them over OTLP as well would
  // store every line twice and cost 20-30 us of CPU per request
  // (bench/otel_overhead). OTEL_LOGS_EXPORTER=otlp turns OTLP logs on.
  const otlpLogs = env('OTEL_LOGS_EXPORTER', 'none').split(',').map((s) => s.trim()).includes('otlp')
  let loggerProvider
  if (otlpLogs) {
    const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs')
    loggerProvider = new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({
        exporter: lazyExporter(() => {
          const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-proto')
          return new OTLPLogExporter()
        })
      })]
    })
    api.logs.setGlobalLoggerProvider(loggerProvider)
  }

  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager())
  api.propagation.setGlobalPropagator(new core.CompositePropagator({
    propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()]
  }))
  api.trace.setGlobalTracerProvider(tracerProvider)
  api.metrics.setGlobalMeterProvider(meterProvider)

  const instrumentations = [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => HEALTH_PATHS.has(pathOf(req.url))
    }),
    new UndiciInstrumentation(),
    new PinoInstrumentation({ disableLogSending: !otlpLogs })
  ]
  if (awsSdkPresent()) {
    const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk')
    instrumentations.push(new AwsInstrumentation())
  }
  registerInstrumentations({ instrumentations, tracerProvider, meterProvider, loggerProvider })
  bypassProbes()
  nameServerSpansAfterRoutes(core)

  let stopped
  return function shutdown () {
    stopped ??= Promise.allSettled([
      tracerProvider.shutdown(),
      meterProvider.shutdown(),
      loggerProvider ? loggerProvider.shutdown() : undefined
    ])
    return stopped
  }
}

function disabled () {
  // The container health check shares NODE_OPTIONS; a probe needs no SDK.
  return env('OTEL_SDK_DISABLED', 'false').toLowerCase() === 'true' ||
    path.basename(process.argv[1] || '') === 'healthcheck.js'
}

// Preloaded (--require) means loaded before the main module exists. Required
// from application code or a test, this file is only the API above.
const preloaded = require.main === undefined
const shutdown = preloaded && !disabled() ? start() : async () => {}
if (preloaded) process[Symbol.for('paved-road.telemetry')] = { shutdown }
module.exports = { tracer, meter, shutdown }
