'use strict'

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { buildApp } = require('../src/app')
const { loadConfig } = require('../src/config')

let downstream
let downstreamUrl

before(async () => {
  downstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('ok')
  })
  await new Promise((resolve) => downstream.listen(0, '127.0.0.1', resolve))
  downstreamUrl = `http://127.0.0.1:${downstream.address().port}/`
})

after(() => new Promise((resolve) => downstream.close(resolve)))

function app (env = {}) {
  return buildApp(loadConfig({ DOWNSTREAM_URL: downstreamUrl, ...env }), { logger: false })
}

test('GET /healthz answers ok', async (t) => {
  const a = app()
  t.after(() => a.close())
  const res = await a.inject({ method: 'GET', url: '/healthz' })
  assert.equal(res.statusCode, 200)
  assert.deepEqual(res.json(), { status: 'ok' })
})

test('GET /readyz answers ready', async (t) => {
  const a = app()
  t.after(() => a.close())
  const res = await a.inject('/readyz')
  assert.equal(res.statusCode, 200)
  assert.deepEqual(res.json(), { status: 'ready' })
})

test('GET /api/example calls the downstream service', async (t) => {
  const a = app()
  t.after(() => a.close())
  const res = await a.inject('/api/example')
  assert.equal(res.statusCode, 200)
  assert.deepEqual(res.json(), { downstream: { url: downstreamUrl, status: 200 } })
})

test('GET /api/example answers 502 when the downstream is down', async (t) => {
  const a = buildApp(loadConfig({ DOWNSTREAM_URL: 'http://127.0.0.1:9/', DOWNSTREAM_TIMEOUT_MS: '500' }), { logger: false })
  t.after(() => a.close())
  const res = await a.inject('/api/example')
  assert.equal(res.statusCode, 502)
})

test('a 5xx writes one error line with its stack; successes, 4xx and 404 write none', async (t) => {
  const lines = []
  const stream = { write: (line) => lines.push(JSON.parse(line)) }
  const a = buildApp(loadConfig({ DOWNSTREAM_URL: downstreamUrl }), { logger: { level: 'info', stream } })
  a.get('/boom', async () => { throw new Error('boom') })
  a.post('/strict', { schema: { body: { type: 'object', required: ['name'] } } }, async () => ({}))
  t.after(() => a.close())
  await a.ready()
  lines.length = 0
  assert.equal((await a.inject('/api/example')).statusCode, 200)
  assert.equal((await a.inject({ method: 'POST', url: '/strict', payload: {} })).statusCode, 400)
  assert.equal((await a.inject('/no-such-route')).statusCode, 404)
  assert.equal((await a.inject('/boom')).statusCode, 500)
  const errors = lines.filter((l) => l.level >= 50)
  assert.equal(errors.length, 1, JSON.stringify(lines))
  assert.match(errors[0].err.stack, /^Error: boom\n/)
  assert.deepEqual(lines.filter((l) => l.level < 50).map((l) => l.msg), ['downstream answered'])
})

test('the 5xx error line carries the error\'s type, message and stack, never its other properties or the query string', async (t) => {
  const lines = []
  const stream = { write: (line) => lines.push(line) }
  const a = buildApp(loadConfig({ DOWNSTREAM_URL: downstreamUrl }), { logger: { level: 'info', stream } })
  a.get('/boom', async () => {
    const err = new Error('upstream failed')
    err.code = 'E_UPSTREAM'
    // What HTTP client libraries attach to their errors: the request they sent.
    err.config = { headers: { Authorization: 'Bearer client-secret' } }
    throw err
  })
  t.after(() => a.close())
  await a.ready()
  lines.length = 0
  const res = await a.inject({ url: '/boom?api_key=query-secret', headers: { authorization: 'Bearer header-secret' } })
  assert.equal(res.statusCode, 500)
  assert.equal(lines.length, 1, lines.join(''))
  assert.doesNotMatch(lines[0], /secret/)
  const line = JSON.parse(lines[0])
  assert.deepEqual(Object.keys(line.err).sort(), ['code', 'message', 'stack', 'type'])
  assert.deepEqual([line.err.type, line.err.code, line.err.message], ['Error', 'E_UPSTREAM', 'upstream failed'])
  assert.match(line.err.stack, /^Error: upstream failed\n {4}at /)
  assert.deepEqual([line.req.method, line.req.url, line.res.statusCode], ['GET', '/boom', 500])
})
