#!/usr/bin/env python3
"""Generate the inputs/outputs section of each Terraform module's README.

The section between ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->`` is
rebuilt from ``variables.tf`` and ``outputs.tf`` (parsed with python-hcl2);
everything else in the README is hand-written and left alone.

    python scripts/terraform_docs.py            # rewrite every module's README
    python scripts/terraform_docs.py --check    # exit 1 if any README is stale
    python scripts/terraform_docs.py terraform-modules/ecs-service
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[1]
MODULES_DIR = REPO_ROOT / "terraform-modules"
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


def load_hcl(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=_OPTIONS)


def _blocks(doc: dict, kind: str) -> list[tuple[str, dict]]:
    return [(name, body) for block in doc.get(kind, []) for name, body in block.items()]


def _unwrap(expr: str) -> str:
    """``${list(string)}`` -> ``list(string)`` (python-hcl2 wraps expressions)."""
    if isinstance(expr, str) and expr.startswith("${") and expr.endswith("}"):
        return expr[2:-1]
    return expr


def to_hcl(value) -> str:
    """A literal default as Terraform would print it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        unwrapped = _unwrap(value)
        return unwrapped if unwrapped is not value else '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(to_hcl(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {to_hcl(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot render {value!r}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_section(module_dir: Path) -> str:
    variables = _blocks(load_hcl(module_dir / "variables.tf"), "variable")
    outputs = _blocks(load_hcl(module_dir / "outputs.tf"), "output")
    lines = [BEGIN, "## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
    for name, body in sorted(variables, key=lambda item: ("default" in item[1], item[0])):
        has_default = "default" in body
        default = f"`{_cell(to_hcl(body['default']))}`" if has_default else "n/a"
        lines.append(
            f"| `{name}` | {_cell(body.get('description', ''))} | `{_cell(_unwrap(body.get('type', 'any')))}` "
            f"| {default} | {'no' if has_default else 'yes'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for name, body in sorted(outputs):
        lines.append(f"| `{name}` | {_cell(body.get('description', ''))} |")
    lines.append(END)
    return "\n".join(lines)


def updated_readme(module_dir: Path) -> tuple[str, str]:
    """(current README text, README text with a fresh generated section)."""
    readme = module_dir / "README.md"
    current = readme.read_text(encoding="utf-8") if readme.exists() else f"# {module_dir.name}\n"
    section = render_section(module_dir)
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return current, head + section + tail
    return current, current.rstrip("\n") + "\n\n" + section + "\n"


def module_dirs() -> list[Path]:
    return sorted(p.parent for p in MODULES_DIR.glob("*/variables.tf"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale READMEs and exit 1 instead of writing")
    parser.add_argument("modules", nargs="*", type=Path, help="module directories (default: every terraform-modules/*)")
    args = parser.parse_args(argv)
    stale = []
    for module_dir in [m.resolve() for m in args.modules] or module_dirs():
        current, wanted = updated_readme(module_dir)
        if current == wanted:
            continue
        stale.append(module_dir)
        if not args.check:
            (module_dir / "README.md").write_text(wanted, encoding="utf-8")
    for module_dir in stale:
        rel = module_dir.relative_to(REPO_ROOT) if module_dir.is_relative_to(REPO_ROOT) else module_dir
        verb = "is out of date (run scripts/terraform_docs.py)" if args.check else "updated"
        print(f"{rel}/README.md {verb}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
