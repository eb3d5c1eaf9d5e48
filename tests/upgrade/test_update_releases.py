"""A service generated at v1.0.0, edited by its team, updated to v1.1.0 and v2.0.0.

The journey runs once (module fixture) and records what a user would look at
after each step; the tests below assert on those snapshots.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from plumbum import local

from paved_road.fleet.fleet import find_conflicts
from template_releases import (
    DELETED_FILE,
    DOCKER_EDIT,
    EXTRA_DEPENDENCY,
    MOVED_FILE,
    MOVED_FILE_EDIT,
    NEW_DOC,
    ROUTE,
    SERVICE_ANSWERS,
    TEAM_TOP_LINE,
    generate,
    git,
    make_local_edits,
    update,
)

COPIER = str(Path(sys.executable).with_name("copier"))
PAVED = str(Path(sys.executable).with_name("paved"))


def _answers(service: Path) -> dict:
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


def _snapshot(service: Path) -> dict:
    files = {}
    for path in service.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(service).parts:
            files[path.relative_to(service).as_posix()] = path.read_text(errors="replace")
    return files


def _resolve_conflicts(service: Path, rel: str) -> None:
    """Keep both sides, as a reviewer would, and drop the markers."""
    path = service / rel
    kept = [l for l in path.read_text().splitlines(keepends=True)
            if not l.startswith(("<<<<<<< ", "=======", ">>>>>>> ", "||||||| "))]
    path.write_text("".join(kept))


@pytest.fixture(scope="module")
def journey(template_repo, tmp_path_factory):
    log = tmp_path_factory.mktemp("migrations") / "migrations.log"
    # copier runs migrations with plumbum's environment, a copy of os.environ
    # taken at import time: set the variable there.
    with local.env(PAVED_MIGRATION_LOG=str(log)):
        service = generate(template_repo, tmp_path_factory.mktemp("svc") / "orders", "v1.0.0")
        record = {"service": service, "log": log, "v1.0.0": _snapshot(service)}
        record["edits"] = make_local_edits(service)
        record["check_update"] = subprocess.run(
            [COPIER, "check-update", "--output-format", "json"], cwd=service,
            capture_output=True, text=True,
        )

        update(service, "v1.1.0")
        record["v1.1.0"] = _snapshot(service)
        record["v1.1.0_conflicts"] = find_conflicts(service)
        record["v1.1.0_cli"] = subprocess.run([PAVED, "fleet", "conflicts", str(service)],
                                              capture_output=True, text=True)
        record["v1.1.0_unmerged"] = git(service, "diff", "--name-only", "--diff-filter=U").split()
        for rel in record["v1.1.0_conflicts"]:
            _resolve_conflicts(service, rel)
        git(service, "add", "-A")
        git(service, "commit", "-q", "-m", "Update to Paved Road v1.1.0")
        update(service, "v1.1.0")
        record["v1.1.0_again"] = git(service, "status", "--porcelain")

        update(service, "v2.0.0")
        record["v2.0.0"] = _snapshot(service)
        record["v2.0.0_conflicts"] = find_conflicts(service)
        for rel in record["v2.0.0_conflicts"]:
            _resolve_conflicts(service, rel)
        record["v2.0.0_resolved"] = _snapshot(service)
        git(service, "add", "-A")
        git(service, "commit", "-q", "-m", "Update to Paved Road v2.0.0")
        update(service, "v2.0.0")
        record["v2.0.0_again"] = git(service, "status", "--porcelain")
        record["v2.0.0_log"] = log.read_text() if log.exists() else ""
        return record


def test_check_update_reports_the_latest_release(journey):
    proc = journey["check_update"]
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["update_available"] is True
    assert report["current_version"] == "1.0.0"
    assert report["latest_version"] == "2.0.0"


@pytest.mark.parametrize("version", ["v1.1.0", "v2.0.0"])
def test_template_changes_land(journey, version):
    files = journey[version]
    assert "# orders on call" in files[NEW_DOC]
    assert files["Dockerfile"].rstrip().endswith('LABEL org.opencontainers.image.vendor="Paved Road"')
    if version == "v2.0.0":
        assert "The container listens on 8080." in files[NEW_DOC]


@pytest.mark.parametrize("version", ["v1.1.0", "v2.0.0"])
def test_local_edits_survive(journey, version):
    files = journey[version]
    assert "/api/orders" in files[ROUTE]
    assert "app.register(ordersRoutes)" in files["src/app.js"]
    assert DOCKER_EDIT in files["Dockerfile"]
    name, pinned = EXTRA_DEPENDENCY
    assert json.loads(files["package.json"])["dependencies"][name] == pinned
    workflow = journey["edits"]["workflow"]
    assert files[workflow] != journey["v1.0.0"][workflow]
    assert DELETED_FILE in journey["v1.0.0"] and DELETED_FILE not in files


def test_conflicting_edit_shows_markers_that_paved_reports(journey):
    rel = journey["edits"]["conflict"]
    assert journey["v1.1.0_conflicts"] == [rel]
    cli = journey["v1.1.0_cli"]
    assert (cli.returncode, cli.stdout) == (3, f"{rel}  1 hunk(s)\n")
    assert journey["v1.1.0_unmerged"] == [rel]
    text = journey["v1.1.0"][rel]
    # Nothing dropped: both the team's line and the template's line are there.
    assert TEAM_TOP_LINE in text and "Paved Road template v1.1" in text
    assert "<<<<<<< " in text and ">>>>>>> " in text
    # v2.0.0 moves a file the team edited: the edit follows it (see test below).
    assert journey["v2.0.0_conflicts"] == [MOVED_FILE[1]]


@pytest.mark.parametrize("version", ["v1.1.0", "v2.0.0"])
def test_answers_file_points_at_the_new_release(journey, version):
    answers = yaml.safe_load(journey[version][".copier-answers.yml"])
    assert answers["_commit"] == version
    assert Path(answers["_src_path"]).is_absolute()
    info = yaml.safe_load(journey[version]["catalog-info.yaml"])
    assert info["metadata"]["annotations"]["paved-road.dev/template-version"] == version


def test_breaking_rename_migrates_the_answer(journey):
    answers = yaml.safe_load(journey["v2.0.0"][".copier-answers.yml"])
    assert "http_port" not in answers
    assert answers["container_port"] == SERVICE_ANSWERS["http_port"]
    # The renamed answer still renders: no file fell back to the default port.
    assert "EXPOSE 8080" in journey["v2.0.0"]["Dockerfile"]
    assert journey["v2.0.0"]["Dockerfile"] .count("3000") == journey["v1.0.0"]["Dockerfile"].count("3000")


def test_migration_ran_exactly_once(journey):
    lines = journey["v2.0.0_log"].splitlines()
    assert lines == [f"orders v2.0.0: renamed answer http_port -> container_port; moved {MOVED_FILE[0]} -> {MOVED_FILE[1]}"]


def test_moved_file_keeps_the_team_edit(journey):
    old, new = MOVED_FILE
    files = journey["v2.0.0"]
    assert old not in files and new in files
    assert MOVED_FILE_EDIT in files[new]  # nothing silently dropped
    assert "<<<<<<< " in files[new]  # shown next to the template's version
    resolved = journey["v2.0.0_resolved"][new]
    assert MOVED_FILE_EDIT in resolved and journey["v1.0.0"][old].strip().splitlines()[0] in resolved


@pytest.mark.parametrize("version", ["v1.1.0", "v2.0.0"])
def test_updating_again_changes_nothing(journey, version):
    assert journey[f"{version}_again"] == ""
