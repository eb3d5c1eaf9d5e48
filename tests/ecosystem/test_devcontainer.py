"""Dev environment parity: the generated .devcontainer/ read by the real Dev
Containers CLI (@devcontainers/cli), its compose files checked against the
compose spec (check-jsonschema's vendored `compose-spec`) and resolved the way
Compose resolves several `-f` files: every relative path against the first
file's directory, services merged by name.
"""

from __future__ import annotations

import json
import re
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml

import npm_tools

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
VARIANTS = {"node24": {}, "node22": {"service_name": "orders-api", "node_major": 22, "http_port": 8081}}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def service(request, tmp_path_factory) -> Path:
    import copier

    dst = tmp_path_factory.mktemp("devcontainer") / request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checkout may hold uncommitted template work
        copier.run_copy(str(REPO_ROOT), dst, vcs_ref="HEAD", defaults=True, unsafe=True, quiet=True,
                        data=VARIANTS[request.param])
    return dst


@pytest.fixture(scope="module")
def devcontainer_cli(node24_env) -> Path:
    return npm_tools.install("devcontainers", node24_env) / "@devcontainers" / "cli" / "devcontainer.js"


@pytest.fixture(scope="module")
def read_configuration(devcontainer_cli, node24_env):
    seen: dict[Path, dict] = {}

    def run(service: Path) -> dict:
        if service in seen:
            return seen[service]
        # The CLI calls `docker ps` first; /bin/true stands in for an engine it does not need to parse.
        proc = subprocess.run(
            ["node", str(devcontainer_cli), "read-configuration", "--workspace-folder", str(service),
             "--docker-path", "/bin/true", "--log-format", "json"],
            env=node24_env, capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        seen[service] = json.loads(proc.stdout)["configuration"]
        return seen[service]

    return run


def _stages(dockerfile: str) -> dict[str, str]:
    """{stage name: FROM image} of a Dockerfile."""
    return {m[2]: m[1] for m in re.finditer(r"^FROM\s+(\S+)\s+AS\s+(\S+)\s*$", dockerfile, re.M | re.I)}


def _compose_project(service: Path, config: dict) -> tuple[Path, dict]:
    """The compose files devcontainer.json names, merged as `docker compose -f A -f B` merges them."""
    config_dir = service / ".devcontainer"
    files = [(config_dir / f).resolve() for f in config["dockerComposeFile"]]
    for f in files:
        assert f.is_file(), f"devcontainer.json names {f}, which does not exist"
    services: dict[str, dict] = {}
    for f in files:
        for name, body in (yaml.safe_load(f.read_text()).get("services") or {}).items():
            services[name] = {**services.get(name, {}), **body}
    return files[0].parent, services


def test_the_dev_containers_cli_reads_it(service, read_configuration):
    config = read_configuration(service)
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert config["name"] == answers["service_name"]
    assert config["service"] == "dev" and "dev" in config["runServices"]
    assert config["workspaceFolder"] == f"/workspaces/{answers['service_name']}"
    assert answers["http_port"] in config["forwardPorts"]


def test_it_builds_the_dockerfiles_dependency_stage_on_cis_node(service, read_configuration):
    """Same Debian and the same pinned Node as CI's image: the Dockerfile's own `deps` stage."""
    config = read_configuration(service)
    project_dir, services = _compose_project(service, config)
    assert project_dir == service.resolve()
    build = services[config["service"]]["build"]
    dockerfile = (project_dir / build["context"] / build["dockerfile"]).resolve()
    assert dockerfile == (service / "Dockerfile").resolve(), "the dev container must build the service's Dockerfile"
    stages = _stages(dockerfile.read_text())
    assert build["target"] in stages, f"no stage {build['target']!r} in {sorted(stages)}"
    node = (service / ".nvmrc").read_text().strip()
    assert stages[build["target"]] == stages["runtime"] == f"node:{node}-bookworm-slim"
    # The workspace mounted is the service itself, where the dev container expects it.
    [mount] = services["dev"]["volumes"]
    source, target = mount.split(":")[:2]
    assert (project_dir / source).resolve() == service.resolve() and target == config["workspaceFolder"]


def test_it_runs_next_to_the_local_collector(service, read_configuration):
    config = read_configuration(service)
    _, services = _compose_project(service, config)
    assert set(config["runServices"]) <= set(services)
    assert {"otel-collector", "jaeger"} <= set(config["runServices"]) and "app" not in config["runServices"]
    dev, app = services["dev"], services["app"]
    # The dev server reports exactly where the containerised service does.
    assert dev["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == app["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert set(dev["depends_on"]) == set(app["depends_on"])


def test_forwarded_ports_reach_what_listens_on_them(service, read_configuration):
    """devcontainer.json reference, forwardPorts: a bare port is forwarded from inside the primary
    container; a port of another compose service is written "host:port" (e.g. "db:5432")."""
    config = read_configuration(service)
    _, services = _compose_project(service, config)
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    bare = {p for p in config["forwardPorts"] if isinstance(p, int)}
    assert bare == {answers["http_port"]}, "only the dev server listens inside the dev container"
    named = {tuple(p.split(":")) for p in config["forwardPorts"] if isinstance(p, str)}
    assert ("jaeger", "16686") in named
    for host, port in named:
        assert host in config["runServices"], f"{host}:{port} names a service the dev container does not start"
        published = {str(p).split(":")[-1] for p in services[host].get("ports", [])}
        assert port in published or port in {str(p) for p in services[host].get("expose", [])}, (host, port)
    assert set(config["portsAttributes"]) == {str(p) for p in config["forwardPorts"]}


def test_compose_files_follow_the_compose_spec(service, read_configuration):
    config = read_configuration(service)
    files = [str((service / ".devcontainer" / f).resolve()) for f in config["dockerComposeFile"]]
    proc = subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
