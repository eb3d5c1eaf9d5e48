"""The real Renovate CLI on a generated service whose template is served over
HTTP on 127.0.0.1, and the real Dev Containers CLI.

Expensive work runs once per session: the template's release history
(v1.0.0, v1.1.0, v2.0.0 from tests/upgrade/template_releases.py) served as a
git dumb-HTTP repository, one service generated from its URL at v1.0.0, one
Renovate lookup run and one Renovate branch update on it.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "upgrade"))
from template_releases import SERVICE_ANSWERS, build_release_history, generate, git  # noqa: E402

import npm_tools  # noqa: E402

HERE = Path(__file__).resolve().parent

# The admin side of a self-hosted Renovate, as docs/upgrades.md tells it: the one
# setting template updates need. The host rules only keep this test offline:
# every lookup but the template's (git on 127.0.0.1) fails fast instead of
# reaching a registry; HTTP(S)_PROXY to a closed loopback port is the backstop.
GLOBAL_CONFIG = {"allowScripts": True}
OFFLINE_HOSTS = ["registry.npmjs.org", "github.com", "api.github.com", "index.docker.io", "docker.io",
                 "hub.docker.com", "public.ecr.aws", "nodejs.org", "registry.terraform.io",
                 "releases.hashicorp.com"]
OFFLINE_ENV = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "NO_PROXY": "127.0.0.1,localhost", "LOG_LEVEL": "debug", "LOG_FORMAT": "json"}


def log_records(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return records


@pytest.fixture(scope="session")
def template_url(tmp_path_factory):
    """The template's git repository with three release tags, over dumb HTTP on 127.0.0.1."""
    root = tmp_path_factory.mktemp("template-http")
    work = build_release_history(root / "work")
    served = root / "srv" / "paved-road.git"
    git(root, "clone", "-q", "--bare", str(work), str(served))
    git(served, "update-server-info")
    # Like GitHub and GitLab, answer with and without ".git" (Renovate's terraform
    # manager looks module sources up without it).
    (served.parent / "paved-road").symlink_to(served.name)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/paved-road.git"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def url_service(template_url, tmp_path_factory):
    """A service generated from the template's URL at v1.0.0, committed."""
    dst = tmp_path_factory.mktemp("renovate-service") / "orders"
    return generate(template_url, dst, "v1.0.0", {**SERVICE_ANSWERS, "paved_road_git_url": template_url})


@pytest.fixture(scope="session")
def renovate_root(node24_env) -> Path:
    return npm_tools.install("renovate", node24_env) / "renovate"


@pytest.fixture(scope="session")
def renovate_env(node24_env, tmp_path_factory) -> dict[str, str]:
    return {**node24_env, **OFFLINE_ENV, "RENOVATE_BASE_DIR": str(tmp_path_factory.mktemp("renovate-base"))}


@pytest.fixture(scope="session")
def renovate_lookup(url_service, renovate_root, renovate_env, tmp_path_factory):
    """`renovate --platform=local` in the service: its report (extraction and lookups) and log."""
    tmp = tmp_path_factory.mktemp("renovate-lookup")
    config = tmp / "global.json"
    config.write_text(json.dumps({**GLOBAL_CONFIG,
                                  "hostRules": [{"matchHost": h, "enabled": False} for h in OFFLINE_HOSTS]}))
    report = tmp / "report.json"
    proc = subprocess.run(
        ["node", str(renovate_root / "dist" / "renovate.js"), "--platform=local",
         "--report-type=file", f"--report-path={report}"],
        cwd=url_service, env={**renovate_env, "RENOVATE_CONFIG_FILE": str(config)},
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(report.read_text())["repositories"]["local"], log_records(proc.stdout)


def package_files(report: dict, manager: str) -> dict[str, list[dict]]:
    """{package file: deps} the given Renovate manager extracted."""
    return {pf["packageFile"]: pf["deps"] for pf in report["packageFiles"].get(manager, [])}


def lookup_fields(dep: dict, package_file: str, manager: str) -> dict:
    keep = {k: v for k, v in dep.items() if k not in ("updates", "warnings")}
    return {**keep, "packageFile": package_file, "manager": manager}


@pytest.fixture(scope="session")
def renovate_branch(renovate_lookup, url_service, renovate_root, renovate_env, tmp_path_factory):
    """Renovate's own branch update for the proposed template release and a base-image bump.

    Returns (result, log records, the clone Renovate updated).
    """
    report, _ = renovate_lookup
    tmp = tmp_path_factory.mktemp("renovate-branch")
    [(answers_file, [template])] = package_files(report, "copier").items()
    update = template["updates"][-1]  # the newest release (the only one Renovate should propose)
    request = {
        "renovateRoot": str(renovate_root), "localDir": str(tmp / "clone"), "cacheDir": str(tmp / "cache"),
        "globalConfig": GLOBAL_CONFIG, "repoUrl": str(url_service),
        "repoConfig": json.loads((url_service / ".github" / "renovate.json").read_text()),
        "copierDep": {**lookup_fields(template, answers_file, "copier"), **update},
        "resolve": [lookup_fields(dep, pf, manager)
                    for manager in ("copier", "terraform", "dockerfile", "nvm", "npm", "docker-compose")
                    for pf, deps in package_files(report, manager).items() for dep in deps],
    }
    dockerfile_deps = package_files(report, "dockerfile").get("Dockerfile", [])
    node = [i for i, d in enumerate(dockerfile_deps) if d["depName"] == "node"]
    if node:
        # A patch release of the same Node line, with the digest Renovate pins.
        dep = dockerfile_deps[node[0]]
        request["dockerDep"] = {
            **lookup_fields(dep, "Dockerfile", "dockerfile"), "depIndex": node[0], "localFile": str(url_service / "Dockerfile"),
            "newValue": NEWER_NODE_TAG, "newDigest": NEWER_NODE_DIGEST, "updateType": "patch",
        }
    path = tmp / "request.json"
    path.write_text(json.dumps(request))
    proc = subprocess.run(["node", str(HERE / "renovate_branch.mjs"), str(path)], env=renovate_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), log_records(proc.stdout), tmp / "clone"


NEWER_NODE_TAG = "24.21.1-bookworm-slim"
NEWER_NODE_DIGEST = "sha256:" + "5e" * 32
