"""`paved catalog` remote mode: a fleet read from a GitHub organisation vs from git remotes.

    .venv/bin/python bench/catalog_scale.py --remote [--repos 5000] [--latency 0.1] [--git-sample 200] [--clone-sample 50]

Three ways to read N service repositories' answers files, in one run:
* GraphQL: `paved catalog --github-org` against the local fixture server of the tests
  (tests/catalog/github_fixture.py: queries executed by graphql-core against GitHub's published
  schema), each request delayed by --latency seconds (stated in the output);
* concurrent git: `paved catalog --repos-file` of smart-HTTP URLs (`git http-backend` on
  127.0.0.1), 8 at a time (--jobs default), on --git-sample repositories, scaled to N;
* sequential clone: one blob-less `git clone` after the other, on --clone-sample, scaled to N.
Samples are scaled linearly and the output says so.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "catalog"))
sys.path.insert(0, str(ROOT / "tests" / "ecosystem"))
from catalog_scale_setup import git  # noqa: E402

BIN = Path(sys.executable).parent
TAGS = ["v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0", "v2.1.1"]
TOKEN = "ghp_benchTOKEN"


def tiny_template(dst: Path) -> Path:
    dst.mkdir(parents=True)
    git(dst, "init", "-q", "-b", "main")
    for tag in TAGS:
        git(dst, "commit", "-q", "--allow-empty", "-m", tag)
        git(dst, "tag", tag)
    return dst


def answers(template: Path, i: int) -> bytes:
    return (f"_commit: {TAGS[i % len(TAGS)]}\n_src_path: {template}\nservice_name: svc-{i:04d}\n"
            f"owner: team-{i % 17}\narchitectures:\n- amd64\n- arm64\nnode_major: 24\n").encode()


class SmartHttp:
    """`git http-backend` on 127.0.0.1 serving every bare repository under `root`."""

    def __init__(self, root: Path):
        backend = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
        pattern = re.compile(r"^(/[^?]*)(?:\?(.*))?$")

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _cgi(self, body: bytes = b""):
                m = pattern.match(self.path)
                env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
                       "PATH_INFO": m[1], "QUERY_STRING": m[2] or "", "REQUEST_METHOD": self.command,
                       "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                       "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                       "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", "")}
                out = subprocess.run([f"{backend}/git-http-backend"], input=body, env=env, capture_output=True).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
                self.send_response(int(headers.pop("Status", "200").split()[0]))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                self._cgi()

            def do_POST(self):
                self._cgi(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def bare_repos(tmp: Path, template: Path, count: int) -> Path:
    root = tmp / "git"
    root.mkdir()
    for i in range(count):
        work = tmp / "work"
        work.mkdir()
        (work / ".copier-answers.yml").write_bytes(answers(template, i))
        (work / "README.md").write_text(f"# svc-{i:04d}\n")
        git(work, "init", "-q", "-b", "main")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "generated")
        git(tmp, "clone", "-q", "--bare", str(work), str(root / f"svc-{i:04d}.git"))
        shutil.rmtree(work)
    return root


def run(repos: int, latency: float, git_sample: int, clone_sample: int) -> int:
    import npm_tools
    from github_fixture import FixtureOrg, FixtureRepo, load_schema, serve

    from paved_road.local.node_toolchain import node_env

    schema = load_schema(npm_tools.install("graphql-schema", node_env(24)))
    with tempfile.TemporaryDirectory(prefix="bench-remote.") as tmp:
        tmp = Path(tmp)
        template = tiny_template(tmp / "template")
        env = {**os.environ, "GH_ENTERPRISE_TOKEN": TOKEN}

        org = FixtureOrg(schema, "bench", [FixtureRepo(f"svc-{i:04d}", {".copier-answers.yml": answers(template, i)})
                                           for i in range(repos)], TOKEN, latency=latency)
        server, url = serve(org)
        try:
            t0 = time.perf_counter()
            out = subprocess.run([BIN / "paved", "catalog", "--github-org", "bench", "--github-api", url,
                                  "--template", str(template), "--json"], capture_output=True, text=True, env=env)
            graphql_s = time.perf_counter() - t0
        finally:
            server.shutdown()
            server.server_close()
        total = json.loads(out.stdout)["summary"]["total"]
        assert total == repos, (total, out.stderr[-500:])
        bad = [e for _, e in org.queries if e]
        assert not bad, bad[:1]
        print(f"GraphQL: {repos} repositories in {graphql_s:.1f} s = {repos / graphql_s:.0f} repos/s "
              f"({org.requests} requests, {latency * 1000:.0f} ms added to each; every query schema-valid)")

        t0 = time.perf_counter()
        root = bare_repos(tmp, template, max(git_sample, clone_sample))
        print(f"  (set-up: {max(git_sample, clone_sample)} bare repositories in {time.perf_counter() - t0:.1f} s)")
        http = SmartHttp(root)
        try:
            listing = tmp / "fleet.yml"
            listing.write_text("repos:\n" + "".join(f"  - {http.url}/svc-{i:04d}.git\n" for i in range(git_sample)))
            t0 = time.perf_counter()
            out = subprocess.run([BIN / "paved", "catalog", "--repos-file", str(listing), "--template", str(template),
                                  "--json"], capture_output=True, text=True)
            git_s = (time.perf_counter() - t0) * repos / git_sample
            assert json.loads(out.stdout)["summary"]["errors"] == 0, out.stderr[-500:]
            print(f"concurrent git (smart HTTP, --jobs 8): {git_sample} measured, {git_s:.1f} s scaled to {repos} "
                  f"= {repos / git_s:.0f} repos/s")
            t0 = time.perf_counter()
            for i in range(clone_sample):
                dst = tmp / "clone"
                subprocess.run(["git", "clone", "-q", "--depth", "1", "--filter=blob:none", "--no-checkout",
                                f"{http.url}/svc-{i:04d}.git", str(dst)], check=True, capture_output=True)
                subprocess.run(["git", "-C", str(dst), "show", "HEAD:.copier-answers.yml"], check=True,
                               capture_output=True)
                shutil.rmtree(dst)
            seq_s = (time.perf_counter() - t0) * repos / clone_sample
            print(f"sequential clone: {clone_sample} measured, {seq_s:.1f} s scaled to {repos} = {repos / seq_s:.0f} repos/s")
        finally:
            http.close()
        print(f"ratios: GraphQL {seq_s / graphql_s:.1f}x and concurrent git {seq_s / git_s:.1f}x the sequential clone; "
              f"targets: {repos} by GraphQL <= 30 s ({graphql_s:.1f}), by git <= 60 s ({git_s:.1f}), >= 8x")
    return 0
