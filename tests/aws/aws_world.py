"""moto 5 as a real HTTP server, plus an ECR repository and ECS service to deploy to (fixtures and helpers).

The server runs once per session on a free loopback port; every test starts from
a reset server seeded with:

- ECR repository `checkout` with releases 0.9.0 (amd64 only, built before arm64
  was added), 1.0.0, 1.1.0, 1.2.0 (each an OCI image index over amd64 + arm64
  manifests plus buildx attestation manifests, as `imagetools create` pushes
  them), the moving tags `1.2` and `1` and a `sha-` tag on 1.2.0, and a main
  build tagged only `sha-...`;
- ECS cluster `paved-staging`, service `checkout` on Fargate ARM64, circuit
  breaker on, on revision checkout:2 whose app image is 1.2.0 by digest
  (checkout:1 ran 1.1.0), with the `otel-collector` sidecar.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from paved_road import cli
from paved_road.deploy import aws_session

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
REPO = "checkout"
CLUSTER = "paved-staging"
SERVICE = "checkout"
FAMILY = "checkout"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
COLLECTOR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0"

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


def sha256(data: str | bytes) -> str:
    return "sha256:" + hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


@pytest.fixture(scope="session")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE",
                                            "AWS_SHARED_CREDENTIALS_FILE", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"]}
    os.environ.update(AWS_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    for key in ("AWS_PROFILE", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"):
        os.environ.pop(key, None)
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION)


@dataclass
class World:
    endpoint: str
    ecr: object
    ecs: object
    digests: dict[str, str] = field(default_factory=dict)  # version -> index digest
    arch_digests: dict[str, dict[str, str]] = field(default_factory=dict)
    repo_uri: str = f"{REGISTRY}/{REPO}"

    def service(self) -> dict:
        return self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]

    def task_definition(self, ref: str | None = None) -> dict:
        return self.ecs.describe_task_definition(taskDefinition=ref or self.service()["taskDefinition"])["taskDefinition"]

    def revisions(self) -> list[str]:
        return sorted(self.ecs.list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"])

    def container(self, td: dict, name: str = "app") -> dict:
        return next(c for c in td["containerDefinitions"] if c["name"] == name)

    def push_release(self, tags: list[str], arches=("amd64", "arm64"), seed: str | None = None) -> str:
        """Push per-arch manifests by digest, then the index under each tag; returns the index digest."""
        seed = seed or tags[0]
        entries, per_arch = [], {}
        for arch in arches:
            config = sha256(f"config {seed} {arch}")
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 1469},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": sha256(f"layer {seed} {arch} {i}"), "size": 1000 + i} for i in range(3)],
            })
            digest = sha256(manifest)
            self.ecr.put_image(repositoryName=REPO, imageManifest=manifest, imageManifestMediaType=MANIFEST,
                               imageDigest=digest)
            per_arch[arch] = digest
            entries.append({"mediaType": MANIFEST, "digest": digest, "size": len(manifest),
                            "platform": {"architecture": arch, "os": "linux"}})
        for arch in arches:  # buildx provenance attestations: platform unknown/unknown
            attestation = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "layers": [
                {"mediaType": "application/vnd.in-toto+json", "digest": sha256(f"att {seed} {arch}"), "size": 10}]})
            digest = sha256(attestation)
            self.ecr.put_image(repositoryName=REPO, imageManifest=attestation, imageManifestMediaType=MANIFEST,
                               imageDigest=digest)
            entries.append({"mediaType": MANIFEST, "digest": digest, "size": len(attestation),
                            "platform": {"architecture": "unknown", "os": "unknown"},
                            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                            "vnd.docker.reference.digest": per_arch[arch]}})
        index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries})
        index_digest = sha256(index)
        for tag in tags:
            self.ecr.put_image(repositoryName=REPO, imageManifest=index, imageManifestMediaType=INDEX,
                               imageTag=tag, imageDigest=index_digest)
        self.digests[tags[0]] = index_digest
        self.arch_digests[tags[0]] = per_arch
        return index_digest

    def app_container(self, image: str) -> dict:
        return {
            "name": "app",
            "image": image,
            "essential": True,
            "portMappings": [{"containerPort": 3000, "protocol": "tcp", "name": "http"}],
            "environment": [
                {"name": "OTEL_SERVICE_NAME", "value": SERVICE},
                {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4318"},
                {"name": "DOWNSTREAM_URL", "value": "http://inventory.internal:3000"},
            ],
            "secrets": [{"name": "API_TOKEN", "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/checkout/api-token"}],
            "readonlyRootFilesystem": True,
            "user": "node",
            "dependsOn": [{"containerName": "otel-collector", "condition": "HEALTHY"}],
            "healthCheck": {"command": ["CMD", "node", "src/healthcheck.js"], "interval": 10, "timeout": 5,
                            "retries": 3, "startPeriod": 10},
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/checkout/app", "awslogs-region": REGION, "awslogs-stream-prefix": "app"}},
        }

    def register_revision(self, app_image: str, cpu_architecture: str | None = "ARM64") -> str:
        platform = {"runtimePlatform": {"cpuArchitecture": cpu_architecture, "operatingSystemFamily": "LINUX"}}
        td = self.ecs.register_task_definition(
            family=FAMILY,
            taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/checkout-task",
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/checkout-execution",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="512",
            memory="1024",
            **(platform if cpu_architecture else {}),
            containerDefinitions=[
                self.app_container(app_image),
                {
                    "name": "otel-collector",
                    "image": COLLECTOR_IMAGE,
                    "essential": True,
                    "command": ["--config=env:AOT_CONFIG_CONTENT"],
                    "secrets": [{"name": "AOT_CONFIG_CONTENT",
                                 "valueFrom": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/checkout/otel-config"}],
                    "healthCheck": {"command": ["CMD", "/healthcheck"], "interval": 10, "timeout": 5, "retries": 3},
                    "logConfiguration": {"logDriver": "awslogs", "options": {
                        "awslogs-group": "/ecs/checkout/otel-collector", "awslogs-region": REGION,
                        "awslogs-stream-prefix": "otel"}},
                },
            ],
            tags=[{"key": "service", "value": SERVICE}, {"key": "owner", "value": "team-payments"}],
        )
        return td["taskDefinition"]["taskDefinitionArn"]


def _reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def world(moto_endpoint) -> World:
    _reset(moto_endpoint)
    w = World(moto_endpoint, _client("ecr", moto_endpoint), _client("ecs", moto_endpoint))
    w.repo_uri = w.ecr.create_repository(repositoryName=REPO)["repository"]["repositoryUri"]
    w.push_release(["0.9.0"], arches=("amd64",))
    w.push_release(["1.0.0"])
    w.push_release(["1.1.0"])
    w.push_release(["1.2.0", "1.2", "1", "sha-3f1c2ab"])
    w.push_release(["sha-9d8e7f6"], seed="main build after 1.2.0")

    w.ecs.create_cluster(clusterName=CLUSTER)
    w.register_revision(f"{w.repo_uri}@{w.digests['1.1.0']}")
    current = w.register_revision(f"{w.repo_uri}@{w.digests['1.2.0']}")
    w.ecs.create_service(
        cluster=CLUSTER, serviceName=SERVICE, taskDefinition=current, desiredCount=2, launchType="FARGATE",
        deploymentController={"type": "ECS"},
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                 "maximumPercent": 200, "minimumHealthyPercent": 100},
    )
    return w


@pytest.fixture
def hooked_session(monkeypatch):
    """The boto3 session the CLI will use, for registering botocore event hooks on it."""
    session = boto3.session.Session()
    monkeypatch.setattr(aws_session, "boto3_session", lambda: session)
    return session


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_paved(*args: str) -> Result:
    """`paved ARGS` in this process through paved_road.cli.main (hooks on hooked_session apply)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def paved_executable() -> str:
    """The installed console script next to this interpreter (.venv/bin/paved)."""
    path = Path(sys.executable).parent / "paved"
    assert path.exists(), f"console script missing: {path}"
    return str(path)


logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per AWS call is noise
