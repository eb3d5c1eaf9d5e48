"""A fleet of real generated services at mixed template versions.

The template is a git copy of this repository's working tree with tagged
releases v1.0.0, v1.1.0, v2.0.0 (tests/upgrade/template_releases.py) plus two
more here: v2.1.0 (changes the first line of docs/on-call.md) and v2.1.1.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "upgrade"))

from template_releases import NEW_DOC, build_release_history, commit_and_tag, generate, git  # noqa: E402

# name -> (version generated at, directory under the fleet root)
SERVICES = {
    "alpha": ("v2.1.1", "alpha"),
    "bravo": ("v2.1.0", "bravo"),
    "charlie": ("v2.0.0", "charlie"),
    "delta": ("v1.1.0", "team-d/delta"),  # one level deeper: found by the directory walk
}
EXPECTED_DRIFT = {"alpha": "none", "bravo": "patch", "charlie": "minor", "delta": "major"}
LATEST = "v2.1.1"
DELTA_EDIT = "# Delta on call (team-owned heading)\n"


def _answers(name: str, version: str) -> dict:
    answers = {"service_name": name, "owner": f"team-{name}", "system": "shop" if name != "charlie" else "",
               "architectures": ["arm64"] if name == "bravo" else ["amd64", "arm64"],
               "node_major": 22 if name == "charlie" else 24}
    port_question = "container_port" if version.startswith("v2") else "http_port"
    answers[port_question] = 8080
    if name == "delta":
        answers["runner_mode"] = "self-hosted"
    return answers


@pytest.fixture(scope="session")
def fleet_template(tmp_path_factory):
    repo = build_release_history(tmp_path_factory.mktemp("catalog-template") / "paved-road")
    doc = repo / "template" / f"{NEW_DOC}.jinja"
    lines = doc.read_text().splitlines(keepends=True)
    doc.write_text("# {{ service_name }}: on-call guide\n" + "".join(lines[1:]))
    commit_and_tag(repo, "v2.1.0", "v2.1.0: on-call guide heading")
    doc.write_text(doc.read_text() + "\nEscalate after 15 minutes.\n")
    commit_and_tag(repo, "v2.1.1", "v2.1.1: escalation note")
    return repo


@pytest.fixture(scope="session")
def fleet_root(fleet_template, tmp_path_factory):
    """Pristine services; tests that change them work on copies (see `fleet_copy`)."""
    root = tmp_path_factory.mktemp("fleet")
    for name, (version, rel) in SERVICES.items():
        generate(fleet_template, root / rel, version, _answers(name, version))
    # The delta team edited the line v2.1.0 changes: a conflict on update.
    doc = root / SERVICES["delta"][1] / NEW_DOC
    doc.write_text(DELTA_EDIT + "".join(doc.read_text().splitlines(keepends=True)[1:]))
    git(root / SERVICES["delta"][1], "commit", "-qam", "Our own on-call heading")
    broken = root / "broken"
    broken.mkdir()
    (broken / ".copier-answers.yml").write_text("_commit: v1.0.0\nservice_name: [unclosed\n")
    return root


@pytest.fixture
def fleet_copy(fleet_root, tmp_path):
    dst = tmp_path / "fleet"
    shutil.copytree(fleet_root, dst, symlinks=True)
    return dst
