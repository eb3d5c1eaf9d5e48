"""The generated Dockerfile, built for real (amd64) and run: spans, hardening, size.

One session-scoped run (tests/image/image_check.py) renders a service, builds
its Dockerfile and the case study's side by side with buildah, runs the image
read-only as its own USER and looks inside it; the tests below each check one
thing a user of the image would notice. `make image-check` runs this module and
prints the measured figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import image_base  # noqa: E402
import image_check  # noqa: E402
import image_run  # noqa: E402
from image_buildah import available  # noqa: E402

MB = 1_000_000
# Layers the service's Dockerfile adds above node:<version>-bookworm-slim.
# Measured 45.5 MB on 2026-11-27 (node_modules of fastify + the OTel SDK parts
# the service loads, ~37 MB of files; src and package.json ~20 kB). The budget
# leaves ~20% for dependency updates; a new dependency that needs more should
# be a decision, not an accident.
ADDED_LAYERS_BUDGET = 55 * MB
# The case study's approach must weigh at least this many times as much.
MIN_CASE_STUDY_RATIO = 3.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(available() is not None, reason=f"image build unavailable: {available()}"),
]


@pytest.fixture(scope="session")
def report(tmp_path_factory):
    result = image_check.run_all(tmp_path_factory.mktemp("image-check"))
    image_check.LAST_REPORT = result  # printed in the terminal summary (conftest.py)
    return result


def test_built_on_the_stand_in_for_the_base_the_dockerfile_names(report):
    # buildah ran with --pull=never: the build only succeeded because the FROM
    # lines name exactly the stand-in's tag, and the image starts with its layers.
    version = image_base.NODE_VERSIONS[24]
    base = report.service.base
    assert base.name == f"docker.io/library/node:{version}-bookworm-slim"
    assert (base.arch, base.entrypoint, base.cmd) == ("amd64", ["docker-entrypoint.sh"], ["node"])
    assert report.service.added_layers  # raises unless the image starts with the base's layers
    assert report.service.info.arch == "amd64"


def test_base_entrypoint_runs_node_for_options(report, tmp_path):
    # docker-entrypoint.sh semantics: `docker run node:X --version` runs `node --version`.
    running = image_run.start(report.service.base.name, cmd=["--version"], log_dir=tmp_path)
    try:
        assert running.proc.wait(timeout=30) == 0
        assert running.output().strip() == f"v{image_base.NODE_VERSIONS[24]}"
    finally:
        running.close()


def test_image_answers_and_its_spans_reach_the_collector(report):
    run = report.run
    assert run.responses["/healthz"][0] == 200
    assert run.responses["/readyz"][0] == 200
    assert run.responses["/api/example"][0] == 200, run.output[-2000:]
    servers = [s for s in run.spans if s["kind"] == "SERVER" and "/api/example" in s["name"]]
    assert servers, f"no server span for /api/example among {[s['name'] for s in run.spans]}"
    trace = servers[0]["trace_id"]
    clients = [s for s in run.spans if s["kind"] == "CLIENT" and s["trace_id"] == trace]
    assert clients, "the downstream fetch has no client span in the request's trace"
    assert any(trace in tp for tp in run.downstream_traceparents), \
        "the downstream call did not carry the trace context"
    assert servers[0]["resource"]["service.name"] == image_check.SERVICE_NAME
    # Probes are not traced.
    assert not [s for s in run.spans if "/healthz" in s["name"] or "/readyz" in s["name"]]


def test_image_reports_the_release_it_was_built_for(report):
    """Built with --build-arg SERVICE_VERSION=3.4.5 (as CI does for tag v3.4.5):
    spans, metrics and log lines carry 3.4.5, not package.json's 0.1.0."""
    assert report.service.info.env["SERVICE_VERSION"] == image_check.RELEASE
    run = report.run
    assert {s["resource"]["service.version"] for s in run.spans} == {image_check.RELEASE}
    assert run.metrics and {m["resource"]["service.version"] for m in run.metrics} == {image_check.RELEASE}
    logged = []
    for line in run.output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "msg" in record:
            logged.append(record)
    assert logged and {line.get("service.version") for line in logged} == {image_check.RELEASE}


def test_process_runs_as_non_root(report):
    uids = [int(x) for x in report.run.status["Uid"].split()]
    gids = [int(x) for x in report.run.status["Gid"].split()]
    assert all(u != 0 for u in uids), uids
    assert all(g != 0 for g in gids), gids
    assert report.service.info.user not in ("", "root", "0", "0:0")


def test_works_with_a_read_only_root_filesystem_and_a_tmpfs_tmp(report):
    mounts = report.run.mounts
    assert "ro" in mounts["/"][1].split(","), mounts["/"]
    assert mounts["/tmp"][0] == "tmpfs" and "rw" in mounts["/tmp"][1].split(",")
    # It served the requests above that way; and it cannot write its own code.
    assert report.contents.app_writable_by_user == []


def test_runtime_image_holds_only_what_runs(report):
    contents = report.contents
    assert contents.dev_packages_checked > 0  # eslint and what it pulls in
    assert contents.dev_packages_present == [], "dev dependencies in the runtime image"
    assert contents.prod_packages_missing == [], "production dependencies missing"
    assert contents.npm_caches == [], "npm cache in the runtime image"
    assert contents.test_files == [], "tests in the runtime image"
    assert contents.tmp_entries == [], "build leftovers in /tmp"
    assert set(contents.app_entries) <= image_check.APP_ALLOWED, contents.app_entries
    service_src = sorted(str(p.relative_to(report.service_dir)) for p in
                         (report.service_dir / "src").rglob("*") if p.is_file())
    assert set(contents.src_files) <= set(service_src), \
        f"files in /app/src that the service does not have: {set(contents.src_files) - set(service_src)}"


def test_sigterm_stops_it_cleanly(report):
    run = report.run
    assert not run.still_running_after_stop, "still running 5 s after SIGTERM"
    assert run.stop_exit_code == 0, run.output[-2000:]


def test_layers_above_the_base_stay_within_budget(report):
    assert report.service.added_bytes <= ADDED_LAYERS_BUDGET, (
        f"{report.service.added_bytes / MB:.1f} MB above the base, budget {ADDED_LAYERS_BUDGET / MB:.0f} MB")


def test_at_least_three_times_smaller_than_the_case_study_approach(report):
    ratio = report.case_study.added_bytes / report.service.added_bytes
    assert ratio >= MIN_CASE_STUDY_RATIO, (
        f"case study {report.case_study.added_bytes / MB:.1f} MB vs {report.service.added_bytes / MB:.1f} MB "
        f"= {ratio:.1f}x")
