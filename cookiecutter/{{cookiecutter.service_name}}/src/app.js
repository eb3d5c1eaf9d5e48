'use strict'

const os = require('node:os')
const Fastify = require('fastify')
const { LogController } = require('fastify')
const { loadConfig } = require('./config')
const healthRoutes = require('./routes/health')
const exampleRoutes = require('./routes/example')

// What Fastify logs about requests by itself. The server span already records
// method, route, status and duration of every request, so there are no
// per-request "incoming/completed" lines and no "route not found" lines. A
// 5xx answered by the default error handler writes one error line with the
// error (type, message, stack, code), the method and path (no query string)
// and trace_id/span_id of its span; a 4xx is the
// client's mistake and is not logged. (LogController({ disableRequestLogging:
// true }) would also silence the error lines: Fastify 5.12 lib/log-controller.js.)
// The error as the log line shows it: same class (pino's serializer names
// its type), with only message, stack and code of its own.
function errorFields (error) {
  if (!(error instanceof Error)) return { type: typeof error, message: String(error) }
  const fields = Object.create(Object.getPrototypeOf(error))
  Object.assign(fields, { message: error.message, stack: error.stack })
  if (error.code !== undefined) fields.code = String(error.code)
  return fields
}

class ServiceLogController extends LogController {
  incomingRequest () {}

  requestCompleted (error, request, reply) {
    // Only a response stream that failed (the 'error' event), never a success.
    if (error) super.requestCompleted(error, request, reply)
  }

  defaultErrorLog (error, request, reply) {
    if (reply.statusCode < 500) return
    // Only what the span's exception event carries (type, message, stack) and
    // the error's code: pino's error serializer would copy every property of
    // the error, and an HTTP client's error holds the request it sent
    // (headers, tokens). The path without its query string, which may carry
    // credentials too.
    const url = request.url
    const query = url.indexOf('?')
    reply.log.error({
      req: { method: request.method, url: query === -1 ? url : url.slice(0, query), host: request.host, ip: request.ip },
      res: reply,
      err: errorFields(error)
    }, error?.message)
  }

  routeNotFound () {}
}

// The app factory: no port is bound here, so tests use app.inject().
function buildApp (config = loadConfig(), { logger } = {}) {
  const app = Fastify({
    // Every line names the release (stdout JSON reaches CloudWatch Logs via
    // the awslogs driver); trace_id/span_id are added by src/telemetry.js.
    logger: logger ?? {
      level: config.logLevel,
      base: { pid: process.pid, hostname: os.hostname(), 'service.version': config.serviceVersion }
    },
    logController: new ServiceLogController(),
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
