"""`paved demo` (what `make demo` runs): generate demo-service with defaults,
install it, start it next to a local OTLP receiver, send a few requests, show
the spans that arrived, and stop everything cleanly."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from rich.console import Console

from paved_road.cmd_new import BadAnswer, generate
from paved_road.local.local_run import Downstream, ServiceProcess, node_major_of, prepare_runtime
from paved_road.local.otel_sink import OtlpSink, span_table
from paved_road.template_source import default_template_source


MARKER = ".paved-demo"  # in the workdir: every path the demo created, one per line (files: "path\tsize:mtime")


class DemoError(ValueError):
    pass


def default_workdir() -> Path:
    """Not the current directory: the same place wherever `paved demo` runs."""
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):  # the XDG spec: a relative value is invalid and ignored
        cache = str(Path.home() / ".cache")
    return Path(cache) / "paved-road" / "demo"


def _stamp(path: Path) -> str:
    """What a regular file looked like when recorded; '' for directories and symlinks."""
    st = path.lstat()
    return f"{st.st_size}:{st.st_mtime_ns}" if stat.S_ISREG(st.st_mode) else ""


def _own_marker(marker: Path) -> bool:
    """The marker is a regular file of this user (lstat: a symlink named .paved-demo is not one)."""
    try:
        st = marker.lstat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid()


def _write_marker(marker: Path, text: str) -> None:
    """Write the marker without following a symlink (O_NOFOLLOW): a link planted there is refused,
    its target never truncated."""
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise DemoError(f"--workdir {marker.parent}: {MARKER} cannot be written ({exc.strerror}); "
                        "it must be a regular file of yours (nothing was changed)") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _read_record(marker: Path) -> dict[str, str]:
    entries = {}
    fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as fh:
        text = fh.read()
    for line in text.splitlines():
        rel, _, stamp = line.partition("\t")
        entries[rel] = stamp
    return entries


def _walk(root: Path) -> list[str]:
    """Every file, symlink and directory under `root`, relative, deepest first."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        base = Path(dirpath)
        out += [(base / n).relative_to(root).as_posix() for n in filenames + dirnames]
    return out


def prepare_workdir(workdir: Path) -> None:
    """Make `workdir` ready: create it, accept it empty, or clear what an
    earlier demo created there. Anything else is refused before a single file
    is touched: the demo never deletes what it did not create."""
    if workdir.exists() and not workdir.is_dir():
        raise DemoError(f"--workdir {workdir} is a file; pass a new or empty directory")
    if not workdir.exists():
        workdir.mkdir(parents=True)
    elif any(workdir.iterdir()):
        marker = workdir / MARKER
        if not _own_marker(marker):
            raise DemoError(f"--workdir {workdir} is not empty and was not made by paved demo "
                            f"({MARKER} is missing, not a regular file or not yours); "
                            "pass a new or empty directory (nothing was deleted)")
        ours = _read_record(marker)
        present = _walk(workdir)
        foreign = [rel for rel in present if rel != MARKER and rel not in ours]
        if foreign:
            more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
            raise DemoError(f"--workdir {workdir} holds files paved demo did not create ({foreign[-1]}{more}); "
                            "move them or pass another --workdir (nothing was deleted)")
        # A generated file someone edited since ("stays ... to look at") is theirs now.
        edited = [rel for rel in present if ours.get(rel) and ours[rel] != _stamp(workdir / rel)]
        if edited:
            more = f" and {len(edited) - 1} more" if len(edited) > 1 else ""
            raise DemoError(f"--workdir {workdir}: {edited[-1]}{more} changed since paved demo created it; "
                            "copy your changes elsewhere or pass another --workdir (nothing was deleted)")
        for rel in present:  # deepest first
            path = workdir / rel
            if rel == MARKER:
                continue
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
    _write_marker(workdir / MARKER, "")


def record_workdir(workdir: Path) -> None:
    """Write down what the demo created, so the next run may remove exactly that."""
    if workdir.is_dir():
        lines = []
        for rel in _walk(workdir):
            if rel != MARKER:
                stamp = _stamp(workdir / rel)
                lines.append(f"{rel}\t{stamp}\n" if stamp else f"{rel}\n")
        _write_marker(workdir / MARKER, "".join(lines))


def run_demo(workdir: Path, console: Console, requests: int = 5) -> int:
    service_dir = workdir / "demo-service"
    runtime_dir = workdir / "runtime"
    prepare_workdir(workdir)
    console.print(f"working in {workdir}")
    try:
        return _run_demo(service_dir, runtime_dir, console, requests)
    finally:
        record_workdir(workdir)


def _run_demo(service_dir: Path, runtime_dir: Path, console: Console, requests: int) -> int:
    console.rule("1. generate demo-service (copier copy, defaults)")
    generate(service_dir, {}, default_template_source(), vcs_ref="HEAD")
    console.print(f"generated {service_dir}")

    console.rule("2. install (production dependencies, as the image's runtime stage)")
    major = node_major_of(service_dir)
    stage = prepare_runtime(service_dir, runtime_dir)
    console.print(f"Node {major} from the npm registry; CMD {stage.cmd}; NODE_OPTIONS {stage.env.get('NODE_OPTIONS')}")

    downstream = Downstream()
    code = None
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

            console.rule("5. spans received over OTLP/HTTP (protobuf)")
            console.print(span_table(sink.received.spans))
        finally:
            console.rule("6. stop (SIGTERM: drain, flush telemetry, exit)")
            code, seconds = svc.terminate()
            console.print(f"service exited with code {code} in {seconds:.2f}s")
            downstream.close()

        received = sink.received
        metric_names = sorted({m["name"] for m in received.metrics})
        # Logs reach CloudWatch as JSON on stdout (OTLP log export is opt-in:
        # OTEL_LOGS_EXPORTER=otlp); correlated means they carry the trace id of
        # a span that arrived.
        trace_ids = {s["trace_id"] for s in received.spans}
        log_lines = svc.log_records()
        correlated = [r for r in log_lines if r.get("trace_id") in trace_ids]
        console.print(f"metrics: {', '.join(metric_names) or 'none'}")
        console.print(f"log lines (JSON on stdout): {len(log_lines)}, {len(correlated)} carrying the trace id of a "
                      f"received span; OTLP log records: {len(received.logs)}")
        resource = received.spans[0]["resource"] if received.spans else {}
        console.print("resource: " + ", ".join(f"{k}={resource.get(k)}" for k in
                                               ("service.name", "service.version", "deployment.environment.name")))
    servers = [s for s in received.spans if s["kind"] == "SERVER"]
    ok = code == 0 and len(servers) >= requests and metric_names and correlated
    console.print("[green]demo ok: telemetry is flowing[/green]" if ok else "[red]demo failed[/red]")
    console.print(f"the generated service stays in {service_dir} to look at")
    return 0 if ok else 1


def demo_console(file=None) -> Console:
    """Rich on a terminal; in a pipe or CI log (rich assumes 80 columns there)
    wide enough that the span table and long lines are never cut or wrapped."""
    stream = file or sys.stdout
    if hasattr(stream, "isatty") and stream.isatty():
        return Console(file=file)
    return Console(file=file, width=max(160, int(os.environ.get("COLUMNS", "0") or 0)), soft_wrap=True)


def run(args: argparse.Namespace) -> int:
    console = demo_console()
    if args.rollback and args.platform:
        print("paved demo: --rollback and --platform are separate demos; pass one", file=sys.stderr)
        return 2
    if args.rollback:  # deploy / rollback story against paved sim (paved_road.sim.demo)
        from paved_road.sim.demo import run_rollback_demo
        return run_rollback_demo(console, speed=args.speed)
    if args.platform:  # Terraform, releases, deploys, rollback, DORA against paved sim
        from paved_road.sim.platform_demo import run_platform_demo
        return run_platform_demo(console, speed=args.speed)
    workdir = Path(args.workdir).expanduser().resolve() if args.workdir else default_workdir()
    try:
        return run_demo(workdir, console)
    except (BadAnswer, DemoError) as exc:
        print(f"paved demo: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"paved demo: cannot write {exc.filename or workdir}: {exc.strerror or exc}; "
              "pass a writable --workdir", file=sys.stderr)
        return 2


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="generate demo-service and show its telemetry flowing")
    p.add_argument("--workdir", metavar="DIR",
                   help="where demo-service is generated: a new or empty directory, or one an earlier demo "
                        "made (only what that demo created is replaced) (default: $XDG_CACHE_HOME/paved-road/demo, "
                        "i.e. ~/.cache/paved-road/demo)")
    p.add_argument("--rollback", action="store_true",
                   help="instead: deploy, a circuit-breaker rollback, `paved rollback --previous` and an alarm "
                        "rollback against paved sim")
    p.add_argument("--platform", action="store_true",
                   help="instead: apply the service's infra/ with real Terraform to paved sim, then releases, deploys, "
                        "a circuit-breaker rollback, rollback --previous, history and DORA")
    from paved_road.sim.cli import positive_speed
    p.add_argument("--speed", type=positive_speed, default=4.0,
                   help="with --rollback or --platform: the simulator's speed (default: 4)")
    p.set_defaults(func=run)
