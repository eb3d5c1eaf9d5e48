"""Offline stand-ins for what `terraform plan` would compute, kept deliberately small.

- `render_tftpl` renders the subset of Terraform's template language the
  modules' `.tftpl` files use (``${name}``, ``${jsonencode(name)}``,
  ``%{ for x in name ~}``/``%{ endfor ~}``, ``%{ if name ~}``/``%{ endif ~}``,
  ``$${``/``%%{`` escapes). Anything else raises, so a template cannot drift
  into syntax this renderer would get wrong.
- `templatefile_calls` finds every ``templatefile(path, { ... })`` in a module
  and returns the template path with the names of the variables passed to it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import hcl2

from paved_road.sim.terraform import matching_brace

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO_ROOT / "terraform-modules"
TEMPLATE_TAG = "v9.9.9"
CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"

# Answers that differ from the defaults, so the test sees them come through.
SERVICE_ANSWERS = {
    "service_name": "orders-api",
    "owner": "checkout-team",
    "architectures": ["amd64", "arm64"],
    "http_port": 8080,
    "aws_region": "eu-central-1",
    "aws_account_id": "210987654321",
    "ecs_cluster_prefix": "shop",
    "trace_sample_ratio": 0.25,
    "paved_road_git_url": "https://github.com/shop/paved-road.git",
}

HCL_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DIRECTIVE = re.compile(r"(?<!%)%\{(~?)\s*(.*?)\s*(~?)\}", re.S)
_INTERP = re.compile(r"(?<!\$)\$\{\s*(.*?)\s*\}")


def load_hcl(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=HCL_OPTIONS)


def blocks(doc: dict, kind: str) -> list[tuple[str, dict]]:
    return [(name, body) for block in doc.get(kind, []) for name, body in block.items()]


def tf_string(value) -> str:
    """How Terraform turns a value into text inside a template."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError(f"cannot interpolate {type(value).__name__} {value!r}; use jsonencode()")


def _interpolate(text: str, scope: dict) -> str:
    def one(match: re.Match) -> str:
        expr = match.group(1)
        json_match = re.fullmatch(rf"jsonencode\(({_IDENT})\)", expr)
        if json_match:
            return json.dumps(scope[json_match.group(1)], separators=(",", ":"))
        if re.fullmatch(_IDENT, expr):
            return tf_string(scope[expr])
        raise ValueError(f"unsupported template expression ${{{expr}}}")

    return _INTERP.sub(one, text)


def _tokens(text: str):
    """Split into ('text', str) and ('directive', (strip_left, body, strip_right))."""
    pos = 0
    for match in _DIRECTIVE.finditer(text):
        yield "text", text[pos:match.start()]
        yield "directive", (bool(match.group(1)), match.group(2), bool(match.group(3)))
        pos = match.end()
    yield "text", text[pos:]


def _parse(tokens: list, i: int, stop: tuple[str, ...]) -> tuple[list, int]:
    nodes = []
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "text":
            nodes.append(("text", value))
            i += 1
            continue
        _, body, _ = value
        if body in stop:
            return nodes, i
        for_match = re.fullmatch(rf"for ({_IDENT}) in ({_IDENT})", body)
        if_match = re.fullmatch(rf"if ({_IDENT})", body)
        if for_match:
            inner, i = _parse(tokens, i + 1, ("endfor",))
            nodes.append(("for", for_match.group(1), for_match.group(2), inner))
        elif if_match:
            inner, i = _parse(tokens, i + 1, ("endif",))
            nodes.append(("if", if_match.group(1), inner))
        else:
            raise ValueError(f"unsupported template directive %{{{body}}}")
        i += 1
    if stop:
        raise ValueError(f"missing %{{{stop[0]}}}")
    return nodes, i


def _strip_markers(text: str) -> list:
    """Apply ~ whitespace stripping, then tokenize."""
    tokens = list(_tokens(text))
    for idx, (kind, value) in enumerate(tokens):
        if kind != "directive":
            continue
        strip_left, _, strip_right = value
        if strip_left and idx > 0:
            tokens[idx - 1] = ("text", tokens[idx - 1][1].rstrip())
        if strip_right and idx + 1 < len(tokens):
            tokens[idx + 1] = ("text", tokens[idx + 1][1].lstrip())
    return tokens


def _render(nodes: list, scope: dict) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(_interpolate(node[1], scope))
        elif node[0] == "for":
            _, var, seq, inner = node
            for item in scope[seq]:
                out.append(_render(inner, {**scope, var: item}))
        elif node[0] == "if":
            _, cond, inner = node
            if not isinstance(scope[cond], bool):
                raise TypeError(f"%{{if {cond}}} needs a bool")
            if scope[cond]:
                out.append(_render(inner, scope))
    return "".join(out)


def render_tftpl(text: str, variables: dict) -> str:
    nodes, _ = _parse(_strip_markers(text), 0, ())
    rendered = _render(nodes, variables)
    return rendered.replace("$${", "${").replace("%%{", "%{")


def template_variables(text: str) -> set[str]:
    """Names a template reads from its variables (loop variables excluded)."""
    names: set[str] = set()
    loop_vars: set[str] = set()
    for match in _DIRECTIVE.finditer(text):
        body = match.group(2)
        for_match = re.fullmatch(rf"for ({_IDENT}) in ({_IDENT})", body)
        if for_match:
            loop_vars.add(for_match.group(1))
            names.add(for_match.group(2))
        if_match = re.fullmatch(rf"if ({_IDENT})", body)
        if if_match:
            names.add(if_match.group(1))
    for match in _INTERP.finditer(text):
        names.update(re.findall(_IDENT, re.sub(r"jsonencode\(", "(", match.group(1))))
    return names - loop_vars


def _top_level_keys(obj: str) -> list[str]:
    """Keys of an HCL object expression ``{a = ..., b = ...}`` (outer braces included)."""
    keys, depth, i, in_string, token_start = [], 0, 0, False, True
    while i < len(obj):
        ch = obj[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{([":
            depth += 1
            token_start = depth == 1
        elif ch in "})]":
            depth -= 1
        elif depth == 1 and ch in ",\n":
            token_start = True
        elif depth == 1 and token_start and not ch.isspace():
            match = re.match(rf"({_IDENT})\s*=(?!=)", obj[i:])
            if match:
                keys.append(match.group(1))
                i += match.end()
                token_start = False
                continue
            token_start = False
        i += 1
    return keys


def templatefile_calls(module_dir: Path) -> dict[str, set[str]]:
    """{template file name: names of the variables main.tf passes to it}."""
    calls: dict[str, set[str]] = {}
    for tf in sorted(module_dir.glob("*.tf")):
        text = tf.read_text(encoding="utf-8")
        for match in re.finditer(r'templatefile\(\s*"\$\{path\.module\}/templates/([^"]+)"\s*,\s*\{', text):
            brace = match.end() - 1
            end = matching_brace(text, brace)
            calls[match.group(1)] = set(_top_level_keys(text[brace:end + 1]))
    return calls


def module_dirs() -> list[Path]:
    return sorted(p.parent for p in MODULES_DIR.glob("*/versions.tf"))


def variable_defaults(module_dir: Path) -> dict:
    return {name: body.get("default") for name, body in blocks(load_hcl(module_dir / "variables.tf"), "variable")}


def module_locals(module_dir: Path) -> dict:
    merged: dict = {}
    for block in load_hcl(module_dir / "main.tf").get("locals", []):
        merged.update(block)
    return merged
