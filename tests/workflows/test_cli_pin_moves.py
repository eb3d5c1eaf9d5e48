"""deploy.yml and rollback.yml install the paved CLI at the template release the
service is on, so `copier update` to a new release moves the pin with it."""

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
PIN = re.compile(r'"paved-road @ git\+(\S+)@(\S+)"')


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
    assert pins(service) == {(url, "v1.0.0")}

    git(service, "init", "-q", "-b", "main")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "generated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_update(service, vcs_ref="v1.1.0", defaults=True, unsafe=True, quiet=True, overwrite=True)
    assert pins(service) == {(url, "v1.1.0")}

    # The install line itself works against that pin: pip resolves the tag in the git repository.
    install = next(s["run"] for s in _deploy_steps(service) if "pip install" in s.get("run", ""))
    download = install.replace("python -m pip install", f"{sys.executable} -m pip download --no-deps -d {tmp_path / 'dl'}")
    proc = subprocess.run(download, shell=True, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    [archive] = (tmp_path / "dl").iterdir()
    assert archive.name.startswith("paved-road-") and archive.suffix == ".zip"


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
