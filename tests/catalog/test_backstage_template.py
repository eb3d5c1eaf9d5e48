"""backstage/template.yaml mirrors copier.yml, and its copier step generates a service."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COPIER = str(Path(sys.executable).with_name("copier"))


def _builder():
    spec = importlib.util.spec_from_file_location("build_template", REPO_ROOT / "backstage" / "build_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _builder()
TEMPLATE = yaml.safe_load((REPO_ROOT / "backstage" / "template.yaml").read_text())
QUESTIONS = builder.askable(builder.load_copier())
PLACEHOLDERS = builder.load_copier()["placeholder_values"]["default"]


def _properties() -> dict[str, dict]:
    """Every form property, including those shown only under a dependency."""
    props = {}
    for page in TEMPLATE["spec"]["parameters"]:
        props.update(page["properties"])
        for dep in (page.get("dependencies") or {}).values():
            for branch in dep["oneOf"]:
                props.update({k: v for k, v in branch["properties"].items() if "const" not in v})
    return props


def test_template_is_generated_from_copier_yml():
    assert (REPO_ROOT / "backstage" / "template.yaml").read_text() == builder.render(), (
        "backstage/template.yaml is stale: run python backstage/build_template.py")


def test_kind_and_api_version():
    assert TEMPLATE["apiVersion"] == "scaffolder.backstage.io/v1beta3"
    assert TEMPLATE["kind"] == "Template"


def test_parameters_mirror_the_questions():
    props = _properties()
    assert set(props) == set(QUESTIONS)
    types = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
    for name, q in QUESTIONS.items():
        prop = props[name]
        if q.get("multiselect"):
            assert prop["type"] == "array" and prop["items"]["enum"] == q["choices"], name
        else:
            assert prop["type"] == types[q.get("type", "str")], name
        choices = q.get("choices")
        if isinstance(choices, dict):
            assert [o["const"] for o in prop["oneOf"]] == list(choices.values()), name
        elif choices and not q.get("multiselect"):
            assert prop["enum"] == choices, name
        default = q.get("default")
        if (isinstance(default, str) and "{{" in default) or default in PLACEHOLDERS.values():
            assert "default" not in prop, name  # computed, or a demo value only the team can replace
        else:
            assert prop["default"] == default, name
        assert prop["description"] == q["help"], name


def test_conditional_questions_are_form_dependencies():
    for page in TEMPLATE["spec"]["parameters"]:
        for on, dep in (page.get("dependencies") or {}).items():
            for branch in dep["oneOf"]:
                value = branch["properties"][on]["const"]
                for name in branch["properties"]:
                    if name != on:
                        assert QUESTIONS[name]["when"].replace(" ", "") == f"{{{{{on}=='{value}'}}}}"


def test_copier_step_passes_every_answer():
    (step,) = [s for s in TEMPLATE["spec"]["steps"] if s["id"] == "generate"]
    assert step["action"] == "paved:copier"
    assert step["input"]["values"] == {q: f"${{{{ parameters.{q} }}}}" for q in QUESTIONS}


def _page_schema(page: dict) -> dict:
    return {"type": "object", **{k: v for k, v in page.items() if k in ("properties", "required", "dependencies")}}


FORM = {  # what a user types where the form has no default
    "aws_account_id": "210987654321",
    "github_repository": "shop/orders",
    "github_owner_id": "5101",
    "github_repository_id": "880042",
    "paved_road_git_url": "https://git.example.com/platform/paved-road.git",
    "runner_mode": "self-hosted",
    "architectures": ["arm64"],
    "system": "",
}


def _form_values() -> dict:
    values = {}
    for page in TEMPLATE["spec"]["parameters"]:
        for name, prop in page["properties"].items():
            if name in FORM:
                values[name] = FORM[name]
            elif "default" in prop:
                values[name] = prop["default"]
    values["runner_scale_set_prefix"] = _properties()["runner_scale_set_prefix"]["default"]
    return values


def test_form_accepts_its_defaults_and_rejects_what_copier_rejects():
    values = _form_values()
    for page in TEMPLATE["spec"]["parameters"]:
        jsonschema.validate(values, _page_schema(page))
    page = TEMPLATE["spec"]["parameters"][0]
    for bad in ({"service_name": "Orders_API"}, {"owner": "Team A"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**values, **bad}, _page_schema(page))


def test_copier_step_generates_the_service(fleet_template, tmp_path):
    """Run what the paved:copier action runs, with the form's values."""
    values = _form_values()
    action = (REPO_ROOT / "backstage/actions/copier.ts").read_text()
    assert "copier copy --trust --defaults --quiet [--vcs-ref REF] --data-file" in action
    data = tmp_path / "values.json"
    data.write_text(json.dumps(values))
    dst = tmp_path / "orders"
    proc = subprocess.run(
        [COPIER, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "v1.0.0", "--data-file", str(data),
         str(fleet_template), str(dst)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    answers = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    for name, value in values.items():
        assert answers[name] == value, name
    info = yaml.safe_load((dst / "catalog-info.yaml").read_text())
    assert info["metadata"]["annotations"]["paved-road.dev/template-version"] == "v1.0.0"
    assert info["metadata"]["annotations"]["github.com/project-slug"] == "shop/orders"
    assert "paved-road.dev/placeholders" not in info["metadata"]["annotations"]
    assert answers["_src_path"] == FORM["paved_road_git_url"]  # the canonical URL, not the path copied from


# ---------------------------------------------------------------------------
# The form and copier's validators agree (defect: the form took `my--svc`)
# ---------------------------------------------------------------------------
PROBES = {
    "str": ["my--svc", "my-svc", "-svc", "svc-", "Orders_API", "orders", "a", "ab", "a" * 32, "a" * 33, "a--b",
            "team a", "", "   ", "one\ntwo", "x" * 200, "x" * 201, "shop", "ci-runners", "apps", "Apps_2", "9apps",
            "acme/orders", "Shop/orders.api", "shop//x", "shop/", "012345670123", "12345678901", "1234567890123",
            "arn:aws:iam::210987654321:role/ci", "arn:aws:iam::2109:role/ci", "eu-west-1", "mars-1",
            "https://git.example.com/p.git", "http://example.com/p.git", "http://127.0.0.1:8080/p.git",
            "git@github.com:shop/p.git", "not a url", "https://ci:s3cret@git.example.com/p.git", "team-orders/default", "Team/Default",
            "github-hosted", "self-hosted", "build-cloud", "emulated", "cloud", "5101", "880042", "0", "12a",
            "1" * 21, "immutable", "name-only"],
    "int": [20, 22, 24, 80, 1023, 1024, 3000, 65535, 65536],
    "float": [-0.1, 0.0, 0.25, 1.0, 1.5],
    "bool": [True, False, "true"],
}


@pytest.fixture(scope="module")
def copier_validate(fleet_template, tmp_path_factory):
    """copier's verdict on one answer: its validator rendered by copier's own Jinja environment
    (the filters and extensions copier renders copier.yml with); '' means accepted."""
    import warnings

    from copier._main import Worker

    config = builder.load_copier()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker = Worker(src_path=str(fleet_template), dst_path=tmp_path_factory.mktemp("w"), vcs_ref="v1.0.0")
        env = worker.jinja_env
    computed = {k: v.get("default") for k, v in config.items()
                if isinstance(v, dict) and v.get("when") is False and not isinstance(v.get("default"), str)}

    def validate(name: str, value) -> str:
        return env.from_string(QUESTIONS[name]["validator"]).render(**computed, **{name: value}).strip()

    return validate


def _form_accepts(name: str, value) -> bool:
    try:
        jsonschema.validate(value, _properties()[name])
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize("name", [n for n, q in QUESTIONS.items() if q.get("validator") and not q.get("multiselect")])
def test_form_rejects_exactly_what_copier_rejects(copier_validate, name):
    kind = QUESTIONS[name].get("type", "str")
    probes = PROBES[kind] + ([QUESTIONS[name]["default"]] if "{{" not in str(QUESTIONS[name]["default"]) else [])
    disagree = []
    for value in probes:
        if value in PLACEHOLDERS.values() or (name == "github_repository" and str(value).lower().startswith("acme/")):
            continue  # the form is stricter on demo values on purpose (test below)
        copier_ok = copier_validate(name, value) == ""
        if copier_ok != _form_accepts(name, value):
            disagree.append((value, "copier accepts" if copier_ok else "copier rejects"))
    assert disagree == [], name


def test_form_rejects_the_demo_values(copier_validate):
    for name, value in (("aws_account_id", PLACEHOLDERS["aws_account_id"]),
                        ("paved_road_git_url", PLACEHOLDERS["paved_road_git_url"]),
                        ("github_repository", f"{PLACEHOLDERS['github_owner']}/orders"),
                        ("github_repository", f"{PLACEHOLDERS['github_owner'].title()}/orders"),
                        # the former default: a stranger's repository, never the template services update from
                        ("paved_road_git_url", f"https://github.com/{PLACEHOLDERS['github_owner']}/paved-road.git"),
                        ("paved_road_git_url", f"git@github.com:{PLACEHOLDERS['github_owner']}/paved-road.git")):
        assert copier_validate(name, value) == ""  # valid for copier (demo and tests), so
        assert not _form_accepts(name, value), name  # the form must not offer or accept it
        assert "default" not in _properties()[name], name


def test_bad_name_fails_the_copier_step_with_copiers_message_as_one_line(fleet_template, tmp_path, node24_env):
    """`my--svc`: the form refuses it; if it reaches copier anyway (an older form, an API call), the
    scaffolder task fails with copier's validator message as one line, not a Python traceback."""
    assert not _form_accepts("service_name", "my--svc")
    data = tmp_path / "values.json"
    data.write_text(json.dumps({**_form_values(), "service_name": "my--svc"}))
    proc = subprocess.run(
        [COPIER, "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "v1.0.0", "--data-file", str(data),
         str(fleet_template), str(tmp_path / "svc")], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr  # what the task log showed before
    script = ("import {copierErrorLine} from './backstage/actions/copierError.ts';"
              "let s = ''; process.stdin.on('data', (d) => s += d);"
              "process.stdin.on('end', () => process.stdout.write(copierErrorLine(s, 1)));")
    node = subprocess.run(["node", "--input-type=module", "-e", script], input=proc.stderr, cwd=REPO_ROOT,
                          capture_output=True, text=True, env=node24_env, timeout=60)
    assert node.returncode == 0, node.stderr
    assert node.stdout == ("service_name must be 2-32 characters of lowercase letters, digits and single hyphens, "
                           "start with a letter and not end with a hyphen (got 'my--svc')")
    action = (REPO_ROOT / "backstage/actions/copier.ts").read_text()
    assert "reject(new Error(`copier: ${copierErrorLine(stderr, code)}`))" in action
