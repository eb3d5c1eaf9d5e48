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
    types = {"str": "string", "int": "integer", "float": "number"}
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
        if isinstance(default, str) and "{{" in default:
            assert "default" not in prop, name
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
    "github_repository": "acme/orders",
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
    assert info["metadata"]["annotations"]["github.com/project-slug"] == "acme/orders"
