"""A generated service's infra/: module sources pinned to the template's tag,
pinned providers, S3 backend with locking, per-environment files rendered from
the answers, and arguments that fit the modules they call."""

from __future__ import annotations

import re

import pytest

from tfhelpers import MODULES_DIR, SERVICE_ANSWERS, TEMPLATE_TAG, blocks, load_hcl

ENVIRONMENTS = ("staging", "production")
GIT_URL = SERVICE_ANSWERS["paved_road_git_url"]


@pytest.fixture(scope="module")
def infra(generated_service):
    return generated_service / "infra"


def test_every_file_is_rendered_and_parses(infra):
    files = sorted(p for p in infra.rglob("*") if p.is_file())
    names = {str(p.relative_to(infra)) for p in files}
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= names
    for env in ENVIRONMENTS:
        assert {f"environments/{env}.tfvars", f"environments/{env}.s3.tfbackend"} <= names
    for path in files:
        text = path.read_text()
        assert not re.search(r"\{\{|\{%|\.jinja", text), f"{path.name} still holds Jinja"
        if path.suffix in (".tf", ".tfvars", ".tfbackend"):
            assert isinstance(load_hcl(path), dict), path


def test_module_sources_pin_the_template_tag(infra, tagged_template):
    modules = dict(blocks(load_hcl(infra / "main.tf"), "module"))
    assert set(modules) == {"ecr_repository", "service"}
    for name, module in modules.items():
        match = re.fullmatch(r"git::(.+)//terraform-modules/([a-z0-9-]+)\?ref=(.+)", module["source"])
        assert match, module["source"]
        url, path, ref = match.groups()
        assert (url, ref) == (GIT_URL, TEMPLATE_TAG)
        assert (tagged_template / "terraform-modules" / path / "main.tf").is_file()
    answers = (infra.parent / ".copier-answers.yml").read_text()
    assert f"_commit: {TEMPLATE_TAG}" in answers


def test_module_arguments_fit_the_modules(infra, tagged_template):
    for name, module in blocks(load_hcl(infra / "main.tf"), "module"):
        path = re.search(r"//(terraform-modules/[a-z0-9-]+)", module["source"]).group(1)
        variables = dict(blocks(load_hcl(tagged_template / path / "variables.tf"), "variable"))
        args = set(module) - {"source", "count", "for_each", "providers", "depends_on"}
        assert args <= set(variables), f"{name}: unknown arguments {args - set(variables)}"
        required = {v for v, body in variables.items() if "default" not in body}
        assert required <= args, f"{name}: missing {required - args}"


def test_providers_pinned_and_backend_locks(infra):
    (terraform,) = load_hcl(infra / "versions.tf")["terraform"]
    aws = terraform["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    major_minor = re.fullmatch(r"~> (\d+)\.(\d+)(?:\.\d+)?", aws["version"])
    assert major_minor and tuple(map(int, major_minor.groups())) >= (6, 34), aws["version"]
    (backend,) = terraform["backend"]
    assert backend["s3"]["use_lockfile"] is True and backend["s3"]["encrypt"] is True
    (provider,) = [p["aws"] for p in load_hcl(infra / "main.tf")["provider"]]
    tags = provider["default_tags"][0]["tags"]
    assert tags["paved-road/template"] == TEMPLATE_TAG


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_files_carry_the_answers(infra, env):
    tfvars = load_hcl(infra / "environments" / f"{env}.tfvars")
    expected = {
        "service_name": SERVICE_ANSWERS["service_name"],
        "environment": env,
        "owner": SERVICE_ANSWERS["owner"],
        "aws_region": SERVICE_ANSWERS["aws_region"],
        "aws_account_id": SERVICE_ANSWERS["aws_account_id"],
        "ecs_cluster_prefix": SERVICE_ANSWERS["ecs_cluster_prefix"],
        "ecr_repository": SERVICE_ANSWERS["service_name"],
        "architectures": SERVICE_ANSWERS["architectures"],
        "http_port": SERVICE_ANSWERS["http_port"],
        "trace_sample_ratio": SERVICE_ANSWERS["trace_sample_ratio"],
    }
    assert {k: tfvars[k] for k in expected} == expected
    variables = dict(blocks(load_hcl(infra / "variables.tf"), "variable"))
    assert set(tfvars) <= set(variables), set(tfvars) - set(variables)
    assert {v for v, b in variables.items() if "default" not in b} <= set(tfvars)
    backend = load_hcl(infra / "environments" / f"{env}.s3.tfbackend")
    assert backend["key"] == f"services/{SERVICE_ANSWERS['service_name']}/{env}.tfstate"
    assert backend["region"] == SERVICE_ANSWERS["aws_region"]


def test_exactly_one_environment_owns_the_ecr_repository(infra):
    owners = [env for env in ENVIRONMENTS if load_hcl(infra / "environments" / f"{env}.tfvars")["manage_ecr_repository"]]
    assert owners == ["staging"]


def test_every_root_variable_is_used(infra):
    code = "\n".join(p.read_text() for p in infra.glob("*.tf") if p.name != "variables.tf")
    for name, _ in blocks(load_hcl(infra / "variables.tf"), "variable"):
        assert re.search(rf"\bvar\.{name}\b", code), f"infra variable {name} is never used"


# --- Evaluated the way `terraform plan` would (tests/terraform/hcl_eval.py) -------------------

def _root(infra, env, images, tagged_template):
    """The generated root for one environment, with what the data sources would return."""
    from hcl_eval import Module, load_tfvars

    inputs = load_tfvars(infra / "environments" / f"{env}.tfvars")
    region, account = inputs["aws_region"], inputs["aws_account_id"]
    repo = f"arn:aws:ecr:{region}:{account}:repository/{inputs['ecr_repository']}"
    url = f"{account}.dkr.ecr.{region}.amazonaws.com/{inputs['ecr_repository']}"
    known = {
        "data.aws_ssm_parameter.vpc_id": {"value": "vpc-0123456789abcdef0"},
        "data.aws_ssm_parameter.private_subnet_ids": {"value": "subnet-0a,subnet-0b"},
        "data.aws_ecr_repository.this": {"0": {"arn": repo, "repository_url": url}},
        "module.ecr_repository": [{"repository_arn": repo, "repository_url": url}],
    }
    if images is not None:
        known["data.aws_ecr_images.this"] = {"image_ids": images}
    root = Module(infra, inputs, known)
    assert root.validation_errors() == []
    return root


def _service_module(root, tagged_template):
    from hcl_eval import Module
    from test_ecs_task_definition import known_values

    args = root.module_arguments("service")
    return Module(tagged_template / "terraform-modules" / "ecs-service", args, known_values(args))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_first_apply_starts_no_task_until_the_seed_image_is_pushed(infra, env, tagged_template):
    """Bootstrap: the first apply (repository empty, or not even created yet) runs no task."""
    from hcl_eval import Unknown

    # First plan in staging: the repository is created in this run, so the
    # image list is read at apply time; nothing the plan needs to count on depends on it.
    unknown = _service_module(_root(infra, env, None, tagged_template), tagged_template)
    assert isinstance(unknown.var["paused"], Unknown)
    for address in unknown.resources:
        if not address.startswith("data."):
            unknown.instance_keys(address)  # raises on an unknown for_each/count
    # At apply: empty repository -> parked at zero tasks.
    empty = _service_module(_root(infra, env, [], tagged_template), tagged_template)
    target = empty.resource_arguments("aws_appautoscaling_target.this")
    assert target["min_capacity"] == target["max_capacity"] == 0
    assert empty.resource_arguments("aws_ecs_service.this")["desired_count"] == 0
    # Only a per-arch image, a sha- build or untagged children: still parked (no release yet).
    other = _service_module(_root(infra, env, [{"image_tag": "0.1.0-amd64", "image_digest": "sha256:1"},
                                               {"image_tag": "sha-0123abc", "image_digest": "sha256:3"},
                                               {"image_tag": None, "image_digest": "sha256:2"}], tagged_template), tagged_template)
    assert other.resource_arguments("aws_appautoscaling_target.this")["max_capacity"] == 0


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_running_service_is_never_parked_once_a_release_exists(infra, env, tagged_template):
    """initial_image_tag never pushed (first release was 1.0.0, or the tag was
    edited later): the next apply must not pin a running service to 0 tasks."""
    from hcl_eval import load_tfvars

    tfvars = load_tfvars(infra / "environments" / f"{env}.tfvars")
    images = [{"image_tag": "1.0.0", "image_digest": "sha256:1"}, {"image_tag": "1.0.0-arm64", "image_digest": "sha256:2"}]
    assert tfvars["initial_image_tag"] not in [i["image_tag"] for i in images]
    service = _service_module(_root(infra, env, images, tagged_template), tagged_template)
    assert service.var["paused"] is False
    target = service.resource_arguments("aws_appautoscaling_target.this")
    assert target["min_capacity"] == tfvars["autoscaling"]["min_capacity"] > 0


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_once_the_seed_image_exists_the_service_runs_its_configured_count(infra, env, tagged_template):
    from hcl_eval import load_tfvars

    tfvars = load_tfvars(infra / "environments" / f"{env}.tfvars")
    root = _root(infra, env, [{"image_tag": tfvars["initial_image_tag"], "image_digest": "sha256:1"}], tagged_template)
    service = _service_module(root, tagged_template)
    assert service.validation_errors() == [] and service.precondition_errors() == []
    target = service.resource_arguments("aws_appautoscaling_target.this")
    assert (target["min_capacity"], target["max_capacity"]) == (tfvars["autoscaling"]["min_capacity"], tfvars["autoscaling"]["max_capacity"])
    image = service.resource_arguments("aws_ecs_task_definition.this")["container_definitions"]
    assert f":{tfvars['initial_image_tag']}\"" in image


def test_root_requires_the_terraform_that_has_use_lockfile(infra):
    from hcl_eval import Module

    assert Module(infra).minimum_terraform_version() >= (1, 11)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_plan_creates_the_alarms_and_deployments_roll_back_on_them(infra, env, tagged_template):
    """With the generated defaults (alarms = {}), the module's error-rate and
    latency alarms exist and the ECS service rolls a deployment back on them."""
    from hcl_eval import load_tfvars

    tfvars = load_tfvars(infra / "environments" / f"{env}.tfvars")
    root = _root(infra, env, [{"image_tag": tfvars["initial_image_tag"], "image_digest": "sha256:1"}], tagged_template)
    service = _service_module(root, tagged_template)
    assert service.validation_errors() == []
    names = [service.resource_arguments(a, 0)["alarm_name"]
             for a in ("aws_cloudwatch_metric_alarm.error_rate", "aws_cloudwatch_metric_alarm.latency")]
    full = f"{tfvars['service_name']}-{env}"
    assert names == [f"{full}-http-5xx-rate", f"{full}-http-latency-p99"]
    (alarms,) = service.resource_arguments("aws_ecs_service.this")["alarms"]
    assert (alarms["alarm_names"], alarms["enable"], alarms["rollback"]) == (names, True, True)
    # A setting in the environment's tfvars reaches the module.
    tuned = _service_module(_root_with(root, alarms={"latency": {"threshold_seconds": 0.5}}), tagged_template)
    assert tuned.resource_arguments("aws_cloudwatch_metric_alarm.latency", 0)["threshold"] == 0.5


def _root_with(root, **inputs):
    from hcl_eval import Module

    return Module(root.dir, {**root.inputs, **inputs}, root.known)


@pytest.mark.parametrize("alarms, message", [
    ({"error_rate": {"threshold": 2}}, "alarms.error_rate may set only enabled, threshold_percent,"),
    ({"latency": {"threshold": 0.5}}, "alarms.latency may set only enabled, percentile, threshold_seconds,"),
    ({"latncy": {"threshold_seconds": 0.5}}, "alarms must be an object with only the fields enabled, sns_topic_arn, error_rate, latency."),
    ("off", "alarms must be an object with only the fields"),
])
def test_a_misspelt_alarm_setting_is_refused_not_silently_dropped(infra, tagged_template, alarms, message):
    """The module's object type drops fields it does not know, so `threshold = 2`
    (for threshold_percent) would plan with the 5 % default and no word: the
    generated root refuses it, naming the field and the allowed ones."""
    from hcl_eval import load_tfvars

    tfvars = load_tfvars(infra / "environments" / "staging.tfvars")
    root = _root(infra, "staging", [{"image_tag": tfvars["initial_image_tag"], "image_digest": "sha256:1"}], tagged_template)
    assert _root_with(root, alarms={"error_rate": {"threshold_percent": 2}, "latency": {"enabled": False},
                                    "enabled": True, "sns_topic_arn": None}).validation_errors() == []
    errors = _root_with(root, alarms=alarms).validation_errors()
    assert any(message in e for e in errors), errors


def test_the_allowed_alarm_fields_are_the_modules(infra):
    """The generated root's lists of alarm fields are the module's `alarms` attributes."""
    module_vars = (MODULES_DIR / "ecs-service" / "variables.tf").read_text()
    block = module_vars[module_vars.index('variable "alarms"'):]
    block = block[:block.index("\n  default")]
    top = re.findall(r"^    (\w+)\s*=", block, re.M)
    nested = lambda name: re.findall(r"^      (\w+)\s*=",  # noqa: E731
                                     block[block.index(f"    {name} = optional(object"):].split("\n    }")[0], re.M)
    root = (infra / "variables.tf").read_text()
    root = root[root.index('variable "alarms"'):]
    lists = [re.findall(r'"(\w+)"', m) for m in re.findall(r"contains\(\[([^\]]*)\]", root)[:3]]
    assert [sorted(x) for x in lists] == [sorted(top), sorted(nested("error_rate")), sorted(nested("latency"))]
