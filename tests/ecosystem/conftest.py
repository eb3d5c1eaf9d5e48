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
import re
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
_DEAD_PROXY = "http://127.0.0.1:9"
OFFLINE_ENV = {**{k: _DEAD_PROXY for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
               "LOG_LEVEL": "debug", "LOG_FORMAT": "json"}


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

    server = _serve(functools.partial(Quiet, directory=str(served.parent)))
    yield f"http://127.0.0.1:{server.server_address[1]}/paved-road.git"
    server.shutdown()
    server.server_close()


# A newer patch of the Node line the template pins, as the registries announce it.
NEWER_NODE = "24.21.1"
NEWER_NODE_TAG = f"{NEWER_NODE}-bookworm-slim"
NEWER_NODE_DIGEST = "sha256:" + "5e" * 32
# ... and a new LTS major, which must come through the template instead.
NEXT_MAJOR = "26.1.0"
NEXT_MAJOR_TAG = f"{NEXT_MAJOR}-bookworm-slim"


def _digest(tag: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


class NodeReleases(SimpleHTTPRequestHandler):
    """The two registries Renovate asks about Node, on 127.0.0.1, modelled on their documented APIs:

    - nodejs.org/dist/index.json (Renovate's node-version datasource, used for .nvmrc): a list of
      {version, date, lts} (https://nodejs.org/dist/index.json);
    - an OCI distribution registry for the `node` image (docker datasource, used for FROM lines):
      GET /v2/, GET /v2/<name>/tags/list, HEAD|GET /v2/<name>/manifests/<tag> answering
      Docker-Content-Digest (https://github.com/opencontainers/distribution-spec/blob/main/spec.md).
    """

    TAGS = ["22.23.3-bookworm-slim", "24.21.0-bookworm-slim", NEWER_NODE_TAG, "24.21.1-alpine", "24",
            NEXT_MAJOR_TAG]
    INDEX_TYPE = "application/vnd.oci.image.index.v1+json"

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
        self.send_response(code)
        for k, v in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, head: bool):
        path = self.path.split("?")[0]
        if path == "/node/dist/index.json":
            releases = [{"version": f"v{NEXT_MAJOR}", "date": "2026-11-24", "lts": "Lambda"},
                        {"version": f"v{NEWER_NODE}", "date": "2026-11-20", "lts": "Krypton"},
                        {"version": "v24.21.0", "date": "2026-10-28", "lts": "Krypton"},
                        {"version": "v22.23.3", "date": "2026-10-28", "lts": "Jod"}]
            return self._send(200, json.dumps(releases).encode(), {"Content-Type": "application/json"}, head)
        if path == "/v2/" or path == "/v2":
            return self._send(200, b"{}", {"Content-Type": "application/json"}, head)
        m = re.fullmatch(r"/v2/(?:library/)?node/(tags/list|manifests/(.+))", path)
        if not m:
            return self._send(404, b"{}", head=head)
        if m[1] == "tags/list":
            return self._send(200, json.dumps({"name": "library/node", "tags": self.TAGS}).encode(),
                              {"Content-Type": "application/json"}, head)
        ref = m[2]
        if ref not in self.TAGS and not ref.startswith("sha256:"):
            return self._send(404, b"{}", head=head)
        digest = NEWER_NODE_DIGEST if ref == NEWER_NODE_TAG else (ref if ref.startswith("sha256:") else _digest(ref))
        body = json.dumps({"schemaVersion": 2, "mediaType": self.INDEX_TYPE, "manifests": []}).encode()
        return self._send(200, body, {"Content-Type": self.INDEX_TYPE, "Docker-Content-Digest": digest}, head)

    def do_GET(self):
        self._route(head=False)

    def do_HEAD(self):
        self._route(head=True)


def _serve(handler) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def node_registries():
    """Base URL of the stand-in Node release index and image registry."""
    server = _serve(NodeReleases)
    yield f"http://127.0.0.1:{server.server_address[1]}"
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
def renovate_lookup(url_service, renovate_root, renovate_env, node_registries, tmp_path_factory):
    """`renovate --platform=local` in the service: its report (extraction and lookups) and log.

    Node's release index and the `node` image come from the stand-ins on 127.0.0.1 (an admin's
    registry mirror, in Renovate's terms); every other registry is unreachable.
    """
    tmp = tmp_path_factory.mktemp("renovate-lookup")
    config = tmp / "global.json"
    mirrors = [
        {"matchDatasources": ["docker"], "matchPackageNames": ["node"], "registryUrls": [node_registries]},
        {"matchDatasources": ["node-version"], "registryUrls": [f"{node_registries}/node/dist"]},
    ]
    config.write_text(json.dumps({**GLOBAL_CONFIG, "packageRules": mirrors,
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
        "packageFiles": report["packageFiles"],
        "resolve": [lookup_fields(dep, pf, manager)
                    for manager in ("copier", "terraform", "dockerfile", "nvm", "npm", "docker-compose")
                    for pf, deps in package_files(report, manager).items() for dep in deps],
    }
    dockerfile_deps = package_files(report, "dockerfile").get("Dockerfile", [])
    node = [i for i, d in enumerate(dockerfile_deps) if d["depName"] == "node"]
    found = [(i, u) for i in node for u in dockerfile_deps[i].get("updates", []) if u.get("newValue") == NEWER_NODE_TAG]
    if found:
        # The newer Node patch the lookup found, with the digest Renovate pins (only what the lookup
        # proposed: without it there is nothing to apply, and the Dockerfile test fails).
        i, update = found[0]
        request["dockerDep"] = {**lookup_fields(dockerfile_deps[i], "Dockerfile", "dockerfile"), **update,
                                "depIndex": i, "localFile": str(url_service / "Dockerfile")}
    path = tmp / "request.json"
    path.write_text(json.dumps(request))
    proc = subprocess.run(["node", str(HERE / "renovate_branch.mjs"), str(path)], env=renovate_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), log_records(proc.stdout), tmp / "clone"

