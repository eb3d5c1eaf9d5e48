"""Fixtures shared by every suite: the repository root and pinned Node toolchains."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from paved_road.local.node_toolchain import node_env

REPO_ROOT = Path(__file__).resolve().parents[1]

# `make test` runs `.venv/bin/python -m pytest` without activating the venv:
# put its bin/ (paved, hadolint, zizmor, check-jsonschema, moto_server) on PATH
# for every subprocess the tests start.
_VENV_BIN = str(Path(sys.executable).parent)
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")


def restore_sigint() -> None:
    """A shell without job control starts a background command (`cmd &`,
    `nohup cmd &`) with SIGINT ignored, and every process it starts inherits
    that: the suite's Ctrl-C tests would then fail for a reason that is not
    the code's. Python's own handler is put back, which exec resets to the
    default in every process the tests start."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


restore_sigint()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def node24_env() -> dict[str, str]:
    """Environment with the pinned Node 24 (from the npm registry) first on PATH."""
    return node_env(24)


@pytest.fixture(scope="session")
def node22_env() -> dict[str, str]:
    return node_env(22)
