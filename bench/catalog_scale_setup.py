"""Shared set-up for the upgrade benchmarks: a tagged template copy and services."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@paved-road.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@paved-road.invalid"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=GIT_ENV).stdout


def tagged_template(dst: Path, tags: list[str]) -> Path:
    """This working tree (tracked + untracked-not-ignored) in a new repo; one commit per tag.

    Each release after the first appends a line to the generated README, so an
    update has real work to do."""
    dst.mkdir(parents=True)
    listed = git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, listed):
        if (REPO_ROOT / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, dst / rel)
    git(dst, "init", "-q", "-b", "main")
    readme = dst / "template" / "README.md.jinja"
    for i, tag in enumerate(tags):
        if i and readme.exists():
            readme.write_text(readme.read_text() + f"\nRelease note {tag}.\n")
        git(dst, "add", "-A")
        git(dst, "commit", "-q", "--allow-empty", "-m", tag)
        git(dst, "tag", tag)
    return dst


def generate(template: Path, dst: Path, vcs_ref: str, answers: dict) -> Path:
    import copier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(template), str(dst), data=answers, vcs_ref=vcs_ref, defaults=True, unsafe=True, quiet=True)
    git(dst, "init", "-q", "-b", "main")
    git(dst, "add", "-A")
    git(dst, "commit", "-q", "-m", "generated")
    return dst
