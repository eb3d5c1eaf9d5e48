"""A generated service passes its own checks on the pinned Node, and, started
exactly as its image would start it, sends traces, metrics and logs over real
OTLP/HTTP protobuf, and shuts down cleanly on SIGTERM."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from paved_road.local_run import Downstream, ServiceProcess, install, prepare_runtime, runtime_env
from paved_road.otel_sink import OtlpSink


@pytest.fixture(scope="module")
def service(copie_session, node24_env):
    result = copie_session.copy()
    assert result.exit_code == 0, result.exception
    install(result.project_dir, production_only=False, env=node24_env)
    return result.project_dir


@pytest.fixture(scope="module")
def runtime(service, tmp_path_factory):
    runtime_dir = tmp_path_factory.mktemp("runtime") / "app"
    stage = prepare_runtime(service, runtime_dir)
    return runtime_dir, stage


@pytest.fixture(scope="module")
def downstream():
    d = Downstream(delay=1.5)
    yield d
    d.close()


def npm(service, env, *args):
    return subprocess.run(["npm", *args], cwd=service, env=env, capture_output=True, text=True)


def test_node_is_the_pinned_major(service, node24_env):
    out = subprocess.run(["node", "--version"], env=node24_env, capture_output=True, text=True).stdout
    assert out.strip() == "v24.21.0"


def test_lint_passes(service, node24_env):
    proc = npm(service, node24_env, "run", "lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unit_tests_pass(service, node24_env):
    proc = npm(service, node24_env, "test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "# fail 0" in proc.stdout or "ℹ fail 0" in proc.stdout


def test_node22_variant_installs_lints_and_tests(copie_session, node22_env):
    result = copie_session.copy(extra_answers={"service_name": "legacy-api", "node_major": 22,
                                               "architectures": ["arm64"], "http_port": 8081})
    assert result.exit_code == 0, result.exception
    svc = result.project_dir
    install(svc, production_only=False, env=node22_env)
    assert subprocess.run(["node", "--version"], env=node22_env, capture_output=True,
                          text=True).stdout.strip() == "v22.23.3"
    for script in (("run", "lint"), ("test",)):
        proc = npm(svc, node22_env, *script)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runtime_has_production_dependencies_only(runtime):
    runtime_dir, _ = runtime
    modules = runtime_dir / "node_modules"
    assert (modules / "fastify").is_dir()
    assert (modules / "@opentelemetry" / "sdk-trace").is_dir()
    for dev in ("eslint", "@eslint/js", "globals"):
        assert not (modules / dev).exists(), dev
    assert not (runtime_dir / "test").exists()


def _ancestors(span, by_id):
    seen = []
    while span and span["parent_span_id"]:
        span = by_id.get(span["parent_span_id"])
        if span:
            seen.append(span)
    return seen


def test_telemetry_reaches_an_otlp_receiver(runtime, downstream):
    runtime_dir, stage = runtime
    with OtlpSink() as sink:
        svc = ServiceProcess(runtime_dir, stage, 24, env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_METRIC_EXPORT_INTERVAL": "500",
            "DOWNSTREAM_URL": downstream.url, "DEPLOYMENT_ENVIRONMENT": "test"})
        try:
            svc.wait_ready()
            for _ in range(3):
                status, body = svc.get("/api/example")
                assert status == 200, body
                assert json.loads(body)["downstream"]["status"] == 200
                assert svc.get("/healthz")[0] == 200
            spans = sink.wait_for(lambda r: [s for s in r.spans if s["kind"] == "CLIENT"])
            assert spans, f"no client span received:\n{svc.output}"
            metrics = sink.wait_for(lambda r: [m for m in r.metrics if m["name"] in (
                "http.server.request.duration", "http.server.duration")])
            assert metrics, sorted({m["name"] for m in sink.received.metrics})
        finally:
            code, _ = svc.terminate()
        assert code == 0, svc.output

        received = sink.received
        by_id = {s["span_id"]: s for s in received.spans}
        server = [s for s in received.spans if s["kind"] == "SERVER"]
        assert len(server) == 3 and {s["name"] for s in server} == {"GET /api/example"}
        # Health checks are not traced at all.
        assert not [s for s in received.spans if "/healthz" in json.dumps(s["attributes"])]
        for client in [s for s in received.spans if s["kind"] == "CLIENT"]:
            chain = _ancestors(client, by_id)
            assert chain and chain[-1]["kind"] == "SERVER", "client span must descend from the server span"
            assert chain[-1]["trace_id"] == client["trace_id"]
            assert chain[-1]["parent_span_id"] == ""
        resource = server[0]["resource"]
        assert resource["service.name"] == "demo-service"
        assert resource["service.version"] == "0.1.0"
        assert resource["deployment.environment.name"] == "test"
        assert {"process.pid", "host.name"} <= set(resource)
        assert all(r["content_type"] == "application/x-protobuf" for r in received.requests)

        trace_ids = {s["trace_id"] for s in server}
        otlp_logs = [r for r in received.logs if r["trace_id"] in trace_ids]
        assert otlp_logs, "log records exported over OTLP must carry the trace id"
        stdout_logs = [r for r in svc.log_records() if r.get("trace_id") in trace_ids]
        assert stdout_logs and all(len(r["span_id"]) == 16 for r in stdout_logs)


def test_sigterm_drains_inflight_request_flushes_and_exits_zero(runtime, downstream):
    runtime_dir, stage = runtime
    with OtlpSink() as sink:
        svc = ServiceProcess(runtime_dir, stage, 24, env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "DOWNSTREAM_URL": downstream.url + "slow"})
        try:
            svc.wait_ready()
            downstream.hits.clear()
            result = {}
            worker = threading.Thread(target=lambda: result.update(r=svc.get("/api/example")))
            worker.start()
            assert downstream.hits.wait(10), "the request never reached the downstream"
            code, seconds = svc.terminate(timeout=5)
            worker.join(10)
        finally:
            svc.kill()
        assert code == 0, f"exit code {code} after {seconds:.2f}s:\n{svc.output}"
        assert seconds < 5
        assert result["r"][0] == 200, result
        # The in-flight request's spans were flushed before exit.
        assert [s for s in sink.received.spans if s["kind"] == "SERVER" and s["name"] == "GET /api/example"]
        assert "shutting down" in svc.output


def test_exec_form_health_check_reports_service_state(runtime):
    """The ECS container health check runs `node src/healthcheck.js` (no shell needed)."""
    runtime_dir, stage = runtime
    svc = ServiceProcess(runtime_dir, stage, 24, env={"OTEL_SDK_DISABLED": "true"})
    env = runtime_env(runtime_dir, stage, 24)
    env["PORT"] = str(svc.port)
    try:
        svc.wait_ready()
        up = subprocess.run(["node", "src/healthcheck.js"], cwd=runtime_dir, env=env, timeout=20)
    finally:
        svc.terminate()
    down = subprocess.run(["node", "src/healthcheck.js"], cwd=runtime_dir, env=env, timeout=20)
    assert (up.returncode, down.returncode) == (0, 1)
