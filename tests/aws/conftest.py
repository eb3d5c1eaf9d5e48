"""Fixtures for the deploy/rollback suite; the code lives in sim_world.py.

Helpers are imported from `sim_world` rather than `conftest`, because several
suites have a conftest.py and `from conftest import` would pick whichever came first.
"""

import pytest
from sim_world import make_world, sim_endpoint  # noqa: F401  (pytest fixture)


@pytest.fixture
def world(sim_endpoint):  # noqa: F811
    """The default world of `paved sim`: cluster demo, service demo-service on 1.0.0, releases 1.0.0-1.3.0."""
    return make_world(sim_endpoint)
