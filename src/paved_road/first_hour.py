"""A newcomer's first commands, made safe and self-explaining.

- `paved new` refuses a destination inside the template checkout (the service
  would be an untracked folder of the template, and `paved update` would then
  nudge its owner to commit it there), makes the new service a git repository
  with a first commit (copier update needs one), and says what to do next.
- `catalog` and `update` against a template without release tags say how to
  tag one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# Who the first commit is by when git has no identity configured (named in the output, easy to amend).
FALLBACK_IDENTITY = ("paved new", "paved-new@localhost")


def inside_template(dest: Path, template: str) -> str | None:
    """The one-line refusal when `dest` lies inside the local template checkout `template`, else None."""
    root = Path(template).expanduser()
    if not root.is_dir():
        return None  # a URL: copier clones it elsewhere
    root = root.resolve()
    where = dest.absolute().resolve()
    if where != root and not where.is_relative_to(root):
        return None
    suggestion = os.path.relpath(root.parent / (where.name if where != root else "my-service"))
    return (f"destination '{dest}' is inside the template checkout {root}; a service is its own repository: "
            f"generate it next to the template, e.g. paved new {suggestion}")


def _git(dest: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=dest, capture_output=True, text=True, env=env)


def init_repository(dest: Path) -> str:
    """`git init` and a first commit of everything generated; returns one line saying what was done.

    Inside an existing repository (a monorepo) nothing is initialised: the service is committed there."""
    if shutil.which("git") is None:
        return "git not found: run git init && git add -A && git commit yourself (paved update needs a repository)"
    outer = _git(dest, "rev-parse", "--show-toplevel")
    if outer.returncode == 0:
        return f"inside the git repository {outer.stdout.strip()}: not initialised; commit the service there"
    init = _git(dest, "init", "-q", "-b", "main")
    if init.returncode:
        return f"git init failed ({init.stderr.strip()}); run git init yourself"
    _git(dest, "add", "-A")
    env = dict(os.environ)
    note = ""
    if not _git(dest, "config", "user.email").stdout.strip():
        name, email = FALLBACK_IDENTITY
        env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
        note = f" as '{name}' (git has no user.email; fix with git commit --amend --reset-author)"
    commit = _git(dest, "commit", "-q", "--no-verify", "-m", "Generate the service from the Paved Road template", env=env)
    if commit.returncode:
        return f"git repository created, but the first commit failed ({commit.stderr.strip()}); commit it yourself"
    head = _git(dest, "rev-parse", "--short", "HEAD").stdout.strip()
    return f"git repository on branch main, first commit {head}{note}"


def next_steps(dest: str, answers: dict) -> list[str]:
    """What a newcomer does after `paved new`, as commands to copy."""
    node = answers.get("node_major") or 24
    repo = answers.get("github_repository")
    steps = [f"cd {dest}",
             f"paved dev                     # runs it with Node.js {node} and prints its spans; in another shell: "
             f"curl localhost:{answers.get('http_port') or 3000}/api/example",
             f"npm test                      # after paved dev installed node_modules; needs Node.js {node} on PATH"]
    if repo and "github_repository" not in (answers.get("_placeholders") or []):
        steps.append(f"git remote add origin git@github.com:{repo}.git && git push -u origin main")
    steps.append("paved catalog .               # later: how far behind the template's latest release")
    return steps


def no_release_hint(src: str) -> str:
    """How to give a template its first release tag (catalog and update say it when there is none)."""
    if Path(src).expanduser().is_dir():
        return f"tag a release in the template: git -C {src} tag v1.0.0"
    return f"tag a release in the template repository: git tag v1.0.0 && git push origin v1.0.0 (in a clone of {src})"
