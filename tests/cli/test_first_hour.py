"""A newcomer's first commands, run as the real CLI: `paved new` next to the template (never inside it), a
service that is a git repository from the start, next steps, and what to do when the template has no release."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PAVED = str(Path(sys.executable).with_name("paved"))


def paved(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([PAVED, *args], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, **(env or {})})


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(("dest", "suggested"), [("my-service", "../my-service"), ("services/orders", "../orders")])
def test_new_refuses_a_destination_inside_the_template_checkout(release_template, dest, suggested):
    before = git(release_template, "status", "--porcelain", "--untracked-files=all")
    proc = paved("new", dest, "--demo", cwd=release_template, env={"PAVED_TEMPLATE": str(release_template)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"paved new: destination '{dest}' is inside the template checkout {release_template}")
    assert line.endswith(f"e.g. paved new {suggested}")
    assert not (release_template / dest.split("/")[0]).exists()
    assert git(release_template, "status", "--porcelain", "--untracked-files=all") == before


def test_new_makes_a_git_repository_with_a_first_commit_and_prints_next_steps(release_template, tmp_path):
    dest = tmp_path / "orders"
    proc = paved("new", str(dest), "--demo", "--template", str(release_template), "-a", "service_name=orders")
    assert proc.returncode == 0, proc.stderr
    assert git(dest, "status", "--porcelain", "--untracked-files=all") == ""  # everything committed
    assert git(dest, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(dest, "symbolic-ref", "--short", "HEAD").strip() == "main"
    head = git(dest, "rev-parse", "--short", "HEAD").strip()
    first, steps_title, *steps = proc.stdout.splitlines()
    assert first == f"Generated orders in {dest}; git repository on branch main, first commit {head}"
    assert steps_title == "Next steps:" and steps[0] == f"  cd {dest}"
    assert any(s.split("#")[0].strip() == "paved dev" and "Node.js 24" in s and "/api/example" in s for s in steps)
    # the trap is gone: `paved update` on the new service does not ask to commit first
    update = paved("update", str(dest), "--template", str(release_template))  # the canonical template (issue 27)
    assert update.returncode == 0, update.stderr
    assert "already on v2.0.0" in update.stdout


def test_new_without_a_git_identity_still_commits_and_says_how_to_fix_it(release_template, tmp_path):
    dest = tmp_path / "orders"
    env = {"HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "XDG_CONFIG_HOME": str(tmp_path)}
    env.update({k: "" for k in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
                                "EMAIL")})
    proc = paved("new", str(dest), "--demo", "--template", str(release_template), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "as 'paved new' (git has no user.email; fix with git commit --amend --reset-author)" in proc.stdout
    assert git(dest, "log", "-1", "--format=%an <%ae>").strip() == "paved new <paved-new@localhost>"


@pytest.fixture()
def untagged_service(release_template, tmp_path) -> tuple[Path, Path]:
    template = tmp_path / "template"
    subprocess.run(["git", "clone", "-q", str(release_template), str(template)], check=True)
    for tag in git(template, "tag").split():
        git(template, "tag", "-d", tag)
    dest = tmp_path / "orders"
    proc = paved("new", str(dest), "--demo", "--template", str(template))
    assert proc.returncode == 0, proc.stderr
    return template, dest


def test_update_without_release_tags_says_how_to_tag_one(untagged_service):
    template, dest = untagged_service
    proc = paved("update", str(dest), "--template", str(template))
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line == (f"paved update: the template at {template} has no release tags, so there is nothing to update "
                    f"to; tag a release in the template: git -C {template} tag v1.0.0")


def test_catalog_without_release_tags_says_how_to_tag_one(untagged_service):
    template, dest = untagged_service
    proc = paved("catalog", str(dest))
    assert f"paved catalog: {template} has no release tags, so drift is unknown; tag a release in the template: " \
           f"git -C {template} tag v1.0.0" in proc.stderr.splitlines()
    git(template, "tag", "v9.0.0")  # doing what it says fixes it
    again = paved("catalog", str(dest))
    assert "no release tags" not in again.stderr and "v9.0.0" in again.stdout
