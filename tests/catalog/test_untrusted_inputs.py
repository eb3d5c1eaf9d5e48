"""Issue 27: answers files and repos files are data. Each proof of concept of the review runs here as it
ran then (real git, real copier, the `paved` CLI); a canary file proves that nothing ran."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from catalog_fleet import SERVICES
from paved_road.fleet.catalog import ServiceStatus, build_catalog, render_html, render_text, to_json
from smart_http import SmartHttp
from template_releases import git

PAVED = str(Path(sys.executable).with_name("paved"))


def _paved(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    return subprocess.run([PAVED, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _service_copy(fleet_root: Path, tmp_path: Path, name: str = "charlie") -> Path:
    dst = tmp_path / name
    shutil.copytree(fleet_root / SERVICES[name][1], dst, symlinks=True)
    return dst


def _set_answers(service: Path, **changes) -> None:
    path = service / ".copier-answers.yml"
    answers = yaml.safe_load(path.read_text())
    answers.update(changes)
    path.write_text(yaml.safe_dump(answers, sort_keys=False))
    git(service, "commit", "-qam", "answers changed")


# ---------------------------------------------------------------------------
# High: git option injection from _src_path
# ---------------------------------------------------------------------------
def test_src_path_that_is_a_git_option_runs_nothing(fleet_root, fleet_template, tmp_path):
    """`_src_path: "--upload-pack=touch CANARY;:"` in a checkout whose origin is a local path: git took it
    for an option and ran the command during `paved catalog` (and `fleet update`, `update` reach the same call)."""
    canary = tmp_path / "CANARY"
    service = _service_copy(fleet_root, tmp_path)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(service), str(origin)], check=True)
    git(service, "remote", "add", "origin", str(origin))
    _set_answers(service, _src_path=f"--upload-pack=touch {canary};:")

    proc = _paved("catalog", str(service), "--format", "json", cwd=service)
    assert not canary.exists(), "git ran the _src_path as --upload-pack"
    assert proc.returncode == 4, proc.stderr
    (entry,) = json.loads(proc.stdout)["services"]
    assert "not starting with '-'" in entry["error"]

    fleet = _paved("fleet", "update", str(service), "--json", "--template", str(fleet_template), cwd=service)
    assert not canary.exists()
    assert [r["status"] for r in json.loads(fleet.stdout)] == ["skipped"]
    update = _paved("update", str(service), "--template", str(fleet_template), cwd=service)
    assert not canary.exists()
    assert update.returncode == 2 and "is not the canonical template" in update.stderr


def test_repos_file_url_that_is_a_git_option_runs_nothing(tmp_path):
    """The remote-answers clone took a repos-file `url:` starting with `-` as an option too."""
    canary = tmp_path / "CANARY"
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [{"url": f"--upload-pack=touch {canary};:"},
                                               {"url": "file:///nonexistent.git", "ref": "--orphan=x"}]}))
    proc = _paved("catalog", "--repos-file", str(repos), "--format", "json", cwd=tmp_path)
    assert not canary.exists()
    assert proc.returncode == 4, proc.stderr
    errors = [s["error"] for s in json.loads(proc.stdout)["services"]]
    assert all("not starting with '-'" in e for e in errors), errors


# ---------------------------------------------------------------------------
# High: fleet update / update run only the canonical template
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_template(tmp_path_factory) -> tuple[Path, Path]:
    """A copier template whose tasks touch a canary, tagged like the fleet's template (v2.0.0) and newer."""
    root = tmp_path_factory.mktemp("hostile")
    repo, canary = root / "evil.git", root / "CANARY"
    repo.mkdir()
    (repo / "copier.yml").write_text(yaml.safe_dump({"_tasks": [f"touch {canary}"]}))
    (repo / "README.md").write_text("evil\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "evil"], ["tag", "v2.0.0"],
                ["commit", "-q", "--allow-empty", "-m", "newer"], ["tag", "v9.0.0"]):
        subprocess.run(["git", "-c", "user.name=e", "-c", "user.email=e@localhost", *cmd], cwd=repo, check=True)
    return repo, canary


def test_fleet_update_skips_a_service_whose_src_path_is_another_template(fleet_root, fleet_template,
                                                                         hostile_template, tmp_path):
    evil, canary = hostile_template
    service = _service_copy(fleet_root, tmp_path)
    _set_answers(service, _src_path=str(evil))
    good = _service_copy(fleet_root, tmp_path, "bravo")
    before = git(service, "show-ref")

    proc = _paved("fleet", "update", str(service), str(good), "--json", env={"PAVED_TEMPLATE": str(fleet_template)})
    assert not canary.exists(), "copier update --trust ran the service's own template"
    results = {Path(r["path"]).name: r for r in json.loads(proc.stdout)}
    assert results["charlie"]["status"] == "skipped"
    assert f"_src_path {evil} is not the canonical template" in results["charlie"]["reason"]
    assert results["bravo"]["status"] == "updated"  # the run goes on
    assert proc.returncode == 1
    assert git(service, "show-ref") == before  # no branch, nothing committed

    text = _paved("fleet", "update", str(service), "--template", str(fleet_template))
    assert "1 skipped: not the canonical template" in text.stdout
    assert not canary.exists()


def test_paved_update_refuses_a_service_whose_src_path_is_another_template(fleet_root, fleet_template,
                                                                           hostile_template, tmp_path):
    evil, canary = hostile_template
    service = _service_copy(fleet_root, tmp_path)
    _set_answers(service, _src_path=f"file://{evil}")
    proc = _paved("update", "--to", "v9.0.0", cwd=service, env={"PAVED_TEMPLATE": str(fleet_template)})
    assert not canary.exists()
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"paved update: .: _src_path file://{evil} is not the canonical template "
                                   f"{fleet_template}: not updated (copier update --trust would run that template's "
                                   "tasks); point the service's .copier-answers.yml at the canonical template, or "
                                   "pass --template if that one is trusted")
    assert git(service, "status", "--porcelain") == ""


def test_other_spellings_of_the_canonical_template_are_accepted():
    from paved_road.untrusted import same_source

    assert same_source("https://Git.Example.com/platform/paved-road", "https://git.example.com/platform/paved-road.git")
    assert same_source("git+https://ci:tok@git.example.com/platform/paved-road.git/",
                       "https://git.example.com/platform/paved-road.git")
    assert same_source("git@github.com:acme/paved-road.git", "ssh://git@github.com/acme/paved-road")
    assert not same_source("https://git.example.com/platform/paved-road-fork.git",
                           "https://git.example.com/platform/paved-road.git")
    assert not same_source("https://evil.example.com/platform/paved-road.git",
                           "https://git.example.com/platform/paved-road.git")


def test_spellings_git_reads_differently_are_not_the_canonical_template(tmp_path, monkeypatch):
    """Review of issue 27: each of these compared equal to the canonical template while git/copier fetch
    another one (EVIL's host after `?`/`#`/backslash; a relative path copier resolves in the service
    checkout, paved in its own cwd)."""
    from paved_road.untrusted import same_source

    canonical = "https://git.example.com/platform/paved-road.git"
    for hostile in ("https://evil.example?@git.example.com/platform/paved-road.git",
                    "https://evil.example#@git.example.com/platform/paved-road.git",
                    "https://evil.example\\@git.example.com/platform/paved-road.git",
                    "git+https://evil.example?@git.example.com/platform/paved-road.git",
                    "https://git.example.com/platform/paved-road.git?ref=evil",
                    "https://git.example.com/platform/paved-road.git ",
                    "git@evil.example#@git.example.com:platform/paved-road.git"):
        assert not same_source(hostile, canonical), hostile
    template = tmp_path / "paved-road"
    service = tmp_path / "svc"
    template.mkdir()
    service.mkdir()
    monkeypatch.chdir(tmp_path)  # paved run from the fleet directory: `paved-road` here is the canonical one
    assert not same_source("paved-road", str(template))  # relative, and no service checkout to read it in
    assert not same_source("paved-road", str(template), base=service)  # copier would read svc/paved-road
    assert same_source("../paved-road", str(template), base=service)
    assert same_source(f"file://{template}", str(template), base=service)
    # a sibling directory named like the template plus `.git` (a service cloned there) is another repository
    assert not same_source(f"{template}.git", str(template), base=service)


# ---------------------------------------------------------------------------
# Medium: one answers file takes down the whole run
# ---------------------------------------------------------------------------
ALIAS_BOMB = "\n".join(
    ["_commit: v2.0.0", "_src_path: /nowhere", "service_name: bomb", 'a: &a ["x","x","x","x","x","x","x","x","x"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
       f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(8)]
    + ["architectures: *i", ""])


# Runs a command and reports the peak RSS of that command alone: a fresh
# Python whose only child it is. RUSAGE_CHILDREN's ru_maxrss is the largest of
# every child a process ever reaped, so read in the test process it reported
# whatever earlier test's child was biggest.
_PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _max_rss_mb(cmd: list[str], timeout: float, **kw) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `cmd`; its exit status, output, peak RSS (MB, itself and the children it waited for) and wall time."""
    start = time.monotonic()
    with subprocess.Popen([sys.executable, "-c", _PEAK_RSS, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True, **kw) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the command too, not only its wrapper
            raise
    err, _, peak = err.rstrip("\n").rpartition("\n")
    rss = int(peak) / 1024
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), rss, time.monotonic() - start


def test_an_alias_bomb_or_a_mistyped_answer_marks_one_service_and_the_catalog_goes_on(fleet_root, tmp_path):
    root = tmp_path / "fleet"
    shutil.copytree(fleet_root, root, symlinks=True)
    for name, text in (("bomb", ALIAS_BOMB),
                       ("listname", "_commit: v2.0.0\n_src_path: /nowhere\nservice_name: [a, b]\n"),
                       ("intowner", "_commit: v2.0.0\n_src_path: /nowhere\nservice_name: io\nowner: 7\n")):
        (root / name).mkdir()
        (root / name / ".copier-answers.yml").write_text(text)
    assert len(ALIAS_BOMB) < 600  # the review's file was 547 bytes
    proc = _max_rss_mb([PAVED, "catalog", str(root), "--format", "json"], timeout=60)
    result, rss = proc[0], proc[1]
    assert result.returncode == 4, result.stderr  # unreadable entries, not a crash
    services = {Path(s["path"]).name: s for s in json.loads(result.stdout)["services"]}
    assert "aliases (*name) are not allowed" in services["bomb"]["error"]
    assert services["listname"]["error"] == ".copier-answers.yml: service_name must be a string (got list)"
    assert services["intowner"]["error"] == ".copier-answers.yml: owner must be a string (got int)"
    assert services["alpha"]["error"] is None and services["alpha"]["drift"] == "none"
    assert rss < 400, f"peak RSS {rss:.0f} MB"

    fleet = _paved("fleet", "update", str(root / "listname"), str(root / "alpha"), "--json",
                   "--template", str(fleet_root.parent))  # any canonical: the bad file fails first
    results = {Path(r["path"]).name: r["status"] for r in json.loads(fleet.stdout)}
    assert results["listname"] == "failed" and "Traceback" not in fleet.stderr


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 5000, "1:" * 3000 + "1"])
def test_a_huge_number_marks_one_service_and_the_catalog_goes_on(tmp_path, number):
    """Review of issue 27: a 5000-digit integer (Python refuses to convert more than 4300 digits: ValueError,
    not a YAML error) made `paved catalog` exit 1 with no output for every service."""
    root = tmp_path / "fleet"
    for name, extra in (("big", f"node_major: {number}\n"), ("good", "")):
        (root / name).mkdir(parents=True)
        (root / name / ".copier-answers.yml").write_text(
            f"_commit: v1.0.0\n_src_path: /nowhere\nservice_name: {name}\n{extra}")
    proc = _paved("catalog", str(root), "--format", "json")
    assert proc.returncode == 4, proc.stderr
    services = {Path(s["path"]).name: s for s in json.loads(proc.stdout)["services"]}
    assert services["big"]["error"].startswith(".copier-answers.yml is not valid YAML: a number too large to read")
    assert services["good"]["name"] == "good"


def test_an_oversized_answers_file_is_not_read(tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    (big / ".copier-answers.yml").write_text("_commit: v1.0.0\n_src_path: /x\ndescription: '" + "x" * 200_000 + "'\n")
    proc = _paved("catalog", str(big), "--format", "json")
    (entry,) = json.loads(proc.stdout)["services"]
    assert entry["error"] == ".copier-answers.yml is larger than 65536 bytes: not read"


# ---------------------------------------------------------------------------
# A small fuzz of answers files through the catalog
# ---------------------------------------------------------------------------
def test_fuzzed_answers_files_never_crash_the_catalog_nor_exceed_a_memory_bound(tmp_path):
    import tracemalloc

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40))
    values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                           st.dictionaries(st.text(max_size=10), inner, max_size=5)),
                          max_leaves=30)
    keys = st.sampled_from(["_src_path", "_commit", "service_name", "owner", "system", "architectures",
                            "runner_mode", "node_major", "_placeholders", "other"])
    documents = st.dictionaries(keys, values, max_size=10).map(lambda d: yaml.safe_dump(d, allow_unicode=True))
    # and raw text: YAML syntax fragments, anchors and aliases, tags, control characters
    fragments = st.lists(st.sampled_from(["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\n", "  ", "!!python/object ",
                                          "!!binary ", "? ", "|\n", "'", '"', "\x00", "\x1b[2J", "_commit", "v1.0.0",
                                          "service_name", "<<: *a", "!!set ", "~"]), max_size=60).map("".join)

    root = tmp_path / "fleet"
    good = root / "good"
    good.mkdir(parents=True)
    (good / ".copier-answers.yml").write_text("_commit: v1.0.0\n_src_path: /nowhere\nservice_name: good\n")
    fuzzed = root / "fuzzed" / ".copier-answers.yml"
    fuzzed.parent.mkdir()

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.one_of(documents, fragments, st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
    def check(text):
        fuzzed.write_bytes(text.encode("utf-8", "surrogatepass"))
        tracemalloc.start()
        try:
            catalog = build_catalog([root])  # the whole run: find, parse, tags, summary
            outputs = (json.dumps(to_json(catalog)), render_text(catalog), render_html(catalog))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        statuses = {Path(s.path).name: s for s in catalog["services"]}
        assert set(statuses) == {"good", "fuzzed"}  # the run went on: both services are there
        status = statuses["fuzzed"]
        assert isinstance(status, ServiceStatus)
        assert status.error or status.name is None or isinstance(status.name, str)
        assert all(isinstance(a, str) for a in status.architectures)
        assert all(outputs)
        assert peak < 40 * 1024 * 1024, f"{peak} bytes for {len(text)} bytes of input"

    check()


# ---------------------------------------------------------------------------
# Review of issue 27: a `?` or `#` before `@` hides the real host from the canonical-template check
# ---------------------------------------------------------------------------
def _hostile_host(repo: Path) -> SmartHttp:
    """git's smart-HTTP server on 127.0.0.1 serving `repo` for ANY request whose target ends in git's
    smart-HTTP suffixes, wherever they are (after a `?`, too), or for `/`: the attacker's host."""
    import re

    suffix = re.compile(r"/(info/refs|git-upload-pack)(?:[?&](.*))?$")

    def route(target: str, method: str) -> tuple[str, str]:
        match = suffix.search(target)
        if match:
            service, query = match[1], match[2] or ""
        else:  # `#@`: curl sends only `/`; git's requests are told apart by their method
            service, query = ("info/refs", "service=git-upload-pack") if method == "GET" else ("git-upload-pack", "")
        return f"/{repo.name}/{service}", query

    return SmartHttp(repo.parent, route)


@pytest.mark.parametrize("separator", ["?", "#"])
def test_a_src_path_whose_host_hides_behind_a_query_or_fragment_is_not_the_canonical_template(
        fleet_root, hostile_template, tmp_path, separator):
    """`http://EVIL?@CANONICAL/paved-road.git`: the check read `EVIL?` as userinfo and compared CANONICAL;
    git (curl) connects to EVIL (`?`/`#` end the authority, RFC 3986 3.2) and copier update --trust ran
    EVIL's tasks. A canary proves nothing ran; the message shows the real host."""
    evil, canary = hostile_template
    canary.unlink(missing_ok=True)
    server = _hostile_host(evil)
    try:
        canonical = "http://localhost:9/platform/paved-road.git"  # never contacted
        hostile = f"http://127.0.0.1:{server.port}{separator}@localhost:9/platform/paved-road.git"
        probe = subprocess.run(["git", "ls-remote", "--tags", hostile], capture_output=True, text=True, timeout=60)
        assert "refs/tags/v9.0.0" in probe.stdout, probe.stderr  # git really fetches from the hostile host

        service = _service_copy(fleet_root, tmp_path)
        _set_answers(service, _src_path=hostile)
        update = _paved("update", "--to", "v9.0.0", cwd=service, env={"PAVED_TEMPLATE": canonical})
        assert not canary.exists(), "copier update --trust ran the hostile host's template"
        assert update.returncode == 2, update.stderr
        assert "is not the canonical template" in update.stderr and f"127.0.0.1:{server.port}" in update.stderr

        fleet = _paved("fleet", "update", str(service), "--json", "--to", "v9.0.0", env={"PAVED_TEMPLATE": canonical})
        assert not canary.exists(), "fleet update ran the hostile host's template"
        (result,) = json.loads(fleet.stdout)
        assert result["status"] == "skipped", result
        assert git(service, "status", "--porcelain") == ""
    finally:
        server.close()


def test_a_template_host_that_never_answers_costs_the_catalog_a_bounded_time(tmp_path, monkeypatch):
    """Review of issue 27: `_src_path: http://HOST/x.git` where HOST accepts the connection and says nothing
    held `paved catalog` (and `fleet update`, which builds the catalog) forever: git sets no timeout. Now
    that service's row says so after GIT_TIMEOUT and the others are there."""
    import socket
    import time

    from paved_road.fleet import catalog as cat

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    root = tmp_path / "fleet"
    for name, src in (("silent", f"http://127.0.0.1:{port}/x.git"), ("silent2", f"http://127.0.0.1:{port}/y.git"),
                      ("good", "/nowhere")):
        (root / name).mkdir(parents=True)
        (root / name / ".copier-answers.yml").write_text(f"_commit: v1.0.0\n_src_path: {src}\nservice_name: {name}\n")
    monkeypatch.setattr(cat, "GIT_TIMEOUT", 3.0)
    start = time.monotonic()
    try:
        catalog = build_catalog([root])
    finally:
        listener.close()
    elapsed = time.monotonic() - start
    statuses = {Path(s.path).name: s for s in catalog["services"]}
    assert set(statuses) == {"silent", "silent2", "good"}
    assert statuses["silent"].error == f"cannot read tags of http://127.0.0.1:{port}/x.git: git ls-remote gave no " \
                                       "answer within 3 s"
    assert elapsed < 3.0 * 1.5 + 5, f"{elapsed:.0f} s: the silent templates were waited for one after the other"
