"""Throwaway template repositories with a release history, built at test time.

The working tree of this repository (tracked plus untracked-but-not-ignored
files) is copied into a fresh git repository and tagged v1.0.0; then a v1.1.0
(template changes) and a v2.0.0 (a breaking rename of the `http_port` question
to `container_port`, carried by a real hooks/migrations.yml entry) are
committed on top. Service-side edits live here too, so the update tests and
the catalog/fleet tests use one definition of "a team's local changes".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Paved Road tests",
    "GIT_AUTHOR_EMAIL": "tests@paved-road.invalid",
    "GIT_COMMITTER_NAME": "Paved Road tests",
    "GIT_COMMITTER_EMAIL": "tests@paved-road.invalid",
}

# Answers every generated test service uses; http_port is not the default so a
# lost answer after the v2.0.0 rename is visible in the rendered files.
SERVICE_ANSWERS = {"service_name": "orders", "owner": "team-orders", "system": "shop", "http_port": 8080}

NEW_DOC = "docs/on-call.md"  # added by v1.1.0
MOVED_FILE = ("otel/collector.local.yaml", "otel/collector-local.yaml")  # moved by v2.0.0
MOVED_FILE_EDIT = "# orders team: keep spans of /healthz out of Jaeger\n"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV}
    )
    if check and proc.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr or proc.stdout}")
    return proc.stdout


def repo_state(repo: Path) -> dict:
    """What a failed or interrupted update must leave exactly as it was: branch, HEAD, the
    working tree (ignored files included) and the set of branches."""
    return {
        "branch": git(repo, "symbolic-ref", "--short", "HEAD").strip(),
        "head": git(repo, "rev-parse", "HEAD").strip(),
        "status": git(repo, "status", "--porcelain", "--ignored"),
        "branches": sorted(git(repo, "branch", "--format=%(refname:short)").split()),
    }


def copy_working_tree(src: Path, dst: Path) -> None:
    """Tracked and untracked-but-not-ignored files of `src`, as they are on disk."""
    listed = git(src, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, listed):
        path = src / rel
        if not path.is_file():  # deleted in the working tree, or a submodule
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def commit_and_tag(repo: Path, tag: str, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    git(repo, "tag", tag)


def init_template_repo(dst: Path) -> Path:
    dst.mkdir(parents=True)
    copy_working_tree(REPO_ROOT, dst)
    git(dst, "init", "-q", "-b", "main")
    commit_and_tag(dst, "v1.0.0", "v1.0.0: the working tree under test")
    return dst


def conflict_file(template_dir: Path) -> str:
    """The generated file both the template (v1.1.0) and the team edit at its top."""
    return "README.md" if (template_dir / "README.md.jinja").exists() else ".editorconfig"


def _top_line(rel: str, text: str) -> str:
    return f"<!-- {text} -->\n" if rel.endswith(".md") else f"# {text}\n"


def release_v1_1(repo: Path) -> None:
    """A minor release: a new document, a Dockerfile label, a line at the top of the README."""
    template = repo / "template"
    doc = template / f"{NEW_DOC}.jinja"
    assert not doc.exists(), f"{doc} exists already; pick another file for the v1.1.0 change"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("# {{ service_name }} on call\n\nPage {{ owner }} through the incident tool.\n")
    dockerfile = template / "Dockerfile.jinja"
    dockerfile.write_text(dockerfile.read_text().rstrip("\n") + '\nLABEL org.opencontainers.image.vendor="Paved Road"\n')
    rel = conflict_file(template)
    src = template / (rel + ".jinja" if (template / (rel + ".jinja")).exists() else rel)
    src.write_text(_top_line(rel, "Paved Road template v1.1") + src.read_text())
    commit_and_tag(repo, "v1.1.0", "v1.1.0: on-call doc, image vendor label")


def release_v2(repo: Path) -> None:
    """A breaking release: the question http_port becomes container_port."""
    for path in [repo / "copier.yml", *sorted((repo / "template").rglob("*"))]:
        if path.is_file():
            text = path.read_text()
            if "http_port" in text:
                path.write_text(text.replace("http_port", "container_port"))
    registry_path = repo / "hooks" / "migrations.yml"
    registry = yaml.safe_load(registry_path.read_text()) or {}
    registry["migrations"] = [
        *(registry.get("migrations") or []),
        {"version": "v2.0.0", "rename_answers": {"http_port": "container_port"}},
    ]
    registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
    # ... and a generated file moves; every reference to it follows.
    old_path, new_path = MOVED_FILE
    suffix = "" if (repo / "template" / old_path).exists() else ".jinja"  # rendered from a .jinja source
    src = repo / "template" / (old_path + suffix)
    assert src.exists(), f"{src} is gone; pick another file for the v2.0.0 move"
    src.rename(repo / "template" / (new_path + suffix))
    for path in sorted((repo / "template").rglob("*")):
        if path.is_file() and old_path in (text := path.read_text(errors="ignore")):
            path.write_text(text.replace(old_path, new_path))
    registry["migrations"][-1]["move_files"] = {old_path: new_path}
    registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
    doc = repo / "template" / f"{NEW_DOC}.jinja"
    doc.write_text(doc.read_text() + "\nThe container listens on {{ container_port }}.\n")
    commit_and_tag(repo, "v2.0.0", "v2.0.0: http_port renamed to container_port, local collector config moved")


def build_release_history(dst: Path) -> Path:
    repo = init_template_repo(dst)
    release_v1_1(repo)
    release_v2(repo)
    return repo


def generate(template: Path, dst: Path, vcs_ref: str, answers: dict | None = None) -> Path:
    import copier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(
            str(template), str(dst), data=answers or dict(SERVICE_ANSWERS), vcs_ref=vcs_ref,
            defaults=True, unsafe=True, quiet=True,
        )
    git(dst, "init", "-q", "-b", "main")
    git(dst, "add", "-A")
    git(dst, "commit", "-q", "-m", f"Generated from the Paved Road {vcs_ref}")
    return dst


def update(service: Path, vcs_ref: str) -> None:
    import copier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_update(
            str(service), vcs_ref=vcs_ref, defaults=True, unsafe=True, overwrite=True,
            skip_answered=True, quiet=True,
        )


# ---------------------------------------------------------------------------
# A team's local edits
# ---------------------------------------------------------------------------
ROUTE = "src/routes/orders.js"
EXTRA_DEPENDENCY = ("left-pad", "1.3.0")
DOCKER_EDIT = " && echo 'team build step'"
DELETED_FILE = "docker-compose.yml"
TEAM_TOP_LINE = "Orders team: see the runbook in Confluence"


def _insert_after_last(text: str, needle: str, line: str) -> str:
    lines = text.splitlines(keepends=True)
    idx = max((i for i, l in enumerate(lines) if needle in l), default=len(lines) - 1)
    lines.insert(idx + 1, line)
    return "".join(lines)


def make_local_edits(service: Path) -> dict[str, str]:
    """Edit a generated service like a team would; returns {what: file}."""
    edits = {}
    (service / ROUTE).write_text(
        "'use strict'\n\nasync function ordersRoutes (app) {\n"
        "  app.get('/api/orders', async () => ({ orders: [] }))\n}\n\nmodule.exports = ordersRoutes\n"
    )
    app_js = service / "src/app.js"
    text = _insert_after_last(app_js.read_text(), "require('./routes/", "const ordersRoutes = require('./routes/orders')\n")
    app_js.write_text(_insert_after_last(text, "app.register(", "  app.register(ordersRoutes)\n"))
    edits["route"] = "src/app.js"

    dockerfile = service / "Dockerfile"
    lines = dockerfile.read_text().splitlines(keepends=True)
    i = next(i for i, l in enumerate(lines) if l.startswith("RUN ") and not l.rstrip().endswith("\\"))
    lines[i] = lines[i].rstrip("\n") + DOCKER_EDIT + "\n"
    dockerfile.write_text("".join(lines))
    edits["dockerfile"] = "Dockerfile"

    pkg = service / "package.json"
    name, version = EXTRA_DEPENDENCY
    pkg.write_text(re.sub(r'("dependencies": \{\n)', rf'\1    "{name}": "{version}",\n', pkg.read_text(), count=1))
    assert json.loads(pkg.read_text())["dependencies"][name] == version
    edits["dependency"] = "package.json"

    workflows = sorted((service / ".github/workflows").glob("*.yml"))
    if workflows:
        wf = workflows[0]
        text = wf.read_text()
        new = re.sub(r"(\n\s*- name: )([^\n]+)", r"\1\2 (orders team)", text, count=1)
        assert new != text, f"no named step in {wf}"
        wf.write_text(new)
        edits["workflow"] = str(wf.relative_to(service))
    else:  # no workflows in this template version: a team edit to another config file
        ignore = service / ".dockerignore"
        ignore.write_text(ignore.read_text() + "# orders team\n*.local\n")
        edits["workflow"] = ".dockerignore"

    moved = service / MOVED_FILE[0]
    moved.write_text(moved.read_text() + MOVED_FILE_EDIT)
    edits["moved"] = MOVED_FILE[0]

    (service / DELETED_FILE).unlink()
    edits["deleted"] = DELETED_FILE

    rel = conflict_file_in_service(service)
    target = service / rel
    target.write_text(_top_line(rel, TEAM_TOP_LINE) + target.read_text())
    edits["conflict"] = rel
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "Orders team changes")
    return edits


def conflict_file_in_service(service: Path) -> str:
    return "README.md" if (service / "README.md").exists() else ".editorconfig"
