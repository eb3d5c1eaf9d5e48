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
from template_releases import NEW_DOC, git

PAVED = str(Path(sys.executable).with_name("paved"))
BRANCH = f"paved/template-{LATEST}"


def _state(repo: Path) -> dict:
    return {
        "branch": git(repo, "symbolic-ref", "--short", "HEAD").strip(),
        "head": git(repo, "rev-parse", "HEAD").strip(),
        "status": git(repo, "status", "--porcelain", "--ignored"),
        "branches": sorted(git(repo, "branch", "--format=%(refname:short)").split()),
    }


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
