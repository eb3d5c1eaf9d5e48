'use strict'

// Entry point: binds the port and owns the process signals.
//
// On SIGTERM (ECS stopping the task for a deploy or rollback) or SIGINT:
// stop accepting, let in-flight requests finish, flush telemetry, exit 0.
// Without a handler of our own Node would die mid-request and the last
// spans would be lost; with a handler that never exits, ECS would wait out
// stopTimeout and SIGKILL us (REFERENCE: the naive OTel preload does that).
const { buildApp } = require('./app')
const { loadConfig } = require('./config')

// Set by src/telemetry.js when it is preloaded; absent when running bare.
const telemetry = process[Symbol.for('paved-road.telemetry')]

async function main () {
  const config = loadConfig()
  const app = buildApp(config)

  let stopping = false
  async function stop (signal) {
    if (stopping) return
    stopping = true
    app.log.info({ signal }, 'shutting down')
    const watchdog = setTimeout(() => {
      app.log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out')
      process.exit(1)
    }, config.shutdownTimeoutMs)
    watchdog.unref()
    let code = 0
    try {
      await app.close()
    } catch (err) {
      app.log.error({ err }, 'error while closing the server')
      code = 1
    }
    if (telemetry) await telemetry.shutdown()
    process.exit(code)
  }
  process.once('SIGTERM', () => { stop('SIGTERM') })
  process.once('SIGINT', () => { stop('SIGINT') })

  await app.listen({ host: config.host, port: config.port })
}

// Started as the image's CMD; required (src/warm-cache.js), it only loads.
if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}

module.exports = { main }
