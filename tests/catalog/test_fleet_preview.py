"""`paved fleet preview` over a fleet generated from real template tags (tests/catalog/preview_fleet.py),
with real copier, git, npm and Terraform runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from paved_road.fleet.preview import core as pv
from preview_fleet import (CANDIDATE, CHARLIE_EDIT, DOC, FLEET, FOXTROT_TEST, PAVED, SECRET_VAR, run_paved,
                           tree_digest)


def _by_name(rep: dict) -> dict:
    return {r["name"] or Path(r["path"]).name: r for r in rep["services"]}


def test_every_service_gets_the_outcome_its_construction_implies(preview_run):
    proc, rep, *_ = preview_run
    assert proc.returncode == 4, proc.stderr  # failures outrank conflicts
    got = {name: r["status"] for name, r in _by_name(rep).items()}
    assert got == {**{n: expected for n, (_, expected) in FLEET.items()}, "broken": "unreadable"}
    s = rep["summary"]
    assert s["total"] == 8
    assert s["counts"] == {"clean": 4, "conflicted": 1, "build_failed": 0, "test_failed": 0, "migration_failed": 1,
                           "update_error": 1, "unreadable": 1, "skipped": 0, "current": 0}
    assert s["percent"]["clean"] == 50.0 and s["percent"]["conflicted"] == 12.5 and s["failing"] == 3
    assert list(s["from_versions"].items()) == [("v1.0.5", 1), ("v1.1.0", 1), ("v2.1.0", 1), ("v2.1.1", 4),
                                                ("unknown", 1)]  # broken's answers cannot be read
    assert rep["candidate"] == CANDIDATE and rep["schema_version"] == pv.SCHEMA_VERSION


def test_conflicts_name_the_file_its_hunk_count_and_the_hunk(preview_run):
    _, rep, *_ = preview_run
    charlie = _by_name(rep)["charlie"]
    assert charlie["conflicts"] == {DOC: 1}
    hunk = charlie["hunks"][DOC][0]
    assert hunk.startswith("<<<<<<< ") and CHARLIE_EDIT.strip() in hunk and "Escalate after 10 minutes." in hunk
    assert rep["summary"]["conflicting_files"] == [
        {"file": DOC, "services": 1, "hunks": 1, "example": hunk, "example_service": "charlie"}]


def test_an_old_service_gets_every_migration_it_crosses(preview_run):
    _, rep, *_ = preview_run
    delta = _by_name(rep)["delta"]
    assert [m.split(":")[0] for m in delta["migrations"]] == ["v2.0.0", CANDIDATE]
    assert "renamed answer http_port -> container_port" in delta["migrations"][0]
    assert delta["migrations"][1] == f"{CANDIDATE}: nothing to change"  # it has no team notes to move
    assert "otel/collector-local.yaml" in delta["changed"] and delta["conflicts"] == {}


def test_failures_say_what_failed(preview_run):
    _, rep, *_ = preview_run
    by = _by_name(rep)
    assert "a migration failed" in by["echo"]["error"] and "migrations.py" in by["echo"]["error"]
    assert any("FileExistsError" in line or "NotADirectoryError" in line for line in by["echo"]["output"]), \
        by["echo"]["output"]
    assert by["ghost"]["error"].startswith("copier update exited 1") and by["ghost"]["output"]
    assert "v1.0.5" in "\n".join(by["ghost"]["output"])
    assert by["broken"]["error"] and not by["broken"]["migrations"]


def test_checkouts_are_byte_identical_and_the_scratch_space_is_gone(preview_run):
    _, _, before, after, tmpdir = preview_run
    assert after == before
    assert list(tmpdir.iterdir()) == []  # scratch clones and copier's own temporary files removed


def test_the_result_equals_what_paved_update_does(preview_run, preview_fleet, preview_template, tmp_path):
    """Same changed files and conflicts as `paved update --to CANDIDATE` in a copy of the checkout."""
    _, rep, *_ = preview_run
    for name in ("charlie", "delta"):
        copy = tmp_path / name
        shutil.copytree(preview_fleet / name, copy, symlinks=True)
        proc = subprocess.run([PAVED, "update", str(copy), "--to", CANDIDATE, "--json"], capture_output=True,
                              text=True, env={**os.environ, "PAVED_TEMPLATE": str(preview_template)})
        mine = json.loads(proc.stdout)
        assert (mine["changed"], mine["conflicts"]) == (_by_name(rep)[name]["changed"],
                                                       _by_name(rep)[name]["conflicts"]), name


def test_plain_report_has_the_aggregate_and_the_example_hunk(preview_fleet, preview_template, tmp_path):
    proc = run_paved(str(preview_fleet / "alpha"), str(preview_fleet / "charlie"), "--candidate", CANDIDATE,
                     "--format", "plain", tmpdir=tmp_path, template=preview_template)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["Service", "From", "Outcome", "Conflicts", "Seconds", "Path"]
    assert lines[1].split()[:3] == ["alpha", "v2.1.1", "clean"]
    assert lines[2].split()[:5] == ["charlie", "v2.1.1", "conflicted", DOC, "(1)"]
    assert f"2 services, candidate {CANDIDATE} of {preview_template}: 1 clean (50%), 1 conflicted (50%)" in lines
    assert "from versions: v2.1.1 x2" in lines
    assert f"  {DOC}: 1 service(s), 1 hunk(s)" in lines
    assert any(line.strip() == CHARLIE_EDIT.strip() for line in lines)


def test_all_clean_exits_0_and_keep_keeps_the_scratch(preview_fleet, preview_template, tmp_path):
    proc = run_paved(str(preview_fleet / "alpha"), "--candidate", CANDIDATE, "--json", "--keep", tmpdir=tmp_path,
                     template=preview_template)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    scratch = Path(rep["scratch"])
    assert scratch.parent == tmp_path
    assert "Escalate after 10 minutes." in (scratch / "00000" / DOC).read_text()
    assert yaml.safe_load((scratch / "00000" / ".copier-answers.yml").read_text())["_commit"] == CANDIDATE


@pytest.mark.parametrize("candidate", ["v9.9.9", "--upload-pack=touch x"])
def test_a_bad_candidate_is_one_line_exit_2_and_nothing_is_written(candidate, preview_fleet, preview_template,
                                                                   tmp_path):
    proc = run_paved(str(preview_fleet), f"--candidate={candidate}", tmpdir=tmp_path, template=preview_template)
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("paved fleet preview: --candidate") and "git ls-remote --tags" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_copier_and_leaves_nothing(sig, preview_fleet, preview_template, tmp_path):
    before = tree_digest(preview_fleet)
    env = {**os.environ, "TMPDIR": str(tmp_path), "PAVED_TEMPLATE": str(preview_template)}
    proc = subprocess.Popen([PAVED, "fleet", "preview", str(preview_fleet), "--candidate", CANDIDATE, "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob("paved-preview.*/*.tmp/*")):
        time.sleep(0.05)  # until a copier update is running (its temporary files exist)
    assert list(tmp_path.glob("paved-preview.*/*.tmp/*")), "no copier update started"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and out == ""
    assert list(tmp_path.iterdir()) == []
    assert tree_digest(preview_fleet) == before


def _processes_in(root: Path) -> list[str]:
    """The processes started in or for `root` (their command line or working directory is under it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(root) in cmd or cwd.startswith(str(root)):
            found.append(f"{pid} {cmd!r}")
    return found


def test_sigterm_while_the_shared_eslint_lints_leaves_no_process_and_no_scratch(preview_fleet, preview_template,
                                                                               tmp_path):
    """`--checks test` keeps one ESLint per dependency tree alive for the preview, in its own process group
    (Ctrl-C does not reach it; it ends when its stdin closes, but not while a lint hangs): a cancelled CI
    job must stop it too, here while a team's config takes two minutes to load."""
    service = tmp_path / "fleet" / "alpha"
    shutil.copytree(preview_fleet / "alpha", service, symlinks=True)
    config = service / "eslint.config.js"
    config.write_text("Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000)\n" + config.read_text())
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "slow config"], cwd=service,
                   check=True)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "PAVED_TEMPLATE": str(preview_template)}
    proc = subprocess.Popen([PAVED, "fleet", "preview", str(service), "--candidate", CANDIDATE, "--checks", "test"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if any("cli.js" in p for p in _processes_in(scratch)):
            break
        time.sleep(0.05)
    assert any("cli.js" in p for p in _processes_in(scratch)), "no shared ESLint seen"
    time.sleep(1)  # it reads the service's config
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == ""
    assert _processes_in(scratch) == [] and list(scratch.iterdir()) == []


def test_checks_test_installs_once_and_names_the_test_the_candidate_breaks(preview_fleet, preview_template,
                                                                           tmp_path):
    """alpha and foxtrot share their dependency tree: one `npm ci`, hard-linked into both. The candidate's
    new escalation line breaks foxtrot's own test; alpha builds, lints, is terraform-formatted and passes."""
    before = tree_digest(preview_fleet)
    proc = run_paved(str(preview_fleet / "alpha"), str(preview_fleet / "foxtrot"), "--candidate", CANDIDATE,
                     "--checks", "test", "--json", tmpdir=tmp_path, template=preview_template, timeout=1200,
                     env={SECRET_VAR: "platform-team-secret"})
    assert proc.returncode == 4, proc.stderr
    rep = json.loads(proc.stdout)
    by = _by_name(rep)
    assert rep["checks"] == "test" and rep["dependency_installs"] == 1 and rep["actionlint_runs"] == 1
    assert by["alpha"]["status"] == "clean" and by["alpha"]["failing_tests"] == []
    assert [(c["name"], c["ok"]) for c in by["alpha"]["checks"]] == [
        ("npm ci", True), ("lint", True), ("actionlint", True), ("terraform fmt", True), ("npm test", True)]
    foxtrot = by["foxtrot"]
    # only the candidate's break: the machine's credentials never reach the services' tests
    assert foxtrot["status"] == "test_failed" and foxtrot["failing_tests"] == [FOXTROT_TEST]
    assert foxtrot["error"] == f"npm test failed: {FOXTROT_TEST}"
    assert [c["ok"] for c in foxtrot["checks"]] == [True, True, True, True, False] and foxtrot["checks"][-1]["output"]
    assert rep["summary"]["counts"]["test_failed"] == 1 and rep["summary"]["failing"] == 1
    assert tree_digest(preview_fleet) == before and list(tmp_path.iterdir()) == []


def test_checks_build_catches_what_terraform_fmt_rejects(preview_fleet, preview_template, tmp_path):
    """Toward v2.1.1 (the release before the candidate) the generated tfvars are not `terraform fmt`-clean:
    a build failure naming the files, before any test runs."""
    proc = run_paved(str(preview_fleet / "bravo"), "--candidate", "v2.1.1", "--checks", "build", "--format", "plain",
                     tmpdir=tmp_path, template=preview_template, timeout=1200)
    assert proc.returncode == 4, proc.stderr
    assert "bravo    v2.1.0  build_failed" in proc.stdout
    assert "bravo (" in proc.stdout and "build failed: terraform fmt failed" in proc.stdout
    assert "infra/environments/staging.tfvars" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def _comparable(rep: dict) -> dict:
    """A report without what differs between two runs of the same preview: times and the shard label."""
    out = {k: v for k, v in rep.items() if k not in ("generated_at", "seconds", "scratch", "shard")}
    out["summary"] = {k: v for k, v in rep["summary"].items() if k != "service_seconds"}
    out["services"] = [{k: v for k, v in r.items() if k != "seconds"} for r in rep["services"]]
    return out


def test_shards_merged_equal_the_single_machine_report(preview_run, preview_fleet, preview_template, tmp_path):
    _, whole, *_ = preview_run
    files = []
    for i in (1, 2, 3):
        out = tmp_path / f"shard-{i}.json"
        proc = run_paved(str(preview_fleet), "--candidate", CANDIDATE, "--shard", f"{i}/3", "--json", "-o", str(out),
                         tmpdir=tmp_path, template=preview_template)
        assert proc.returncode in (0, 3, 4), proc.stderr
        shard = json.loads(out.read_text())
        assert shard["shard"] == f"{i}/3" and shard["summary"]["total"] in (2, 3)
        files.append(str(out))
    proc = run_paved("--merge", *reversed(files), "--json", tmpdir=tmp_path, template=preview_template)
    assert proc.returncode == 4, proc.stderr  # the whole fleet's exit code
    merged = json.loads(proc.stdout)
    assert _comparable(merged) == _comparable(whole)


def test_merge_refuses_an_incomplete_or_mixed_set_in_one_line(tmp_path, preview_template):
    def shard(i: int, n: int, candidate: str = CANDIDATE, path: str | None = None) -> str:
        rep = pv.report([pv.ServiceResult(path=path or f"/srv/s{i}", status="clean", name=f"s{i}")], candidate,
                        "tpl", 1.0)
        rep["shard"] = f"{i}/{n}"
        out = tmp_path / f"{candidate}-{i}-{n}.json"
        out.write_text(json.dumps(rep))
        return str(out)

    cases = [([shard(1, 3), shard(3, 3)], "--merge: shard(s) 2/3 missing"),
             ([shard(1, 2), shard(2, 2, "v9.0.0")], "candidate is 'v9.0.0'"),
             ([shard(1, 2), shard(2, 2, path="/srv/s1")], "service /srv/s1 is also in"),
             ([shard(1, 2), str(tmp_path)], "cannot read it as JSON")]
    for files, message in cases:
        proc = run_paved("--merge", *files, tmpdir=tmp_path, template=preview_template)
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    ok = run_paved("--merge", shard(2, 2), shard(1, 2), "--format", "plain", tmpdir=tmp_path, template=preview_template)
    assert ok.returncode == 0 and "2 services, candidate v2.2.0 of tpl: 2 clean (100%)" in ok.stdout


def test_uncommitted_changes_are_named_and_left_untouched(preview_fleet, preview_template, tmp_path):
    """The preview applies the release to the last commit; work in progress is said to be left out,
    and reading the checkout's status writes nothing (not even git's index)."""
    svc = tmp_path / "fleet" / "alpha"
    shutil.copytree(preview_fleet / "alpha", svc, symlinks=True)
    (svc / "src" / "wip.js").write_text("// work in progress\n")
    (svc / DOC).write_text((svc / DOC).read_text() + "draft\n")
    before = tree_digest(svc)
    proc = run_paved(str(svc), "--candidate", CANDIDATE, "--format", "plain", tmpdir=tmp_path,
                     template=preview_template)
    assert proc.returncode == 0, proc.stderr
    assert f"  alpha ({svc}): uncommitted changes in the checkout are not part of the preview (its last commit is)" \
        in proc.stdout.splitlines()
    assert tree_digest(svc) == before


def test_a_path_that_does_not_exist_is_bad_input(preview_template, tmp_path):
    proc = run_paved(str(tmp_path / "nope"), "--candidate", CANDIDATE, tmpdir=tmp_path, template=preview_template)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"paved fleet preview: PATH {tmp_path / 'nope'}: no such file or directory; "
                                   "pass a service checkout or a directory holding them")


@pytest.mark.parametrize("args, message", [
    (["--github-org", "acme"], "fleet preview works on checkouts and --github-org names repositories on GitHub"),
    (["--repos-file", "{repos}"], "fleet preview works on checkouts; 'https://git.example/acme/orders.git' is a URL"),
    (["--shard", "0/4"], "--shard: '0/4' must be I/N with 1 <= I <= N"),
    (["--merge", "x.json"], "--merge FILE... combines shard reports: drop PATH, --candidate"),
])
def test_selection_and_shard_errors_are_one_line_exit_2(args, message, preview_template, tmp_path):
    repos = tmp_path / "services.yml"
    repos.write_text("repos:\n  - https://git.example/acme/orders.git\n")
    argv = [a.format(repos=repos) for a in args]
    proc = run_paved(*argv, "--candidate", CANDIDATE, tmpdir=tmp_path, template=preview_template)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("service, message", [
    ({"path": "/srv/a", "status": "pwned"}, "services[0].status: 'pwned' is not one of clean, conflicted"),
    ({"name": "a"}, "services[0].path: missing"),
    ("a", "services[0]: not an object"),
    ({"path": "/srv/a", "status": "clean", "conflicts": "x"}, "services[0].conflicts: not an object"),
    ({"path": "/srv/a", "status": "clean", "seconds": "x"}, "services[0].seconds: not a number"),
    ({"path": "/srv/a", "status": "clean", "failing_tests": [1]}, "services[0].failing_tests: not a list of strings"),
])
def test_merge_names_the_field_of_a_malformed_shard_report(service, message, tmp_path):
    """A shard's report is JSON from another machine: a malformed service entry is bad input naming the
    file and the field (exit 2), in every --format, never an unexpected error."""
    rep = pv.report([], CANDIDATE, "tpl", 1.0)
    rep["services"] = [service]
    bad = tmp_path / "shard.json"
    bad.write_text(json.dumps(rep))
    for fmt in ("json", "plain", "html"):
        proc = run_paved("--merge", str(bad), "--format", fmt, tmpdir=tmp_path, template=tmp_path)
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert proc.stderr.strip().splitlines() == [f"paved fleet preview: --merge {bad}: {message}"] \
            or proc.stderr.startswith(f"paved fleet preview: --merge {bad}: {message}"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("key, value, message", [
    ("seconds", "slow", "seconds: not a number"), ("shard", 2, "shard: not a string I/N"),
    ("services", {"a": 1}, "services: not a list")])
def test_merge_names_a_malformed_top_level_field(key, value, message, tmp_path):
    rep = pv.report([], CANDIDATE, "tpl", 1.0)
    rep[key] = value
    bad = tmp_path / "shard.json"
    bad.write_text(json.dumps(rep))
    proc = run_paved("--merge", str(bad), tmpdir=tmp_path, template=tmp_path)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.strip().splitlines() == [f"paved fleet preview: --merge {bad}: {message}"], proc.stderr


def test_a_checkouts_own_git_config_runs_nothing(preview_fleet, preview_template, tmp_path):
    """The checkout is only read: commands its .git/config names (core.fsmonitor, a clean filter its
    .gitattributes selects, hooks) must not run when the preview reads it, nor in the scratch clone."""
    svc = tmp_path / "fleet" / "alpha"
    shutil.copytree(preview_fleet / "alpha", svc, symlinks=True)
    ran = tmp_path / "ran.log"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {ran}\ncat\n")
    evil.chmod(0o755)
    for key, value in (("core.fsmonitor", str(evil)), ("filter.evil.clean", str(evil)),
                       ("filter.evil.smudge", str(evil)), ("core.hooksPath", str(tmp_path))):
        subprocess.run(["git", "config", key, value], cwd=svc, check=True)
    (tmp_path / "post-checkout").write_text(f"#!/bin/sh\necho hook >> {ran}\n")
    (tmp_path / "post-checkout").chmod(0o755)
    (svc / ".gitattributes").write_text("* filter=evil\n")
    proc = run_paved(str(svc), "--candidate", CANDIDATE, "--json", tmpdir=tmp_path / "tmp", template=preview_template)
    assert proc.returncode == 0, proc.stderr
    assert not ran.exists(), ran.read_text()
    assert json.loads(proc.stdout)["services"][0]["notes"]  # .gitattributes is uncommitted: still seen


def test_a_second_ctrl_c_while_stopping_still_leaves_nothing(preview_fleet, preview_template, tmp_path):
    """On-call presses Ctrl-C again while the preview stops its copier runs: still exit 130, the scratch
    space removed, no traceback."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "PAVED_TEMPLATE": str(preview_template)}
    proc = subprocess.Popen([PAVED, "fleet", "preview", str(preview_fleet), "--candidate", CANDIDATE, "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob("paved-preview.*/*.tmp/*")):
        time.sleep(0.05)
    assert list(tmp_path.glob("paved-preview.*/*.tmp/*")), "no copier update started"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root removes read-only directories anyway")
def test_scratch_a_service_made_read_only_is_still_removed(tmp_path):
    """A service's test may leave a read-only or unreadable directory in its scratch clone: shutil.rmtree
    (ignore_errors) left the whole scratch space behind."""
    root = tmp_path / "paved-preview.x"
    (root / "00000" / "locked").mkdir(parents=True)
    (root / "00000" / "locked" / "f").write_text("x")
    (root / "00000" / "unreadable").mkdir()
    (root / "00000" / "unreadable" / "g").write_text("y")
    os.chmod(root / "00000" / "locked", 0o500)
    os.chmod(root / "00000" / "unreadable", 0o000)
    pv.remove_tree(root)
    assert not root.exists()


def test_copier_runs_without_the_machines_credentials(monkeypatch, tmp_path):
    """The candidate's migrations and tasks run inside copier: they get the allowlisted environment (plus
    git's and ssh's), never the platform engineer's credentials."""
    svc = tmp_path / "svc"
    svc.mkdir()
    (svc / ".copier-answers.yml").write_text("_commit: v1.0.0\n_src_path: /nowhere\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a"]):
        subprocess.run(["git", *args], cwd=svc, check=True)
    seen = {}

    def fake_copier(repo, ref, cancel=None, env=None):
        seen.update(env)
        return subprocess.CompletedProcess([], 1, "", "boom")

    monkeypatch.setattr(pv, "run_copier_update", fake_copier)
    monkeypatch.setenv(SECRET_VAR, "platform-team-secret")
    monkeypatch.setenv("GH_TOKEN", "ghp_x")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = pv.preview_service({"path": str(svc), "name": "svc"}, scratch / "00000", "v2.0.0")
    assert result.status == pv.UPDATE_ERROR
    assert SECRET_VAR not in seen and "GH_TOKEN" not in seen
    assert seen["SSH_AUTH_SOCK"] == "/tmp/agent.sock" and seen["PATH"] == os.environ["PATH"]
    assert seen["TMPDIR"] == str(scratch / "00000.tmp")


def test_an_interrupt_with_keep_says_where_the_scratch_is_kept(preview_fleet, preview_template, tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PAVED_TEMPLATE": str(preview_template)}
    proc = subprocess.Popen([PAVED, "fleet", "preview", str(preview_fleet), "--candidate", CANDIDATE, "-j", "2",
                             "--keep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob("paved-preview.*/*.tmp/*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    kept = list(tmp_path.glob("paved-preview.*"))
    assert proc.returncode == 130 and len(kept) == 1, err
    assert "scratch space removed" not in err and f"scratch kept (--keep): {kept[0]}" in err, err


def test_a_commit_of_a_template_url_is_a_candidate(preview_template):
    """--candidate takes "a tag, branch or commit" (help, docs/fleet.md): also of a template given as a
    URL (the canonical template usually is one), not only of a local directory."""
    url = f"file://{preview_template}"
    sha = subprocess.run(["git", "rev-parse", f"{CANDIDATE}~1^{{commit}}"], cwd=preview_template, text=True,
                         capture_output=True, check=True).stdout.strip()
    pv.check_candidate(url, sha)  # not a branch or tag tip: a commit below one
    pv.check_candidate(url, CANDIDATE)
    with pytest.raises(pv.PreviewError, match="is not a tag, branch or commit"):
        pv.check_candidate(url, "0" * 40)


def test_checks_build_installs_with_the_services_own_npmrc(preview_fleet, preview_template, tmp_path):
    """Every service has the template's .npmrc (engine-strict=true: a Node outside package.json "engines"
    fails `npm ci`). The shared install must read it as the service's CI does: a service whose engines
    its pinned Node does not meet fails `npm ci` in the preview too."""
    svc = tmp_path / "fleet" / "alpha"
    shutil.copytree(preview_fleet / "alpha", svc, symlinks=True)
    for name in ("package.json", "package-lock.json"):
        data = json.loads((svc / name).read_text())
        entry = data if name == "package.json" else data["packages"][""]
        entry["engines"] = {"node": ">=99.0.0"}
        (svc / name).write_text(json.dumps(data, indent=2) + "\n")
    subprocess.run(["git", "commit", "-qam", "engines no Node meets"], cwd=svc, check=True)
    proc = run_paved(str(svc), "--candidate", CANDIDATE, "--checks", "build", "--json", tmpdir=tmp_path / "tmp",
                     template=preview_template, timeout=1200)
    rep = json.loads(proc.stdout or "{}")
    assert proc.returncode == 4, proc.stderr
    alpha = rep["services"][0]
    assert alpha["status"] == "build_failed" and alpha["checks"][0]["name"] == "npm ci", alpha
    assert alpha["checks"][0]["ok"] is False and "notsup" in "\n".join(alpha["checks"][0]["output"]), alpha
