"""`paved catalog` remote mode: a fleet read from a GitHub organisation vs from git remotes.

    .venv/bin/python bench/catalog_scale.py --remote [--repos 5000] [--latency 0.1] [--git-sample 200] [--clone-sample 50]
                                                 [--git-latency 0.02]

Three ways to read N service repositories' answers files, in one run:
* GraphQL: `paved catalog --github-org` against the local fixture server of the tests
  (tests/catalog/github_fixture.py: queries executed by graphql-core against GitHub's published
  schema), each request delayed by --latency seconds (stated in the output);
* direct protocol v2: `paved catalog --repos-file` of smart-HTTP URLs (`git http-backend` on
  127.0.0.1, tests/catalog/smart_http.py: GitHub-like, it honours blob-less filters), --jobs default
  (32 for git remotes), on --git-sample repositories, scaled to N: paved's own client
  (src/paved_road/fleet/remote/git_http.py, the default);
* concurrent git: the same catalog with PAVED_GIT_HTTP=git (git processes per repository, the reader
  the direct one falls back to);
* sequential clone: one blob-less `git clone` and `git show` of the answers file after the other,
  on --clone-sample, scaled to N, through the same server.
--git-latency adds that many seconds to each smart-HTTP request (a network round trip; loopback has
none): reads from git remotes wait on it, which is what --jobs 32 is for. Default 0.
Samples are scaled linearly and the output says so. The server runs in its own process so that the
CPU time of each side (the client's git processes, the server's CGI runs) is measured apart: on a
machine of 2 cores both sides share them, and the output says how much each costs per repository.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "catalog"))
sys.path.insert(0, str(ROOT / "tests" / "ecosystem"))
from catalog_scale_setup import git  # noqa: E402

from paved_road.cli_options import REMOTE_JOBS  # noqa: E402

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


class Served:
    """tests/catalog/smart_http.py in its own process, so its CPU time (threads and CGI runs) is its own."""

    def __init__(self, root: Path, latency: float = 0.0):
        self.proc = subprocess.Popen([sys.executable, ROOT / "tests" / "catalog" / "smart_http.py", root, str(latency)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def cpu(self) -> float:
        """Seconds of CPU the server used so far, its CGI children included (proc(5): utime stime cutime cstime)."""
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def requests(self) -> int:
        """Requests the server has answered so far."""
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def measure(self) -> Window:
        return Window(self)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Window:
    """Wall time, client CPU (this process's children: paved and its git processes) and server CPU."""

    def __init__(self, served: Served):
        self.served = served

    def __enter__(self) -> Window:
        self.requests0 = self.served.requests()
        self.t0, self.client0, self.server0 = time.perf_counter(), _children_cpu(), self.served.cpu()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.t0
        self.client = _children_cpu() - self.client0
        self.server = self.served.cpu() - self.server0
        self.requests = self.served.requests() - self.requests0

    def per_repo(self, n: int) -> str:
        return (f"CPU per repository: client {self.client / n * 1000:.1f} ms, server {self.server / n * 1000:.1f} ms "
                f"(wall {self.wall / n * 1000:.1f} ms, {self.requests / n:g} HTTP requests)")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(repos: int, latency: float, git_sample: int, clone_sample: int, git_latency: float = 0.0) -> int:
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
        with Served(root, git_latency) as http:
            listing = tmp / "fleet.yml"
            listing.write_text("repos:\n" + "".join(f"  - {http.url}/svc-{i:04d}.git\n" for i in range(git_sample)))
            catalog = [BIN / "paved", "catalog", "--repos-file", str(listing), "--template", str(template), "--json"]
            with http.measure() as direct:  # paved's own protocol-v2 client (fleet/remote/git_http.py), the default
                out = subprocess.run(catalog, capture_output=True, text=True)
            direct_s = direct.wall * repos / git_sample
            assert json.loads(out.stdout)["summary"]["errors"] == 0, out.stderr[-500:]
            print(f"direct protocol v2 (smart HTTP, {git_latency * 1000:.0f} ms added to each request, --jobs default "
                  f"{REMOTE_JOBS}): {git_sample} measured, {direct_s:.1f} s "
                  f"scaled to {repos} = {repos / direct_s:.0f} repos/s; {direct.per_repo(git_sample)}")
            with http.measure() as conc:  # the same catalog read by git processes (PAVED_GIT_HTTP=git)
                out = subprocess.run(catalog, capture_output=True, text=True,
                                     env={**os.environ, "PAVED_GIT_HTTP": "git"})
            git_s = conc.wall * repos / git_sample
            assert json.loads(out.stdout)["summary"]["errors"] == 0, out.stderr[-500:]
            print(f"concurrent git (PAVED_GIT_HTTP=git, same server and jobs): {git_sample} measured, {git_s:.1f} s "
                  f"scaled to {repos} = {repos / git_s:.0f} repos/s; {conc.per_repo(git_sample)}")
            with http.measure() as seq:
                for i in range(clone_sample):
                    dst = tmp / "clone"
                    subprocess.run(["git", "clone", "-q", "--depth", "1", "--filter=blob:none", "--no-checkout",
                                    f"{http.url}/svc-{i:04d}.git", str(dst)], check=True, capture_output=True)
                    subprocess.run(["git", "-C", str(dst), "show", "HEAD:.copier-answers.yml"], check=True,
                                   capture_output=True)
                    shutil.rmtree(dst)
            seq_s = seq.wall * repos / clone_sample
            print(f"sequential clone: {clone_sample} measured, {seq_s:.1f} s scaled to {repos} = "
                  f"{repos / seq_s:.0f} repos/s; {seq.per_repo(clone_sample)}")
        print(f"ratios: GraphQL {seq_s / graphql_s:.1f}x, direct protocol v2 {seq_s / direct_s:.1f}x and concurrent "
              f"git {seq_s / git_s:.1f}x the sequential clone (direct {git_s / direct_s:.1f}x git); targets: {repos} by "
              f"GraphQL <= 30 s ({graphql_s:.1f}), by git remotes <= 60 s ({direct_s:.1f}), >= 8x")
        print(f"load: {Path('/proc/loadavg').read_text().split()[:3]} (1, 5, 15 min) on {os.cpu_count()} CPUs, "
              "shared with other work: read the ratios and the CPU per repository, not the seconds")
    return 0
