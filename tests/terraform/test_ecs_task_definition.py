"""The ecs-service module's container definitions, produced offline.

The module renders templates/container-definitions.json.tftpl with
templatefile(); this suite renders the same file with the values the module
computes for each example, validates the task definition against botocore's
RegisterTaskDefinition model (enums included) and registers it in moto.
"""

from __future__ import annotations

import copy
import json
import re

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters

from tfhelpers import MODULES_DIR, blocks, load_hcl, module_locals, render_tftpl, template_variables, templatefile_calls, variable_defaults

MODULE = MODULES_DIR / "ecs-service"
TEMPLATE = MODULE / "templates" / "container-definitions.json.tftpl"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
EXAMPLES = sorted(p.name for p in (MODULE / "examples").iterdir())

# Optional attributes of var.collector as variables.tf declares them.
COLLECTOR_DEFAULTS = {"distribution": "adot", "cpu": 128, "memory": 256}


def example_arguments(example: str) -> dict:
    """The module block's arguments in examples/<example>, over the variables' defaults."""
    (name, module), = blocks(load_hcl(MODULE / "examples" / example / "main.tf"), "module")
    args = {k: v for k, v in module.items() if k != "source"}
    merged = {**variable_defaults(MODULE), **args}
    merged["collector"] = {**COLLECTOR_DEFAULTS, **(args.get("collector") or {})}
    return merged


def template_inputs(args: dict, collector_config_parameter_arn: str) -> dict:
    """What main.tf passes to templatefile(), computed the way main.tf computes it."""
    collector = module_locals(MODULE)["collector_distributions"][args["collector"]["distribution"]]
    prefix = f"/ecs/{args['name']}/{args['environment']}"
    return {
        "app_image": args["image"],
        "app_cpu": args["cpu"] - args["collector"]["cpu"],
        "app_memory_reservation": args["memory"] - args["collector"]["memory"],
        "app_user": args["app_user"],
        "stop_timeout": args["stop_timeout"],
        "container_port": args["container_port"],
        "health_check_start_period": args["health_check_start_period"],
        "app_environment": [{"name": k, "value": args["environment_variables"][k]} for k in sorted(args["environment_variables"])],
        "app_secrets": [{"name": k, "valueFrom": args["secrets"][k]} for k in sorted(args["secrets"])],
        "service_name": args["name"],
        "service_version": args["service_version"],
        "environment": args["environment"],
        "trace_sample_ratio": args["trace_sample_ratio"],
        "region": REGION,
        "app_log_group": f"{prefix}/app",
        "collector_log_group": f"{prefix}/otel-collector",
        "collector_image": collector["image"],
        "collector_cpu": args["collector"]["cpu"],
        "collector_memory": args["collector"]["memory"],
        "collector_command": collector["command"],
        "collector_config_env": collector["config_env"],
        "collector_config_parameter_arn": collector_config_parameter_arn,
        "collector_health_check": collector["health_check"],
        "collector_dependency_condition": collector["depends_condition"],
    }


def task_definition(example: str) -> dict:
    args = example_arguments(example)
    family = f"{args['name']}-{args['environment']}"
    parameter_arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/ecs/{args['name']}/{args['environment']}/otel-collector-config"
    rendered = render_tftpl(TEMPLATE.read_text(), template_inputs(args, parameter_arn))
    return {
        "family": family,
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{family}-task",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{family}-execution",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(args["cpu"]),
        "memory": str(args["memory"]),
        "runtimePlatform": {
            "operatingSystemFamily": "LINUX",
            "cpuArchitecture": "ARM64" if "arm64" in args["architectures"] else "X86_64",
        },
        "volumes": [{"name": "tmp"}],
        "containerDefinitions": json.loads(rendered),
    }


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


def test_module_and_render_agree_on_variable_names():
    passed = templatefile_calls(MODULE)["container-definitions.json.tftpl"]
    read = template_variables(TEMPLATE.read_text())
    assert passed == read, f"main.tf passes {sorted(passed - read)} unused; template reads {sorted(read - passed)} not passed"
    args = example_arguments("minimal")
    assert set(template_inputs(args, "arn")) == passed


@pytest.mark.parametrize("example", EXAMPLES)
def test_task_definition_matches_the_register_model_including_enums(example, register_shape):
    td = task_definition(example)
    validate_parameters(td, register_shape)  # raises ParamValidationError
    assert enum_violations(td, register_shape) == []


def test_enum_check_catches_what_validate_parameters_lets_through(register_shape):
    td = copy.deepcopy(task_definition("minimal"))
    td["containerDefinitions"][0]["dependsOn"][0]["condition"] = "READY"
    td["runtimePlatform"]["cpuArchitecture"] = "AMD64"
    validate_parameters(td, register_shape)
    assert len(enum_violations(td, register_shape)) == 2


@pytest.mark.parametrize("example", EXAMPLES)
def test_app_container_runs_hardened_and_talks_to_the_sidecar(example):
    td = task_definition(example)
    args = example_arguments(example)
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
    assert f"service.version={args['service_version']}" in env["OTEL_RESOURCE_ATTRIBUTES"]
    assert f"deployment.environment.name={args['environment']}" in env["OTEL_RESOURCE_ATTRIBUTES"]
    assert float(env["OTEL_TRACES_SAMPLER_ARG"]) == args["trace_sample_ratio"]
    for name, value in args["environment_variables"].items():
        assert env[name] == value
    assert {s["name"]: s["valueFrom"] for s in app["secrets"]} == args["secrets"]
    assert app["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{args['name']}/{args['environment']}/app"
    # The app's share plus the collector's fits the task.
    assert app["cpu"] + collector["cpu"] == args["cpu"]
    assert app["memoryReservation"] + collector["memory"] == args["memory"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_collector_sidecar_gets_its_config_from_ssm(example):
    td = task_definition(example)
    args = example_arguments(example)
    app, collector = td["containerDefinitions"]
    assert collector["essential"] is True
    assert ":" in collector["image"] and not collector["image"].endswith(":latest")
    (secret,) = collector["secrets"]
    assert secret["valueFrom"].endswith(f"/ecs/{args['name']}/{args['environment']}/otel-collector-config")
    if args["collector"]["distribution"] == "adot":
        assert collector["image"] == "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0"
        assert secret["name"] == "AOT_CONFIG_CONTENT"
        assert collector["healthCheck"]["command"] == ["CMD", "/healthcheck"]
        assert app["dependsOn"] == [{"containerName": "otel-collector", "condition": "HEALTHY"}]
    else:
        assert collector["image"] == "otel/opentelemetry-collector-contrib:0.159.0"
        assert collector["command"] == [f"--config=env:{secret['name']}"]
        # No shell and no health-check binary in that image: the app waits for START.
        assert "healthCheck" not in collector
        assert app["dependsOn"] == [{"containerName": "otel-collector", "condition": "START"}]


def test_fargate_size_table_matches_aws():
    """main.tf's table of valid cpu/memory pairs, against Fargate's published rules."""
    table = module_locals(MODULE)["fargate_memory_options"]
    # hcl2 keeps comprehensions as expressions: evaluate the range() forms here.
    expected = {
        256: [512, 1024, 2048],
        512: [gb * 1024 for gb in range(1, 5)],
        1024: [gb * 1024 for gb in range(2, 9)],
        2048: [gb * 1024 for gb in range(4, 17)],
        4096: [gb * 1024 for gb in range(8, 31)],
        8192: [gb * 1024 for gb in range(16, 61, 4)],
        16384: [gb * 1024 for gb in range(32, 121, 8)],
    }
    assert sorted(int(k) for k in table) == sorted(expected)
    for cpu, expr in table.items():
        if isinstance(expr, list):
            assert expr == expected[int(cpu)]
            continue
        start, stop, *step = (int(n) for n in re.search(r"range\(([^)]*)\)", expr).group(1).split(","))
        assert [gb * 1024 for gb in range(start, stop, *step)] == expected[int(cpu)], cpu


@pytest.mark.parametrize("example", EXAMPLES)
def test_examples_use_a_valid_fargate_size(example):
    args = example_arguments(example)
    table = {256: [512, 1024, 2048], 512: [1024, 2048, 3072, 4096]} | {
        cpu: [gb * 1024 for gb in range(cpu // 512, cpu // 128 + 1)] for cpu in (1024, 2048, 4096)
    }
    if args["cpu"] in table:
        assert args["memory"] in table[args["cpu"]], (args["cpu"], args["memory"])


@pytest.mark.parametrize("example", EXAMPLES)
def test_task_definition_registers_in_moto(example, moto_endpoint):
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=moto_endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    td = task_definition(example)
    registered = ecs.register_task_definition(**td)["taskDefinition"]
    described = ecs.describe_task_definition(taskDefinition=registered["taskDefinitionArn"])["taskDefinition"]
    assert described["family"] == td["family"]
    assert described["runtimePlatform"] == td["runtimePlatform"]
    assert [c["name"] for c in described["containerDefinitions"]] == ["app", "otel-collector"]
    app = described["containerDefinitions"][0]
    assert app["healthCheck"]["command"] == ["CMD", "node", "src/healthcheck.js"]
    assert app["dependsOn"][0]["containerName"] == "otel-collector"
