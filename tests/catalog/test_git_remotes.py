"""`paved catalog --repos-file` of git URLs served over smart HTTP (git http-backend on 127.0.0.1, GitHub-like:
blob-less filters honoured): what a user sees matches the local checkouts, many repositories are read at a time
by default, and an answers file is read with a bound."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog_fleet import SERVICES
from smart_http import SmartHttp
from template_releases import git

PAVED = str(Path(sys.executable).with_name("paved"))


def _catalog(*args: str, reader: str = "") -> tuple[subprocess.CompletedProcess, dict]:
    """`paved catalog ... --json`; reader "git" reads every remote with git (PAVED_GIT_HTTP=git), the path
    paved's own smart-HTTP reader falls back to."""
    proc = subprocess.run([PAVED, "catalog", *args, "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PAVED_GIT_HTTP": reader})
    return proc, json.loads(proc.stdout)


READERS = pytest.mark.parametrize("reader", ["", "git"], ids=["direct", "git"])


def _rows(data: dict) -> list[dict]:
    return [{k: v for k, v in s.items() if k not in ("path", "duplicate_of")} for s in data["services"]]


@pytest.fixture(scope="module")
def served(fleet_root, tmp_path_factory):
    """Every fleet service as a bare repository behind git http-backend."""
    root = tmp_path_factory.mktemp("served")
    for name, (_, rel) in SERVICES.items():
        git(root, "clone", "-q", "--bare", str(fleet_root / rel), str(root / f"{name}.git"))
    with SmartHttp(root, record=True) as server:
        yield server, root


@READERS
def test_services_read_over_smart_http_report_as_their_checkouts(fleet_root, fleet_template, served, tmp_path, reader):
    server, _ = served
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [f"{server.url}/{name}.git" for name in SERVICES]}))
    before = server.requests
    remote_proc, remote = _catalog("--repos-file", str(repos), "--template", str(fleet_template), reader=reader)
    # paved's own reader: ls-refs, the fetch of the commit with its root level (the answers file among its
    # files); git: ls-refs, a blob-less fetch, the blob, with a capability request before each fetch
    assert server.requests - before == len(SERVICES) * (5 if reader == "git" else 2)
    local_proc, local = _catalog(*(str(fleet_root / rel) for _, rel in SERVICES.values()),
                                 "--template", str(fleet_template))
    assert _rows(remote) == _rows(local) and remote["summary"] == local["summary"]
    assert remote_proc.returncode == local_proc.returncode
    assert sorted(s["path"] for s in remote["services"]) == sorted(f"{server.url}/{n}.git" for n in SERVICES)


@READERS
def test_a_branch_named_in_the_repos_file_is_the_one_read(fleet_root, fleet_template, served, tmp_path, reader):
    server, root = served
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(root / "alpha.git"), str(work))
    git(work, "checkout", "-q", "-b", f"renamed{reader}")
    answers = work / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("service_name: alpha", "service_name: alpha-renamed"))
    git(work, "commit", "-qam", "rename")
    git(work, "push", "-q", "origin", f"renamed{reader}")
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [{"url": f"{server.url}/alpha.git", "ref": f"renamed{reader}"},
                                               f"{server.url}/alpha.git"]}))
    _, data = _catalog("--repos-file", str(repos), "--template", str(fleet_template), reader=reader)
    assert {s["path"]: s["name"] for s in data["services"]} == {
        f"{server.url}/alpha.git@renamed{reader}": "alpha-renamed", f"{server.url}/alpha.git": "alpha"}


@READERS
def test_an_oversized_answers_file_is_refused_by_its_size(fleet_template, tmp_path, reader):
    """A 1 MB answers file: the row names its size and the bound; it is not read into the catalog."""
    root, work = tmp_path / "served", tmp_path / "big"
    work.mkdir()
    (work / ".copier-answers.yml").write_text("_commit: v1.0.0\n_src_path: x\nservice_name: big\n# "
                                              + "x" * 1_000_000 + "\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "big")
    git(tmp_path, "clone", "-q", "--bare", str(work), str(root / "big.git"))
    with SmartHttp(root) as server:
        repos = tmp_path / "repos.yml"
        repos.write_text(f"repos:\n  - {server.url}/big.git\n")
        proc, data = _catalog("--repos-file", str(repos), "--template", str(fleet_template), reader=reader)
    (row,) = data["services"]
    assert row["error"] == ("cannot fetch .copier-answers.yml: .copier-answers.yml is 1000050 bytes; "
                            "at most 65536 are read")
    assert proc.returncode == 4


def test_git_remotes_are_read_many_at_a_time_by_default(fleet_root, fleet_template, served, tmp_path):
    """Reads from git remotes wait on the network: without -j more than 8 are in flight at once (docs/cli.md)."""
    server, _ = served
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [f"{server.url}/{name}.git" for name in SERVICES] * 16}))
    server.peak = 0
    proc, data = _catalog("--repos-file", str(repos), "--template", str(fleet_template))
    assert data["summary"]["total"] == 64 and data["summary"]["errors"] == 0, proc.stderr
    assert server.peak > 8, server.peak
    help_text = subprocess.run([PAVED, "catalog", "--help"], capture_output=True, text=True).stdout
    assert "(default: 32, since reads from git remotes wait on the network" in " ".join(help_text.split())


def test_a_repository_that_is_not_there_is_named_with_gits_reason(fleet_template, served, tmp_path):
    """The row says why, not the last line of git's advice ("and the repository exists.")."""
    server, _ = served
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [(tmp_path / "nowhere").as_uri(), f"{server.url}/nowhere.git"]}))
    proc, data = _catalog("--repos-file", str(repos), "--template", str(fleet_template))
    errors = {s["path"]: s["error"] for s in data["services"]}
    assert errors == {
        (tmp_path / "nowhere").as_uri(): f"cannot fetch .copier-answers.yml: fatal: '{tmp_path / 'nowhere'}' does "
                                         "not appear to be a git repository",
        f"{server.url}/nowhere.git": f"cannot fetch .copier-answers.yml: fatal: repository '{server.url}/nowhere.git/' "
                                     "not found"}
    assert proc.returncode == 4


def _posts_text(server: SmartHttp, repo: str) -> bytes:
    import gzip
    bodies = [body for path, body in server.posts if path.startswith(f"/{repo}/")]
    return b"".join(gzip.decompress(b) if b[:2] == b"\x1f\x8b" else b for b in bodies)


def test_a_remote_is_not_told_the_commits_of_repositories_read_before_it(fleet_root, fleet_template, tmp_path):
    """One worker reads alpha then bravo (-j 1): bravo's host must not learn alpha's commit id (git sends every
    commit of a shallow repository's `shallow` file to the server it fetches from), nor be answered from
    objects another host sent."""
    root = tmp_path / "served"
    root.mkdir()
    for name in ("alpha", "bravo"):
        git(root, "clone", "-q", "--bare", str(fleet_root / SERVICES[name][1]), str(root / f"{name}.git"))
    alpha_head = git(root / "alpha.git", "rev-parse", "HEAD").strip()
    with SmartHttp(root, record=True) as server:
        repos = tmp_path / "repos.yml"
        repos.write_text(yaml.safe_dump({"repos": [f"{server.url}/alpha.git", f"{server.url}/bravo.git"]}))
        proc, data = _catalog("--repos-file", str(repos), "--template", str(fleet_template), "-j", "1")
        assert data["summary"]["errors"] == 0, proc.stderr
        assert alpha_head.encode() in _posts_text(server, "alpha.git")  # the probe sees commit ids at all
        assert alpha_head.encode() not in _posts_text(server, "bravo.git")


@pytest.mark.parametrize("ref", ["main:refs/heads/kept", "refs/heads/*:refs/heads/*", "+main", "main..x",
                                 "main@{1}", "ma in"])
def test_a_ref_that_is_not_a_branch_or_tag_name_is_refused_on_its_row(fleet_template, served, tmp_path, ref):
    """`ref:` names a branch or tag (git check-ref-format); a refspec would write refs into the scratch repository
    (then offered to the next host) or fetch every branch. Like an option-like URL: the row says so, exit 4."""
    server, _ = served
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [{"url": f"{server.url}/alpha.git", "ref": ref}]}))
    proc, data = _catalog("--repos-file", str(repos), "--template", str(fleet_template))
    (row,) = data["services"]
    assert row["error"].startswith("cannot fetch .copier-answers.yml: ref must be a branch or tag name"), row
    assert proc.returncode == 4


def test_the_fetch_speaks_protocol_v2_whatever_the_users_git_config_says(fleet_template, served, tmp_path):
    """docs/fleet.md promises one protocol-v2 fetch (ls-refs limited to the one ref, no full advertisement):
    a user's `protocol.version = 0` in ~/.gitconfig must not turn it into a v0 fetch."""
    server, _ = served
    config = tmp_path / "gitconfig"
    config.write_text("[protocol]\n\tversion = 0\n")
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [f"{server.url}/alpha.git"]}))
    server.posts.clear()
    proc = subprocess.run([PAVED, "catalog", "--repos-file", str(repos), "--template", str(fleet_template), "--json"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GIT_CONFIG_GLOBAL": str(config)})
    assert json.loads(proc.stdout)["summary"]["errors"] == 0, proc.stderr
    bodies = _posts_text(server, "alpha.git")
    assert b"command=ls-refs" in bodies and b"command=fetch" in bodies, bodies[:300]


def test_a_server_that_talks_a_lot_on_its_progress_channel_does_not_stall_the_read(fleet_template, fleet_root,
                                                                                   tmp_path):
    """400 KB of 'remote: ...' from the server while the answers blob is fetched: git relays it on stderr; the read
    must still finish (a full stderr pipe stopped git before its header, and the row failed after 60 s)."""
    root = tmp_path / "served"
    root.mkdir()
    git(root, "clone", "-q", "--bare", str(fleet_root / SERVICES["alpha"][1]), str(root / "alpha.git"))
    noisy = tmp_path / "noisy.sh"
    noisy.write_text("#!/bin/sh\nhead -c 400000 /dev/zero | tr '\\0' x | fold -w 200 >&2\nexec \"$@\"\n")
    noisy.chmod(0o755)
    with SmartHttp(root, server_config={"uploadpack.packObjectsHook": str(noisy)}) as server:
        repos = tmp_path / "repos.yml"
        repos.write_text(yaml.safe_dump({"repos": [f"{server.url}/alpha.git"]}))
        proc, data = _catalog("--repos-file", str(repos), "--template", str(fleet_template))
    (row,) = data["services"]
    assert row.get("error") is None and row["name"] == "alpha", row
