"""Fixtures for the deploy/rollback suite; the code lives in aws_world.py.

Helpers are imported from `aws_world` rather than `conftest`, because several
suites have a conftest.py and `from conftest import` would pick whichever came first.
"""

from aws_world import hooked_session, moto_endpoint, world  # noqa: F401  (pytest fixtures)
