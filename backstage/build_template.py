"""Write backstage/template.yaml from copier.yml: one source for the questions.

    python backstage/build_template.py          # rewrite template.yaml
    python backstage/build_template.py --check  # exit 1 if template.yaml is stale

Each askable copier question becomes a JSON-schema property of the Backstage
scaffolder form (scaffolder.backstage.io/v1beta3): type, choices, constant
defaults, help text, and what the copier validator enforces where JSON schema
can say it (regex -> pattern, numeric bounds -> minimum/maximum, membership of a
computed list -> enum). Questions asked only `when: "{{ q == 'value' }}"` become
`dependencies` on q. A default that is itself a Jinja expression cannot be
computed by the form: the field is required there instead.

`paved_road_git_url` is no form field: it names the template that runs with
`copier --trust`, so the `paved:copier` action sets it from the backend's
configuration (`paved.templateUrl`), never from the form (docs/security.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
OUTPUT = HERE / "template.yaml"

PAGES = [
    ("Service", "What the service is and who owns it",
     ["service_name", "description", "owner", "system"]),
    ("Runtime and build", "Node.js, the HTTP port, CPU architectures and where images are built",
     ["node_major", "http_port", "architectures", "runner_mode", "trace_sample_ratio"]),
    ("AWS and GitHub", "Where the service runs and where its code lives",
     ["aws_region", "aws_account_id", "github_repository", "ecs_cluster_prefix"]),
]
# Answers the action sets from the backend's configuration, never from the form.
SERVER_SIDE = {"paved_road_git_url"}
TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
_WHEN = re.compile(r"^\{\{\s*(\w+)\s*==\s*'([^']*)'\s*\}\}$")


def load_copier(path: Path = REPO_ROOT / "copier.yml") -> dict:
    return yaml.safe_load(path.read_text())


def askable(config: dict) -> dict[str, dict]:
    return {k: v for k, v in config.items()
            if not k.startswith("_") and isinstance(v, dict) and v.get("when") is not False}


def form_questions(config: dict) -> dict[str, dict]:
    """The questions the form asks: the askable ones but those the action sets server-side."""
    return {k: v for k, v in askable(config).items() if k not in SERVER_SIDE}


def _jinja_string(literal: str) -> str:
    """The value of a Jinja single-quoted string literal."""
    return re.sub(r"\\(.)", r"\1", literal)


def choice_values(q: dict) -> list:
    choices = q.get("choices")
    if isinstance(choices, dict):
        return list(choices.values())
    return list(choices or [])


_WORDS = {"http": "HTTP", "aws": "AWS", "id": "ID", "arn": "ARN", "ci": "CI", "ecs": "ECS",
          "github": "GitHub", "url": "URL", "git": "Git", "node": "Node.js", "road": "Road"}


def title(name: str) -> str:
    words = [_WORDS.get(w, w) for w in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def to_property(name: str, q: dict, config: dict) -> dict:
    validator = q.get("validator") or ""
    kind = TYPES[q.get("type", "str")]
    prop: dict = {"title": title(name), "description": q.get("help", "")}
    values = choice_values(q)
    if q.get("multiselect"):
        prop.update(type="array", uniqueItems=True, minItems=1, items={"type": kind, "enum": values})
        prop["ui:widget"] = "checkboxes"
    else:
        prop["type"] = kind
        if isinstance(q.get("choices"), dict):
            prop["oneOf"] = [{"const": v, "title": label} for label, v in q["choices"].items()]
        elif values:
            prop["enum"] = values
    default = q.get("default")
    if default is not None and not (isinstance(default, str) and "{{" in default):
        prop["default"] = default
    match = re.search(r"regex_search\('((?:[^'\\]|\\.)*)'\)", validator)
    if match:
        prop["pattern"] = _jinja_string(match.group(1))
        if re.search(rf"\{{%\s*if\s+{name}\s+and\s+not", validator):  # optional: empty is allowed
            prop["pattern"] = "^$|" + prop["pattern"]
    for op, key in (("<", "minimum"), (">", "maximum")):
        bound = re.search(rf"\b{name}\s*{op}\s*(\d+(?:\.\d+)?)", validator)
        if bound and kind in ("integer", "number"):
            number = float(bound.group(1))
            prop[key] = int(number) if kind == "integer" else number
    member = re.search(rf"\b{name}\s+not in\s+(\w+)", validator)
    if member and isinstance((config.get(member.group(1)) or {}).get("default"), list):
        prop["enum"] = config[member.group(1)]["default"]
    longest = re.search(rf"\b{name}\s*\|\s*length\s*>\s*(\d+)", validator)
    if longest:
        prop["maxLength"] = int(longest.group(1))
    if re.search(rf"\b{name}\s*\|\s*trim\s*\|\s*length\s*==\s*0", validator):
        # "not blank" (and, when the validator says so, "one line")
        prop["pattern"] = r"^[^\n]*\S[^\n]*$" if f"'\\n' in {name}" in validator else r"\S"
    if _untranslated(name, validator):
        raise SystemExit(f"backstage/build_template.py: cannot express the {name} validator as JSON schema; "
                         "write it as one regex_search")
    _refuse_placeholder(name, prop, config)
    return prop


def _untranslated(name: str, validator: str) -> str:
    """What is left of a validator's condition after removing what the form expresses:
    a check such as `'--' in name` left here would let the form accept what copier rejects."""
    cond = re.match(r"\s*\{%\s*if\s+(.*?)\s*%\}", validator, re.S)
    rest = cond.group(1) if cond else ""
    for known in (r"regex_search\('(?:[^'\\]|\\.)*'\)", r"\bnot in\s+(\[[^\]]*\]|\w+)", r"reject\('in', \[[^\]]*\]\)",
                  r"'\\n' in \w+"):
        rest = re.sub(known, "", rest)
    if len(re.findall(r"regex_search\(", validator)) > 1:
        return "more than one regex_search"  # the form's pattern would carry only the first
    return rest if re.search(r"'[^']*' in |--", rest) else ""


def _refuse_placeholder(name: str, prop: dict, config: dict) -> None:
    """copier.yml's demo values (placeholder_values) are no default in the form and never accepted there."""
    demo = (config.get("placeholder_values") or {}).get("default") or {}
    if name in demo:
        if prop.get("default") == demo[name]:
            del prop["default"]
        prop["not"] = {"const": demo[name]}
    owner = _any_case(re.escape(demo.get("github_owner", "")))
    if name == "github_repository" and owner:
        prop["not"] = {"pattern": f"^{owner}/"}


def _any_case(pattern: str) -> str:
    """JSON schema patterns have no flags: `acme` -> `[Aa][Cc][Mm][Ee]` (copier compares lowercased)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in pattern)


def templated_default(q: dict) -> bool:
    return isinstance(q.get("default"), str) and "{{" in q["default"]


def build(config: dict) -> dict:
    questions = form_questions(config)
    placed = {n for _, _, names in PAGES for n in names}
    pages = [list(p) for p in PAGES]
    extra = [n for n in questions if n not in placed and not _WHEN.match(str(questions[n].get("when", "")))]
    if extra:
        pages.append(["More settings", "Questions added to the template since this form was laid out", extra])
    conditional: dict[str, dict[str, list[str]]] = {}
    for name, q in questions.items():
        when = _WHEN.match(str(q.get("when", "")))
        if when:
            conditional.setdefault(when.group(1), {}).setdefault(when.group(2), []).append(name)

    parameters = []
    for title, description, names in pages:
        props, required, deps = {}, [], {}
        for name in names:
            if name not in questions or _WHEN.match(str(questions[name].get("when", ""))):
                continue
            props[name] = to_property(name, questions[name], config)
            if "default" not in props[name]:
                required.append(name)
            if name in conditional:
                one_of = []
                for value in choice_values(questions[name]):
                    branch = {"properties": {name: {"const": value}}}
                    for dep in conditional[name].get(value, []):
                        branch["properties"][dep] = to_property(dep, questions[dep], config)
                        if templated_default(questions[dep]):
                            branch.setdefault("required", []).append(dep)
                    one_of.append(branch)
                deps[name] = {"oneOf": one_of}
        page = {"title": title, "description": description, "required": required, "properties": props}
        if deps:
            page["dependencies"] = deps
        parameters.append(page)

    values = {name: f"${{{{ parameters.{name} }}}}" for name in questions}
    return {
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {
            "name": "paved-road",
            "title": "Paved Road Node.js service",
            "description": "A Fastify + OpenTelemetry service on AWS ECS, generated with copier from the "
                           "Paved Road template and kept current with copier update.",
            "tags": ["nodejs", "fastify", "opentelemetry", "aws", "copier"],
            "annotations": {"paved-road.dev/generated-from": "copier.yml (backstage/build_template.py)"},
        },
        "spec": {
            "owner": "platform-team",
            "type": "service",
            "parameters": parameters,
            "steps": [
                {
                    "id": "generate",
                    "name": "Generate the service with copier",
                    "action": "paved:copier",
                    "input": {
                        "targetPath": "./",
                        "values": values,
                    },
                },
                {
                    "id": "publish",
                    "name": "Publish to GitHub",
                    "action": "publish:github",
                    "input": {
                        "repoUrl": "github.com?owner=${{ parameters.github_repository.split('/')[0] }}"
                                   "&repo=${{ parameters.github_repository.split('/')[1] }}",
                        "description": "${{ parameters.description }}",
                        "defaultBranch": "main",
                        "repoVisibility": "internal",
                    },
                },
                {
                    "id": "register",
                    "name": "Register in the catalog",
                    "action": "catalog:register",
                    "input": {
                        "repoContentsUrl": "${{ steps.publish.output.repoContentsUrl }}",
                        "catalogInfoPath": "/catalog-info.yaml",
                    },
                },
            ],
            "output": {
                "links": [
                    {"title": "Repository", "url": "${{ steps.publish.output.remoteUrl }}"},
                    {"title": "Open in catalog", "icon": "catalog",
                     "entityRef": "${{ steps.register.output.entityRef }}"},
                ]
            },
        },
    }


HEADER = """\
# Backstage scaffolder template for the Paved Road service.
# GENERATED from copier.yml by backstage/build_template.py: do not edit by hand;
# tests/catalog/test_backstage_template.py fails when this file is stale.
# The `paved:copier` step runs `copier copy` (backstage/actions/copier.ts).
"""


def render(config: dict | None = None) -> str:
    doc = build(config or load_copier())
    return HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print("backstage/template.yaml is stale: run python backstage/build_template.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
