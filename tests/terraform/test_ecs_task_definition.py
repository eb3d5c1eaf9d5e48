"""The ecs-service module's task definition, produced offline.

tests/terraform/hcl_eval.py evaluates the module the way `terraform plan`
would (variables with their types and defaults, locals, the
aws_ecs_task_definition arguments) for each example, and for the examples
with tricky values (quotes, backslashes, control characters, unicode) in
every free-text input. The result, mapped onto the RegisterTaskDefinition
request the AWS provider sends, is validated against botocore's model (enums
included) and registered in moto.
"""

from __future__ import annotations

import copy
import json

import boto3
import yaml
import botocore.session
import pytest
from botocore.validate import validate_parameters

from hcl_eval import Module, module_call_arguments
from tfhelpers import MODULES_DIR

MODULE = MODULES_DIR / "ecs-service"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
EXAMPLES = sorted(p.name for p in (MODULE / "examples").iterdir())

# Values that break a string template: quotes, backslashes, a JSON-looking
# fragment, control characters, HTML-sensitive and non-ASCII characters.
TRICKY = 'say "hi" \\ C:\\path\\ {"x": 1}\n\t </script>&amp; naïve — ✓ 😀'
TRICKY_INPUTS = {
    "environment_variables": {"GREETING": TRICKY, "EMPTY": "", "JSON": '{"a":["b","c"]}'},
    "secrets": {"TOKEN": f'arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/svc/"odd"\\name-ü'},
    "app_user": "1000:1000",
}


def example_arguments(example: str) -> dict:
    """The module block's arguments in examples/<example> (what the example passes)."""
    return module_call_arguments(MODULE / "examples" / example / "main.tf")


def known_values(args: dict) -> dict:
    """What the provider reports after apply, for the references the task definition makes."""
    family = f"{args['name']}-{args['environment']}"
    prefix = f"/ecs/{args['name']}/{args['environment']}"
    return {
        "data.aws_region.current": {"region": REGION},
        "data.aws_caller_identity.current": {"account_id": ACCOUNT},
        "data.aws_partition.current": {"partition": "aws"},
        "aws_iam_role.execution": {"arn": f"arn:aws:iam::{ACCOUNT}:role/{family}-execution"},
        "aws_iam_role.task": {"arn": f"arn:aws:iam::{ACCOUNT}:role/{family}-task"},
        "aws_cloudwatch_log_group.this": {
            k: {"arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{prefix}/{k}"} for k in ("app", "collector", "metrics", "otlp_logs")
        },
    }


def module_for(example: str, **overrides) -> Module:
    args = {**example_arguments(example), **overrides}
    return Module(MODULE, args, known_values(args))


def register_request(module: Module) -> dict:
    """aws_ecs_task_definition.this as the provider sends it to RegisterTaskDefinition."""
    td = module.resource_arguments("aws_ecs_task_definition.this")
    (platform,) = td["runtime_platform"]
    request = {
        "family": td["family"],
        "taskRoleArn": td["task_role_arn"],
        "executionRoleArn": td["execution_role_arn"],
        "networkMode": td["network_mode"],
        "requiresCompatibilities": td["requires_compatibilities"],
        "cpu": str(td["cpu"]),
        "memory": str(td["memory"]),
        "runtimePlatform": {"operatingSystemFamily": platform["operating_system_family"], "cpuArchitecture": platform["cpu_architecture"]},
        "volumes": [{"name": v["name"]} for v in td.get("volume", [])],
        "containerDefinitions": json.loads(td["container_definitions"]),
        "tags": [{"key": k, "value": v} for k, v in sorted(td["tags"].items())],
    }
    for storage in td.get("ephemeral_storage", []):
        request["ephemeralStorage"] = {"sizeInGiB": storage["size_in_gib"]}
    return request


def task_definition(example: str, **overrides) -> dict:
    return register_request(module_for(example, **overrides))


CASES = [(e, {}) for e in EXAMPLES] + [(e, TRICKY_INPUTS) for e in EXAMPLES]
CASE_IDS = [e for e in EXAMPLES] + [f"{e}-tricky" for e in EXAMPLES]


def enum_violations(value, shape, path="") -> list[str]:
    """Values outside the enums of the botocore model (validate_parameters ignores enums)."""
    problems = []
    if shape.type_name == "structure":
        for key, member in shape.members.items():
            if key in value:
                problems += enum_violations(value[key], member, f"{path}.{key}")
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            problems += enum_violations(item, shape.member, f"{path}[{i}]")
    elif shape.type_name == "map":
        for key, item in value.items():
            problems += enum_violations(item, shape.value, f"{path}.{key}")
    elif shape.type_name == "string" and shape.enum and value not in shape.enum:
        problems.append(f"{path}: {value!r} not in {shape.enum}")
    return problems


@pytest.fixture(scope="module")
def register_shape():
    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model("RegisterTaskDefinition").input_shape


def test_examples_pass_the_module_validations_and_preconditions():
    for example in EXAMPLES:
        module = module_for(example)
        assert module.validation_errors() == [], example
        assert module.precondition_errors() == [], example
        tricky = module_for(example, **TRICKY_INPUTS)
        assert tricky.validation_errors() == [], example


def test_every_value_survives_json_escaping():
    """The JSON ECS receives decodes back to exactly the inputs, whatever characters they hold."""
    td = task_definition("complete", **TRICKY_INPUTS)
    app = td["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in app["environment"]}
    for name, value in TRICKY_INPUTS["environment_variables"].items():
        assert env[name] == value
    assert {s["name"]: s["valueFrom"] for s in app["secrets"]}["TOKEN"] == TRICKY_INPUTS["secrets"]["TOKEN"]
    raw = module_for("complete", **TRICKY_INPUTS).resource_arguments("aws_ecs_task_definition.this")["container_definitions"]
    assert "</script>" not in raw and "\\u003c/script\\u003e" in raw  # jsonencode escapes like Go's encoding/json


@pytest.mark.parametrize("name", ["PORT", "SERVICE_VERSION", "DEPLOYMENT_ENVIRONMENT", "OTEL_SERVICE_NAME", "OTEL_ANYTHING"])
def test_names_the_module_sets_are_refused_as_env_and_secrets(name):
    env = module_for("minimal", environment_variables={name: "x"})
    assert any("must not set OTEL_*, PORT" in e for e in env.validation_errors())
    secret = module_for("minimal", secrets={name: f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/x"})
    assert any("secrets keys must be" in e for e in secret.validation_errors())


def test_reserved_names_match_what_the_module_sets():
    """The validation's list is exactly the environment the module writes (minus the OTEL_ prefix rule)."""
    module = module_for("minimal")
    set_by_module = set(module.local["module_environment"])
    for name in set_by_module | {"SERVICE_VERSION"}:
        assert module_for("minimal", environment_variables={name: "x"}).validation_errors(), name
    # SERVICE_VERSION is refused but not set: the image carries its release.
    assert {n for n in set_by_module if not n.startswith("OTEL_")} == {"PORT", "DEPLOYMENT_ENVIRONMENT"}
    assert module_for("minimal", environment_variables={"APP_PORT": "1", "OTELX": "2"}).validation_errors() == []


def test_a_name_in_both_env_and_secrets_fails_the_plan():
    module = module_for("minimal", environment_variables={"TOKEN": "a"},
                        secrets={"TOKEN": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/x"})
    assert any("both in environment_variables and in secrets: TOKEN" in e for e in module.precondition_errors())


def test_task_definition_is_tagged_made_by_terraform():
    tags = {t["key"]: t["value"] for t in task_definition("complete")["tags"]}
    assert tags["paved:made-by"] == "terraform"
    assert tags["team"] == "checkout"


@pytest.mark.parametrize(("example", "overrides"), CASES, ids=CASE_IDS)
def test_task_definition_matches_the_register_model_including_enums(example, overrides, register_shape):
    td = task_definition(example, **overrides)
    validate_parameters(td, register_shape)  # raises ParamValidationError
    assert enum_violations(td, register_shape) == []


def test_enum_check_catches_what_validate_parameters_lets_through(register_shape):
    td = copy.deepcopy(task_definition("minimal"))
    td["containerDefinitions"][0]["dependsOn"][0]["condition"] = "READY"
    td["runtimePlatform"]["cpuArchitecture"] = "AMD64"
    validate_parameters(td, register_shape)
    assert len(enum_violations(td, register_shape)) == 2


@pytest.mark.parametrize(("example", "overrides"), CASES, ids=CASE_IDS)
def test_app_container_runs_hardened_and_talks_to_the_sidecar(example, overrides):
    module = module_for(example, **overrides)
    td = register_request(module)
    args = {name: module.var[name] for name in module.variables}
    app, collector = td["containerDefinitions"]
    assert (app["name"], collector["name"]) == ("app", "otel-collector")
    assert app["image"] == args["image"]
    assert app["healthCheck"]["command"] == ["CMD", "node", "src/healthcheck.js"]
    assert app["readonlyRootFilesystem"] is True
    assert {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False} in app["mountPoints"]
    assert app["user"] not in ("root", "0", "0:0") and app["user"].startswith("1000")
    assert app["stopTimeout"] == args["stop_timeout"]
    assert app["portMappings"][0]["containerPort"] == args["container_port"]
    env = {e["name"]: e["value"] for e in app["environment"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4318"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_SERVICE_NAME"] == args["name"]
    # No service.version override: the image's SERVICE_VERSION is what telemetry reports.
    assert "SERVICE_VERSION" not in env and "service.version" not in env["OTEL_RESOURCE_ATTRIBUTES"]
    assert f"deployment.environment.name={args['environment']}" in env["OTEL_RESOURCE_ATTRIBUTES"]
    assert float(env["OTEL_TRACES_SAMPLER_ARG"]) == args["trace_sample_ratio"]
    for name, value in args["environment_variables"].items():
        assert env[name] == value
    assert {s["name"]: s["valueFrom"] for s in app["secrets"]} == args["secrets"]
    assert app["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{args['name']}/{args['environment']}/app"
    # The app's share plus the collector's fits the task; the app's memory is
    # a hard limit (its cgroup's, which Node sizes its heap from), not only a reservation.
    assert app["cpu"] + collector["cpu"] == args["cpu"]
    assert app["memory"] + collector["memory"] == args["memory"] and "memoryReservation" not in app


@pytest.mark.parametrize("example", EXAMPLES)
def test_collector_sidecar_carries_its_config_in_the_task_definition(example):
    module = module_for(example)
    td = register_request(module)
    args = {name: module.var[name] for name in module.variables}
    app, collector = td["containerDefinitions"]
    assert collector["essential"] is True
    assert ":" in collector["image"] and not collector["image"].endswith(":latest")
    assert "secrets" not in collector  # no SSM parameter a task reads at start
    (config,) = collector["environment"]
    assert config["value"] == module.local["collector_config"]
    assert yaml.safe_load(config["value"])["exporters"]["awsemf"]["namespace"]
    if args["collector"]["distribution"] == "adot":
        assert collector["image"] == "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0"
        assert config["name"] == "AOT_CONFIG_CONTENT"
        assert collector["healthCheck"]["command"] == ["CMD", "/healthcheck"]
        assert app["dependsOn"] == [{"containerName": "otel-collector", "condition": "HEALTHY"}]
    else:
        assert collector["image"] == "otel/opentelemetry-collector-contrib:0.159.0"
        assert collector["command"] == [f"--config=env:{config['name']}"]


def test_a_collector_config_change_is_a_new_revision_and_a_rollback_reverts_it(moto_endpoint):
    """Registered in moto like Terraform does: the changed config makes a new
    revision; pointing the service back at the earlier revision (what a
    rollback does) runs the earlier config, with no SSM state left behind."""
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=moto_endpoint,
                       aws_access_key_id="test", aws_secret_access_key="test")
    before = task_definition("minimal")
    after = task_definition("minimal", metrics_namespace="Checkout/Orders")
    assert before["containerDefinitions"][0] == after["containerDefinitions"][0]  # the app is untouched
    assert before["containerDefinitions"][1] != after["containerDefinitions"][1]
    first = ecs.register_task_definition(**before)["taskDefinition"]
    second = ecs.register_task_definition(**after)["taskDefinition"]
    assert second["revision"] == first["revision"] + 1

    def namespace(task_def_arn):
        td = ecs.describe_task_definition(taskDefinition=task_def_arn)["taskDefinition"]
        collector = next(c for c in td["containerDefinitions"] if c["name"] == "otel-collector")
        config = {e["name"]: e["value"] for e in collector["environment"]}["AOT_CONFIG_CONTENT"]
        return yaml.safe_load(config)["exporters"]["awsemf"]["namespace"]

    ecs.create_cluster(clusterName="config-travels")
    ecs.create_service(cluster="config-travels", serviceName="svc", taskDefinition=second["taskDefinitionArn"],
                       desiredCount=1)
    assert namespace(second["taskDefinitionArn"]) == "Checkout/Orders"
    # Roll back: the service runs the earlier revision, and with it the earlier collector config.
    ecs.update_service(cluster="config-travels", service="svc", taskDefinition=first["taskDefinitionArn"])
    (service,) = ecs.describe_services(cluster="config-travels", services=["svc"])["services"]
    assert namespace(service["taskDefinition"]) == "ECS/" + module_for("minimal").var["name"]


def test_a_collector_config_change_reaches_tasks_through_the_next_deploy_not_a_restart_of_the_old_revision():
    """The apply that changes the collector config registers a new revision
    (the next `paved deploy` copies the newest Terraform revision:
    tests/aws test_deploy_takes_terraforms_newest_revision...) and leaves the
    service alone: a forced redeployment of the running revision would only
    restart its tasks on the old config."""
    before, after = module_for("minimal"), module_for("minimal", metrics_namespace="Checkout/Orders")
    assert before.local["collector_config"] != after.local["collector_config"]
    td_before = before.resource_arguments("aws_ecs_task_definition.this")
    td_after = after.resource_arguments("aws_ecs_task_definition.this")
    assert td_before["container_definitions"] != td_after["container_definitions"]  # a new revision
    svc_before = before.resource_arguments("aws_ecs_service.this")
    svc_after = after.resource_arguments("aws_ecs_service.this")
    assert svc_before == svc_after, {k: (svc_before.get(k), svc_after.get(k))
                                     for k in set(svc_before) | set(svc_after) if svc_before.get(k) != svc_after.get(k)}


def test_force_new_deployment_describes_what_it_does_now_not_an_ssm_config():
    """The collector config moved from SSM into the task definition and the
    config-hash trigger is gone: the variable a user reads in the module README
    must not promise that a config change redeploys anything (issue 21)."""
    from tfhelpers import MODULES_DIR, blocks, load_hcl

    variables = dict(blocks(load_hcl(MODULES_DIR / "ecs-service" / "variables.tf"), "variable"))
    description = variables["force_new_deployment"]["description"]
    assert "SSM" not in description, description
    assert "collector" in description and "paved deploy" in description, description
