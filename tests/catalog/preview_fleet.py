"""A fleet generated from real template tags for `paved fleet preview`, and one preview run over it.

The template is the catalog fleet's (v1.0.0 ... v2.1.1, tests/catalog/conftest.py) plus a candidate
v2.2.0 built here: it changes the escalation line of docs/on-call.md, fixes the tfvars alignment v2.0.0's
rename broke, and its hooks/migrations.yml entry moves a team's docs/team-notes.md under docs/notes/
(a service whose docs/notes is a file fails it). Session fixtures (registered in conftest.py): the
preview tests and the page tests share one fleet and one run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from template_releases import commit_and_tag, generate, git

PAVED = str(Path(sys.executable).with_name("paved"))
CANDIDATE = "v2.2.0"
DOC = "docs/on-call.md"
NOTES = ("docs/team-notes.md", "docs/notes/team.md")
CHARLIE_EDIT = "Escalate after 30 minutes (charlie team).\n"
# name -> (version generated at, what the candidate must do to it)
FLEET = {"alpha": ("v2.1.1", "clean"), "bravo": ("v2.1.0", "clean"), "charlie": ("v2.1.1", "conflicted"),
         "delta": ("v1.1.0", "clean"), "echo": ("v2.1.1", "migration_failed"), "ghost": ("v2.1.1", "update_error"),
         "foxtrot": ("v2.1.1", "clean")}  # its own test breaks on the candidate: clean at --checks update only
FOXTROT_TEST = "the on-call guide escalates after 15 minutes"
SECRET_VAR = "AWS_SECRET_ACCESS_KEY"  # set by the --checks tests: the services' tests must not see it


def _answers(name: str, version: str) -> dict:
    port = "container_port" if version.startswith("v2") else "http_port"
    return {"service_name": name, "owner": f"team-{name}", "system": "shop", port: 8080}


@pytest.fixture(scope="session")
def preview_template(fleet_template, tmp_path_factory):
    """A clone of the fleet's template with the candidate tagged in it."""
    repo = tmp_path_factory.mktemp("preview-template") / "paved-road"
    git(fleet_template.parent, "clone", "-q", "--no-hardlinks", str(fleet_template), str(repo))
    git(repo, "remote", "remove", "origin")
    doc = repo / "template" / f"{DOC}.jinja"
    doc.write_text(doc.read_text().replace("Escalate after 15 minutes.", "Escalate after 10 minutes."))
    # v2.0.0's rename left `container_port` misaligned in the tfvars (terraform fmt -check fails from
    # v2.0.0 on, as `--checks build` shows): the candidate fixes it.
    for tfvars in (repo / "template" / "infra" / "environments").glob("*.tfvars.jinja"):
        tfvars.write_text(re.sub(r"(?m)^container_port +=", "container_port        =", tfvars.read_text()))
    registry_path = repo / "hooks" / "migrations.yml"
    registry = yaml.safe_load(registry_path.read_text())
    registry["migrations"].append({"version": CANDIDATE, "move_files": dict([NOTES])})
    registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
    commit_and_tag(repo, CANDIDATE, "v2.2.0: escalate after 10 minutes; team notes move under docs/notes/")
    return repo


@pytest.fixture(scope="session")
def preview_fleet(preview_template, tmp_path_factory):
    """Pristine services (tests only read them: the preview must leave them byte-identical)."""
    root = tmp_path_factory.mktemp("preview-fleet")
    for name, (version, _) in FLEET.items():
        if name != "ghost":
            generate(preview_template, root / name, version, _answers(name, version))
    charlie = root / "charlie" / DOC
    charlie.write_text(charlie.read_text().replace("Escalate after 15 minutes.\n", CHARLIE_EDIT))
    git(root / "charlie", "commit", "-qam", "charlie escalates later")
    (root / "echo" / NOTES[0]).write_text("echo team notes\n")
    (root / "echo" / "docs" / "notes").write_text("a file where the release wants a directory\n")
    git(root / "echo", "add", "-A")
    git(root / "echo", "commit", "-qm", "team runbook")
    # ghost: its recorded template tag no longer exists, so copier fails to render the old version.
    shutil.copytree(root / "alpha", root / "ghost", symlinks=True)
    answers = root / "ghost" / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace("_commit: v2.1.1", "_commit: v1.0.5")
                       .replace("service_name: alpha", "service_name: ghost"))
    git(root / "ghost", "commit", "-qam", "answers point at a deleted tag")
    (root / "foxtrot" / "test" / "oncall.test.js").write_text(
        "'use strict'\n\nconst { test } = require('node:test')\nconst assert = require('node:assert/strict')\n"
        "const fs = require('node:fs')\nconst path = require('node:path')\n\n"
        f"test('{FOXTROT_TEST}', () => {{\n"
        "  const guide = fs.readFileSync(path.join(__dirname, '..', 'docs', 'on-call.md'), 'utf8')\n"
        "  assert.match(guide, /Escalate after 15 minutes/)\n})\n\n"
        "test('no credential of the machine running the preview reaches our tests', () => {\n"
        f"  assert.equal(process.env.{SECRET_VAR}, undefined)\n}})\n")
    git(root / "foxtrot", "add", "-A")
    git(root / "foxtrot", "commit", "-qm", "foxtrot's own test of the on-call guide")
    broken = root / "broken"
    broken.mkdir()
    (broken / ".copier-answers.yml").write_text("_commit: v1.0.0\nservice_name: [unclosed\n")
    return root


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root`, .git included, by content hash; symlinks by target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            out[rel] = ("link:" + os.readlink(path)) if path.is_symlink() else \
                hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_paved(*args: str, tmpdir: Path, template: Path, timeout: float = 600,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmpdir), "PAVED_TEMPLATE": str(template), **(env or {})}
    return subprocess.run([PAVED, "fleet", "preview", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="session")
def preview_run(preview_fleet, preview_template, tmp_path_factory):
    tmpdir = tmp_path_factory.mktemp("preview-tmp")
    before = tree_digest(preview_fleet)
    proc = run_paved(str(preview_fleet), "--candidate", CANDIDATE, "--json", "-j", "4", tmpdir=tmpdir,
                     template=preview_template)
    after = tree_digest(preview_fleet)
    return proc, json.loads(proc.stdout or "{}"), before, after, tmpdir
