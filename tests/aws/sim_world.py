"""`paved sim` as a subprocess, and the real `paved` CLI run against it.

One simulator per test session (started with the installed console script,
exactly as a user would); every test starts from a fresh world via the
simulator's reset route, with its own seed, failing releases and speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from paved_road.deploy.history import service_history

REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "demo"
SERVICE = "demo-service"
SPEED = 20  # a rolling deployment takes 0.15 s, a bake minute 3 s
FAST = ("--poll-interval", "0.05")


def paved_executable() -> str:
    path = Path(sys.executable).parent / "paved"
    assert path.exists(), f"console script missing: {path}"
    return str(path)


def aws_env(endpoint: str, **extra: str) -> dict:
    # no AWS settings and no proxy from the caller: the simulator is on loopback, and the fail-fast checks
    # (unknown region, unreachable endpoint) are about a direct connection
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.lower().endswith("_proxy")
           and k not in ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")}
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "sim", "AWS_SECRET_ACCESS_KEY": "sim", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true"})
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def sim_endpoint():
    proc = subprocess.Popen([paved_executable(), "sim", "--port", "0", "--speed", str(SPEED)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    endpoint = None
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "export AWS_ENDPOINT_URL=" in line:
            endpoint = line.split("=", 1)[1].strip()
            break
    assert endpoint, f"paved sim did not start: {''.join(lines)} {proc.stderr.read() if proc.poll() is not None else ''}"
    yield endpoint
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def admin(endpoint: str, route: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{endpoint}/_paved_sim/{route}", data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"{}")


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float


@dataclass
class World:
    endpoint: str
    ecs: object
    ecr: object

    def paved(self, *args: str, env: dict | None = None, timeout: float = 60) -> Result:
        start = time.monotonic()
        proc = subprocess.run([paved_executable(), *args], capture_output=True, text=True, timeout=timeout,
                              env=env or aws_env(self.endpoint))
        return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)

    def deploy(self, version: str, *extra: str, service: str = SERVICE, cluster: str = CLUSTER) -> Result:
        return self.paved("deploy", "--cluster", cluster, "--service", service, "--to", version, *FAST, *extra)

    def rollback(self, *extra: str, service: str = SERVICE, cluster: str = CLUSTER) -> Result:
        return self.paved("rollback", "--cluster", cluster, "--service", service, *FAST, *extra)

    def history(self, service: str = SERVICE, cluster: str = CLUSTER, cli: bool = False) -> list[dict]:
        """`paved history --json` (cli=True), or the same through the library, in this process (faster to poll)."""
        if cli:
            result = self.paved("history", "--cluster", cluster, "--service", service, "--json")
            assert result.code == 0, result.err
            return json.loads(result.out)
        return [d.as_dict() for d in service_history(self.ecs, cluster, service)]

    def fault(self, operation: str, fault: str, count: int = 1, seconds: float = 5, after: str | None = None) -> None:
        admin(self.endpoint, "fault", {"operation": operation, "fault": fault, "count": count, "seconds": seconds,
                                       "after": after})

    def fail(self, *versions: str) -> None:
        admin(self.endpoint, "fail", {"versions": list(versions)})

    def calls(self, operation: str) -> int:
        return admin(self.endpoint, "state")["calls"].get(operation, 0)

    def service(self, service: str = SERVICE, cluster: str = CLUSTER) -> dict:
        return self.ecs.describe_services(cluster=cluster, services=[service])["services"][0]

    def task_definition(self, ref: str | None = None) -> dict:
        return self.ecs.describe_task_definition(taskDefinition=ref or self.service()["taskDefinition"])["taskDefinition"]

    def tags(self, ref: str) -> dict:
        described = self.ecs.describe_task_definition(taskDefinition=ref, include=["TAGS"])
        return {t["key"]: t["value"] for t in described.get("tags", [])}

    def revisions(self, family: str = SERVICE) -> list[str]:
        arns = self.ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]
        return sorted((a.rsplit("/", 1)[-1] for a in arns), key=lambda r: int(r.rsplit(":", 1)[1]))

    def digest(self, version: str, repo: str = SERVICE) -> str:
        return self.ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": version}])["imageDetails"][0]["imageDigest"]

    def app(self, td: dict) -> dict:
        return next(c for c in td["containerDefinitions"] if c["name"] == "app")

    def wait_for(self, predicate, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not reached in time"
            time.sleep(0.05)


def make_world(endpoint: str, seed: dict | None = None, fail: list[str] | None = None, speed: float = SPEED,
               **options) -> World:
    admin(endpoint, "reset", {"seed": seed, "fail": fail or [], "speed": speed, **options})
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="sim", aws_secret_access_key="sim")
    return World(endpoint, session.client("ecs", endpoint_url=endpoint), session.client("ecr", endpoint_url=endpoint))


def releases(*versions: str, days_ago: int = 20) -> list[dict]:
    return [{"version": v, "pushed_at": f"-{days_ago - i}d"} for i, v in enumerate(versions)]


def service_seed(history: list[dict] | None = None, **spec) -> dict:
    base = {"environment": "staging", "strategy": "ROLLING", "circuit_breaker": {"enable": True, "rollback": True},
            "desired_count": 2, "architectures": ["amd64", "arm64"], "sidecar": True, "release": "1.0.0"}
    base.update(spec)
    if history is not None:
        base["history"] = history
    return base


def ran(release: str, days_ago: float, status: str = "SUCCESSFUL", made_by: str = "deploy") -> dict:
    hours = int(days_ago * 24)
    return {"release": release, "started_at": f"-{hours}h", "finished_at": f"-{max(hours - 1, 0)}h",
            "status": status, "made_by": made_by}
