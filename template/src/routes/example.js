'use strict'

const { SpanStatusCode } = require('@opentelemetry/api')
const { tracer, meter } = require('../telemetry')

// An example route that calls a downstream HTTP dependency, so one trace shows
// the server span, a custom span of our own around the call, and the client
// span of the outgoing fetch. Copy the pattern for your own work:
// - one tracer and one meter per module, created once;
// - span names and metric attribute values from a small fixed set (never ids,
//   URLs or user input: each distinct value is a new CloudWatch series);
// - metric names the collector publishes are declared in the ecs-service
//   module's collector config (awsemf metric_declarations).
const exampleTracer = tracer('example')
const downstreamCalls = meter('example').createCounter('example.downstream.calls', {
  description: 'Calls from /api/example to its downstream dependency, by outcome (ok, error)'
})

async function exampleRoutes (app) {
  const { downstreamUrl, downstreamTimeoutMs } = app.config

  async function callDownstream () {
    return exampleTracer.startActiveSpan('example.call-downstream', async (span) => {
      try {
        const response = await fetch(downstreamUrl, { signal: AbortSignal.timeout(downstreamTimeoutMs) })
        await response.arrayBuffer()
        span.setAttribute('example.downstream.status', response.status)
        downstreamCalls.add(1, { outcome: 'ok' })
        return response
      } catch (err) {
        span.recordException(err)
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'downstream unavailable' })
        downstreamCalls.add(1, { outcome: 'error' })
        throw err
      } finally {
        span.end()
      }
    })
  }

  app.get('/api/example', async function getExample (request, reply) {
    let response
    try {
      response = await callDownstream()
    } catch (err) {
      request.log.warn({ err, downstream: downstreamUrl }, 'downstream call failed')
      return reply.code(502).send({ error: 'downstream unavailable' })
    }
    request.log.info({ downstreamStatus: response.status }, 'downstream answered')
    return { downstream: { url: downstreamUrl, status: response.status } }
  })
}

module.exports = exampleRoutes
