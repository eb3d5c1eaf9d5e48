'use strict'

// Image build step (Dockerfile: RUN node src/warm-cache.js): runs the service
// the way a task runs it, so that the V8 compile cache (NODE_COMPILE_CACHE)
// holds every module a running service loads, not only those loaded before
// `listen`: Fastify's lazily loaded modules (first request, errors, 404,
// body parsing), the telemetry bootstrap and the OTLP exporters with their
// transport (first export). At run time the root filesystem is read-only and
// Node writes no new entries, so what is missing here is compiled again by
// every task.
//
// It also records the exporters' modules in the order they finish loading
// (dependencies first), which src/telemetry.js uses to load them one module
// per turn of the event loop. Nothing leaves this process: the app listens on
// 127.0.0.1 on a free port, its downstream and the OTLP endpoint are a local
// stub that answers 200.
const fs = require('node:fs')
const http = require('node:http')
const Module = require('node:module')
const path = require('node:path')

const telemetry = process[Symbol.for('paved-road.telemetry')]
const root = path.join(__dirname, '..')

async function request (base, method, url, body) {
  const headers = body === undefined ? {} : { 'content-type': 'application/json' }
  const res = await fetch(base + url, { method, body, headers, signal: AbortSignal.timeout(5000) })
  await res.arrayBuffer()
}

async function main () {
  const stub = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => res.end())
  })
  await new Promise((resolve) => stub.listen(0, '127.0.0.1', resolve))
  const stubUrl = `http://127.0.0.1:${stub.address().port}`
  // Read when the exporters are constructed, after this line.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = stubUrl

  require('./server') // compiled, not started
  const { buildApp } = require('./app')
  const { loadConfig } = require('./config')
  const app = buildApp(loadConfig({ ...process.env, LOG_LEVEL: 'silent', DOWNSTREAM_URL: `${stubUrl}/` }))
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${app.server.address().port}`
  await request(base, 'GET', '/healthz')
  await request(base, 'GET', '/api/example')
  await request(base, 'GET', '/no-such-route')
  await request(base, 'POST', '/api/example', '{"malformed": ')

  // Record what the exporters load, and their first export (the transport), in
  // the order the modules finish loading.
  const loaded = []
  const compile = Module.prototype._compile
  Module.prototype._compile = function (content, filename) {
    try {
      return compile.apply(this, arguments)
    } finally {
      loaded.push(path.relative(root, filename))
    }
  }
  if (telemetry) await telemetry.warmExporters()
  await app.close()
  if (telemetry) await telemetry.shutdown()
  Module.prototype._compile = compile
  stub.close()
  if (telemetry && process.env.NODE_COMPILE_CACHE) {
    fs.mkdirSync(process.env.NODE_COMPILE_CACHE, { recursive: true })
    fs.writeFileSync(path.join(process.env.NODE_COMPILE_CACHE, telemetry.EXPORTER_MODULES),
      JSON.stringify(loaded.filter((file) => file.startsWith('node_modules' + path.sep))))
  }
  Module.flushCompileCache?.()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
