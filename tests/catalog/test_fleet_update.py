"""`paved fleet update` over real generated services, with real copier runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog_fleet import DELTA_EDIT, LATEST, SERVICES
from paved_road.fleet import fleet
from template_releases import NEW_DOC, git, repo_state as _state


@pytest.fixture(scope="module", autouse=True)
def _canonical(canonical_fleet_template):
    """Before the module's other fixtures (autouse): they run paved update themselves."""


PAVED = str(Path(sys.executable).with_name("paved"))
BRANCH = f"paved/template-{LATEST}"



@pytest.fixture(scope="module")
def fleet_run(fleet_root, tmp_path_factory):
    """A copy of the fleet plus two services that must fail, updated by the CLI."""
    import shutil

    root = tmp_path_factory.mktemp("fleet-update") / "fleet"
    shutil.copytree(fleet_root, root, symlinks=True)
    shutil.rmtree(root / "broken")
    # ghost: its recorded template tag no longer exists, so copier fails mid-update.
    shutil.copytree(root / "charlie", root / "ghost", symlinks=True)
    answers = root / "ghost/.copier-answers.yml"
    answers.write_text(answers.read_text().replace("_commit: v2.0.0", "_commit: v1.0.5"))
    git(root / "ghost", "commit", "-qam", "answers point at a deleted tag")
    # dirty: uncommitted work in progress must be left alone.
    shutil.copytree(root / "bravo", root / "dirty", symlinks=True)
    (root / "dirty/src/wip.js").write_text("// work in progress\n")
    before = {p.name: _state(p) for p in [root / "ghost", root / "dirty", root / "alpha"]}
    proc = subprocess.run([PAVED, "fleet", "update", str(root), "--json"], capture_output=True, text=True)
    results = {Path(r["path"]).name: r for r in json.loads(proc.stdout)}
    return root, proc, results, before


def test_services_behind_are_updated_on_a_branch_and_committed(fleet_run):
    root, _, results, _ = fleet_run
    for name in ("bravo", "charlie"):
        r = results[name]
        assert (r["status"], r["from_version"], r["to_version"], r["branch"]) == (
            "updated", SERVICES[name][0], LATEST, BRANCH)
        repo = root / SERVICES[name][1]
        answers = yaml.safe_load(git(repo, "show", f"{BRANCH}:.copier-answers.yml"))
        assert answers["_commit"] == LATEST
        info = yaml.safe_load(git(repo, "show", f"{BRANCH}:catalog-info.yaml"))
        assert info["metadata"]["annotations"]["paved-road.dev/template-version"] == LATEST
        assert "Escalate after 15 minutes." in git(repo, "show", f"{BRANCH}:{NEW_DOC}")
        # The checkout is back on its branch, clean; the update is one commit ahead.
        assert git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"
        assert git(repo, "status", "--porcelain") == ""
        assert git(repo, "rev-list", "--count", f"main..{BRANCH}").strip() == "1"


def test_conflicts_are_reported_with_their_files_and_committed_with_markers(fleet_run):
    root, _, results, _ = fleet_run
    r = results["delta"]
    assert r["status"] == "conflicts" and r["conflicts"] == [NEW_DOC]
    repo = root / SERVICES["delta"][1]
    text = git(repo, "show", f"{BRANCH}:{NEW_DOC}")
    assert "<<<<<<< " in text and DELTA_EDIT.strip() in text and "on-call guide" in text
    assert NEW_DOC in git(repo, "log", "-1", "--format=%B", BRANCH)
    assert git(repo, "status", "--porcelain") == ""


def test_current_services_are_left_alone(fleet_run):
    _, _, results, before = fleet_run
    assert results["alpha"]["status"] == "current"
    assert _state(Path(results["alpha"]["path"])) == before["alpha"]


def test_a_failure_leaves_the_repository_exactly_as_it_was(fleet_run):
    root, _, results, before = fleet_run
    assert results["ghost"]["status"] == "failed"
    assert "copier update exited" in results["ghost"]["reason"]
    assert _state(root / "ghost") == before["ghost"]
    assert results["dirty"]["status"] == "failed"
    assert results["dirty"]["reason"] == "uncommitted changes: commit or stash them first"
    assert _state(root / "dirty") == before["dirty"]


def test_exit_code_says_something_failed(fleet_run):
    _, proc, results, _ = fleet_run
    assert proc.returncode == 1, proc.stderr
    assert len(results) == 6


def test_an_uncommitted_copier_update_is_not_called_current(fleet_copy):
    """bravo (v2.1.0) ran `copier update` to v2.1.1 but did not commit it: the answers file says v2.1.1
    in the work tree only. fleet update says "updated, uncommitted" (exit 3: attention), not "current",
    and leaves the checkout as it is."""
    bravo = fleet_copy / "bravo"
    proc = fleet.run_copier_update(bravo, LATEST)
    assert proc.returncode == 0, proc.stderr
    assert f"_commit: {LATEST}" in (bravo / ".copier-answers.yml").read_text()
    assert "_commit: v2.1.0" in git(bravo, "show", "HEAD:.copier-answers.yml")
    before = _state(bravo)
    proc = subprocess.run([PAVED, "fleet", "update", str(bravo), str(fleet_copy / "alpha"), "--format", "plain"],
                          capture_output=True, text=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    (line,) = [i for i, text in enumerate(lines) if text.startswith("uncommitted bravo")]
    assert lines[line].endswith(f"v2.1.0 -> {LATEST} in the work tree, not committed")
    assert lines[line + 1].strip().startswith(f"reason: updated, uncommitted: .copier-answers.yml says {LATEST} "
                                              "in the work tree but v2.1.0 in HEAD")
    assert any(text.startswith("current   alpha") for text in lines)
    assert "1 current, 1 updated, uncommitted (in the work tree only)." in lines[-1]
    assert _state(bravo) == before
    data = json.loads(subprocess.run([PAVED, "fleet", "update", str(bravo), "--json"], capture_output=True,
                                     text=True).stdout)
    assert [(r["status"], r["from_version"], r["to_version"]) for r in data] == [("uncommitted", "v2.1.0", LATEST)]


def test_bad_target_version_is_one_clear_line(fleet_root):
    proc = subprocess.run([PAVED, "fleet", "update", str(fleet_root / "alpha"), "--to", "v9.9.9"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "paved fleet update: --to must be one of the template's tags: "
        "v1.0.0, v1.1.0, v2.0.0, v2.1.0, v2.1.1 (got 'v9.9.9')")


def test_selected_target_version(fleet_copy):
    results = fleet.update_fleet([fleet_copy / "charlie", fleet_copy / "alpha"], to="v2.1.0", jobs=1)
    assert [(r.name, r.status, r.to_version) for r in results] == [
        ("alpha", "current", "v2.1.1"), ("charlie", "updated", "v2.1.0")]
    answers = yaml.safe_load(git(fleet_copy / "charlie", "show", "paved/template-v2.1.0:.copier-answers.yml"))
    assert answers["_commit"] == "v2.1.0"


def test_a_second_run_reports_branches_as_pending_never_as_errors(fleet_run):
    root, _, first, _ = fleet_run
    services = [str(root / SERVICES[n][1]) for n in ("alpha", "bravo", "charlie", "delta")]
    heads = {n: git(root / SERVICES[n][1], "rev-parse", BRANCH).strip() for n in ("bravo", "charlie", "delta")}
    proc = subprocess.run([PAVED, "fleet", "update", *services], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for name in ("bravo", "charlie", "delta"):
        (line,) = [l for l in lines if l.startswith("pending") and f" {name} " in l]
        assert f"on branch {BRANCH}" in line  # full branch name on one line: stdout is a pipe
        assert git(root / SERVICES[name][1], "rev-parse", BRANCH).strip() == heads[name]
    assert lines[-1] == ("4 services. Since the last run: 0 new update branch(es) (0 with conflicts), "
                         "0 rebuilt on new commits. Unchanged: 3 pending from an earlier run, 1 current. 0 failed.")
    assert "Traceback" not in proc.stderr


def test_a_branch_is_rebuilt_when_main_moved_and_left_alone_when_it_has_team_commits(fleet_run):
    root, _, _, _ = fleet_run
    charlie, bravo = root / SERVICES["charlie"][1], root / SERVICES["bravo"][1]
    for repo in (charlie, bravo):
        (repo / "src/extra.js").write_text("module.exports = 1\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "team work on main")
    git(bravo, "checkout", "-q", BRANCH)
    (bravo / "NOTES.md").write_text("resolved by the team\n")
    git(bravo, "add", "-A")
    git(bravo, "commit", "-qm", "team commit on the update branch")
    git(bravo, "checkout", "-q", "main")
    bravo_tip = git(bravo, "rev-parse", BRANCH).strip()
    results = {r.name: r for r in fleet.update_fleet([charlie, bravo], jobs=1)}
    assert results["charlie"].status == "refreshed"
    assert git(charlie, "rev-parse", f"{BRANCH}~1").strip() == git(charlie, "rev-parse", "main").strip()
    assert git(charlie, "show", f"{BRANCH}:src/extra.js") == "module.exports = 1\n"
    assert "paved-refresh" not in git(charlie, "branch")
    assert results["bravo"].status == "pending" and "commit(s) of its own" in results["bravo"].reason
    assert git(bravo, "rev-parse", BRANCH).strip() == bravo_tip


def test_a_branch_whose_update_commit_was_amended_is_never_rebuilt(fleet_run):
    root, _, _, _ = fleet_run
    delta = root / SERVICES["delta"][1]
    git(delta, "checkout", "-q", BRANCH)
    (delta / NEW_DOC).write_text("# resolved by the delta team\n")
    git(delta, "commit", "-q", "-a", "--amend", "--no-edit")
    git(delta, "checkout", "-q", "main")
    git(delta, "commit", "-q", "--allow-empty", "-m", "main moves on")
    tip = git(delta, "rev-parse", BRANCH).strip()
    (result,) = fleet.update_fleet([delta], jobs=1)
    assert result.status == "pending" and "left as it is" in result.reason
    assert git(delta, "rev-parse", BRANCH).strip() == tip


def test_format_json_is_the_same_as_json(fleet_root):
    procs = [subprocess.run([PAVED, "fleet", "update", str(fleet_root / "alpha"), *flag], capture_output=True, text=True)
             for flag in (["--json"], ["--format", "json"])]
    assert [p.returncode for p in procs] == [0, 0]
    assert json.loads(procs[0].stdout) == json.loads(procs[1].stdout) != []


def test_fleet_conflicts_says_no_conflicts_when_there_are_none(fleet_root):
    proc = subprocess.run([PAVED, "fleet", "conflicts", str(fleet_root / "alpha")], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, f"no conflicts in {fleet_root / 'alpha'}\n")


def test_a_service_recorded_at_a_commit_is_planned_for_update_not_a_crash(fleet_copy, fleet_template):
    repo = fleet_copy / "charlie"
    answers = repo / ".copier-answers.yml"
    sha = git(fleet_template, "rev-parse", "v2.0.0^{commit}").strip()
    answers.write_text(answers.read_text().replace("_commit: v2.0.0", f"_commit: {sha}"))
    work, done = fleet.plan([repo])
    assert done == [] and [(w["from_version"], w["to_version"]) for w in work] == [(sha, LATEST)]


def test_a_scheduled_run_in_a_fresh_clone_never_builds_over_the_pushed_branch(fleet_copy, tmp_path):
    """The documented scheduled job clones every time: the earlier run's branch is only on origin."""
    service = fleet_copy / "charlie"
    (first,) = fleet.update_fleet([service], jobs=1)
    assert first.status == "updated"
    remote = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(service), str(remote))
    # A human resolves something on the pull request branch and pushes.
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", str(remote), str(human))
    git(human, "checkout", "-q", BRANCH)
    (human / "NOTES.md").write_text("reviewed\n")
    git(human, "add", "-A")
    git(human, "-c", "user.name=h", "-c", "user.email=h@example.com", "commit", "-qm", "review fix")
    git(human, "push", "-q", "origin", BRANCH)
    pushed = git(remote, "rev-parse", BRANCH).strip()

    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    (again,) = fleet.update_fleet([fresh], jobs=1)
    assert again.status == "pending" and "origin/" + BRANCH in again.reason
    assert BRANCH not in git(fresh, "branch", "--format=%(refname:short)").split()  # nothing to push over it
    assert git(remote, "rev-parse", BRANCH).strip() == pushed

    # The checkout that made the branch fetches, main moves on: its branch is
    # still paved's own commit locally, but origin has the human's: not rebuilt.
    git(service, "remote", "add", "origin", str(remote))
    git(service, "fetch", "-q", "origin")
    git(service, "commit", "-q", "--allow-empty", "-m", "main moves on")
    tip = git(service, "rev-parse", BRANCH).strip()
    (third,) = fleet.update_fleet([service], jobs=1)
    assert third.status == "pending" and "differs from the commit paved made" in third.reason
    assert git(service, "rev-parse", BRANCH).strip() == tip


def test_fleet_conflicts_found_is_exit_3_never_the_unexpected_failure_code(fleet_copy):
    service = fleet_copy / "alpha"
    (service / "README.md").write_text("<<<<<<< before updating\nours\n=======\ntheirs\n>>>>>>> after updating\n")
    (service / "src.js.rej").write_text("--- a\n+++ b\n@@ -1 +1 @@\n-a\n+b\n@@ -5 +5 @@\n-c\n+d\n")
    proc = subprocess.run([PAVED, "fleet", "conflicts", str(service)], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (3, "README.md  1 hunk(s)\nsrc.js.rej  2 hunk(s)\n"), proc.stderr
