"""Fixtures: a fleet of real generated services at mixed template versions (see catalog_fleet.py)."""

from __future__ import annotations

import shutil

import pytest

from catalog_fleet import DELTA_EDIT, SERVICES, _answers  # noqa: F401  (also puts tests/upgrade on sys.path)
from template_releases import NEW_DOC, build_release_history, commit_and_tag, generate, git
from preview_fleet import preview_fleet, preview_run, preview_template  # noqa: F401  (session fixtures)


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


@pytest.fixture(scope="module")
def canonical_fleet_template(fleet_template):
    """$PAVED_TEMPLATE = the fleet's template for one module: the canonical template `paved fleet
    update` accepts (a service from any other template is skipped, issue 27)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAVED_TEMPLATE", str(fleet_template))
        yield fleet_template
