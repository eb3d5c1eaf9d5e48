from __future__ import annotations

import pytest

from template_releases import build_release_history


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory):
    """A git copy of this repository tagged v1.0.0, v1.1.0 and v2.0.0."""
    return build_release_history(tmp_path_factory.mktemp("template") / "paved-road")
