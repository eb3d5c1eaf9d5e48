"""Offline pieces of deploy/rollback: image references, manifests, versions, the task-definition copy."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.validate import validate_parameters

from paved_road.deploy.releases import BadVersion, architectures_from_manifest, parse_version
from paved_road.deploy.ecs_deploy import READ_ONLY_KEYS, ImageRef, copy_task_definition

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("ref", "expected"), [
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout:1.2.0",
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "checkout", "1.2.0", None)),
    (f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/checkout@{DIGEST}",
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "team/checkout", None, DIGEST)),
    (f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/checkout:1.2.0@{DIGEST}",
     ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "checkout", "1.2.0", DIGEST)),
    ("localhost:5000/checkout:dev", ("localhost:5000", "checkout", "dev", None)),
    ("node:24-bookworm-slim", (None, "node", "24-bookworm-slim", None)),
    ("library/node", (None, "library/node", None, None)),
])
def test_image_reference_parts(ref, expected):
    parsed = ImageRef.parse(ref)
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.digest) == expected
    assert str(parsed) == ref


def test_ecr_registry_id_and_region_come_from_the_host():
    ref = ImageRef.parse("210987654321.dkr.ecr.us-east-2.amazonaws.com/checkout:1.0.0")
    assert (ref.ecr_registry_id, ref.ecr_region) == ("210987654321", "us-east-2")
    assert ImageRef.parse("public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0").ecr_registry_id is None


@pytest.mark.parametrize(("text", "version"), [("1.2.3", (1, 2, 3)), ("v0.10.0", (0, 10, 0)), (" 2.0.0 ", (2, 0, 0))])
def test_versions(text, version):
    assert parse_version(text) == version


@pytest.mark.parametrize("text", ["1.2", "v1", "1.2.3-rc.1", "1.2.3+build", "01.2.3", "latest", ""])
def test_bad_versions(text):
    with pytest.raises(BadVersion, match="SemVer X.Y.Z"):
        parse_version(text)


def test_docker_manifest_list_and_single_manifest_architectures():
    manifest_list = {"mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": [
        {"digest": DIGEST, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        {"digest": DIGEST, "platform": {"architecture": "amd64", "os": "linux"}},
    ]}
    assert architectures_from_manifest(manifest_list) == ["amd64", "arm64"]
    assert architectures_from_manifest({"mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}) == []


def test_task_definition_copy_is_valid_register_input():
    """A describe_task_definition result as AWS returns it, read-only members and all."""
    ecs = boto3.client("ecs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    described = {
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/checkout:7",
        "family": "checkout", "revision": 7, "status": "ACTIVE",
        "containerDefinitions": [
            {"name": "app", "image": "repo:1.2.0", "essential": True, "environment": [{"name": "A", "value": "1"}]},
            {"name": "otel-collector", "image": "collector:v0.49.0", "essential": True},
        ],
        "taskRoleArn": "arn:aws:iam::123456789012:role/task", "networkMode": "awsvpc", "cpu": "512", "memory": "1024",
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
        "compatibilities": ["EC2", "FARGATE"], "requiresCompatibilities": ["FARGATE"],
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "registeredAt": datetime(2026, 11, 1, tzinfo=timezone.utc), "registeredBy": "arn:aws:sts::123456789012:assumed-role/ci",
        "deregisteredAt": datetime(2026, 11, 2, tzinfo=timezone.utc), "deleteRequestedAt": datetime(2026, 11, 3, tzinfo=timezone.utc),
        "someFutureReadOnlyField": {"x": 1},
    }
    tags = [{"key": "owner", "value": "payments"}, {"key": "aws:cloudformation:stack-name", "value": "x"}]
    new = copy_task_definition(ecs, described, tags, "app", f"repo@{DIGEST}")
    validate_parameters(new, ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape)
    assert not set(READ_ONLY_KEYS) & set(new) and "someFutureReadOnlyField" not in new
    assert new["containerDefinitions"][0]["image"] == f"repo@{DIGEST}"
    assert new["containerDefinitions"][1] == described["containerDefinitions"][1]
    assert new["tags"] == [{"key": "owner", "value": "payments"}]  # aws: tags are reserved
    assert described["containerDefinitions"][0]["image"] == "repo:1.2.0"  # the input is not modified
