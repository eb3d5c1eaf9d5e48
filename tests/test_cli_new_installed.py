"""`paved new` from an installed package (not a checkout): the template is where pip installed paved
from, read from the distribution's PEP 610 `direct_url.json`; with none, a usage error (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "upgrade"))
from template_releases import init_template_repo  # noqa: E402

from paved_road import template_source  # noqa: E402


def _pip(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "-q", *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _paved_from(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """The installed copy of paved (site on PYTHONPATH, ahead of the editable checkout), no $PAVED_TEMPLATE."""
    env = {k: v for k, v in os.environ.items() if k != "PAVED_TEMPLATE"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "paved_road.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def installs(tmp_path_factory):
    """The repository as a git remote at tag v1.0.0, installed twice: from git (pip writes vcs_info)
    and from a wheel file (archive_info: no repository named)."""
    root = tmp_path_factory.mktemp("installed")
    repo = init_template_repo(root / "paved-road")
    _pip("install", "--no-deps", "--target", str(root / "from-git" / "lib"), f"git+{repo.as_uri()}@v1.0.0")
    _pip("wheel", "--no-deps", "-w", str(root / "wheels"), str(repo))
    (wheel,) = (root / "wheels").glob("paved_road-*.whl")
    _pip("install", "--no-deps", "--target", str(root / "from-wheel" / "lib"), str(wheel))
    return root, repo


def test_installed_from_git_renders_the_template_at_the_installed_revision(installs, tmp_path):
    root, repo = installs
    site = root / "from-git" / "lib"
    direct = json.loads((next(site.glob("paved_road-*.dist-info")) / "direct_url.json").read_text())
    assert direct["vcs_info"]["requested_revision"] == "v1.0.0"  # what pip recorded (PEP 610)
    proc = _paved_from(site, tmp_path, "new", str(tmp_path / "orders"), "--demo", "-a", "service_name=orders")
    assert proc.returncode == 0, proc.stderr
    answers = yaml.safe_load((tmp_path / "orders" / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(repo) and answers["_commit"] == "v1.0.0"


def test_installed_from_a_wheel_file_is_a_usage_error_naming_template(installs, tmp_path):
    root, _ = installs
    proc = _paved_from(root / "from-wheel" / "lib", tmp_path, "new", str(tmp_path / "orders"), "--demo")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("paved new: no template found: pass --template URL")
    assert not (tmp_path / "orders").exists()


def test_direct_url_of_an_https_git_install(tmp_path, monkeypatch):
    """`pip install git+https://git.example.com/platform/paved-road.git@v2.3.0` as PEP 610 records it."""
    info = tmp_path / "paved_road-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: paved-road\nVersion: 0.1.0\n")
    (info / "direct_url.json").write_text(json.dumps({
        "url": "https://git.example.com/platform/paved-road.git",
        "vcs_info": {"vcs": "git", "requested_revision": "v2.3.0", "commit_id": "0" * 40}}))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert template_source.installed_from() == ("https://git.example.com/platform/paved-road.git", "v2.3.0")
    (info / "direct_url.json").write_text(json.dumps({
        "url": "https://git.example.com/platform/paved-road.git", "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}))
    assert template_source.installed_from() == ("https://git.example.com/platform/paved-road.git", "a" * 40)
    (info / "direct_url.json").write_text(json.dumps({"url": "https://files.example.com/paved_road-0.1.0.whl",
                                                      "archive_info": {}}))
    assert template_source.installed_from() is None


def test_direct_url_with_environment_variable_credentials(tmp_path, monkeypatch):
    """PEP 610 lets `url`'s user:password be environment variables (`${GITHUB_TOKEN}`), and `git` as an
    ssh user. The template source drops the placeholders (git's credential helper authenticates; a token
    expanded here would end up in every service's .copier-answers.yml) and keeps `git@`."""
    info = tmp_path / "paved_road-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: paved-road\nVersion: 0.1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    for url, expected in (("https://${GITHUB_TOKEN}@github.com/org/paved-road.git", "https://github.com/org/paved-road.git"),
                          ("https://${USER}:${PASS}@git.example.com/paved-road.git", "https://git.example.com/paved-road.git"),
                          ("ssh://git@github.com/org/paved-road.git", "ssh://git@github.com/org/paved-road.git")):
        (info / "direct_url.json").write_text(json.dumps({"url": url, "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}))
        assert template_source.installed_from() == (expected, "a" * 40)
