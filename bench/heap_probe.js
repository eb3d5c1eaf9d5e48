'use strict'
// Loaded by bench/otel_overhead.py into every setup it measures, bare included
// (NODE_OPTIONS="--expose-gc --require .../heap_probe.js"). On SIGUSR2 it runs
// V8's last-resort full GC, which also returns freed pages to the system, and
// writes the process's memory then to PAVED_BENCH_MEMORY_FILE: what the
// process keeps, as opposed to the peak RSS, which on a machine with much
// memory is mostly garbage V8 has not collected yet (its young generation and
// old-space limits are sized from the machine's memory).
const fs = require('node:fs')

process.on('SIGUSR2', () => {
  global.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })
  const { rss, heapUsed } = process.memoryUsage()
  fs.writeFileSync(process.env.PAVED_BENCH_MEMORY_FILE, JSON.stringify({ rss, heapUsed }))
})

// What Node sized the heap from, as the service itself sees it: the memory
// limit of its cgroup (the task's memory when bench/otel_overhead.py emulates
// one) and the heap limit V8 derived from it. Written once, before the app loads.
if (process.env.PAVED_BENCH_LIMITS_FILE) {
  fs.writeFileSync(process.env.PAVED_BENCH_LIMITS_FILE, JSON.stringify({
    constrainedMemory: process.constrainedMemory(),
    heapSizeLimit: require('node:v8').getHeapStatistics().heap_size_limit
  }))
}
