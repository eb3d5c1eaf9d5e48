"""Deploy or roll back an ECS service to a release from ECR, then verify it.

A change is a new task-definition revision copied from the one the service
runs, with only the app container's image replaced by `<registry>/<repo>@<digest>`
of the release (pinned by digest, so the revision keeps meaning the same image
after tags move). Everything is validated before anything is written: a bad
version, an unknown release, a missing cluster/service/container or a release
lacking one of the service's architectures registers nothing and leaves the
service alone.

After `update_service` the PRIMARY deployment is polled until it runs the new
revision with rolloutState COMPLETED. A circuit-breaker rollback also ends
"stable" (the services_stable waiter would report success), so FAILED rollouts
and a PRIMARY deployment on another revision are failures.

Exit codes (also in docs/deploy-and-rollback.md):
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import ClientError

from paved_road.deploy import releases as ecr_releases
from paved_road.deploy.releases import Release

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_VERSION_NOT_FOUND = 3
EXIT_DEPLOYMENT_FAILED = 4
EXIT_TIMEOUT = 5
EXIT_ARCHITECTURE_MISSING = 6

EXIT_CODES = {
    EXIT_OK: "success (also: already running that release, dry run, --no-wait after update_service)",
    EXIT_UNEXPECTED: "unexpected error (AWS error other than the cases below, bug)",
    EXIT_BAD_INPUT: "bad input: malformed version, bad option, cluster/service/container/repository not found, no region or credentials",
    EXIT_VERSION_NOT_FOUND: "release not found in ECR (--to/--version unknown, --previous has no older release, running image is no release)",
    EXIT_DEPLOYMENT_FAILED: "deployment failed or rolled back (rolloutState FAILED, circuit-breaker rollback, PRIMARY on another revision)",
    EXIT_TIMEOUT: "timed out waiting for the rollout (the deployment goes on in ECS)",
    EXIT_ARCHITECTURE_MISSING: "the release's image lacks an architecture the service runs on",
}
__doc__ += "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items()) + "\n"

# Read-only members of DescribeTaskDefinition's output (REFERENCE.md §4).
READ_ONLY_KEYS = (
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
    "registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
)
HEARTBEAT_SECONDS = 60
CPU_TO_ARCH = {"X86_64": "amd64", "ARM64": "arm64"}
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


class DeployError(Exception):
    exit_code = EXIT_UNEXPECTED


class BadInput(DeployError):
    exit_code = EXIT_BAD_INPUT


class VersionNotFound(DeployError):
    exit_code = EXIT_VERSION_NOT_FOUND


class DeploymentFailed(DeployError):
    exit_code = EXIT_DEPLOYMENT_FAILED


class DeploymentTimeout(DeployError):
    exit_code = EXIT_TIMEOUT


class ArchitectureMissing(DeployError):
    exit_code = EXIT_ARCHITECTURE_MISSING


# ---------------------------------------------------------------- image refs


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, ref: str) -> "ImageRef":
        rest, _, digest = ref.partition("@")
        tag = None
        last = rest.rsplit("/", 1)[-1]
        if ":" in last:
            rest, tag = rest.rsplit(":", 1)
        first, sep, remainder = rest.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            return cls(first, remainder, tag, digest or None)
        return cls(None, rest, tag, digest or None)

    @property
    def ecr_registry_id(self) -> str | None:
        match = ECR_HOST.match(self.registry or "")
        return match.group(1) if match else None

    @property
    def ecr_region(self) -> str | None:
        match = ECR_HOST.match(self.registry or "")
        return match.group(2) if match else None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def revision_name(task_definition_arn: str) -> str:
    """`family:revision` of a task-definition ARN (or of `family:revision` itself)."""
    return task_definition_arn.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- the plan


@dataclass
class Plan:
    action: str  # deploy | rollback
    cluster: str
    service: str
    container: str
    service_arn: str
    current_task_definition: str
    current_image: str
    repository: str
    from_release: Release | None
    from_digest: str | None
    to_release: Release
    new_image: str
    next_revision: str
    service_architectures: list[str]
    new_task_definition: dict = field(repr=False, default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # The revision copied: the running one, except for a deploy when Terraform
    # registered a newer one (see base_task_definition()).
    base_task_definition: str = ""

    @property
    def from_label(self) -> str:
        if self.from_release:
            return self.from_release.name
        return self.current_image

    @property
    def noop(self) -> bool:
        same_shape = self.base_task_definition in ("", self.current_task_definition)
        return same_shape and self.from_digest is not None and self.from_digest == self.to_release.digest

    def describe(self) -> list[str]:
        lines = [
            f"{self.action} {self.service} on cluster {self.cluster}",
            f"  from:      {self.from_label} ({revision_name(self.current_task_definition)})",
            f"  to:        {self.to_release.name} (tag {self.to_release.tag})",
            f"  image:     {self.new_image}",
            f"  platforms: release {', '.join(self.to_release.architectures or ['unknown'])}; "
            f"service needs {', '.join(self.service_architectures)}",
        ]
        if self.noop:
            lines.append("  revision:  none, the service already runs this release")
        else:
            base = self.base_task_definition or self.current_task_definition
            lines.append(f"  revision:  {self.next_revision} (copy of {revision_name(base)}, "
                         f"container '{self.container}' image replaced)")
        lines += [f"  warning:   {w}" for w in self.warnings]
        return lines


def describe_service(ecs, cluster: str, service: str) -> dict:
    try:
        response = ecs.describe_services(cluster=cluster, services=[service])
    except ecs.exceptions.ClusterNotFoundException:
        raise BadInput(f"cluster '{cluster}' not found") from None
    # INACTIVE and DRAINING services are deleted or being deleted.
    services = [s for s in response.get("services", []) if s.get("status") == "ACTIVE"]
    if not services:
        raise BadInput(f"service '{service}' not found in cluster '{cluster}'")
    return services[0]


def _next_revision(ecs, family: str) -> str:
    """The revision number register_task_definition will hand out (ACTIVE and INACTIVE count)."""
    highest = 0
    paginator = ecs.get_paginator("list_task_definitions")
    for status in ("ACTIVE", "INACTIVE"):
        for page in paginator.paginate(familyPrefix=family, status=status):
            for arn in page.get("taskDefinitionArns", []):
                fam, _, rev = revision_name(arn).rpartition(":")
                if fam == family and rev.isdigit():
                    highest = max(highest, int(rev))
    return f"{family}:{highest + 1}"


def copy_task_definition(ecs, task_definition: dict, tags: list[dict], container: str, image: str) -> dict:
    """register_task_definition arguments: the same definition with one container's image replaced."""
    allowed = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    new = {k: copy.deepcopy(v) for k, v in task_definition.items() if k not in READ_ONLY_KEYS and k in allowed}
    for definition in new["containerDefinitions"]:
        if definition["name"] == container:
            definition["image"] = image
    user_tags = [t for t in tags or [] if not t.get("key", "").startswith("aws:")]
    if user_tags:
        new["tags"] = user_tags
    return new


def service_architectures(task_definition: dict, running: Release | None) -> list[str]:
    """Architectures the service's tasks run on.

    runtimePlatform.cpuArchitecture decides when set (Fargate needs it for ARM64).
    Without it tasks land on whatever the capacity offers, so every architecture
    of the running image is required; with nothing known, ECS's default X86_64.
    """
    cpu = (task_definition.get("runtimePlatform") or {}).get("cpuArchitecture")
    if cpu:
        return [CPU_TO_ARCH.get(cpu, cpu.lower())]
    if running and running.architectures:
        return list(running.architectures)
    return ["amd64"]


def base_task_definition(ecs, running: dict, tags: list[dict], container: str) -> tuple[dict, list[dict]]:
    """The revision a deploy copies: the family's latest ACTIVE one.

    Terraform (terraform-modules/ecs-service) registers new revisions when the
    task's shape changes (cpu, memory, env, secrets, sidecar) but never points
    the service at them, so it cannot revert a deploy or a rollback. The next
    deploy carries such a change live by copying the latest revision and
    replacing only the app image. A rollback copies the running revision
    instead: it changes the code back, not the infrastructure.
    """
    latest = ecs.describe_task_definition(taskDefinition=running["family"], include=["TAGS"])
    if latest["taskDefinition"]["taskDefinitionArn"] == running["taskDefinitionArn"]:
        return running, tags
    names = [c["name"] for c in latest["taskDefinition"]["containerDefinitions"]]
    if container not in names:
        return running, tags
    return latest["taskDefinition"], latest.get("tags", [])


def plan_change(clients, *, action: str, cluster: str, service: str, container: str = "app",
                repository: str | None = None, version: str | None = None, previous: bool = False) -> Plan:
    """Everything deploy/rollback will do, computed with read-only calls."""
    wanted = ecr_releases.parse_version(version) if version is not None else None
    if wanted is None and not previous:
        raise BadInput("give a version (--to X.Y.Z) or --previous")

    ecs = clients.ecs
    svc = describe_service(ecs, cluster, service)
    controller = (svc.get("deploymentController") or {}).get("type", "ECS")
    if controller != "ECS":
        raise BadInput(f"service '{service}' uses the {controller} deployment controller; only rolling (ECS) deployments are supported")
    described = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"], include=["TAGS"])
    task_definition, tags = described["taskDefinition"], described.get("tags", [])
    containers = [c["name"] for c in task_definition["containerDefinitions"]]
    if container not in containers:
        raise BadInput(f"container '{container}' not in task definition {revision_name(task_definition['taskDefinitionArn'])}; "
                       f"containers are: {', '.join(containers)}")
    current_image = next(c["image"] for c in task_definition["containerDefinitions"] if c["name"] == container)
    running = ImageRef.parse(current_image)
    running_task_definition = task_definition
    if action == "deploy":
        task_definition, tags = base_task_definition(ecs, task_definition, tags, container)

    if repository:
        repo_name, registry_id, region = repository, None, None
    elif running.ecr_registry_id:
        repo_name, registry_id, region = running.repository, running.ecr_registry_id, running.ecr_region
    else:
        raise BadInput(f"the running image '{current_image}' is not in ECR; pass --repository")
    ecr = clients.ecr(region)
    try:
        repo_uri = ecr_releases.repository_uri(ecr, repo_name, registry_id)
    except ecr.exceptions.RepositoryNotFoundException:
        raise BadInput(f"ECR repository '{repo_name}' not found") from None

    releases = ecr_releases.list_releases(ecr, repo_name, registry_id)
    from_release, from_digest = ecr_releases.release_for_image(
        ecr, repo_name, releases, running.tag, running.digest, registry_id)

    if previous:
        if from_release is None:
            raise VersionNotFound(f"the running image '{current_image}' is not a SemVer release in '{repo_name}', "
                                  "so there is no previous one; use --to X.Y.Z")
        target = ecr_releases.previous_release(releases, from_release.version)
        if target is None:
            raise VersionNotFound(f"no release older than the running {from_release.name} in '{repo_name}'")
    else:
        target = ecr_releases.find_release(releases, wanted)
        if target is None:
            known = ", ".join(r.name for r in releases[:10]) or "none"
            raise VersionNotFound(f"release {ecr_releases.format_version(wanted)} not found in ECR repository "
                                  f"'{repo_name}'; newest releases: {known}")

    ecr_releases.read_architectures(ecr, repo_name, [r for r in (target, from_release) if r], registry_id)
    needed = service_architectures(task_definition, from_release)
    warnings = []
    if len(svc.get("deployments", [])) > 1:
        warnings.append(f"{len(svc['deployments'])} deployments in progress; this change supersedes them")
    if target.architectures:
        missing = [a for a in needed if a not in target.architectures]
        if missing:
            raise ArchitectureMissing(
                f"release {target.name} ({target.digest}) has {', '.join(target.architectures)} but the service runs on "
                f"{', '.join(needed)}: missing {', '.join(missing)}")
    else:
        warnings.append(f"release {target.name} is a single-platform manifest; its architecture was not checked")

    new_image = f"{repo_uri}@{target.digest}"
    new_td = copy_task_definition(ecs, task_definition, tags, container, new_image)
    return Plan(
        action=action, cluster=cluster, service=service, container=container,
        service_arn=svc["serviceArn"], current_task_definition=running_task_definition["taskDefinitionArn"],
        base_task_definition=task_definition["taskDefinitionArn"],
        current_image=current_image, repository=repo_name, from_release=from_release, from_digest=from_digest,
        to_release=target, new_image=new_image, next_revision=_next_revision(ecs, task_definition["family"]),
        service_architectures=needed, new_task_definition=new_td, warnings=warnings,
    )


# ---------------------------------------------------------------- apply and verify


def apply_plan(clients, plan: Plan) -> str:
    """Register the new revision and point the service at it; returns its ARN."""
    ecs = clients.ecs
    registered = ecs.register_task_definition(**plan.new_task_definition)["taskDefinition"]["taskDefinitionArn"]
    try:
        ecs.update_service(cluster=plan.cluster, service=plan.service, taskDefinition=registered)
    except Exception:
        # No half state: a revision the service never used is not left behind.
        try:
            ecs.deregister_task_definition(taskDefinition=registered)
        except ClientError:
            pass
        raise
    return registered


@dataclass
class RolloutResult:
    task_definition: str
    rollout_state: str
    reason: str
    running: int
    desired: int


def _same_revision(a: str | None, b: str) -> bool:
    return a is not None and revision_name(a) == revision_name(b)


def wait_for_rollout(ecs, cluster: str, service: str, task_definition: str, *, timeout: float,
                     poll_interval: float = 15.0, progress: Callable[[str], None] = print,
                     clock: Callable[[], float] = time.monotonic,
                     sleep: Callable[[float], None] = time.sleep) -> RolloutResult:
    """Poll until the PRIMARY deployment runs `task_definition` with rolloutState COMPLETED."""
    start = clock()
    deadline = start + timeout
    last_line, last_print = None, start
    seen_events: set[str] = set()
    polls = 0
    while True:
        polls += 1
        svc = describe_service(ecs, cluster, service)
        deployments = svc.get("deployments", [])
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        ours = [d for d in deployments if _same_revision(d.get("taskDefinition"), task_definition)]
        for event in reversed(svc.get("events", [])[:5]):
            if event.get("id") not in seen_events:
                seen_events.add(event.get("id"))
                if polls > 1:
                    progress(f"  event: {event.get('message')}")

        failed = [d for d in ours if d.get("rolloutState") == "FAILED"]
        if failed:
            now_primary = revision_name(primary["taskDefinition"]) if primary else "none"
            raise DeploymentFailed(
                f"deployment of {revision_name(task_definition)} FAILED: {failed[0].get('rolloutStateReason', 'no reason given')}; "
                f"PRIMARY deployment now runs {now_primary}")
        if primary is None or not _same_revision(primary.get("taskDefinition"), task_definition):
            if ours or polls > 1:
                now_primary = revision_name(primary["taskDefinition"]) if primary else "none"
                raise DeploymentFailed(
                    f"the PRIMARY deployment runs {now_primary}, not {revision_name(task_definition)}: "
                    "rolled back by the circuit breaker or replaced by another deployment")
        else:
            state = primary.get("rolloutState")
            running, desired = primary.get("runningCount", 0), primary.get("desiredCount", 0)
            if state == "COMPLETED" or (state is None and len(deployments) == 1 and running == desired):
                return RolloutResult(task_definition, state or "COMPLETED", primary.get("rolloutStateReason", ""),
                                     running, desired)
            line = (f"{revision_name(task_definition)}: {state or 'unknown'}, running {running}/{desired}, "
                    f"pending {primary.get('pendingCount', 0)}, failed tasks {primary.get('failedTasks', 0)}, "
                    f"{len(deployments)} deployment(s)")
            # Print changes, and the same state again once a minute so a long wait shows it is alive.
            if line != last_line or clock() - last_print >= HEARTBEAT_SECONDS:
                progress(f"[{clock() - start:5.0f}s] {line}")
                last_line, last_print = line, clock()
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeploymentTimeout(
                f"{revision_name(task_definition)} not COMPLETED after {timeout:g}s (last: {last_line or 'no data'}); "
                "the deployment continues in ECS, and the circuit breaker may still roll it back")
        sleep(min(poll_interval, remaining))


# ---------------------------------------------------------------- job summary


def summary_markdown(plan: Plan, *, revision: str | None, result: str) -> str:
    from_digest = f" (`{plan.from_digest}`)" if plan.from_digest else ""
    rows = [
        ("from", f"{plan.from_label}{from_digest}, revision `{revision_name(plan.current_task_definition)}`"),
        ("to", f"{plan.to_release.name}"),
        ("revision", f"`{revision_name(revision)}`" if revision else f"none ({result})"),
        ("digest", f"`{plan.to_release.digest}`"),
        ("image", f"`{plan.new_image}`"),
        ("result", result),
    ]
    lines = [
        f"### paved {plan.action}: `{plan.service}` on `{plan.cluster}`",
        "",
        f"**{plan.from_label} → {plan.to_release.name}**",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
    ]
    return "\n".join(lines) + "\n"
