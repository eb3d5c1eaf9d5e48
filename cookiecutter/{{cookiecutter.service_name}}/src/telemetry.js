{% set service_name = cookiecutter.service_name %}{% set description = cookiecutter.description %}{% set owner = cookiecutter.owner %}{% set system = cookiecutter.system %}{% set node_major = (cookiecutter.node_major | int) %}{% set http_port = (cookiecutter.http_port | int) %}{% set architectures = ((cookiecutter.architectures.split(',') if cookiecutter.architectures is string else cookiecutter.architectures) | map('trim') | reject('equalto', '') | list) %}{% set runner_mode = cookiecutter.runner_mode %}{% set runner_scale_set_prefix = cookiecutter.runner_scale_set_prefix %}{% set build_cloud_builder = cookiecutter.build_cloud_builder %}{% set aws_region = cookiecutter.aws_region %}{% set aws_account_id = cookiecutter.aws_account_id %}{% set github_repository = cookiecutter.github_repository %}{% set github_owner_id = cookiecutter.github_owner_id %}{% set github_repository_id = cookiecutter.github_repository_id %}{% set oidc_subject_form = cookiecutter.oidc_subject_form %}{% set oidc_workflow_bound = (cookiecutter.oidc_workflow_bound in [true, 'true', 'yes', 'y', '1', 1]) %}{% set ecs_cluster_prefix = cookiecutter.ecs_cluster_prefix %}{% set trace_sample_ratio = (cookiecutter.trace_sample_ratio | float) %}{% set paved_road_git_url = cookiecutter.paved_road_git_url %}{% set aws_regions_supported = ["af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"] %}{% set ecr_repository %}{{ service_name }}{% endset %}{% set ecr_registry %}{{ aws_account_id }}.dkr.ecr.{{ aws_region }}.amazonaws.com{% endset %}{% set ci_role_prefix %}gha-{{ service_name }}{% endset %}{% set publish_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-publish{% endset %}{% set staging_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-staging{% endset %}{% set production_role_arn %}arn:aws:iam::{{ aws_account_id }}:role/gha-{{ service_name }}-production{% endset %}{% set node_version %}{{ {22: '22.23.3', 24: '24.21.0'}[node_major | int] }}{% endset %}{% set placeholder_values = {"aws_account_id": "123456789012", "github_owner": "acme", "github_owner_id": "0", "github_repository_id": "0", "paved_road_git_url": "https://paved-road.invalid/paved-road.git"} %}{% set placeholders = (((['aws_account_id'] if aws_account_id | string == placeholder_values.aws_account_id else []) + (['github_repository'] if github_repository.split('/')[0] | lower == placeholder_values.github_owner else []) + (['github_owner_id'] if oidc_subject_form == 'immutable' and github_owner_id == placeholder_values.github_owner_id else []) + (['github_repository_id'] if oidc_subject_form == 'immutable' and github_repository_id == placeholder_values.github_repository_id else []) + (['paved_road_git_url'] if paved_road_git_url == placeholder_values.paved_road_git_url or paved_road_git_url | lower | regex_search('^(https://|ssh://git@|git@)github\\.com[:/]' ~ placeholder_values.github_owner ~ '/') else []))) %}{% set canonical_template_url %}{{ '' if 'paved_road_git_url' in placeholders or not (paved_road_git_url | regex_search('^(https://|ssh://|git@|http://(127\\.0\\.0\\.1|localhost)[:/])')) else paved_road_git_url if paved_road_git_url.endswith('.git') or paved_road_git_url.startswith('git@') else paved_road_git_url.rstrip('/') ~ '.git' }}{% endset %}{% set template_git_url %}{{ placeholder_values.paved_road_git_url if 'paved_road_git_url' in placeholders else paved_road_git_url }}{% endset %}{% set template_git_url_hcl %}{{ template_git_url | replace('\\', '\\\\') | replace('"', '\\"') | replace('${', '$${') | replace('%{', '%%{') }}{% endset %}{% set _copier_answers = {'_commit': (cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')} %}'use strict'

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
//    It traces the http server itself (server spans and the request-duration
//    metric, below), and instruments outgoing http.request, undici (fetch
//    client spans, trace-context propagation) and pino (trace
//    ids in the stdout JSON logs); it names each server span after its Fastify
//    route and records the exception of every 5xx on it. Every choice below was
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
// OTEL_BSP_SCHEDULE_DELAY, OTEL_METRIC_EXPORT_INTERVAL, OTEL_NODE_RESOURCE_DETECTORS, OTEL_LOGS_EXPORTER,
// OTEL_LOG_LEVEL, OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
// OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION. service.version is
// src/config.js's serviceVersion(), the one the log lines carry too.
const path = require('node:path')
const api = require('@opentelemetry/api')

const DEFAULT_SAMPLER = 'parentbased_traceidratio'
const DEFAULT_SAMPLE_RATIO = {{ trace_sample_ratio }}
const DEFAULT_DETECTORS = ['env', 'host', 'process', 'container', 'ecs']
// What http.server.request.duration keeps: its CloudWatch dimensions, and
// error.type (conditionally required by the HTTP semantic conventions).
const SERVER_DURATION_ATTRIBUTES = ['http.request.method', 'http.route', 'http.response.status_code', 'error.type']
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

// sdk-trace 3.x no longer reads OTEL_BSP_SCHEDULE_DELAY itself (BatchSpanProcessorBase:
// `scheduledDelayMillis ?? 5e3`); the spec's variable still chooses how often spans leave.
function delayMillis (name, fallback) {
  const value = Number(env(name, String(fallback)))
  if (Number.isInteger(value) && value >= 0) return value
  console.warn(`telemetry: ${name} must be a whole number of milliseconds, using ${fallback}`)
  return fallback
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

// The OTLP exporters pull in protobuf serialisation and the HTTP transport
// (about 70 modules), the biggest share of the SDK's start-up time. They are
// loaded after start-up, not before the first request can be served, and not
// at SIGTERM, when loading them would delay the final flush: a second after
// start, one module per turn of the event loop, so requests in flight wait
// for one module at a time (a few ms), not for all of them (40-90 ms). The
// image build records which modules, in load order (src/warm-cache.js writes
// EXPORTER_MODULES next to the compile cache); without that list (`npm start`)
// they load in one go. An export due before that loads them at once.
const WARM_EXPORTERS_AFTER_MS = 1000
const EXPORTER_MODULES = 'paved-exporter-modules.json'
const exporterLoaders = []
let exportersWarm

function exporterModules () {
  const cache = env('NODE_COMPILE_CACHE', '')
  if (!cache) return []
  try {
    const root = path.join(__dirname, '..')
    return JSON.parse(require('node:fs').readFileSync(path.join(cache, EXPORTER_MODULES), 'utf8'))
      .map((file) => path.join(root, file))
  } catch {
    return []
  }
}

/** Loads every exporter, one module per macrotask; resolves when all are constructed. */
function warmExporters () {
  exportersWarm ??= new Promise((resolve) => {
    const files = exporterModules()
    let next = 0
    const step = () => {
      if (next < files.length) {
        try {
          require(files[next++])
        } catch {
          // a module that moved since the image was built: the exporter loads it
        }
        setImmediate(step)
        return
      }
      for (const load of exporterLoaders) load()
      resolve()
    }
    step()
  })
  return exportersWarm
}

function lazyExporter (load) {
  let real
  const get = () => (real ??= load())
  exporterLoaders.push(get)
  return {
    export: (items, done) => get().export(items, done),
    forceFlush: () => (real ? real.forceFlush() : Promise.resolve()),
    shutdown: () => (real ? real.shutdown() : Promise.resolve())
  }
}

// What CloudWatch gets from the collector's awsemf exporter, per export:
// - DELTA temporality: awsemf publishes a histogram's count, sum, min and max
//   as they arrive (it converts only cumulative sums to deltas, and drops the
//   first point doing it), so cumulative histograms would be totals since the
//   process started, and their max would never come down. Only the SDK knows
//   the per-interval min and max; the collector's cumulativetodelta cannot
//   recover them. Counters and up-down counters are deltas too (awsemf turns
//   cumulative sums into deltas anyway): in CloudWatch a sum is the change in
//   the minute; record a level as an observable gauge.
// - Base-2 exponential histograms: awsemf sends them as values and counts,
//   from which CloudWatch computes percentiles (p50, p99...); explicit-bucket
//   histograms become statistic sets (count, sum, min, max: no percentiles).
// The standard variables still choose: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
// (delta | cumulative | lowmemory) and
// OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION
// (base2_exponential_bucket_histogram | explicit_bucket_histogram).
function histogramAggregation (AggregationType) {
  const explicit = env('OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION', '').toLowerCase() ===
    'explicit_bucket_histogram'
  return { type: explicit ? AggregationType.EXPLICIT_BUCKET_HISTOGRAM : AggregationType.EXPONENTIAL_HISTOGRAM }
}

function lazyMetricExporter (load, { AggregationTemporality, AggregationType, InstrumentType }) {
  const { DELTA, CUMULATIVE } = AggregationTemporality
  const preference = env('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', 'delta').toLowerCase()
  const temporality = {
    cumulative: () => CUMULATIVE,
    // The specification's "lowmemory": delta for synchronous counters and histograms.
    lowmemory: (type) => (type === InstrumentType.COUNTER || type === InstrumentType.HISTOGRAM ? DELTA : CUMULATIVE)
  }[preference] ?? (() => DELTA)
  const histogram = histogramAggregation(AggregationType)
  const byDefault = { type: AggregationType.DEFAULT }
  return {
    ...lazyExporter(load),
    selectAggregationTemporality: temporality,
    selectAggregation: (type) => (type === InstrumentType.HISTOGRAM ? histogram : byDefault)
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

// The server side of HTTP, our own (instrumentation-http keeps the client
// side). Upstream's server side spent most of what it cost per request before
// the sampling decision or regardless of it (bench/otel_overhead,
// docs/telemetry.md "Overhead"): it computes every span
// attribute (URL parse, user agent, client and server address, forwarded
// headers) before asking the sampler, and binds the request's and response's
// emitters to the request's context (every listener added later is wrapped
// and remembered). Here, per request:
// - the sampler is asked first, seeing the attributes HTTP semconv wants at
//   span creation that cost nothing (method, scheme, path); an unsampled
//   request gets a non-recording span built from its answer (startServerSpan,
//   below), which still carries the trace id, so fetch forwards `traceparent`
//   (flags 00) and log lines get ids;
// - only a recording span gets the full attribute set, from
//   instrumentation-http's own functions (the same names and values as
//   before: one definition of them, upstream's);
// - the handler runs inside the request's context once (context.with), and the
//   request's and response's own emit runs its listeners in it: one wrapper
//   per emitter, no per-listener binding. Fastify carries the context into
//   body parsing and onResponse by itself; events from the socket do not
//   (a client hanging up: 'close', Fastify's onRequestAbort hooks, 'error');
// - span name, status (5xx ERROR, 4xx UNSET), error.type, http.route, the end
//   on the response's 'close' and http.server.request.duration (same scope,
//   name, unit and advice) as instrumentation-http 0.301 records them;
// - probes (HEALTH_PATHS) are not traced and pay nothing.
const HTTP_SCOPE = '@opentelemetry/instrumentation-http'
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY'])

function semconvMethod (method) {
  if (method == null) return 'GET'
  const upper = method.toUpperCase()
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER'
}

// instrumentation-http's attribute rules and version: files of the pinned
// package (package.json) that its "exports" do not list, loaded by path. The
// service's Renovate moves that pin on its own, without this file. A release
// that moves or renames them, or keeps their names but changes what they take
// or return (0.200 to 0.219 took a semconvStability option and returned other
// attributes without it), must neither stop the service nor change its spans
// silently: each function is tried once on a made-up request, and unless it
// answers as 0.301 does, instrumentation-http traces the server side again,
// as it did before (slower, same telemetry), and one warning says so.
const HTTP_INTERNALS = ['getIncomingRequestAttributes', 'setSpanWithError', 'parseErrorType', 'parseResponseStatus']
const PROBE_ATTRIBUTES = {
  'http.request.method': 'GET',
  'url.scheme': 'http',
  'url.path': '/p',
  'url.query': 'q=1',
  'server.address': 'h.example',
  'server.port': 8080,
  'client.address': '10.0.0.1',
  'network.peer.address': '10.0.0.1',
  'network.peer.port': 5,
  'network.protocol.version': '1.1',
  'user_agent.original': 'ua'
}

function internalsAnswerAsExpected (utils) {
  const { SpanKind, SpanStatusCode } = api
  const request = {
    method: 'GET',
    url: '/p?q=1',
    httpVersion: '1.1',
    headers: { host: 'h.example:8080', 'user-agent': 'ua' },
    socket: { remoteAddress: '10.0.0.1', remotePort: 5 }
  }
  const attributes = utils.getIncomingRequestAttributes(request, { component: 'http' }, api.diag)
  const names = Object.keys(PROBE_ATTRIBUTES)
  if (Object.keys(attributes).length !== names.length ||
      !names.every((name) => attributes[name] === PROBE_ATTRIBUTES[name])) return false
  const error = new RangeError('probe')
  const calls = []
  const span = {
    setAttribute: (key, value) => { calls.push(`attribute ${key}=${value}`); return span },
    setStatus: (status) => { calls.push(`status ${status.code} ${status.message}`); return span },
    recordException: (recorded) => { calls.push(recorded === error ? 'exception' : 'other exception') }
  }
  utils.setSpanWithError(span, error)
  return calls.sort().join('|') === ['attribute error.type=RangeError', 'exception',
    `status ${SpanStatusCode.ERROR} probe`].sort().join('|') &&
    utils.parseResponseStatus(SpanKind.SERVER, 200) === SpanStatusCode.UNSET &&
    utils.parseResponseStatus(SpanKind.SERVER, 404) === SpanStatusCode.UNSET &&
    utils.parseResponseStatus(SpanKind.SERVER, 500) === SpanStatusCode.ERROR &&
    utils.parseErrorType(SpanKind.SERVER, 404) === undefined &&
    utils.parseErrorType(SpanKind.SERVER, 503) === '503'
}

function httpInstrumentationInternals () {
  try {
    const dist = path.dirname(require.resolve('@opentelemetry/instrumentation-http'))
    const utils = require(path.join(dist, 'utils.cjs'))
    const { VERSION } = require(path.join(dist, 'version.cjs'))
    if (HTTP_INTERNALS.every((name) => typeof utils[name] === 'function') && typeof VERSION === 'string' &&
        internalsAnswerAsExpected(utils)) {
      return { utils, version: VERSION }
    }
  } catch {
    // below
  }
  console.warn('telemetry: @opentelemetry/instrumentation-http changed its internal files; ' +
    'its own (slower) server instrumentation traces requests instead')
  return null
}

function runEmitsIn (emitter, ctx) {
  const emit = emitter.emit
  emitter.emit = function emitInContext () {
    return api.context.with(ctx, emit, this, ...arguments)
  }
}

// A server span the sampler drops is built here, not by the SDK's startSpan:
// the same steps in the same order as the OTel SDK specification's "SDK Span
// creation" (trace id of a valid parent, else a new one; the sampler's
// ShouldSample; a new span id whatever the decision, so logs still tell
// requests apart), then, for DROP, the API's non-recording span
// (trace.wrapSpanContext, "Wrapping a SpanContext in a Span"): it carries the
// trace id, the new span id, flags 00 and the trace state the sampler chose,
// records nothing and reaches no span processor. sdk-trace 3.1's
// Tracer.startSpan does the same and also copies and sanitizes the attributes,
// maps the links and counts the span for otel.sdk.span.* (a no-op here: the
// tracer provider gets no meter provider). A span the sampler keeps is
// started by the SDK, which asks the sampler again: for a new trace, about
// the trace id asked here (TraceIds.pin), so the answer is the same one
// (every sampler buildSampler returns decides from the parent or the trace id
// alone) and the ratio stays the ratio.
function droppedSpan (ids, traceId, traceState) {
  return api.trace.wrapSpanContext({ traceId, spanId: ids.generateSpanId(), traceFlags: api.TraceFlags.NONE, traceState })
}

// Whether this sampler drops every child of a span it dropped: parent-based
// (its localParentNotSampled and remoteParentNotSampled are always_off) or
// always_off. Then the trace context alone is what such a child needs.
function dropsChildrenOfDropped (sampler, { ParentBasedSampler, AlwaysOffSampler }) {
  return sampler instanceof ParentBasedSampler || sampler instanceof AlwaysOffSampler
}

// A valid span context the sampler dropped (flags 00).
function droppedContext (spanContext) {
  return !(spanContext.traceFlags & api.TraceFlags.SAMPLED) && api.trace.isSpanContextValid(spanContext)
}

function traceIds (RandomIdGenerator) {
  return new (class TraceIds extends RandomIdGenerator {
    pin (traceId) { this.pinned = traceId }
    generateTraceId () {
      const pinned = this.pinned
      if (pinned === undefined) return super.generateTraceId()
      this.pinned = undefined
      return pinned
    }
  })()
}

function instrumentHttpServer (core, { utils, version }, { sampler, ids }) {
  const { SpanKind, ROOT_CONTEXT, SamplingDecision } = api
  const NO_LINKS = []
  const { errorMonitor } = require('node:events')
  const tracer = api.trace.getTracer(HTTP_SCOPE, version)
  const duration = api.metrics.getMeter(HTTP_SCOPE, version).createHistogram('http.server.request.duration', {
    description: 'Duration of HTTP server requests.',
    unit: 's',
    valueType: api.ValueType.DOUBLE,
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] }
  })

  function startServerSpan (name, attributes, parent) {
    const parentSpanContext = api.trace.getSpanContext(parent)
    const validParent = parentSpanContext !== undefined && api.trace.isSpanContextValid(parentSpanContext)
    const traceId = validParent ? parentSpanContext.traceId : ids.generateTraceId()
    const result = sampler.shouldSample(parent, traceId, name, SpanKind.SERVER, attributes, NO_LINKS)
    if (result.decision === SamplingDecision.NOT_RECORD) {
      return droppedSpan(ids, traceId, result.traceState ?? (validParent ? parentSpanContext.traceState : undefined))
    }
    if (!validParent) ids.pin(traceId)
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent)
    ids.pin(undefined)
    return span
  }

  function traced (component, original) {
    return function emit (event, request, response) {
      if (event !== 'request') return original.apply(this, arguments)
      const urlPath = pathOf(request.url)
      if (HEALTH_PATHS.has(urlPath)) return original.apply(this, arguments)
      const started = performance.now()
      const method = semconvMethod(request.method)
      const parent = api.propagation.extract(ROOT_CONTEXT, request.headers)
      const span = startServerSpan(request.method || 'GET',
        { 'http.request.method': method, 'url.scheme': component, 'url.path': urlPath }, parent)
      const recording = span.isRecording()
      if (recording) span.setAttributes(utils.getIncomingRequestAttributes(request, { component }, api.diag))
      const rpc = { type: core.RPCType.HTTP, span }
      const ctx = core.setRPCMetadata(api.trace.setSpan(parent, span), rpc)
      let ended = false
      function end (error) {
        if (ended) return
        ended = true
        const attributes = { 'http.request.method': method }
        if (error) {
          utils.setSpanWithError(span, error)
          attributes['error.type'] = error.name
        } else {
          const status = response.statusCode
          const errorType = utils.parseErrorType(SpanKind.SERVER, status)
          if (rpc.route !== undefined) attributes['http.route'] = rpc.route
          if (status) {
            attributes['http.response.status_code'] = status
            if (errorType !== undefined) attributes['error.type'] = errorType
          }
          if (recording) {
            span.setAttribute('http.response.status_code', status)
            if (rpc.route !== undefined) span.setAttribute('http.route', rpc.route)
            span.setStatus({ code: utils.parseResponseStatus(SpanKind.SERVER, status) })
            if (errorType !== undefined) span.setAttribute('error.type', errorType)
            if (rpc.route) span.updateName(`${request.method || 'GET'} ${rpc.route}`)
          }
        }
        span.end()
        duration.record((performance.now() - started) / 1000, attributes)
      }
      response.once('close', () => end())
      response.on(errorMonitor, end)
      runEmitsIn(request, ctx)
      runEmitsIn(response, ctx)
      return api.context.with(ctx, () => {
        try {
          return original.apply(this, arguments)
        } catch (error) {
          end(error)
          throw error
        }
      })
    }
  }
  for (const component of ['http', 'https']) {
    const Server = require(`node:${component}`).Server
    Server.prototype.emit = traced(component, Server.prototype.emit)
  }
}

// fetch from an unsampled request: the trace context only. The sampler here is
// parent-based (or always_off), so a child of an unsampled span is never
// recorded; undici's instrumentation would still parse the URL, build every
// attribute, start a non-recording span and look it up at each stage of the
// request. This hook, undici's ignoreRequestHook (run at undici:request:create,
// before the headers are sent), injects `traceparent` (flags 00) and `baggage`
// into the request itself and tells the instrumentation to skip it. The
// downstream's parent id is then our server span's (or your own span's) id,
// which no one records either. Sampled requests, and fetch outside any request,
// get their client span as before.
function unsampledFetch (sampler, traceSdk) {
  if (!dropsChildrenOfDropped(sampler, traceSdk)) return undefined
  return function propagateOnly (request) {
    const active = api.context.active()
    const span = api.trace.getSpan(active)
    if (!span || typeof request.addHeader !== 'function') return false
    if (!droppedContext(span.spanContext())) return false
    const headers = {}
    api.propagation.inject(active, headers)
    for (const name in headers) request.addHeader(name, headers[name])
    return true
  }
}

// Your own spans (and every instrumentation's) under an unsampled request.
// The sampler here is parent-based (or always_off), whose answer for a child
// of a span it dropped is always "drop" (its localParentNotSampled and
// remoteParentNotSampled are always_off): the SDK's Tracer.startSpan would
// still copy and sanitize the attributes, map the links and ask the sampler
// before it returns a non-recording span (0.8 to 2 us per span with 0 to 10
// attributes, sdk-trace 3.1, Node 24, a tight loop; this path costs 0.14 us).
// This returns that span directly, as the SDK specification's "SDK Span
// creation" builds it for a drop: the parent's trace id and trace state, a new
// span id (step 4: "independently of the sampling decision"), flags 00; it
// reaches no span processor. Roots (`root: true`), children of sampled or
// invalid parents, and suppressed tracing (the exporters' own requests) take
// the SDK's path.
function unsampledChildren (tracerProvider, sampler, ids, traceSdk, core) {
  if (!dropsChildrenOfDropped(sampler, traceSdk)) return
  const getTracer = tracerProvider.getTracer
  tracerProvider.getTracer = function (...args) {
    const sdkTracer = getTracer.apply(this, args)
    if (Object.hasOwn(sdkTracer, 'startSpan')) return sdkTracer
    const startSpan = sdkTracer.startSpan
    sdkTracer.startSpan = function (name, options, context = api.context.active()) {
      const parent = options && options.root ? undefined : api.trace.getSpanContext(context)
      if (parent === undefined || !droppedContext(parent) || core.isTracingSuppressed(context)) {
        return startSpan.call(this, name, options, context)
      }
      return droppedSpan(ids, parent.traceId, parent.traceState)
    }
    return sdkTracer
  }
}

// Fastify: the route and the exception, from two hooks added to every Fastify
// instance when it is created (Fastify publishes 'fastify.initialization' while
// someone subscribes), so they come first, before any hook of the app's own.
// - onRequest: as soon as Fastify has routed the request, the route goes to
//   the RPC metadata the server instrumentation reads when the response ends: it
//   names the server span "GET /orders/:id" and sets http.route on the span and
//   on http.server.request.duration, also when Fastify answers before the
//   handler (a hook's 401, schema validation or body parse 400, a preValidation
//   or preHandler error). The 404 handler has no route, and gets none.
// - onError: when the response then goes out as a 5xx, the error is recorded as
//   an exception event (type, message, stack) on the server span. 4xx stay
//   UNSET, without an event (HTTP semantic conventions).
// This replaces @fastify/otel, whose per-hook lifecycle spans cost 45-65 us of
// CPU per request (bench/otel_overhead) and which nobody reads next to the
// server span, and Fastify's handler tracing channel, which fires only around
// the handler and costs a store object and runStores per request.
function instrumentFastify (core) {
  const dc = require('node:diagnostics_channel')
  function httpMetadata () {
    const rpc = core.getRPCMetadata(api.context.active())
    return rpc && rpc.type === core.RPCType.HTTP ? rpc : undefined
  }
  // A probe (HEALTH_PATHS) runs outside any request context: one context
  // lookup and done, without building Fastify's routeOptions object.
  function routeOnRequest (request, reply, done) {
    const rpc = httpMetadata()
    if (rpc) rpc.route = request.routeOptions.url
    done()
  }
  function exceptionOnError (request, reply, error, done) {
    const rpc = httpMetadata()
    if (rpc) {
      // The status is final only when the error handler has answered.
      reply.raw.once('finish', () => {
        if (reply.raw.statusCode >= 500) rpc.span.recordException(error)
      })
    }
    done()
  }
  dc.subscribe('fastify.initialization', ({ fastify }) => {
    fastify.addHook('onRequest', routeOnRequest)
    fastify.addHook('onError', exceptionOnError)
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

  const httpInternals = httpInstrumentationInternals()
  const sampler = buildSampler(traceSdk)
  const ids = traceIds(traceSdk.RandomIdGenerator)
  const tracerProvider = new traceSdk.TracerProvider({
    resource,
    sampler,
    idGenerator: ids,
    spanProcessors: [new traceSdk.BatchSpanProcessor({
      scheduledDelayMillis: delayMillis('OTEL_BSP_SCHEDULE_DELAY', 5000),
      exporter: lazyExporter(() => {
        const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto')
        return new OTLPTraceExporter()
      })
    })]
  })
  unsampledChildren(tracerProvider, sampler, ids, traceSdk, core)
  const meterProvider = new metricsSdk.MeterProvider({
    resource,
    // Client-call durations are on the client spans already (X-Ray shows
    // them per downstream); as a metric nobody reads them, so they are not
    // aggregated or exported (and fetch's instrumentation gets no meter at
    // all, below: a dropped instrument still hashes its attributes twice per
    // call). The server duration keeps SERVER_DURATION_ATTRIBUTES, its
    // dimensions in CloudWatch (the collector's awsemf metric_declarations,
    // terraform-modules/ecs-service) and error.type: fewer to hash on every
    // request, fewer series.
    views: [{
      instrumentName: 'http.client.request.duration',
      aggregation: { type: metricsSdk.AggregationType.DROP }
    }, {
      instrumentName: 'http.server.request.duration',
      // A view replaces the exporter's aggregation choice: name it again.
      aggregation: histogramAggregation(metricsSdk.AggregationType),
      // Our server instrumentation records exactly these; instrumentation-http's
      // own (the fallback below) records more, which the allow-list drops. Not
      // installed when it has nothing to drop: it copies the attributes of
      // every request.
      attributesProcessors: httpInternals
        ? undefined
        : [metricsSdk.createAllowListAttributesProcessor(SERVER_DURATION_ATTRIBUTES)]
    }],
    readers: [new metricsSdk.PeriodicExportingMetricReader({
      exporter: lazyMetricExporter(() => {
        const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-proto')
        return new OTLPMetricExporter()
      }, metricsSdk),
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

  const undici = new UndiciInstrumentation({ ignoreRequestHook: unsampledFetch(sampler, traceSdk) })
  const instrumentations = [
    // Outgoing http.request (the AWS SDK, your own clients); the server side is ours.
    new HttpInstrumentation(httpInternals
      ? { disableIncomingRequestInstrumentation: true }
      : { ignoreIncomingRequestHook: (req) => HEALTH_PATHS.has(pathOf(req.url)) }),
    undici,
    new PinoInstrumentation({ disableLogSending: !otlpLogs })
  ]
  if (awsSdkPresent()) {
    const { AwsInstrumentation } = require('@opentelemetry/instrumentation-aws-sdk')
    instrumentations.push(new AwsInstrumentation())
  }
  registerInstrumentations({ instrumentations, tracerProvider, meterProvider, loggerProvider })
  undici.setMeterProvider({ getMeter: () => api.createNoopMeter() })
  if (httpInternals) instrumentHttpServer(core, httpInternals, { sampler, ids })
  instrumentFastify(core)

  setTimeout(warmExporters, WARM_EXPORTERS_AFTER_MS).unref()

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
const enabled = preloaded && !disabled()
const shutdown = enabled ? start() : async () => {}
if (preloaded) {
  process[Symbol.for('paved-road.telemetry')] = {
    shutdown,
    warmExporters: enabled ? warmExporters : async () => {},
    EXPORTER_MODULES
  }
}
module.exports = { tracer, meter, shutdown }
