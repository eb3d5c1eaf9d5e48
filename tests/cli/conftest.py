"""Fixtures for the CLI sweep: real template releases (tests/upgrade's helper) and services generated from them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "upgrade"))

from template_releases import build_release_history, generate  # noqa: E402


@pytest.fixture(scope="session")
def release_template(tmp_path_factory) -> Path:
    """A git copy of this repository tagged v1.0.0, v1.1.0 and v2.0.0."""
    return build_release_history(tmp_path_factory.mktemp("cli-template") / "paved-road")


@pytest.fixture(scope="session")
def service_v1(release_template, tmp_path_factory) -> Path:
    """A pristine service at v1.0.0 (a git repository); tests work on copies."""
    return generate(release_template, tmp_path_factory.mktemp("cli-svc") / "orders", "v1.0.0")


@pytest.fixture(scope="module")
def canonical_release_template(release_template):
    """$PAVED_TEMPLATE = the release template for one module: the canonical template `paved update`
    and `paved fleet update` accept (a service from any other template is refused, issue 27)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAVED_TEMPLATE", str(release_template))
        yield release_template
