"""Run a generated service on this machine exactly as its Dockerfile's runtime stage would.

The same command (CMD), the same environment (ENV, NODE_OPTIONS preload), the
same files (package.json, src/, production node_modules only), on the pinned
Node of the service's major. Used by `paved demo`, the tests and bench/.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from paved_road.local.node_toolchain import node_env


@dataclass
class RuntimeStage:
    workdir: str
    env: dict[str, str]
    cmd: list[str]
    copies: list[str] = field(default_factory=list)  # paths copied from the build context
    runs: list[str] = field(default_factory=list)  # RUN commands (shell form), in order


def parse_runtime_stage(dockerfile: Path, build_args: dict[str, str] | None = None) -> RuntimeStage:
    """ENV, WORKDIR, CMD and plain COPY sources of the Dockerfile's last stage.
    `ARG NAME=default` in that stage takes `build_args[NAME]` (like --build-arg)
    and `${NAME}` in a later ENV value is replaced by it, as the builder does."""
    text = dockerfile.read_text().replace("\\\n", " ")
    last = re.split(r"^FROM .*$", text, flags=re.M)[-1]
    stage = RuntimeStage(workdir="/", env={}, cmd=[])
    args: dict[str, str] = {}
    for line in last.splitlines():
        line = line.strip()
        if line.startswith("ARG "):
            name, _, default = line[4:].strip().partition("=")
            args[name] = (build_args or {}).get(name, shlex.split(default)[0] if default.strip() else "")
        elif line.startswith("ENV "):
            for token in shlex.split(line[4:]):
                key, _, value = token.partition("=")
                stage.env[key] = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                                        lambda m: args.get(m[1] or m[2], stage.env.get(m[1] or m[2], "")), value)
        elif line.startswith("WORKDIR "):
            stage.workdir = line.split(None, 1)[1]
        elif line.startswith("CMD "):
            stage.cmd = json.loads(line[4:])
        elif line.startswith("COPY ") and "--from=" not in line:
            stage.copies.extend(line.split()[1:-1])
        elif line.startswith("RUN "):
            stage.runs.append(line[4:].strip())
    if not stage.cmd:
        raise ValueError(f"{dockerfile}: the runtime stage has no exec-form CMD")
    return stage


def node_major_of(service_dir: Path) -> int:
    version = (service_dir / ".nvmrc").read_text().strip()
    return int(version.split(".")[0])


def install(service_dir: Path, *, production_only: bool, env: dict[str, str] | None = None) -> None:
    args = ["npm", "ci", "--no-audit", "--no-fund"] + (["--omit=dev"] if production_only else [])
    subprocess.run(args, cwd=service_dir, env=env or node_env(node_major_of(service_dir)), check=True,
                   stdout=subprocess.DEVNULL)


def prepare_runtime(service_dir: Path, runtime_dir: Path, build_args: dict[str, str] | None = None) -> RuntimeStage:
    """Lay out `runtime_dir` like the image's WORKDIR: copied files plus production
    deps, then the stage's RUN commands (the compile-cache warm-up) with its ENV."""
    stage = parse_runtime_stage(service_dir / "Dockerfile", build_args)
    runtime_dir.mkdir(parents=True, exist_ok=True)
    for rel in stage.copies + ["package-lock.json"]:
        src = service_dir / rel
        if src.is_dir():
            shutil.copytree(src, runtime_dir / rel, dirs_exist_ok=True)
        else:
            shutil.copy2(src, runtime_dir / rel)
    install(runtime_dir, production_only=True, env=node_env(node_major_of(service_dir)))
    (runtime_dir / "package-lock.json").unlink()  # the image does not ship it
    env = runtime_env(runtime_dir, stage, node_major_of(service_dir))
    for command in stage.runs:
        subprocess.run(["sh", "-c", command], cwd=runtime_dir, env=env, check=True, stdout=subprocess.DEVNULL)
    return stage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Downstream:
    """A local stand-in for the example route's dependency; `/slow` answers after `delay` s.
    Records the `traceparent` and `tracestate` headers of every call (trace context propagation)."""

    def __init__(self, delay: float = 1.5):
        self.hits = threading.Event()
        self.traceparents: list[str] = []
        self.tracestates: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.traceparents.append(self.headers.get("traceparent", ""))
                outer.tracestates.append(self.headers.get("tracestate", ""))
                outer.hits.set()
                if self.path.startswith("/slow"):
                    time.sleep(delay)
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def runtime_env(runtime_dir: Path, stage: RuntimeStage, major: int) -> dict[str, str]:
    """The pinned Node on PATH plus the stage's ENV, its WORKDIR paths mapped onto runtime_dir."""
    env = node_env(major)
    for key, value in stage.env.items():
        env[key] = value.replace(stage.workdir.rstrip("/") + "/", str(runtime_dir) + "/")
    return env


class ServiceProcess:
    """The service started from `runtime_dir` with the runtime stage's CMD and ENV."""

    def __init__(self, runtime_dir: Path, stage: RuntimeStage, major: int, *, port: int | None = None,
                 env: dict[str, str] | None = None, preload: bool = True, node_options: str | None = None,
                 on_line: Callable[[str], None] | None = None, preexec_fn: Callable[[], None] | None = None):
        # preexec_fn runs in the child between fork and exec, before Node starts:
        # bench/otel_overhead.py moves it into a memory cgroup there (paved_road.local.memory_cgroup).
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        run_env = runtime_env(runtime_dir, stage, major)
        if node_options is not None:
            run_env["NODE_OPTIONS"] = node_options
        elif not preload:
            run_env.pop("NODE_OPTIONS", None)
        run_env.update({"PORT": str(self.port), "HOST": "127.0.0.1"})
        run_env.update(env or {})
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(stage.cmd, cwd=runtime_dir, env=run_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, preexec_fn=preexec_fn)
        self._lines: list[str] = []
        self._on_line = on_line  # called from the reader thread with each line of output as it comes
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.append(line)
            if self._on_line:
                self._on_line(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def log_records(self) -> list[dict]:
        records = []
        for line in list(self._lines):
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
        return records

    def wait_ready(self, timeout: float = 30.0, path: str = "/healthz") -> float:
        """Seconds from process start to the first successful response."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}:\n{self.output}")
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - self.started_at
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.02)
        raise TimeoutError(f"service not ready after {timeout}s:\n{self.output}")

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def terminate(self, timeout: float = 10.0) -> tuple[int | None, float]:
        """SIGTERM; return (exit code or None if still running, seconds to exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - t0
        return code, time.monotonic() - t0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# Preloaded after the service's own NODE_OPTIONS: from the end of the first
# request the service answers (the readiness probe; that first request
# compiles its own code paths and counts as start-up) until SIGTERM, a 1 ms
# timer measures each gap between its ticks: the longest in wall-clock time,
# and the most CPU time the main thread spent inside one gap
# (process.threadCpuUsage). The CPU figure is the block the service itself
# caused; the wall-clock one also holds the time the OS gave the CPU to other
# processes, which on a shared machine can be tens of ms. Also whether the
# OTLP exporters loaded inside that window (they load a second after start).
# Written as JSON to $PAVED_EVENT_LOOP_PROBE_OUT.
EVENT_LOOP_PROBE_JS = """'use strict'
const fs = require('node:fs')
const http = require('node:http')
const cpuNow = () => {
  const { user, system } = (process.threadCpuUsage ?? process.cpuUsage)()
  return (user + system) / 1000
}
const exportersLoaded = () => Object.keys(require.cache).some((f) => f.includes('exporter-trace-otlp-proto'))
let loadedBefore = null
let last = null
let maxWall = null
let maxCpu = null
function start () {
  loadedBefore = exportersLoaded()
  last = { wall: performance.now(), cpu: cpuNow() }
  maxWall = 0
  maxCpu = 0
  setInterval(() => {
    const now = { wall: performance.now(), cpu: cpuNow() }
    maxWall = Math.max(maxWall, now.wall - last.wall)
    maxCpu = Math.max(maxCpu, now.cpu - last.cpu)
    last = now
  }, 1).unref()
}
const emit = http.Server.prototype.emit
http.Server.prototype.emit = function (event, req, res) {
  if (event === 'request' && loadedBefore === null) {
    loadedBefore = false
    res.once('finish', () => setImmediate(start))
  }
  return emit.apply(this, arguments)
}
process.once('SIGTERM', () => {
  fs.writeFileSync(process.env.PAVED_EVENT_LOOP_PROBE_OUT, JSON.stringify({
    max_ms: maxWall,
    max_cpu_ms: maxCpu,
    exporters_loaded_in_window: exportersLoaded() && loadedBefore === false
  }))
})
"""


def event_loop_block(runtime_dir: Path, stage: RuntimeStage, major: int, env: dict[str, str] | None = None,
                     running_for: float = 2.5, node_options: str | None = None,
                     preexec_fn: Callable[[], None] | None = None) -> dict:
    """Start the service, leave it idle `running_for` seconds from spawn (the
    exporters load after one), SIGTERM it: {"max_ms": the longest gap between
    ticks after the first answered request (wall clock), "max_cpu_ms": the
    most main-thread CPU time inside one gap, "exporters_loaded_in_window"}."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        probe, out = Path(tmp) / "probe.js", Path(tmp) / "probe.json"
        probe.write_text(EVENT_LOOP_PROBE_JS)
        options = runtime_env(runtime_dir, stage, major).get("NODE_OPTIONS", "") if node_options is None else node_options
        svc = ServiceProcess(runtime_dir, stage, major, env={**(env or {}), "PAVED_EVENT_LOOP_PROBE_OUT": str(out)},
                             node_options=f"{options} --require {probe}".strip(),
                             preexec_fn=preexec_fn)
        try:
            svc.wait_ready()
            time.sleep(max(0.0, running_for - (time.monotonic() - svc.started_at)))
            svc.terminate()
        finally:
            svc.kill()
        if not out.exists():
            raise RuntimeError(f"the event-loop probe wrote nothing:\n{svc.output}")
        return json.loads(out.read_text())

