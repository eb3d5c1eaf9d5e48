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
QUESTIONS = builder.form_questions(builder.load_copier())  # paved_road_git_url: server-side, not in the form
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


TEMPLATE_URL = "https://git.example.com/platform/paved-road.git"  # the operator's paved.templateUrl


def test_copier_step_generates_the_service(fleet_template, tmp_path, node24_env):
    """Run the paved:copier action's own code (pavedCopier.ts, under Node) with the form's values:
    copier renders the configured template, and the service records the configured URL."""
    values = _form_values()
    dst = tmp_path / "ws"
    url = tmp_path / "paved-road.git"  # copier reads a file:// URL as git when it ends in .git
    url.symlink_to(fleet_template)
    result = run_action(node24_env, {"templateUrl": url.as_uri(), "templateRef": "v1.0.0"},
                        {"targetPath": "./", "values": values}, dst)
    assert result["code"] == 0, result["stderr"]
    answers = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    for name, value in values.items():
        assert answers[name] == value, name
    info = yaml.safe_load((dst / "catalog-info.yaml").read_text())
    assert info["metadata"]["annotations"]["paved-road.dev/template-version"] == "v1.0.0"
    assert info["metadata"]["annotations"]["github.com/project-slug"] == "shop/orders"
    assert answers["paved_road_git_url"] == url.as_uri()  # the configured URL, not a form value


ACTION = REPO_ROOT / "backstage" / "actions" / "pavedCopier.ts"


def run_action(node_env: dict, settings: dict, action_input: dict, workspace: Path,
               parent_env: dict | None = None) -> dict:
    """runPavedCopier(settings, input, workspace) under Node 24 with copier on PATH; its outcome as JSON."""
    script = (f"import {{runPavedCopier}} from {json.dumps(ACTION.as_uri())};"
              "const [s, i, w, e] = JSON.parse(process.argv[1]);"
              "runPavedCopier(s, i, w, () => {}, e).then((r) => process.stdout.write(JSON.stringify(r)),"
              " (err) => process.stdout.write(JSON.stringify({error: err.message})));")
    env = {**node_env, "PATH": str(Path(COPIER).parent) + ":" + node_env["PATH"]}
    parent = {**env, **(parent_env or {})}
    proc = subprocess.run(["node", "--input-type=module", "-e", script,
                           json.dumps([settings, action_input, str(workspace), parent])],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


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
                        ("github_repository", f"{PLACEHOLDERS['github_owner']}/orders"),
                        ("github_repository", f"{PLACEHOLDERS['github_owner'].title()}/orders")):
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
    assert "if (code !== 0) throw new Error(`copier: ${copierErrorLine(stderr, code)}`);" in action


# ---------------------------------------------------------------------------
# The form cannot choose what runs (issue 27: a form URL ran `copier copy --trust`
# on any template, with the backend's whole environment)
# ---------------------------------------------------------------------------
def _tiny_template(root: Path, tasks: list[str]) -> Path:
    """A one-question copier template in a git repository tagged v1.0.0 (`root` ends in .git: copier then
    reads its file:// URL as git)."""
    root.mkdir(parents=True)
    (root / "copier.yml").write_text(yaml.safe_dump({
        "_tasks": tasks, "service_name": {"type": "str", "default": "svc"},
        "paved_road_git_url": {"type": "str", "default": ""}}))
    (root / "README.md.jinja").write_text("{{ service_name }} from {{ paved_road_git_url }}\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"],
                ["-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "template"],
                ["tag", "v1.0.0"]):
        subprocess.run(["git", *cmd], cwd=root, check=True, capture_output=True)
    return root


def test_form_values_never_choose_the_template_nor_see_the_backend_environment(tmp_path, node24_env):
    canary = tmp_path / "CANARY"
    hostile = _tiny_template(tmp_path / "hostile.git", [f"touch {canary}"])
    canonical = _tiny_template(tmp_path / "canonical.git", ["env > task-env.txt"])
    workspace = tmp_path / "ws"
    form = {"url": hostile.as_uri(), "targetPath": "./",  # `url` was the action's input until issue 27
            "values": {"service_name": "orders", "paved_road_git_url": hostile.as_uri()}}
    result = run_action(node24_env, {"templateUrl": canonical.as_uri()}, form, workspace,
                        parent_env={"GITHUB_TOKEN": "ghp_backendsecret", "BACKEND_SECRET": "s3cret"})
    assert result.get("code") == 0, result
    assert not canary.exists(), "the form's template ran"
    assert (workspace / "README.md").read_text() == f"orders from {canonical.as_uri()}\n"
    task_env = (workspace / "task-env.txt").read_text()
    assert "ghp_backendsecret" not in task_env and "s3cret" not in task_env
    assert "GITHUB_TOKEN" not in task_env
    assert "PATH=" in task_env
    template_yaml = (REPO_ROOT / "backstage" / "template.yaml").read_text()
    assert "paved_road_git_url" not in template_yaml and "url: ${{ parameters" not in template_yaml


@pytest.mark.parametrize("target", ["../ws-sibling", "../ws2", "/etc", "..", "sub/../../ws2"])
def test_target_path_outside_the_workspace_is_refused(tmp_path, node24_env, target):
    """A sibling whose name starts with the workspace's (`ws-sibling`) passed the old string-prefix check."""
    canonical = _tiny_template(tmp_path / "canonical.git", [])
    result = run_action(node24_env, {"templateUrl": canonical.as_uri()},
                        {"targetPath": target, "values": {}}, tmp_path / "ws")
    assert result == {"error": f"targetPath must stay inside the workspace (got '{target}')"}
    assert not (tmp_path / "ws-sibling").exists()


def test_a_template_ref_that_is_an_option_is_refused(tmp_path, node24_env):
    canonical = _tiny_template(tmp_path / "canonical.git", [])
    result = run_action(node24_env, {"templateUrl": canonical.as_uri(), "templateRef": "--help"},
                        {"values": {}}, tmp_path / "ws")
    assert result == {"error": "paved.templateRef must be a tag name such as v1.2.0 (got '--help')"}
