"""`paved demo` (what `make demo` runs): generate demo-service with defaults,
install it, start it next to a local OTLP receiver, send a few requests, show
the spans that arrived, and stop everything cleanly."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from rich.console import Console

from paved_road.cmd_new import BadAnswer, generate
from paved_road.local_run import Downstream, ServiceProcess, node_major_of, prepare_runtime
from paved_road.otel_sink import OtlpSink, span_table
from paved_road.template_source import default_template_source


def run_demo(workdir: Path, console: Console, requests: int = 5) -> int:
    service_dir = workdir / "demo-service"
    runtime_dir = workdir / "runtime"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    console.rule("1. generate demo-service (copier copy, defaults)")
    generate(service_dir, {}, default_template_source(), vcs_ref="HEAD")
    console.print(f"generated {service_dir}")

    console.rule("2. install (production dependencies, as the image's runtime stage)")
    major = node_major_of(service_dir)
    stage = prepare_runtime(service_dir, runtime_dir)
    console.print(f"Node {major} from the npm registry; CMD {stage.cmd}; NODE_OPTIONS {stage.env.get('NODE_OPTIONS')}")

    downstream = Downstream()
    with OtlpSink() as sink:
        console.rule("3. start it next to a local OTLP/HTTP receiver")
        svc = ServiceProcess(runtime_dir, stage, major, env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "DOWNSTREAM_URL": downstream.url, "DEPLOYMENT_ENVIRONMENT": "demo"})
        try:
            startup = svc.wait_ready()
            console.print(f"listening on {svc.base_url} after {startup:.2f}s; OTLP sink on {sink.endpoint}")

            console.rule("4. send requests")
            for _ in range(requests):
                status, body = svc.get("/api/example")
                console.print(f"GET /api/example -> {status} {body.decode()}")
            for _ in range(2):
                status, _body = svc.get("/healthz")
                console.print(f"GET /healthz     -> {status} (health checks are not traced)")
            sink.wait_for(lambda r: len([s for s in r.spans if s["kind"] == "SERVER"]) >= requests, timeout=15)
            sink.wait_for(lambda r: r.metrics, timeout=5)
        finally:
            console.rule("6. stop (SIGTERM: drain, flush telemetry, exit)")
            code, seconds = svc.terminate()
            console.print(f"service exited with code {code} in {seconds:.2f}s")
            downstream.close()

        console.rule("5. spans received over OTLP/HTTP (protobuf)")
        received = sink.received
        console.print(span_table(received.spans))
        metric_names = sorted({m["name"] for m in received.metrics})
        correlated = [r for r in received.logs if r["trace_id"]]
        console.print(f"metrics: {', '.join(metric_names) or 'none'}")
        console.print(f"log records: {len(received.logs)}, {len(correlated)} carrying a trace id")
        resource = received.spans[0]["resource"] if received.spans else {}
        console.print("resource: " + ", ".join(f"{k}={resource.get(k)}" for k in
                                               ("service.name", "service.version", "deployment.environment.name")))
    servers = [s for s in received.spans if s["kind"] == "SERVER"]
    ok = code == 0 and len(servers) >= requests and metric_names and correlated
    console.print("[green]demo ok: telemetry is flowing[/green]" if ok else "[red]demo failed[/red]")
    console.print(f"the generated service stays in {service_dir} to look at")
    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    console = Console()
    if args.rollback:  # deploy / rollback story against paved sim (paved_road.sim.demo)
        from paved_road.sim.demo import run_rollback_demo
        return run_rollback_demo(console)
    try:
        return run_demo(Path(args.workdir).resolve(), console)
    except BadAnswer as exc:
        console.print(f"paved demo: {exc}")
        return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="generate demo-service and show its telemetry flowing")
    p.add_argument("--workdir", default="demo-output", help="scratch folder (recreated)")
    p.add_argument("--rollback", action="store_true",
                   help="instead: deploy, a circuit-breaker rollback and `paved rollback --previous` against paved sim")
    p.set_defaults(func=run)
