'use strict'

// An example route that calls a downstream HTTP dependency, so one trace shows
// the server span and the client span of the outgoing fetch.
async function exampleRoutes (app) {
  const { downstreamUrl, downstreamTimeoutMs } = app.config

  app.get('/api/example', async function getExample (request, reply) {
    let response
    try {
      response = await fetch(downstreamUrl, { signal: AbortSignal.timeout(downstreamTimeoutMs) })
      await response.arrayBuffer()
    } catch (err) {
      request.log.warn({ err, downstream: downstreamUrl }, 'downstream call failed')
      return reply.code(502).send({ error: 'downstream unavailable' })
    }
    request.log.info({ downstreamStatus: response.status }, 'downstream answered')
    return { downstream: { url: downstreamUrl, status: response.status } }
  })
}

module.exports = exampleRoutes
