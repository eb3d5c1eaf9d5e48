"""A generated service passes its own checks on the pinned Node, and, started
exactly as its image would start it, sends traces, metrics and logs over real
OTLP/HTTP protobuf, and shuts down cleanly on SIGTERM."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from paved_road.local_run import Downstream, ServiceProcess, install, prepare_runtime, runtime_env
from paved_road.otel_sink import OtlpSink

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "terraform"))
from hcl_eval import Module, module_call_arguments  # noqa: E402
from tfhelpers import MODULES_DIR  # noqa: E402


@pytest.fixture(scope="module")
def service(copie_session, node24_env):
    result = copie_session.copy()
    assert result.exit_code == 0, result.exception
    install(result.project_dir, production_only=False, env=node24_env)
    return result.project_dir


RELEASE = "2.5.0"  # what CI passes as the image's SERVICE_VERSION build arg


@pytest.fixture(scope="module")
def runtime(service, tmp_path_factory):
    """The image's runtime stage, built with --build-arg SERVICE_VERSION=2.5.0."""
    runtime_dir = tmp_path_factory.mktemp("runtime") / "app"
    stage = prepare_runtime(service, runtime_dir, build_args={"SERVICE_VERSION": RELEASE})
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


def test_wrong_node_fails_npm_ci_with_one_clear_error(service, tmp_path):
    """engine-strict (.npmrc): on the machine's Node 20 `npm ci` stops at the
    service's own engines range instead of warning once per package and going on."""
    system_node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    if not system_node.startswith("v20."):
        pytest.skip(f"needs a Node outside the service's engines on PATH (machine has {system_node})")
    work = tmp_path / "svc"
    work.mkdir()
    for name in ("package.json", "package-lock.json", ".npmrc"):
        (work / name).write_bytes((service / name).read_bytes())
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=work, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert not (work / "node_modules").exists(), "nothing may be installed on the wrong Node"
    assert "npm warn" not in out.lower(), out  # no per-package EBADENGINE warnings
    reasons = [line for line in out.splitlines() if "Required:" in line]
    assert len(reasons) == 1 and '"node":">=24.0.0 <25.0.0"' in reasons[0], out
    assert "EBADENGINE" in out and f"{system_node}" in out, out


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


def _points(metric):
    """Data points of a decoded metric with their attributes as a plain dict."""
    kind = next(iter(metric["data"].keys() - {"name", "unit", "description", "metadata"}))
    return [{a["key"]: next(iter(a["value"].values())) for a in p.get("attributes", [])}
            for p in metric["data"][kind].get("dataPoints", [])]


@pytest.fixture(scope="module")
def otlp_run(runtime, downstream):
    """The service as its image runs it, three /api/example and three /healthz
    requests, then SIGTERM; everything it exported over OTLP, and its stdout."""
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
            spans = sink.wait_for(lambda r: len([s for s in r.spans if s["kind"] == "CLIENT"]) >= 3)
            assert spans, f"no client span received:\n{svc.output}"
            metrics = sink.wait_for(lambda r: {m["name"] for m in r.metrics} >= {
                "http.server.request.duration", "example.downstream.calls"})
            assert metrics, sorted({m["name"] for m in sink.received.metrics})
        finally:
            code, _ = svc.terminate()
        assert code == 0, svc.output
    return sink.received, svc


def test_telemetry_reaches_an_otlp_receiver(otlp_run):
    received, svc = otlp_run
    by_id = {s["span_id"]: s for s in received.spans}
    server = [s for s in received.spans if s["kind"] == "SERVER"]
    # Named after the Fastify route, with http.route (no @fastify/otel lifecycle spans).
    assert len(server) == 3 and {s["name"] for s in server} == {"GET /api/example"}
    assert {s["attributes"].get("http.route") for s in server} == {"/api/example"}
    # Health checks are not traced at all.
    assert not [s for s in received.spans if "/healthz" in json.dumps(s["attributes"])]
    # The route's own span (tracer('example')) sits between the server and client spans.
    custom = [s for s in received.spans if s["name"] == "example.call-downstream"]
    assert len(custom) == 3 and {s["scope"] for s in custom} == {"example"}
    for client in [s for s in received.spans if s["kind"] == "CLIENT"]:
        chain = _ancestors(client, by_id)
        assert [s["name"] for s in chain] == ["example.call-downstream", "GET /api/example"], chain
        assert chain[-1]["trace_id"] == client["trace_id"]
        assert chain[-1]["parent_span_id"] == ""
    resource = server[0]["resource"]
    assert resource["service.name"] == "demo-service"
    # The image's release, not package.json's 0.1.0.
    assert resource["service.version"] == RELEASE
    assert resource["deployment.environment.name"] == "test"
    assert {"process.pid", "host.name"} <= set(resource)
    assert all(r["content_type"] == "application/x-protobuf" for r in received.requests)

    # Metrics: the route's own counter (meter('example')) and the server duration by route.
    calls = [m for m in received.metrics if m["name"] == "example.downstream.calls"]
    assert calls[-1]["resource"]["service.version"] == RELEASE and calls[-1]["scope"] == "example"
    assert {"outcome": "ok"} in _points(calls[-1])
    duration = [m for m in received.metrics if m["name"] == "http.server.request.duration"]
    assert {p.get("http.route") for p in _points(duration[-1])} == {"/api/example"}
    # Dropped by a view: client-call durations are on the client spans.
    assert "http.client.request.duration" not in {m["name"] for m in received.metrics}

    # Logs: stdout JSON with trace ids and the release; not duplicated over OTLP by default.
    trace_ids = {s["trace_id"] for s in server}
    stdout_logs = [r for r in svc.log_records() if r.get("trace_id") in trace_ids]
    assert stdout_logs and all(len(r["span_id"]) == 16 for r in stdout_logs)
    assert {r.get("service.version") for r in svc.log_records() if "msg" in r} == {RELEASE}
    assert not [r for r in received.requests if r["path"] == "/v1/logs"]


def sidecar_config(**overrides) -> dict:
    """The collector config exactly as Terraform renders it into the task
    definition (ecs-service module, `minimal` example, evaluated offline)."""
    module_dir = MODULES_DIR / "ecs-service"
    args = {**module_call_arguments(module_dir / "examples" / "minimal" / "main.tf"), **overrides}
    known = {"data.aws_region.current": {"region": "eu-west-1"},
             "data.aws_caller_identity.current": {"account_id": "123456789012"},
             "data.aws_partition.current": {"partition": "aws"}}
    return yaml.safe_load(Module(module_dir, args, known).local["collector_config"])


def cloudwatch_dimension_sets(config: dict, metric: dict, point: dict) -> list[tuple[str, ...]]:
    """The CloudWatch dimension sets awsemf gives one data point, per its README
    (open-telemetry/opentelemetry-collector-contrib exporter/awsemfexporter):
    labels are the data point's attributes (plus every resource attribute when
    resource_to_telemetry_conversion is enabled) after the metrics pipeline's
    attributes processors; a metric_declaration applies when one of its
    metric_name_selectors (regex) matches the name, and each of its dimension
    sets is kept when every label in it is present; without declarations all
    labels form one set; dimension rollup adds the zero-dimension and
    single-dimension sets unless NoDimensionRollup."""
    emf = config["exporters"]["awsemf"]
    labels = dict(point)
    if emf.get("resource_to_telemetry_conversion", {}).get("enabled"):
        labels = {**metric["resource"], **labels}
    for name in config["service"]["pipelines"]["metrics"]["processors"]:
        if name.split("/")[0] == "attributes":
            for action in config["processors"][name]["actions"]:
                if action["action"] == "upsert" or (action["action"] == "insert" and action["key"] not in labels):
                    labels[action["key"]] = action["value"]
    declarations = emf.get("metric_declarations")
    if declarations:
        sets = {tuple(sorted(dims)) for d in declarations
                if any(re.search(sel, metric["name"]) for sel in d["metric_name_selectors"])
                for dims in d["dimensions"] if all(label in labels for label in dims)}
    else:
        sets = {tuple(sorted(labels))}
    if emf.get("dimension_rollup_option", "ZeroAndSingleDimensionRollup") != "NoDimensionRollup":
        sets |= {()} | {(label,) for label in labels}
    return sorted(sets)


def test_every_metric_the_service_emits_gets_at_most_ten_bounded_dimensions(otlp_run):
    """Renders the sidecar's config and counts, for every metric the service
    really exported, the CloudWatch dimensions it would get."""
    received, _ = otlp_run
    config = sidecar_config()
    emitted = {m["name"]: m for m in received.metrics}
    assert {"http.server.request.duration", "example.downstream.calls"} <= set(emitted)
    resource_only = set(received.metrics[0]["resource"]) - {"service.name", "deployment.environment.name"}
    report = {}
    for name, metric in emitted.items():
        dims = set()
        for point in _points(metric):
            sets = cloudwatch_dimension_sets(config, metric, point)
            assert all(len(s) <= 30 for s in sets), (name, sets)  # CloudWatch's hard limit
            dims |= {label for s in sets for label in s}
        report[name] = sorted(dims)
        assert len(dims) <= 10, (name, sorted(dims))
        assert not dims & resource_only, f"{name}: resource attributes as dimensions {dims & resource_only}"
    assert report["http.server.request.duration"] == sorted([
        "deployment.environment.name", "http.request.method", "http.response.status_code", "http.route",
        "service.name"])
    assert report["example.downstream.calls"] == ["deployment.environment.name", "outcome", "service.name"]
    # The same count on the old config (every resource attribute a dimension, no
    # declarations) is what made the bill unbounded: the model sees it.
    old = sidecar_config()
    old["exporters"]["awsemf"].update(resource_to_telemetry_conversion={"enabled": True})
    del old["exporters"]["awsemf"]["metric_declarations"], old["exporters"]["awsemf"]["dimension_rollup_option"]
    metric = emitted["http.server.request.duration"]
    old_dims = {label for s in cloudwatch_dimension_sets(old, metric, _points(metric)[0]) for label in s}
    assert len(old_dims) > 10 and "process.pid" in old_dims


def test_otlp_log_export_is_one_variable_away(runtime, downstream):
    runtime_dir, stage = runtime
    with OtlpSink() as sink:
        svc = ServiceProcess(runtime_dir, stage, 24, env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_LOGS_EXPORTER": "otlp",
            "OTEL_BLRP_SCHEDULE_DELAY": "200", "DOWNSTREAM_URL": downstream.url})
        try:
            svc.wait_ready()
            assert svc.get("/api/example")[0] == 200
            logs = sink.wait_for(lambda r: [x for x in r.logs if x["trace_id"]])
        finally:
            svc.terminate()
        assert logs, svc.output
        assert logs[0]["resource"]["service.version"] == RELEASE


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
