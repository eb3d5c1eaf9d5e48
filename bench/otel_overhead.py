"""Telemetry overhead on one generated service: bare vs our bootstrap vs the naive preload.

Run by hand:  .venv/bin/python bench/otel_overhead.py [--duration 6] [--connections 20]

All three setups run the same generated service, started as its image's
runtime stage starts it (production dependencies, CMD, ENV), on the pinned
Node, in one run, under the same autocannon load on loopback:
  bare   no preload (NODE_OPTIONS removed)
  ours   the template's src/telemetry.js (http, undici, fastify, pino), 100% sampled
  naive  --require @opentelemetry/auto-instrumentations-node/register (every package)
Targets for ours vs bare: /api/example rps >= 0.85x, /healthz rps >= 0.9x,
start-up <= +150 ms, RSS <= +30 MB, exit within 1 s of SIGTERM with spans flushed.
Both cores are shared by the service, the load generator, the downstream stub
and the OTLP receiver: read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from paved_road.cmd_new import generate  # noqa: E402
from paved_road.local_run import ServiceProcess, free_port, prepare_runtime  # noqa: E402
from paved_road.node_toolchain import node_env  # noqa: E402
from paved_road.otel_sink import OtlpSink  # noqa: E402

AUTOCANNON = "autocannon@8.0.0"
NAIVE_PACKAGE = "@opentelemetry/auto-instrumentations-node@0.82.0"
TOOLS = REPO / ".cache" / "npm-tools"

DOWNSTREAM_JS = textwrap.dedent("""
    const http = require('node:http')
    http.createServer((req, res) => { res.writeHead(200, {'content-length': 2}); res.end('ok') })
      .listen(Number(process.argv[2]), '127.0.0.1')
""")


def npm_tool(package: str, env: dict) -> Path:
    name = package.rsplit("@", 1)[0]
    if not (TOOLS / "node_modules" / name).exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(TOOLS), package],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    return TOOLS / "node_modules" / name


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the service process: CPU per request is steadier than
    requests per second when other work shares the two cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, duration: int, connections: int, env: dict, pid: int | None = None) -> dict:
    cli = npm_tool(AUTOCANNON, env) / "autocannon.js"
    cpu0 = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(["node", str(cli), "-j", "-c", str(connections), "-d", str(duration), url],
                         env=env, capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    total = data["requests"]["total"] or 1
    cpu_us = (cpu_seconds(pid) - cpu0) / total * 1e6 if pid else float("nan")
    return {"rps": data["requests"]["average"], "p50": data["latency"]["p50"],
            "p99": data["latency"]["p99"], "errors": data["errors"] + data["non2xx"], "cpu_us": cpu_us}


def measure(name, runtime_dir, stage, env, node_options, args, sink) -> dict:
    starts = []
    for _ in range(3):
        svc = ServiceProcess(runtime_dir, stage, 24, env=env, node_options=node_options,
                             preload=node_options != "")
        starts.append(svc.wait_ready())
        svc.terminate()
    svc = ServiceProcess(runtime_dir, stage, 24, env=env, node_options=node_options, preload=node_options != "")
    svc.wait_ready()
    tool_env = node_env(24)
    load(svc.base_url + "/api/example", 2, args.connections, tool_env)  # warm-up
    example = load(svc.base_url + "/api/example", args.duration, args.connections, tool_env, svc.proc.pid)
    health = load(svc.base_url + "/healthz", args.duration, args.connections, tool_env, svc.proc.pid)
    rss = rss_mb(svc.proc.pid)
    def trace_posts():
        return len([r for r in sink.received.requests if r["path"] == "/v1/traces"])
    time.sleep(0.2)
    svc.get("/api/example")  # spans still queued in the batch processor at SIGTERM
    before = trace_posts()
    code, exit_s = svc.terminate()
    flushed = trace_posts() - before  # trace exports sent during shutdown (bare: none)
    return {"setup": name, "startup_s": statistics.median(starts), "example": example, "healthz": health,
            "rss_mb": rss, "exit_s": exit_s, "exit_code": code, "trace_exports_at_exit": flushed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()

    env24 = node_env(24)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(tmp / "svc", {}, str(REPO), vcs_ref="HEAD")
        stage = prepare_runtime(tmp / "svc", tmp / "app")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save", NAIVE_PACKAGE],
                       cwd=tmp / "app", env=env24, check=True, stdout=subprocess.DEVNULL)
        (tmp / "downstream.js").write_text(DOWNSTREAM_JS)
        port = free_port()
        downstream = subprocess.Popen(["node", str(tmp / "downstream.js"), str(port)], env=env24)
        time.sleep(0.5)
        results = []
        try:
            with OtlpSink(decode=False) as sink:
                env = {"DOWNSTREAM_URL": f"http://127.0.0.1:{port}/", "LOG_LEVEL": "info",
                       "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_TRACES_SAMPLER_ARG": "1.0"}
                naive_env = dict(env, OTEL_TRACES_EXPORTER="otlp", OTEL_METRICS_EXPORTER="otlp",
                                 OTEL_LOGS_EXPORTER="otlp", OTEL_SERVICE_NAME="demo-service")
                results.append(measure("bare", tmp / "app", stage, env, "", args, sink))
                results.append(measure("ours", tmp / "app", stage, env, None, args, sink))
                results.append(measure("naive", tmp / "app", stage, naive_env,
                                       "--require @opentelemetry/auto-instrumentations-node/register", args, sink))
        finally:
            downstream.terminate()

    bare = results[0]
    print(f"\nload: autocannon -c {args.connections} -d {args.duration}s per route; Node 24.21.0; 2 cores shared\n")
    head = f"{'setup':<6} {'/api/example rps':>18} {'p50/p99 ms':>11} {'/healthz rps':>16} {'p50/p99 ms':>11} " \
           f"{'start-up':>15} {'RSS MB':>13} {'SIGTERM->exit':>14}"
    print(head)
    for r in results:
        ex, hz = r["example"], r["healthz"]
        print(f"{r['setup']:<6} {ex['rps']:>8.0f} ({ex['rps'] / bare['example']['rps']:4.2f}x) "
              f"{ex['p50']:>5}/{ex['p99']:<5} {hz['rps']:>7.0f} ({hz['rps'] / bare['healthz']['rps']:4.2f}x) "
              f"{hz['p50']:>5}/{hz['p99']:<5} {r['startup_s']:>6.2f}s ({(r['startup_s'] - bare['startup_s']) * 1000:+5.0f}ms) "
              f"{r['rss_mb']:>6.0f} ({r['rss_mb'] - bare['rss_mb']:+4.0f}) "
              f"{r['exit_s']:>6.2f}s rc={r['exit_code']} flush={r['trace_exports_at_exit']}")
    ours = results[1]
    targets = [
        ("/api/example rps >= 0.85x bare", ours["example"]["rps"] / bare["example"]["rps"] >= 0.85),
        ("/healthz rps >= 0.9x bare", ours["healthz"]["rps"] / bare["healthz"]["rps"] >= 0.9),
        ("start-up <= +150 ms", ours["startup_s"] - bare["startup_s"] <= 0.150),
        ("RSS <= +30 MB", ours["rss_mb"] - bare["rss_mb"] <= 30),
        ("exit within 1 s of SIGTERM, rc 0", ours["exit_s"] <= 1 and ours["exit_code"] == 0),
    ]
    print(f"\nCPU per request (service process, us): " + "; ".join(
        f"{r['setup']} /api/example {r['example']['cpu_us']:.0f} ({r['example']['cpu_us'] / bare['example']['cpu_us']:.2f}x), "
        f"/healthz {r['healthz']['cpu_us']:.0f} ({r['healthz']['cpu_us'] / bare['healthz']['cpu_us']:.2f}x)" for r in results))
    print()
    for label, ok in targets:
        print(f"  [{'met' if ok else 'MISSED'}] {label}")
    print(json.dumps(results, indent=1), file=open(REPO / ".cache" / "otel_overhead.json", "w"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
