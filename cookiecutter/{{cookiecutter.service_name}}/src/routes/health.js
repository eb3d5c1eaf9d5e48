'use strict'

// Liveness and readiness. The telemetry bootstrap does not trace these paths
// (see HEALTH_PATHS in src/telemetry.js) and they do not log per request:
// probes every few seconds would otherwise drown the real traffic. While the
// server drains on SIGTERM, Fastify answers every new request, these included,
// with 503 (return503OnClosing in src/app.js), so load balancers stop routing.
async function healthRoutes (app) {
  app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok' }))
  app.get('/readyz', { logLevel: 'silent' }, async () => ({ status: 'ready' }))
}

module.exports = healthRoutes
