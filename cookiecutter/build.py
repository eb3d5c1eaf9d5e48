"""Produce the cookiecutter template from the copier template (one source).

    python cookiecutter/build.py            # regenerate cookiecutter/
    python cookiecutter/build.py --check    # exit 1 when cookiecutter/ is stale

Writes, next to this script:
  cookiecutter.json            the copier questions (defaults translated to the
                               `cookiecutter.` namespace; multiselect answers
                               as comma-separated strings)
  hooks/pre_gen_project.py     copier.yml's validators, rendered by the hook over
                               the answers as data (json.loads of the context)
  hooks/post_gen_project.py    removes files whose copier file name is conditional
  {{cookiecutter.service_name}}/   template/ with `.jinja` files renamed and
                               prefixed by a one-line preamble of `{% set %}`
                               tags that give every copier variable its copier
                               name, type and computed value; other files are
                               copied verbatim and listed in _copy_without_render.

Nothing under the generated tree is edited by hand; tests/catalog/
test_cookiecutter.py fails when it is stale and renders both tools with the
same answers and compares the trees.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
PROJECT_DIR = "{{cookiecutter.service_name}}"
GENERATED = ["cookiecutter.json", "hooks", PROJECT_DIR]
EXTENSIONS = ["jinja2_ansible_filters.AnsibleCoreFiltersExtension"]  # regex_search etc., as in copier
_CONDITIONAL_NAME = re.compile(r"^\{%\s*if\s+(.+?)\s*%\}(.+?)\{%\s*endif\s*%\}$")


def load(repo: Path) -> tuple[dict, dict]:
    config = yaml.safe_load((repo / "copier.yml").read_text())
    questions = {k: v for k, v in config.items() if not k.startswith("_") and isinstance(v, dict)}
    return config, questions


def _is_computed(q: dict) -> bool:
    return q.get("when") is False


def _to_cookiecutter_ns(text: str, names: set[str]) -> str:
    """`{{ owner }}/default` -> `{{ cookiecutter.owner }}/default` for cookiecutter.json defaults."""
    pattern = re.compile(r"(?<![\w.'\"])(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")
    return re.sub(r"\{\{.*?\}\}", lambda m: pattern.sub(r"cookiecutter.\1", m.group(0)), text)


def cookiecutter_json(config: dict, questions: dict, copy_only: list[str]) -> dict:
    asked = {k: v for k, v in questions.items() if not _is_computed(v)}
    out: dict = {}
    for name, q in asked.items():
        default = q.get("default")
        choices = q.get("choices")
        values = list(choices.values()) if isinstance(choices, dict) else list(choices or [])
        if q.get("multiselect"):
            out[name] = ",".join(default or [])
        elif values:
            # cookiecutter's default is the first choice. Command-line values
            # (`cookiecutter ... node_major=22`) arrive as strings and must be
            # one of the choices, so every choice is a string here; the
            # preamble turns it back into copier's type.
            out[name] = [str(v) for v in [default, *[v for v in values if v != default]]]
        elif isinstance(default, str):
            out[name] = _to_cookiecutter_ns(default, set(asked))
        else:
            out[name] = default
    out["_copy_without_render"] = copy_only
    out["_extensions"] = EXTENSIONS
    out["__prompts__"] = {name: q.get("help", name) for name, q in asked.items()}
    return out


def _yaml_expression(default) -> str | None:
    """`{{ EXPR | to_json }}` (a computed yaml value) -> EXPR, so cookiecutter gets the value, not its text."""
    if not isinstance(default, str):
        return None
    match = re.fullmatch(r"\{\{(.*)\|\s*to_json\s*\}\}", default.strip(), re.S)
    if not match:
        raise SystemExit(f"cookiecutter/build.py: a computed yaml value must be '{{{{ EXPR | to_json }}}}' (got {default!r})")
    return " ".join(match.group(1).split())


def preamble(questions: dict) -> str:
    """`{% set %}` tags (no newline, so the file's bytes are unchanged) giving copier's context."""
    parts = []
    for name, q in questions.items():
        if _is_computed(q):
            continue
        src = f"cookiecutter.{name}"
        kind = q.get("type", "str")
        if q.get("multiselect"):
            expr = f"(({src}.split(',') if {src} is string else {src}) | map('trim') | reject('equalto', '') | list)"
        elif kind == "int":
            expr = f"({src} | int)"
        elif kind == "float":
            expr = f"({src} | float)"
        elif kind == "bool":
            expr = f"({src} in [true, 'true', 'yes', 'y', '1', 1])"
        else:
            expr = src
        parts.append(f"{{% set {name} = {expr} %}}")
    for name, q in questions.items():
        if not _is_computed(q):
            continue
        default = q.get("default")
        expr = _yaml_expression(default) if q.get("type") == "yaml" else None
        if expr:
            parts.append(f"{{% set {name} = ({expr}) %}}")
        elif q.get("type") == "yaml" or not isinstance(default, str):
            parts.append(f"{{% set {name} = {json.dumps(default)} %}}")
        else:
            parts.append(f"{{% set {name} %}}{default}{{% endset %}}")
    # The release the service is rendered from: cookiecutter's --checkout, or
    # the commit cruft renders (cruft puts `_commit` in the context, not
    # `_checkout`). Without either the pre-generation hook stops (REF_CHECK).
    parts.append(f"{{% set _copier_answers = {{'_commit': {REF}}} %}}")
    return "".join(parts)


REF = "(cookiecutter.get('_checkout') or cookiecutter.get('_commit') or '')"
REF_CHECK = (
    f"{{% if not {REF} %}}the template must be rendered at a release tag, which the service records as its "
    "template version: cookiecutter <template git URL> --directory cookiecutter --checkout vX.Y.Z "
    "(or cruft create ... --checkout vX.Y.Z){% endif %}"
)


def _hook_runtime(purpose: str) -> str:
    """The start of a hook: the answers arrive as data. cookiecutter renders nothing in a hook but
    `{{ cookiecutter | tojson }}` (Jinja's tojson escapes every quote, so no answer can end the string)
    and the hook renders copier's expressions itself, in a sandbox, over the parsed JSON. Rendering
    answers into the hook's source let a `service_name` with \"\"\" run code (issue 27)."""
    return (
        f'"""Rendered by cookiecutter: {purpose}, generated by cookiecutter/build.py.\n\n'
        "The answers are data: json.loads of cookiecutter's context, never rendered into this file's source.\n"
        '"""\n'
        "import json\n"
        "import sys\n"
        "from pathlib import Path\n\n"
        "from jinja2 import StrictUndefined\n"
        "from jinja2.sandbox import SandboxedEnvironment\n\n"
        "CONTEXT = json.loads(r\'\'\'{{ cookiecutter | tojson }}\'\'\')\n\n\n"
        "def render(template: str) -> str:\n"
        "    env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True,\n"
        f"                               extensions={json.dumps(EXTENSIONS)})\n"
        "    return env.from_string(template).render(cookiecutter=CONTEXT)\n\n\n"
    )


def _literal(jinja: str) -> str:
    """Jinja text as a Python raw string that cookiecutter leaves alone ({% raw %}): rendered at run time."""
    if "'''" in jinja or "endraw" in jinja or jinja.endswith("\\"):
        raise SystemExit("cookiecutter/build.py: a copier expression cannot be carried as a raw string")
    return "r'''{% raw %}" + jinja + "{% endraw %}'''"


def validators_hook(questions: dict, head: str) -> str:
    checks = [REF_CHECK]
    for name, q in questions.items():
        if _is_computed(q) or not q.get("validator"):
            continue
        when = str(q.get("when", "")).strip()
        body = q["validator"].strip()
        if when.startswith("{{") and when.endswith("}}"):
            body = f"{{% if {when[2:-2].strip()} %}}{body}{{% endif %}}"
        checks.append(body)
    return (
        _hook_runtime("copier.yml's validators")
        + f"MESSAGES = render({_literal(head + chr(10) + chr(10).join(checks) + chr(10))})\n\n"
        "errors = [line.strip() for line in MESSAGES.splitlines() if line.strip()]\n"
        "for line in errors:\n"
        '    print(f"paved-road: {line}", file=sys.stderr)\n'
        "sys.exit(1 if errors else 0)\n"
    )


def post_gen_hook(conditional: list[tuple[str, str]], head: str) -> str:
    removals = "".join(f"{{% if not ({cond}) %}}{path}\n{{% endif %}}" for path, cond in conditional)
    return (
        _hook_runtime("drop files copier only renders under a condition")
        + f"REMOVE = render({_literal(head + chr(10) + removals)})\n\n"
        "for rel in REMOVE.split():\n"
        "    Path(rel).unlink(missing_ok=True)\n"
        + _demo_warning(head)
    )


def _demo_warning(head: str) -> str:
    """copier's _message_after_copy for demo values, for cookiecutter and cruft (which have no --demo):
    the service is generated, and says on stderr that it cannot deploy yet."""
    return (
        "\n# copier.yml's placeholders: answers still carrying the template's demo values.\n"
        "DEMO = render(" + _literal(head + "{{ placeholders | join(' ') }}") + ").split()\n"
        "if DEMO:\n"
        "    print(f\"paved-road: WARNING: {', '.join(DEMO)} still carry the template's demo values: this service \"\n"
        "          f\"cannot deploy; give the real ones: {' '.join(n + '=...' for n in DEMO)} \"\n"
        "          \"(cookiecutter/cruft create), or cruft update --variables-to-update '{...}'\", file=sys.stderr)\n"
    )


def build(repo: Path, out: Path) -> None:
    config, questions = load(repo)
    src_root = repo / config.get("_subdirectory", "template")
    suffix = config.get("_templates_suffix", ".jinja")
    head = preamble(questions)
    for name in GENERATED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    project = out / PROJECT_DIR
    copy_only, conditional = [], []
    for path in sorted(p for p in src_root.rglob("*") if p.is_file()):
        rel = path.relative_to(src_root).as_posix()
        if "_copier_conf.answers_file" in rel:
            continue  # the answers file: each tool keeps its own
        render = rel.endswith(suffix)
        if render:
            rel = rel[: -len(suffix)]
        parts = rel.split("/")
        match = _CONDITIONAL_NAME.match(parts[-1])
        if match:
            parts[-1] = match.group(2)
            rel = "/".join(parts)
            conditional.append((rel, match.group(1)))
        if "{" in rel:
            raise SystemExit(f"cookiecutter/build.py: cannot translate the templated path {rel!r}")
        dst = project / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if render:
            dst.write_text(head + path.read_text())
        else:
            shutil.copyfile(path, dst)
            copy_only.append(rel)
        dst.chmod(path.stat().st_mode & 0o777)
    (out / "cookiecutter.json").write_text(json.dumps(cookiecutter_json(config, questions, copy_only), indent=2) + "\n")
    hooks = out / "hooks"
    hooks.mkdir()
    (hooks / "pre_gen_project.py").write_text(validators_hook(questions, head))
    (hooks / "post_gen_project.py").write_text(post_gen_hook(conditional, head))


def snapshot(root: Path) -> dict[str, bytes]:
    files = {}
    for name in GENERATED:
        base = root / name
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for p in paths:
            files[p.relative_to(root).as_posix()] = p.read_bytes()
    return files


def main(argv: list[str]) -> int:
    if "--check" in argv:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            build(REPO_ROOT, Path(tmp))
            if snapshot(Path(tmp)) != snapshot(HERE):
                print("cookiecutter/ is stale: run python cookiecutter/build.py", file=sys.stderr)
                return 1
        return 0
    build(REPO_ROOT, HERE)
    print("wrote cookiecutter/cookiecutter.json, cookiecutter/hooks/, cookiecutter/{{cookiecutter.service_name}}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
