"""What `copier copy` renders, with defaults and with a variant."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

EXPECTED_FILES = [
    ".copier-answers.yml", ".dockerignore", ".editorconfig", ".gitignore", ".nvmrc",
    "Dockerfile", "README.md", "catalog-info.yaml", "docker-compose.yml", "eslint.config.js",
    "otel/collector.local.yaml", "package-lock.json", "package.json", "src/app.js", "src/config.js",
    "src/healthcheck.js", "src/routes/example.js", "src/routes/health.js", "src/server.js",
    "src/telemetry.js", "test/app.test.js", "test/config.test.js",
]


@pytest.fixture(scope="module")
def default_service(copie_session):
    result = copie_session.copy()
    assert result.exit_code == 0, result.exception
    return result.project_dir


@pytest.fixture(scope="module")
def variant_service(copie_session):
    result = copie_session.copy(extra_answers={
        "service_name": "orders-api", "architectures": ["arm64"], "node_major": 22,
        "http_port": 8081, "trace_sample_ratio": 0.25, "system": "checkout"})
    assert result.exit_code == 0, result.exception
    return result.project_dir


def test_defaults_render_every_file(default_service):
    for rel in EXPECTED_FILES:
        assert (default_service / rel).is_file(), rel
    leftovers = [p for p in default_service.rglob("*") if p.suffix == ".jinja"]
    assert leftovers == []


def test_defaults_package_and_runtime(default_service):
    pkg = json.loads((default_service / "package.json").read_text())
    assert pkg["name"] == "demo-service"
    assert pkg["engines"]["node"] == ">=24.0.0 <25.0.0"
    assert set(pkg["scripts"]) >= {"start", "dev", "test", "lint"}
    lock = json.loads((default_service / "package-lock.json").read_text())
    assert lock["name"] == "demo-service" and lock["packages"][""]["engines"] == pkg["engines"]
    assert lock["packages"][""]["dependencies"] == pkg["dependencies"]
    # Only the instrumentations the service uses, never the all-in-one package.
    assert "@opentelemetry/auto-instrumentations-node" not in json.dumps(lock)
    dockerfile = (default_service / "Dockerfile").read_text()
    # Literal base images (no build arg), so Renovate's dockerfile manager can bump them.
    assert [l for l in dockerfile.splitlines() if l.startswith("FROM node")] == [
        "FROM node:24.21.0-bookworm-slim AS deps", "FROM node:24.21.0-bookworm-slim AS runtime"]
    assert "ARG NODE_VERSION" not in dockerfile
    assert (default_service / ".nvmrc").read_text().strip() == "24.21.0"
    assert "const DEFAULT_SAMPLE_RATIO = 1.0" in (default_service / "src/telemetry.js").read_text()


def test_variant_renders_its_answers(variant_service):
    pkg = json.loads((variant_service / "package.json").read_text())
    assert pkg["name"] == "orders-api"
    assert pkg["engines"]["node"] == ">=22.0.0 <23.0.0"
    assert "FROM node:22.23.3-bookworm-slim AS runtime" in (variant_service / "Dockerfile").read_text()
    assert "EXPOSE 8081" in (variant_service / "Dockerfile").read_text()
    assert "'PORT', 8081" in (variant_service / "src/config.js").read_text()
    assert "const DEFAULT_SAMPLE_RATIO = 0.25" in (variant_service / "src/telemetry.js").read_text()
    answers = yaml.safe_load((variant_service / ".copier-answers.yml").read_text())
    assert answers["architectures"] == ["arm64"] and answers["node_major"] == 22
    entity = yaml.safe_load((variant_service / "catalog-info.yaml").read_text())
    assert entity["spec"]["system"] == "checkout"
    assert entity["metadata"]["annotations"]["paved-road.dev/architectures"] == "arm64"


def test_catalog_info_is_a_backstage_component(default_service):
    entity = yaml.safe_load((default_service / "catalog-info.yaml").read_text())
    assert entity["apiVersion"] == "backstage.io/v1alpha1" and entity["kind"] == "Component"
    assert entity["spec"]["owner"] == "platform-team"
    assert entity["spec"]["lifecycle"] == "production"
    assert "system" not in entity["spec"]  # empty answer: no system key at all
    assert entity["metadata"]["annotations"]["paved-road.dev/template-version"]


def test_dockerfile_is_multistage_non_root_and_exec_form(default_service):
    text = (default_service / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)", text, re.M)
    assert [s for _, s in stages] == ["deps", "test", "prod-deps", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "USER 1000:1000" in runtime  # the base image's node user, numeric
    assert 'NODE_ENV=production' in runtime
    assert 'NODE_OPTIONS="--require /app/src/telemetry.js"' in runtime
    assert re.search(r'^CMD \["node", "src/server.js"\]$', runtime, re.M)
    assert "npm ci --omit=dev" not in runtime and "test" not in runtime.split("COPY src ./src")[1]


def test_hadolint_reports_nothing(default_service, variant_service):
    for svc in (default_service, variant_service):
        proc = subprocess.run(["hadolint", "--no-color", str(svc / "Dockerfile")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == ""


def test_compose_uses_the_sidecar_collector_image(default_service):
    compose = yaml.safe_load((default_service / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["otel-collector"]["image"].startswith("public.ecr.aws/aws-observability/aws-otel-collector:v")
    assert services["app"]["read_only"] is True and services["app"]["user"] == "node"
    assert "jaeger" in services
