"""Pinned npm CLIs for the ecosystem tests, installed once into .cache/npm-<name>.

Each tool set has a package.json and package-lock.json under tools/<name>/;
`npm ci` (no install scripts) runs on the pinned Node when the lock changed.
Several test processes (and other checkouts sharing .cache) may ask at once:
one installs, the others wait on a lock file.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_SRC = Path(__file__).resolve().parent / "tools"


def install(name: str, env: dict[str, str]) -> Path:
    """`npm ci` tools/<name> into .cache/npm-<name>; returns its node_modules."""
    src = TOOLS_SRC / name
    dst = REPO_ROOT / ".cache" / f"npm-{name}"
    lock = (src / "package-lock.json").read_bytes()
    stamp = dst / ".installed-lock.json"
    dst.mkdir(parents=True, exist_ok=True)
    with open(dst / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_bytes() == lock and (dst / "node_modules").is_dir()):
            stamp.unlink(missing_ok=True)
            shutil.copy(src / "package.json", dst / "package.json")
            shutil.copy(src / "package-lock.json", dst / "package-lock.json")
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                           cwd=dst, env=env, check=True, stdout=subprocess.DEVNULL)
            stamp.write_bytes(lock)
    return dst / "node_modules"
