"""Where the template lives and what it asks."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_template_source() -> str:
    """$PAVED_TEMPLATE, else this checkout when the package runs from one."""
    env = os.environ.get("PAVED_TEMPLATE")
    if env:
        return env
    if (REPO_ROOT / "copier.yml").is_file():
        return str(REPO_ROOT)
    raise SystemExit("paved: no template found; pass --template or set PAVED_TEMPLATE")


def load_questions(template: str | Path) -> dict[str, dict]:
    """The askable questions of copier.yml (settings and computed values excluded)."""
    path = Path(template) / "copier.yml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return {
        k: (v if isinstance(v, dict) else {"default": v})
        for k, v in data.items()
        if not k.startswith("_") and not (isinstance(v, dict) and v.get("when") is False)
    }
