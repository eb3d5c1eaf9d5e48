"""`paved update`: one service, real template tags, a team's real edits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from template_releases import SERVICE_ANSWERS, TEAM_TOP_LINE, git, make_local_edits


@pytest.fixture(scope="module", autouse=True)
def _canonical(canonical_release_template):
    """Before the module's other fixtures (autouse): they run paved update themselves."""


PAVED = str(Path(sys.executable).with_name("paved"))


def _paved(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PAVED, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def edited_service(service_v1, tmp_path) -> Path:
    service = tmp_path / "orders"
    shutil.copytree(service_v1, service, symlinks=True)
    make_local_edits(service)
    return service


def test_conflicts_are_listed_with_hunks_exit_3_and_how_to_finish(edited_service):
    proc = _paved("update", "--to", "v1.1.0", cwd=edited_service)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(". : updated from v1.0.0 to v1.1.0;".replace(" :", ":"))
    assert lines[1] == "1 file(s) with conflicts (1 hunk(s)) to resolve:"
    assert lines[2] == "  README.md  1 hunk(s)"
    assert lines[3].startswith("To finish: edit each file above") and "git add -A && git commit" in lines[3]
    # What it says is true: the markers are there, the answers were kept, nothing was asked.
    readme = (edited_service / "README.md").read_text()
    assert sum(line.startswith("<<<<<<< ") for line in readme.splitlines()) == 1 and TEAM_TOP_LINE in readme
    answers = yaml.safe_load((edited_service / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v1.1.0" and answers["http_port"] == SERVICE_ANSWERS["http_port"]
    assert proc.stderr == ""  # no copier chatter, no temp paths


def test_major_update_keeps_renamed_answers_and_reports_json(edited_service):
    proc = _paved("update", str(edited_service), "--format", "json", cwd=edited_service.parent)
    assert proc.returncode == 3, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["from_version"], result["to_version"]) == ("v1.0.0", "v2.0.0")
    assert all(isinstance(n, int) and n >= 1 for n in result["conflicts"].values())
    assert set(result["conflicts"]) <= set(result["changed"]) | {c for c in result["conflicts"] if c.endswith(".rej")}
    answers = yaml.safe_load((edited_service / ".copier-answers.yml").read_text())
    assert answers["container_port"] == SERVICE_ANSWERS["http_port"] and "http_port" not in answers


def test_clean_update_exit_0_then_already_current(service_v1, tmp_path):
    service = tmp_path / "orders"
    shutil.copytree(service_v1, service, symlinks=True)
    proc = _paved("update", "--to", "v1.1.0", cwd=service)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == ("No conflicts. To finish: review with `git diff`, then "
                                            "`git add -A && git commit -m 'Update Paved Road template to v1.1.0'`.")
    git(service, "add", "-A")
    git(service, "commit", "-qm", "update")
    again = _paved("update", "--to", "v1.1.0", cwd=service)
    assert (again.returncode, again.stdout) == (0, ".: already on v1.1.0; nothing to do\n")
    assert git(service, "status", "--porcelain") == ""
    older = _paved("update", "--to", "v1.0.0", cwd=service)
    assert (older.returncode, older.stdout) == (
        0, ".: already on v1.1.0, past v1.0.0; nothing to do (paved update never downgrades)\n")
    assert git(service, "status", "--porcelain") == ""


def test_generated_readme_and_upgrade_docs_use_paved_update(service_v1, repo_root):
    readme = (service_v1 / "README.md").read_text()
    assert "paved update" in readme and "copier update --trust`" not in readme
    docs = (repo_root / "docs/upgrades.md").read_text()
    one_service = docs.split("## Updating one service", 1)[1].split("\n## ", 1)[0]
    assert "paved update" in one_service


def test_changed_paths_are_exact_names_for_spaces_non_ascii_and_renames(tmp_path):
    """A conflicted file is matched by name: git's quoting ("caf\\303\\251 notes.md") must not hide it."""
    from paved_road.fleet.fleet import changed_paths

    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "old name.md").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "init")
    git(repo, "mv", "old name.md", "new name.md")
    (repo / "docs").mkdir()
    (repo / "docs/café notes.md").write_text("<<<<<<< before updating\n")
    assert changed_paths(repo) == {"new name.md", "docs/café notes.md"}
