"""The simulator's world: a seed file (YAML) or the default world.

Seed format (every key optional except where noted):

    region: us-east-1
    retention_days: 90                    # ECS returns 90 days of service deployments; a historical
                                          # scenario with fixed dates may widen it (null: keep everything)
    repositories:
      demo-service:
        releases:                         # multi-arch OCI image indexes, as CI pushes them
          - version: 1.0.0                # required; pushed as tag X.Y.Z
            pushed_at: 2026-11-02T10:00:00Z
            architectures: [amd64, arm64]
            tags: [1.0, "1"]              # extra tags on the same index
    clusters:
      demo:
        services:
          demo-service:
            repository: demo-service      # default: the service's name
            environment: staging          # `environment` tag on the service (null: no tag)
            strategy: ROLLING             # ROLLING | BLUE_GREEN | LINEAR | CANARY
            controller: ECS               # ECS | CODE_DEPLOY | EXTERNAL
            circuit_breaker: {enable: true, rollback: true}
            alarms: []                    # CloudWatch alarm names (alarm rollback on), defined as the
                                          # ecs-service module's (module_alarms); --alarm on the default
                                          # world adds the module's two: <service>-<env>-http-5xx-rate, -http-latency-p99
            alarm_history:                # past state changes of those alarms (DescribeAlarmHistory)
              - {alarm: demo-service-5xx, at: 2026-11-02T10:07:00Z, state: ALARM}
            bake_time_minutes: 0          # BLUE_GREEN / LINEAR / CANARY
            linear: {stepPercent: 10, stepBakeTimeInMinutes: 6}      # LINEAR (ECS's keys and defaults)
            canary: {canaryPercent: 5, canaryBakeTimeInMinutes: 10}  # CANARY
            desired_count: 2
            architectures: [amd64, arm64] # one -> runtimePlatform.cpuArchitecture; both -> mixed capacity
            cpu: "512"
            memory: "1024"
            sidecar: true                 # the otel-collector container
            release: 1.0.0                # running release when there is no history
            created_at: 2026-11-01T09:00:00Z   # Service.createdAt (default: when it is seeded)
            history:                      # past deployments, oldest first
              - release: 1.0.0
                started_at: 2026-11-02T10:05:00Z
                finished_at: 2026-11-02T10:09:00Z
                status: SUCCESSFUL        # any ServiceDeployment status
                made_by: terraform        # deploy | rollback | terraform
                strategy: ROLLING
                id: d0                    # optional: the service-deployment ARN's last part (default: random)

Each history entry registers a task-definition revision tagged the way `paved`
and Terraform tag theirs (paved:release, paved:digest, paved:made-by) and a
finished service deployment with those times; the service runs the revision
of the last SUCCESSFUL entry. Without history, the first revision is
Terraform's, running `release`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import yaml
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID

from paved_road.deploy.history import TAG_DIGEST, TAG_MADE_BY, TAG_RELEASE
from paved_road.sim import alarm_history, in_process
from paved_road.sim.server import SimApp

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
COLLECTOR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0"
CPU_ARCH = {"amd64": "X86_64", "arm64": "ARM64"}
SIM_CREDENTIALS = {"aws_access_key_id": "sim", "aws_secret_access_key": "sim"}

DEFAULT_SEED: dict = {
    "region": "us-east-1",
    "repositories": {"demo-service": {"releases": [
        {"version": "1.0.0", "pushed_at": "-10d"}, {"version": "1.1.0", "pushed_at": "-7d"},
        {"version": "1.2.0", "pushed_at": "-4d"}, {"version": "1.3.0", "pushed_at": "-1d"},
    ]}},
    "clusters": {"demo": {"services": {"demo-service": {
        "environment": "staging", "strategy": "ROLLING", "circuit_breaker": {"enable": True, "rollback": True},
        "desired_count": 2, "architectures": ["amd64", "arm64"], "sidecar": True, "release": "1.0.0",
    }}}},
}


def module_alarms(service: str, environment: str, names: list[str] | None = None) -> list[dict]:
    """PutMetricAlarm requests for the alarms terraform-modules/ecs-service creates by default
    (alarms.tf, `alarms = {}`): the 5xx share and the p99 duration of `http.server.request.duration`
    as the collector publishes it. `names` (a seed's `alarms:`) reuses the error-rate definition under
    other names, except the module's latency name. tests/terraform/test_alarm_metrics.py checks these
    against the module evaluated as `terraform plan` would, so the simulator watches what Terraform creates."""
    full = f"{service}-{environment}"
    namespace, metric = f"ECS/{service}", "http.server.request.duration"
    base = [{"Name": "service.name", "Value": service}, {"Name": "deployment.environment.name", "Value": environment}]

    def stat(qid: str, statistic: str, extra: list | None = None) -> dict:
        return {"Id": qid, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": base + (extra or [])},
            "Period": 60, "Stat": statistic}}

    codes = ["500", "502", "503", "504"]
    common = {"ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 3, "DatapointsToAlarm": 2,
              "TreatMissingData": "notBreaching"}
    error_rate = {**common, "Threshold": 5.0, "Metrics": [
        {"Id": "rate", "ReturnData": True, "Expression": "IF(requests >= 20, 100 * errors / requests, 0)"},
        {"Id": "errors", "ReturnData": False,
         "Expression": "SUM([" + ", ".join(f"FILL(status{c}, 0)" for c in codes) + "])"},
        stat("requests", "SampleCount"),
        *[stat(f"status{c}", "SampleCount", [{"Name": "http.response.status_code", "Value": c}]) for c in codes]]}
    latency = {**common, "Threshold": 2.0, "Metrics": [
        {"Id": "latency", "ReturnData": True, "Expression": "IF(requests >= 20, duration, 0)"},
        stat("duration", "p99"), stat("requests", "SampleCount")]}
    latency_name = f"{full}-http-latency-p99"
    names = names if names is not None else [f"{full}-http-5xx-rate", latency_name]
    return [{"AlarmName": str(n), **(latency if n == latency_name else error_rate)} for n in names]


class SeedError(ValueError):
    """A seed file that cannot be used; the message names the field."""


def sha256(data: str) -> str:
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def _when(value, field: str) -> datetime:
    """ISO 8601 (YAML may already have parsed it) or a relative `-3d` / `-2h` / `-15m`."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip()
    if text.startswith("-") and text[-1:] in "dhm" and text[1:-1].isdigit():
        unit = {"d": "days", "h": "hours", "m": "minutes"}[text[-1]]
        return datetime.now(timezone.utc) - timedelta(**{unit: int(text[1:-1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SeedError(f"{field}: expected an ISO 8601 time or -Nd/-Nh/-Nm (got '{value}')") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _moto_time(at: datetime) -> datetime:
    """moto's CloudWatch keeps its timestamps as naive UTC."""
    return at.astimezone(timezone.utc).replace(tzinfo=None)


def load_seed(path: str | Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SeedError(f"--seed {path}: {exc}") from None
    if not isinstance(data, dict):
        raise SeedError(f"--seed {path}: expected a mapping with repositories and clusters")
    return data


class Seeder:
    def __init__(self, app: SimApp, endpoint: str):
        self.app = app
        self.endpoint = endpoint
        self.digests: dict[tuple[str, str], str] = {}   # (repo, version) -> index digest
        self.uris: dict[str, str] = {}
        self._cloudwatch_clients: dict = {}

    def __call__(self, seed: dict | None, alarms: bool = False) -> None:
        """Seed the world; the default world gets a CloudWatch alarm on its service when `alarms` (--alarm)."""
        from botocore.exceptions import ClientError, ParamValidationError
        if seed is None:
            seed = copy.deepcopy(DEFAULT_SEED)
            if alarms:
                for cluster in seed["clusters"].values():
                    for name, service in cluster["services"].items():  # the ecs-service module's defaults
                        service["alarms"] = [a["AlarmName"] for a in module_alarms(name, service["environment"])]
        try:
            self._seed(seed)
        except (ClientError, ParamValidationError) as exc:
            raise SeedError(f"the seed was refused by the ECS/ECR API: {' '.join(str(exc).split())}") from None
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            if isinstance(exc, SeedError):
                raise
            raise SeedError(f"malformed seed (see the format in paved_road/sim/world.py): {exc!r}") from None

    def _seed(self, seed: dict) -> None:
        region = seed.get("region") or "us-east-1"
        self.app.world_region = region
        days = seed.get("retention_days", 90)
        if days is not None and (not isinstance(days, (int, float)) or days <= 0):
            raise SeedError(f"retention_days: a positive number of days or null (got {days!r})")
        self.app.model.retention = timedelta(days=days) if days is not None else None
        session = boto3.session.Session(region_name=region, **SIM_CREDENTIALS)
        ecr = session.client("ecr", endpoint_url=self.endpoint)
        ecs = session.client("ecs", endpoint_url=self.endpoint)
        for client in (ecr, ecs):   # the same API calls, answered in this process (in_process.py)
            in_process.attach(client, self.app)
        for name, repo in (seed.get("repositories") or {}).items():
            self._repository(ecr, region, name, repo or {})
        for cluster, spec in (seed.get("clusters") or {}).items():
            ecs.create_cluster(clusterName=cluster)
            for name, service in ((spec or {}).get("services") or {}).items():
                self._service(ecs, region, cluster, name, service or {})

    # ------------------------------------------------------------ ECR

    def _repository(self, ecr, region: str, name: str, spec: dict) -> None:
        self.uris[name] = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
        for i, release in enumerate(spec.get("releases") or []):
            if not isinstance(release, dict) or "version" not in release:
                raise SeedError(f"repositories.{name}.releases[{i}]: needs a version")
            version = str(release["version"])
            arches = release.get("architectures") or ["amd64", "arm64"]
            digest = self.push(ecr, name, version, [version, *map(str, release.get("tags") or [])], arches)
            pushed = _when(release.get("pushed_at", "-1d"), f"repositories.{name}.releases[{i}].pushed_at")
            from moto.ecr.models import ecr_backends
            for image in ecr_backends[DEFAULT_ACCOUNT_ID][region].repositories[name].images:
                if image.get_image_digest() == digest:
                    image.image_pushed_at = int(pushed.timestamp())

    def push(self, ecr, repo: str, version: str, tags: list[str], arches: list[str]) -> str:
        """Per-arch manifests and buildx attestations by digest, then the index under each tag."""
        entries, per_arch = [], {}
        for arch in arches:
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": sha256(f"config {repo} {version} {arch}"), "size": 1469},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": sha256(f"layer {repo} {version} {arch} {i}"), "size": 1000 + i}
                           for i in range(3)]})
            digest = sha256(manifest)
            ecr.put_image(repositoryName=repo, imageManifest=manifest, imageManifestMediaType=MANIFEST,
                          imageDigest=digest)
            per_arch[arch] = digest
            entries.append({"mediaType": MANIFEST, "digest": digest, "size": len(manifest),
                            "platform": {"architecture": arch, "os": "linux"}})
        for arch in arches:
            attestation = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "layers": [
                {"mediaType": "application/vnd.in-toto+json", "digest": sha256(f"att {repo} {version} {arch}"),
                 "size": 10}]})
            digest = sha256(attestation)
            ecr.put_image(repositoryName=repo, imageManifest=attestation, imageManifestMediaType=MANIFEST,
                          imageDigest=digest)
            entries.append({"mediaType": MANIFEST, "digest": digest, "size": len(attestation),
                            "platform": {"architecture": "unknown", "os": "unknown"},
                            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                                            "vnd.docker.reference.digest": per_arch[arch]}})
        index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries})
        index_digest = sha256(index)
        for tag in tags:
            ecr.put_image(repositoryName=repo, imageManifest=index, imageManifestMediaType=INDEX, imageTag=tag,
                          imageDigest=index_digest)
        self.digests[(repo, version)] = index_digest
        return index_digest

    # ------------------------------------------------------------ ECS

    def _register(self, ecs, region: str, name: str, repo: str, release: str, made_by: str, spec: dict) -> str:
        digest = self.digests.get((repo, release))
        if digest is None:
            raise SeedError(f"release {release} of service {name} is not in repositories.{repo}.releases")
        image = f"{self.uris[repo]}@{digest}"
        arches = spec.get("architectures") or ["amd64", "arm64"]
        platform = {"operatingSystemFamily": "LINUX"}
        if len(arches) == 1:
            platform["cpuArchitecture"] = CPU_ARCH.get(arches[0], arches[0].upper())
        containers = [{
            "name": "app", "image": image, "essential": True,
            "portMappings": [{"containerPort": 3000, "protocol": "tcp", "name": "http"}],
            "environment": [{"name": "OTEL_SERVICE_NAME", "value": name},
                            {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4318"},
                            {"name": "DEPLOYMENT_ENVIRONMENT", "value": spec.get("environment") or "staging"}],
            "readonlyRootFilesystem": True, "user": "node",
            "healthCheck": {"command": ["CMD", "node", "src/healthcheck.js"], "interval": 10, "timeout": 5,
                            "retries": 3, "startPeriod": 10},
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": f"/ecs/{name}/app", "awslogs-region": region, "awslogs-stream-prefix": "app"}},
        }]
        if spec.get("sidecar", True):
            containers[0]["dependsOn"] = [{"containerName": "otel-collector", "condition": "HEALTHY"}]
            containers.append({
                "name": "otel-collector", "image": COLLECTOR_IMAGE, "essential": True,
                "command": ["--config=/etc/ecs/ecs-default-config.yaml"],
                "healthCheck": {"command": ["CMD", "/healthcheck"], "interval": 10, "timeout": 5, "retries": 3},
                "readonlyRootFilesystem": True,
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": f"/ecs/{name}/otel-collector", "awslogs-region": region,
                    "awslogs-stream-prefix": "otel"}},
            })
        td = ecs.register_task_definition(
            family=name, taskRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{name}-task",
            executionRoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{name}-execution",
            networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu=str(spec.get("cpu", "512")), memory=str(spec.get("memory", "1024")),
            runtimePlatform=platform, containerDefinitions=containers,
            tags=[{"key": "service", "value": name}, {"key": TAG_RELEASE, "value": release},
                  {"key": TAG_DIGEST, "value": digest}, {"key": TAG_MADE_BY, "value": made_by}],
        )
        return td["taskDefinition"]["taskDefinitionArn"]

    def _cloudwatch(self, region: str):
        """One CloudWatch client per Region for the whole seed (a client per service took most of the time
        of a fleet with alarms: 898 s for 5,000 services)."""
        clients = self._cloudwatch_clients
        if region not in clients:
            clients[region] = boto3.session.Session(region_name=region, **SIM_CREDENTIALS).client(
                "cloudwatch", endpoint_url=self.endpoint)
            in_process.attach(clients[region], self.app)
        return clients[region]

    def _service(self, ecs, region: str, cluster: str, name: str, spec: dict) -> None:
        where = f"clusters.{cluster}.services.{name}"
        repo = spec.get("repository", name)
        if repo not in self.uris:
            raise SeedError(f"{where}.repository: '{repo}' is not under repositories")
        strategy = spec.get("strategy", "ROLLING")
        if strategy not in ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"):
            raise SeedError(f"{where}.strategy: one of ROLLING, BLUE_GREEN, LINEAR, CANARY (got '{strategy}')")
        history = spec.get("history") or []
        first_release = str(history[0]["release"]) if history else str(spec.get("release", "1.0.0"))
        first_made_by = history[0].get("made_by", "terraform") if history else "terraform"
        moto_alarms = cloudwatch_backends[DEFAULT_ACCOUNT_ID][region].alarms   # the alarms' state, as moto keeps it
        config: dict = {"maximumPercent": 200, "minimumHealthyPercent": 100, "strategy": strategy,
                         "deploymentCircuitBreaker": {"enable": bool((spec.get("circuit_breaker") or {}).get("enable")),
                                                      "rollback": bool((spec.get("circuit_breaker") or {}).get("rollback"))}}
        if spec.get("alarms"):
            config["alarms"] = {"alarmNames": list(spec["alarms"]), "enable": True, "rollback": True}
            cloudwatch = self._cloudwatch(region)
            # What ECS watches, defined as the ecs-service module defines its alarms; the simulator drives
            # their state (--alarm VERSION) as the release's published metrics would.
            environment = str(spec.get("environment", "staging") or cluster)  # as the tag below; no tag: the cluster
            for alarm in module_alarms(name, environment, [str(a) for a in spec["alarms"]]):
                cloudwatch.put_metric_alarm(**alarm)
            if spec.get("created_at"):   # made with the service and unchanged since (until alarm_history says)
                made = _moto_time(_when(spec["created_at"], f"{where}.created_at"))
                for alarm_name in spec["alarms"]:
                    alarm = moto_alarms.get(str(alarm_name))
                    if alarm is not None:
                        alarm.state_updated_timestamp = made
        seeded_state: set[str] = set()     # alarms whose state a seeded change has set
        for i, change in enumerate(spec.get("alarm_history") or []):
            field = f"{where}.alarm_history[{i}]"
            if not isinstance(change, dict) or change.get("alarm") not in (spec.get("alarms") or []):
                raise SeedError(f"{field}: needs an alarm named under alarms")
            if change.get("state") not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
                raise SeedError(f"{field}.state: one of OK, ALARM, INSUFFICIENT_DATA (got {change.get('state')!r})")
            at = _when(change.get("at"), f"{field}.at")
            alarm_history.seed(region, str(change["alarm"]), [(at, change["state"], change.get("reason", "seeded"))])
            # The alarm is in the state its last seeded change left, updated then (DescribeAlarms'
            # StateValue / StateUpdatedTimestamp), as CloudWatch would show it.
            alarm = moto_alarms.get(str(change["alarm"]))
            naive = _moto_time(at)
            if alarm is not None and (change["alarm"] not in seeded_state or naive >= alarm.state_updated_timestamp):
                seeded_state.add(change["alarm"])
                alarm.state_value, alarm.state_reason = change["state"], change.get("reason", "seeded")
                alarm.state_updated_timestamp = naive
        if strategy != "ROLLING":
            config["bakeTimeInMinutes"] = int(spec.get("bake_time_minutes", 0))
        if strategy == "LINEAR" and spec.get("linear"):
            config["linearConfiguration"] = dict(spec["linear"])
        if strategy == "CANARY" and spec.get("canary"):
            config["canaryConfiguration"] = dict(spec["canary"])
        first_td = self._register(ecs, region, name, repo, first_release, first_made_by, spec)
        created = ecs.create_service(
            cluster=cluster, serviceName=name, taskDefinition=first_td, desiredCount=int(spec.get("desired_count", 2)),
            launchType="FARGATE", deploymentController={"type": spec.get("controller", "ECS")},
            deploymentConfiguration=config,
            # `environment: null` leaves the tag off (the cluster name then tells the environment).
            tags=([] if "environment" in spec and spec["environment"] is None
                  else [{"key": "environment", "value": str(spec.get("environment", "staging"))}]),
        )["service"]
        entries = history or [{"release": first_release, "status": "SUCCESSFUL", "made_by": "terraform",
                               "started_at": "-1d", "finished_at": None}]
        planned = []
        for i, entry in enumerate(entries):  # register first: the model lock is not held over HTTP calls
            field = f"{where}.history[{i}]"
            if not isinstance(entry, dict) or "release" not in entry:
                raise SeedError(f"{field}: needs a release")
            td = first_td if i == 0 else self._register(ecs, region, name, repo, str(entry["release"]),
                                                        entry.get("made_by", "deploy"), spec)
            started = _when(entry.get("started_at", "-1d"), f"{field}.started_at")
            finished = (_when(entry["finished_at"], f"{field}.finished_at") if entry.get("finished_at")
                        else started + timedelta(minutes=4))
            planned.append((td, entry, started, finished))
        model = self.app.model
        with model.lock:
            svc = model.services[created["serviceArn"]]
            if spec.get("created_at"):
                svc.created_at = _when(spec["created_at"], f"{where}.created_at")
            for dep in svc.deployments:
                model.by_arn.pop(dep.arn, None)
            svc.deployments.clear()
            svc.events.clear()
            for td, entry, started, finished in planned:
                _arn, images, _failing = self.app._images(region, td)  # what ECS recorded for that revision
                model.seed_deployment(svc, td, images, status=str(entry.get("status", "SUCCESSFUL")),
                                      strategy=str(entry.get("strategy", strategy)), started_at=started,
                                      finished_at=finished, tasks=entry.get("desired_count"),
                                      deployment_id=str(entry["id"]) if entry.get("id") else None)
            svc.task_definition = svc.completed.task_definition if svc.completed else first_td
        from moto.ecs.models import ecs_backends
        ecs_backends[DEFAULT_ACCOUNT_ID][region].services[f"{cluster}:{name}"].task_definition = svc.task_definition
