"""deploy.yml and rollback.yml install the paved CLI at the template release the
service is on, by that release's full commit SHA, so `copier update` to a new
release moves the pin with it."""

from __future__ import annotations

import os
import re
import shutil
import sys
import subprocess
import warnings
from pathlib import Path

import copier

from workflow_lint import REPO_ROOT

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@paved-road.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@paved-road.invalid"}
PIN = re.compile(r'"paved-road @ git\+(\S+)@([0-9a-f]{40})"')


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True,
                          capture_output=True, text=True).stdout


def pins(service: Path) -> set[tuple[str, str]]:
    found = set()
    for name in ("deploy.yml", "rollback.yml"):
        found |= set(PIN.findall((service / ".github" / "workflows" / name).read_text()))
    return found


def test_copier_update_moves_the_cli_pin(tmp_path):
    # A template repository with two releases: this working tree as v1.0.0, and v1.1.0 on top.
    template = tmp_path / "paved-road"
    template.mkdir()
    listed = git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for rel in filter(None, listed):
        if (REPO_ROOT / rel).is_file():
            (template / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, template / rel)
    git(template, "init", "-q", "-b", "main")
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "v1.0.0")
    git(template, "tag", "v1.0.0")
    git(template, "commit", "-q", "--allow-empty", "-m", "v1.1.0")
    git(template, "tag", "v1.1.0")

    url = template.as_uri()
    service = tmp_path / "service"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(template), service, vcs_ref="v1.0.0", defaults=True, unsafe=True, quiet=True,
                        data={"paved_road_git_url": url})
    assert pins(service) == {(url, git(template, "rev-parse", "v1.0.0^{commit}").strip())}

    git(service, "init", "-q", "-b", "main")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "generated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_update(service, vcs_ref="v1.1.0", defaults=True, unsafe=True, quiet=True, overwrite=True)
    assert pins(service) == {(url, git(template, "rev-parse", "v1.1.0^{commit}").strip())}

    # The install lines themselves work against that pin, the way the job runs
    # them: the build backend from the hash-locked file, then the CLI from git by
    # commit without build isolation (nothing unpinned is fetched to build it).
    step = next(s for s in _deploy_steps(service) if "pip install" in s.get("run", ""))
    first, second = step["run"].splitlines()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = f"{sys.executable} -m pip --python {venv / 'bin' / 'python'}"  # this checkout's pinned pip
    lock = (service / ".github" / "paved-cli-requirements.txt").read_text()
    backend = re.search(r"^setuptools==[^\n]*(?:\n    --hash=[^\n]*)+", lock, re.M).group(0)
    (tmp_path / "backend.txt").write_text(backend + "\n")
    assert "--require-hashes" in first
    proc = subprocess.run(f"{pip} install -q --require-hashes --no-deps -r {tmp_path / 'backend.txt'}", shell=True,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(second.strip().replace("python -m pip", pip), shell=True,  # the URL comes through env:
                          capture_output=True, text=True, timeout=300, env={**os.environ, **step["env"]})
    assert proc.returncode == 0, proc.stderr
    [direct_url] = (venv / "lib").glob("python3*/site-packages/paved_road-*.dist-info/direct_url.json")
    import json
    origin = json.loads(direct_url.read_text())
    assert origin["url"] == url and origin["vcs_info"]["commit_id"] == git(template, "rev-parse", "v1.1.0^{commit}").strip()


def _deploy_steps(service: Path) -> list[dict]:
    import yaml

    data = yaml.safe_load((service / ".github" / "workflows" / "deploy.yml").read_text())
    return data["jobs"]["staging"]["steps"]


def test_an_scp_style_template_url_becomes_a_url_pip_accepts(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(REPO_ROOT), tmp_path / "svc", vcs_ref="HEAD", defaults=True, unsafe=True, quiet=True,
                        data={"paved_road_git_url": "git@github.com:shop/paved-road.git"})
    [(url, _ref)] = pins(tmp_path / "svc")
    assert url == "ssh://git@github.com/shop/paved-road.git"


def test_the_cli_lock_covers_pyproject_and_every_hash_verifies(tmp_path):
    """The hash-locked dependencies of the CLI (scripts/lock_paved_cli.py) are
    exactly pyproject's pins plus their dependencies: pip in --require-hashes
    mode refuses a file that misses one, and checks each file's hash, here for
    the deploy runners' CPython 3.12 on Linux x86_64 and arm64."""
    import tomllib

    lock = REPO_ROOT / "template" / ".github" / "paved-cli-requirements.txt"
    pinned = dict(re.findall(r"^([a-z0-9-]+)==(\S+) \\$", lock.read_text(), re.M))
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    for requirement in [*project["project"]["dependencies"], *project["build-system"]["requires"]]:
        name, version = requirement.split("==")
        assert pinned.get(name.lower()) == version, f"{requirement}: run scripts/lock_paved_cli.py"
    for platform in ("x86_64", "aarch64"):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--require-hashes", "-r", str(lock), "-d",
             str(tmp_path / platform), "--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
             "--platform", f"manylinux_2_28_{platform}", "--platform", f"manylinux_2_17_{platform}",
             "--platform", f"manylinux2014_{platform}"],
            capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(list((tmp_path / platform).iterdir())) == len(pinned)
