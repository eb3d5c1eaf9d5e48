"""Regenerate template/package-lock.json.jinja from template/package.json.jinja.

Run after changing dependencies in the template:  .venv/bin/python scripts/refresh_lockfile.py
It resolves the lock with npm on the pinned Node 24 (npm skips releases whose
`engines` exclude the running Node, so resolving on the machine's Node would
pick older OpenTelemetry lines) and turns the root package's name and engines
back into template expressions, so `npm ci` works on every generated service.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import jinja2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from paved_road.local.node_toolchain import node_env  # noqa: E402

NAME, DESC = "paved-lockfile-placeholder", "placeholder"


def main() -> int:
    source = (REPO / "template" / "package.json.jinja").read_text()
    rendered = jinja2.Environment(keep_trailing_newline=True).from_string(source).render(
        service_name=NAME, description=DESC, node_major=24)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "package.json").write_text(rendered)
        subprocess.run(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund",
                        "--ignore-scripts"], cwd=tmp, env=node_env(24), check=True)
        lock = json.loads(Path(tmp, "package-lock.json").read_text())
    engines = ">=24.0.0 <25.0.0"
    assert lock["packages"][""]["engines"]["node"] == engines, lock["packages"][""].get("engines")
    text = json.dumps(lock, indent=2) + "\n"
    text = text.replace(f'"name": "{NAME}"', '"name": "{{ service_name }}"')
    text = text.replace(f'"node": "{engines}"', '"node": ">={{ node_major }}.0.0 <{{ node_major + 1 }}.0.0"', 1)
    if "{%" in text or text.count("{{") != 4:
        raise SystemExit("unexpected template syntax in the lockfile")
    (REPO / "template" / "package-lock.json.jinja").write_text(text)
    print(f"wrote template/package-lock.json.jinja ({len(lock['packages']) - 1} packages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
