"""Fixtures of the Terraform suite: a moto server, and a service generated
from a tagged clone of this repository (so its infra/ pins a real tag)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import copier
import pytest
from moto.server import ThreadedMotoServer

from tfhelpers import REPO_ROOT, SERVICE_ANSWERS, TEMPLATE_TAG

_NOT_COPIED = {".git", ".venv", ".tools", ".cache", "node_modules", "__pycache__", ".pytest_cache", "build", "demo-output"}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def tagged_template(tmp_path_factory) -> Path:
    """The working tree (uncommitted files included) as a git repo tagged TEMPLATE_TAG."""
    clone = tmp_path_factory.mktemp("paved-road") / "paved-road"
    shutil.copytree(REPO_ROOT, clone, ignore=lambda _dir, names: [n for n in names if n in _NOT_COPIED])
    _git(clone, "init", "-q", "-b", "main")
    _git(clone, "add", "-A")
    _git(clone, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-q", "-m", "snapshot")
    _git(clone, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "tag", "-a", TEMPLATE_TAG, "-m", TEMPLATE_TAG)
    return clone


@pytest.fixture(scope="session")
def generated_service(tagged_template, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("generated") / SERVICE_ANSWERS["service_name"]
    copier.run_copy(
        str(tagged_template), dst, data=SERVICE_ANSWERS, vcs_ref=TEMPLATE_TAG,
        defaults=True, unsafe=True, quiet=True,
    )
    return dst


@pytest.fixture(scope="session")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
