"""The collector configuration the ecs-service module puts in the task definition,
and the generated service's local (compose) config rendered from the same file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from tfhelpers import MODULES_DIR, REPO_ROOT, module_locals, render_tftpl, template_variables, templatefile_calls

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import render_local_collector  # noqa: E402

MODULE = MODULES_DIR / "ecs-service"
TEMPLATE = MODULE / "templates" / "otel-collector-config.yaml.tftpl"
COMPONENTS = json.loads((Path(__file__).parent / "data" / "collector_components.json").read_text())
KINDS = {"receivers": "receivers", "processors": "processors", "exporters": "exporters"}

INPUTS = {
    "listen_address": "127.0.0.1",
    "aws_exporters": True,
    "local_exporters": False,
    "traces_exporters": "awsxray",
    "metrics_exporters": "awsemf",
    "logs_exporters": "awscloudwatchlogs",
    "region": "eu-west-1",
    "service_name": "demo-service",
    "environment": "staging",
    "metrics_namespace": "ECS/demo-service",
    "metrics_log_group": "/ecs/demo-service/staging/otel-metrics",
    "otlp_logs_log_group": "/ecs/demo-service/staging/otel-logs",
    "memory_limit_mib": 204,
    "memory_spike_limit_mib": 51,
}


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(render_tftpl(TEMPLATE.read_text(), INPUTS))


def _type(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def test_module_and_render_agree_on_variable_names():
    assert templatefile_calls(MODULE)["otel-collector-config.yaml.tftpl"] == template_variables(TEMPLATE.read_text()) == set(INPUTS)


def test_every_pipeline_references_defined_components_in_order(config):
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, pipeline in pipelines.items():
        for kind in KINDS:
            assert pipeline[kind], f"{name} has no {kind}"
            for component in pipeline[kind]:
                assert component in config[kind], f"{name} uses undefined {kind[:-1]} {component}"
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", name
        assert processors[-1] == "batch", name
        assert "resourcedetection" in processors, name
    assert config["processors"]["resourcedetection"]["detectors"] == ["env", "ecs"]


def test_exporters_send_traces_to_xray_metrics_as_emf_logs_to_cloudwatch(config):
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["awsxray"]
    assert pipelines["metrics"]["exporters"] == ["awsemf"]
    assert pipelines["logs"]["exporters"] == ["awscloudwatchlogs"]
    assert config["exporters"]["awsemf"]["log_group_name"] == INPUTS["metrics_log_group"]
    assert config["exporters"]["awscloudwatchlogs"]["log_group_name"] == INPUTS["otlp_logs_log_group"]
    assert config["service"]["extensions"] == ["health_check"]


def test_receivers_and_health_check_bind_to_localhost(config):
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "127.0.0.1:4317"
    assert protocols["http"]["endpoint"] == "127.0.0.1:4318"
    # ADOT's /healthcheck binary probes 127.0.0.1:13133.
    assert config["extensions"]["health_check"]["endpoint"] == "127.0.0.1:13133"


@pytest.mark.parametrize("distribution", sorted(module_locals(MODULE)["collector_distributions"]))
def test_every_component_exists_in_the_distribution(config, distribution):
    image = module_locals(MODULE)["collector_distributions"][distribution]["image"]
    available = COMPONENTS[distribution]
    assert available["image"] == image, "component list is for another image version: refresh data/collector_components.json"
    used = {kind: {_type(c) for c in config[kind]} for kind in KINDS}
    used["extensions"] = {_type(c) for c in config["extensions"]}
    for kind, types in used.items():
        missing = types - set(available[kind])
        assert not missing, f"{distribution} ({image}) has no {kind} {sorted(missing)}"


def test_memory_limiter_leaves_headroom_below_the_container_limit(config):
    limiter = config["processors"]["memory_limiter"]
    assert limiter["limit_mib"] < 256 and limiter["spike_limit_mib"] < limiter["limit_mib"]


# How each exporter names the log stream a batch goes to, as an executable
# model of open-telemetry/opentelemetry-collector-contrib v0.156.0 (inside ADOT
# v0.49.0). awsemf (exporter/awsemfexporter/util.go, getLogInfo and
# replacePatterns) replaces {TaskId}, {ClusterName}, {TaskDefinitionFamily},
# {ServiceName}... with the resource's attribute (aws.ecs.task.id, ...), or with
# "undefined" when it is missing. awscloudwatchlogs does the same since contrib
# v0.125.0 (PR 37297, merged 2025-04-17: exporter/awscloudwatchlogsexporter/
# util.go getLogInfo/replacePatterns, util_test.go
# TestReplacePatternValidTaskId, README "log_stream_name ... supports {TaskId}"),
# with three more keys; with raw_log on, an EMF JSON body naming its own
# group and stream goes there instead.
EMF_PATTERNS = {"ClusterName": "aws.ecs.cluster.name", "TaskId": "aws.ecs.task.id", "NodeName": "k8s.node.name",
                "PodName": "pod", "ServiceName": "service.name", "ContainerInstanceId": "aws.ecs.container.instance.id",
                "TaskDefinitionFamily": "aws.ecs.task.family"}
CLOUDWATCH_LOGS_PATTERNS = {**EMF_PATTERNS, "InstanceId": "service.instance.id", "FaasName": "faas.name",
                            "FaasVersion": "faas.version"}


def replace_patterns(configured: str, resource: dict, patterns: dict) -> str:
    for key, attribute in patterns.items():
        if "{" + key + "}" in configured:
            configured = configured.replace("{" + key + "}", resource.get(key) or resource.get(attribute) or "undefined")
    return configured


def emf_stream(configured: str, resource: dict) -> str:
    return replace_patterns(configured, resource, EMF_PATTERNS)


def cloudwatch_logs_stream(exporter: dict, resource: dict, body: str) -> str:
    if exporter.get("raw_log"):
        try:
            emf = json.loads(body)
        except ValueError:
            emf = None
        if isinstance(emf, dict):
            aws = emf.get("_aws") or {}
            if aws.get("LogGroupName") and aws.get("LogStreamName"):
                return aws["LogStreamName"]
            if emf.get("log_group_name") and emf.get("log_stream_name"):
                return emf["log_stream_name"]
    return replace_patterns(exporter["log_stream_name"], resource, CLOUDWATCH_LOGS_PATTERNS)


TASKS = [{"aws.ecs.task.id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "service.name": "demo-service"},
         {"aws.ecs.task.id": "9a8b7c6d5e4f30211203f4e5d6c7b8a9", "service.name": "demo-service"}]


def test_metrics_go_to_one_log_stream_per_task(config):
    emf = config["exporters"]["awsemf"]
    streams = [emf_stream(emf["log_stream_name"], task) for task in TASKS]
    assert streams == [task["aws.ecs.task.id"] for task in TASKS]
    # The ecs detector that sets aws.ecs.task.id runs in the metrics pipeline.
    assert "ecs" in config["processors"]["resourcedetection"]["detectors"]
    assert "resourcedetection" in config["service"]["pipelines"]["metrics"]["processors"]


def test_otlp_logs_go_to_one_log_stream_per_task(config):
    """awscloudwatchlogs in contrib v0.156 replaces {TaskId} as awsemf does, so
    the OTLP logs of each task get their own stream, named after the task (an
    earlier review read a pre-v0.125 exporter, which took the name literally,
    and moved every task to one shared stream)."""
    exporter = config["exporters"]["awscloudwatchlogs"]
    assert not exporter.get("raw_log")
    streams = [cloudwatch_logs_stream(exporter, task, '{"msg": "hello"}') for task in TASKS]
    assert streams == [task["aws.ecs.task.id"] for task in TASKS]
    for name in streams:  # CreateLogStream: 1-512 characters, no ':' and no '*'
        assert 1 <= len(name) <= 512 and not set(name) & {":", "*"}
    assert "ecs" in config["processors"]["resourcedetection"]["detectors"]
    assert "resourcedetection" in config["service"]["pipelines"]["logs"]["processors"]
    # Without the ecs detector's attribute the exporter writes to "undefined".
    assert cloudwatch_logs_stream(exporter, {"service.name": "demo-service"}, "{}") == "undefined"


def test_resource_attributes_stay_resource_attributes(config):
    emf = config["exporters"]["awsemf"]
    assert emf["resource_to_telemetry_conversion"]["enabled"] is False
    assert emf["dimension_rollup_option"] == "NoDimensionRollup"  # no extra rolled-up series
    # Only the two constants of this sidecar are copied onto metric data points.
    actions = config["processors"]["attributes/dimensions"]["actions"]
    assert {(a["key"], a["value"]) for a in actions} == {
        ("service.name", INPUTS["service_name"]), ("deployment.environment.name", INPUTS["environment"])}
    assert "attributes/dimensions" in config["service"]["pipelines"]["metrics"]["processors"]


def test_local_compose_config_is_rendered_from_the_same_source():
    target = render_local_collector.TARGET
    assert target.read_text() == render_local_collector.render(), "stale: run `make generated`"
    local = yaml.safe_load(target.read_text().replace("{{ service_name }}", "demo-service"))
    ecs = yaml.safe_load(render_tftpl(TEMPLATE.read_text(), INPUTS))
    # Same receivers (on all interfaces for compose), processors and pipeline shape; local exporters.
    assert local["processors"]["attributes/dimensions"]["actions"][1]["value"] == "local"
    for name, pipeline in local["service"]["pipelines"].items():
        assert pipeline["processors"] == ecs["service"]["pipelines"][name]["processors"]
        assert pipeline["receivers"] == ecs["service"]["pipelines"][name]["receivers"]
    assert set(local["exporters"]) == {"otlp/jaeger", "debug"}
    assert local["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"
