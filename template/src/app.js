'use strict'

const Fastify = require('fastify')
const { LogController } = require('fastify')
const { loadConfig } = require('./config')
const healthRoutes = require('./routes/health')
const exampleRoutes = require('./routes/example')

// The app factory: no port is bound here, so tests use app.inject().
function buildApp (config = loadConfig(), { logger } = {}) {
  const app = Fastify({
    logger: logger ?? { level: config.logLevel },
    // The server span already records method, route, status and duration of
    // every request; per-request "incoming/completed" lines would repeat it
    // (twice per request, on stdout and over OTLP). Errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // On close: refuse new requests with 503, end idle keep-alive sockets,
    // let in-flight requests finish.
    return503OnClosing: true,
    forceCloseConnections: 'idle'
  })
  app.decorate('config', config)
  app.register(healthRoutes)
  app.register(exampleRoutes)
  return app
}

module.exports = { buildApp }
