'use strict'

const os = require('node:os')
const Fastify = require('fastify')
const { LogController } = require('fastify')
const { loadConfig } = require('./config')
const healthRoutes = require('./routes/health')
const exampleRoutes = require('./routes/example')

// The app factory: no port is bound here, so tests use app.inject().
function buildApp (config = loadConfig(), { logger } = {}) {
  const app = Fastify({
    // Every line names the release (stdout JSON reaches CloudWatch Logs via
    // the awslogs driver); trace_id/span_id are added by src/telemetry.js.
    logger: logger ?? {
      level: config.logLevel,
      base: { pid: process.pid, hostname: os.hostname(), 'service.version': config.serviceVersion }
    },
    // The server span already records method, route, status and duration of
    // every request; per-request "incoming/completed" lines would repeat it.
    // Errors are still logged.
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
