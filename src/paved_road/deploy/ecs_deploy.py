"""Deploy or roll back an ECS service to a release from ECR, then verify it.

A change is a new task-definition revision with only the app container's image
replaced by `<registry>/<repo>@<digest>` of the release (pinned by digest), tagged
on creation with the release, its digest and who made it (paved:release,
paved:digest, paved:made-by). Which revision it copies:

- deploy: the newest revision Terraform registered (paved:made-by = terraform),
  the infrastructure's intent; never a revision registered by hand;
- rollback: the revision that last ran the target release to completion in this
  service (if still ACTIVE), so cpu/memory/env/sidecar go back with the code.

`--previous` comes from the service's own deployment history (history.py): the
last release that ran to completion before the current one, skipping releases
whose deployment failed or that were rolled back.

Everything is validated before anything is written. After update_service the
service deployment it started is followed through DescribeServiceDeployments
until it ends: SUCCESSFUL is success; ROLLBACK_*, STOPPED and FAILED are
failures (exit 4). Accounts without those APIs fall back to the PRIMARY
deployment's rolloutState.

Exit codes (also in docs/deploy-and-rollback.md):
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from paved_road.deploy import history, ledger
from paved_road.deploy.aws_session import THROTTLE_CODES
from paved_road.deploy import releases as ecr_releases
from paved_road.deploy.ledger import Ledger, Run
from paved_road.deploy.releases import Release

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_VERSION_NOT_FOUND = 3
EXIT_DEPLOYMENT_FAILED = 4
EXIT_TIMEOUT = 5
EXIT_ARCHITECTURE_MISSING = 6

EXIT_CODES = {
    EXIT_OK: "success (also: the deployment that put the running release there SUCCEEDED, dry run, --no-wait after update_service)",
    EXIT_UNEXPECTED: "unexpected error (AWS error other than the cases below, bug)",
    EXIT_BAD_INPUT: "bad input: malformed version, bad option, cluster/service/container/repository not found, "
                    "unsupported deployment controller, downgrade without --allow-downgrade, --digest mismatch, "
                    "a release marked bad here without --allow-bad-release, "
                    "no/unknown region, bad profile or credentials, endpoint unreachable or not AWS",
    EXIT_VERSION_NOT_FOUND: "release not found in ECR (--to unknown, --previous has no earlier good release, running image is no release)",
    EXIT_DEPLOYMENT_FAILED: "deployment failed: ROLLBACK_* / STOPPED / FAILED (circuit breaker, alarms, StopServiceDeployment), or the re-verified deployment failed",
    EXIT_TIMEOUT: "timed out waiting for the rollout, or throttled until the wait ran out (the deployment goes on in ECS)",
    EXIT_ARCHITECTURE_MISSING: "the release's image lacks an architecture the service runs on",
    130: "interrupted (Ctrl-C / SIGTERM); the message says what state the service is in",
}
__doc__ += "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items()) + "\n"

# Read-only members of DescribeTaskDefinition's output (REFERENCE.md §4).
READ_ONLY_KEYS = (
    "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
    "registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
)
HEARTBEAT_SECONDS = 60
STALE_POLLS = 3          # reads that may not show an update yet (eventual consistency), on both paths
CPU_TO_ARCH = {"X86_64": "amd64", "ARM64": "arm64"}
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


class DeployError(Exception):
    exit_code = EXIT_UNEXPECTED
    rollback: str | None = None   # the command that rolls back, printed after the message (a failed deploy)


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


class NothingInFlight(BadInput):
    """rollback --in-flight with no deployment in progress."""


class Interrupted(DeployError):
    exit_code = 130


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
    base_task_definition: str = ""        # the revision whose shape is copied
    base_reason: str = ""
    strategy: str = "ROLLING"
    bake_seconds: float = 0.0
    desired_count: int = 0
    breaker: dict = field(default_factory=dict)
    alarms: dict = field(default_factory=dict)
    force: bool = False
    same_shape: bool = False
    diff: list[str] = field(default_factory=list)
    # the run that put the running revision there (re-runs verify it)
    running_deployment: Run | None = None
    in_flight: Run | None = None            # rollback --in-flight: the deployment to stop
    last_good: Run | None = None
    # a rollback that already happened or is under way (ECS's, paved's, an outside one): verify or follow it,
    # never start a second one (ledger.Previous: action 'verify' or 'follow')
    settled: "ledger.Previous | None" = None
    ledger: Ledger | None = field(default=None, repr=False)

    @property
    def from_label(self) -> str:
        if self.from_release:
            return self.from_release.name
        return self.current_image

    @property
    def noop(self) -> bool:
        """The service already runs this release in this shape: verify, do not redeploy."""
        if self.settled is not None:
            return True
        return (self.in_flight is None and not self.force and self.same_shape and self.from_digest is not None
                and self.from_digest == self.to_release.digest)

    def describe(self) -> list[str]:
        lines = [
            f"{self.action} {self.service} on cluster {self.cluster} ({self.strategy}, desiredCount {self.desired_count})",
            f"  from:      {self.from_label} ({revision_name(self.current_task_definition)})",
            f"  to:        {self.to_release.name} (tag {self.to_release.tag})",
            f"  image:     {self.new_image}",
            f"  platforms: release {', '.join(self.to_release.architectures or ['unknown'])}; "
            f"service needs {', '.join(self.service_architectures)}",
        ]
        if self.in_flight is not None:
            lines.append(f"  stop:      in-flight deployment {self.in_flight.id.rsplit('/', 1)[-1]} "
                         f"({self.in_flight.release or '?'} on {self.in_flight.task_definition}, {self.in_flight.status}) "
                         "with StopServiceDeployment ROLLBACK")
            if self.last_good:
                lines.append(f"  back to:   {self.last_good.release} on {self.last_good.task_definition} "
                             "(the last deployment that ran to completion)")
        elif self.settled is not None:
            run = self.settled.current
            lines.append(f"  revision:  none; {self.settled.reason}: {run.describe() if run else ''}")
            lines.append("             verifying it, not rolling back further (--again goes one release further back)")
        elif self.noop:
            lines.append("  revision:  none, the service already runs this release; verifying the deployment that put it there")
        elif self.force and self.same_shape and self.from_digest == self.to_release.digest:
            lines.append(f"  revision:  none; --force starts a new deployment of {revision_name(self.current_task_definition)}")
        else:
            lines.append(f"  revision:  {self.next_revision} (copy of {revision_name(self.base_task_definition)}: "
                         f"{self.base_reason}; container '{self.container}' image set)")
        breaker = ("on, rollback " + ("on" if self.breaker.get("rollback") else "OFF")) if self.breaker.get("enable") \
            else "OFF (a failing release is retried until someone intervenes)"
        lines.append(f"  breaker:   {breaker}")
        if self.alarms.get("enable"):
            lines.append(f"  alarms:    {', '.join(self.alarms.get('alarmNames', []))} "
                         f"(rollback {'on' if self.alarms.get('rollback') else 'off'}; ECS bakes after steady state)")
        if self.bake_seconds:
            lines.append(f"  bake time: {self.bake_seconds / 60:g} min, added to the wait")
        lines += [f"  warning:   {w}" for w in self.warnings]
        return lines


def describe_service(ecs, cluster: str, service: str) -> dict:
    try:
        response = ecs.describe_services(cluster=cluster, services=[service])
    except ecs.exceptions.ClusterNotFoundException as exc:
        message = exc.response.get("Error", {}).get("Message") or ""
        hint = f" ({message.split('(', 1)[1].rstrip(')')})" if "region" in message and "(" in message else ""
        raise BadInput(f"cluster '{cluster}' not found in region {ecs.meta.region_name}{hint}") from None
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


def copy_task_definition(ecs, task_definition: dict, tags: list[dict], container: str, image: str,
                         paved_tags: dict[str, str] | None = None) -> dict:
    """register_task_definition arguments: the same definition with one container's image replaced.

    The copy's tags are the source's user tags with the paved:* tags replaced
    (tag-on-create needs ecs:TagResource as well as ecs:RegisterTaskDefinition).
    """
    allowed = ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members
    new = {k: copy.deepcopy(v) for k, v in task_definition.items() if k not in READ_ONLY_KEYS and k in allowed}
    for definition in new["containerDefinitions"]:
        if definition["name"] == container:
            definition["image"] = image
    user_tags = [t for t in tags or [] if not t.get("key", "").startswith(("aws:", "paved:"))]
    user_tags += [{"key": k, "value": v} for k, v in (paved_tags or {}).items()]
    if user_tags:
        new["tags"] = user_tags
    return new


def shape(task_definition: dict) -> dict:
    """What a task definition runs, without read-only members and tags (for diffs and comparisons)."""
    return {k: v for k, v in task_definition.items() if k not in READ_ONLY_KEYS and k != "tags"}


def _masked(task_definition: dict) -> dict:
    """Environment values replaced by a short hash: the diff shows that a value changed, not the value.

    The diff goes to CI logs and job summaries; plain environment values are not
    meant to be secret, but people put tokens there anyway.
    """
    masked = copy.deepcopy(shape(task_definition))
    for container in masked.get("containerDefinitions", []):
        for variable in container.get("environment", []):
            digest = hashlib.sha256(str(variable.get("value", "")).encode()).hexdigest()[:12]
            variable["value"] = f"<sha256:{digest}>"
    return masked


def task_definition_diff(old: dict, new: dict, old_name: str, new_name: str) -> list[str]:
    a = json.dumps(_masked(old), indent=2, sort_keys=True, default=str).splitlines()
    b = json.dumps(_masked(new), indent=2, sort_keys=True, default=str).splitlines()
    return list(difflib.unified_diff(a, b, old_name, new_name, n=1, lineterm=""))


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


def terraform_revision(ecs, family: str, container: str, limit: int = 50) -> tuple[dict, list[dict]] | None:
    """The newest ACTIVE revision of the family that Terraform registered (paved:made-by = terraform).

    Terraform (terraform-modules/ecs-service) registers a revision when the
    task's shape changes but does not point the service at it; a deploy carries
    that shape live. Revisions registered by hand (no tag) or by paved are skipped.
    """
    paginator = ecs.get_paginator("list_task_definitions")
    arns = [arn for page in paginator.paginate(familyPrefix=family, status="ACTIVE", sort="DESC")
            for arn in page.get("taskDefinitionArns", []) if revision_name(arn).rpartition(":")[0] == family]
    arns.sort(key=lambda arn: int(revision_name(arn).rpartition(":")[2]), reverse=True)
    for arn in arns[:limit]:
        described = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        tags = {t["key"]: t["value"] for t in described.get("tags", [])}
        names = [c["name"] for c in described["taskDefinition"]["containerDefinitions"]]
        if tags.get(history.TAG_MADE_BY) == "terraform" and container in names:
            return described["taskDefinition"], described.get("tags", [])
    return None


def _strategy(svc: dict) -> tuple[str, dict]:
    config = svc.get("deploymentConfiguration") or {}
    return config.get("strategy") or "ROLLING", config


def linear_steps(step_percent: float) -> int:
    """Traffic shifts of a LINEAR deployment that are followed by a step bake (none after the one reaching 100%).

    AWS::ECS::Service LinearConfiguration: 100 / stepPercent - 1 when it divides evenly, else floor(100 / stepPercent).
    """
    exact = 100.0 / step_percent
    return int(round(exact)) - 1 if abs(exact - round(exact)) < 1e-9 else math.floor(exact)


def bake_seconds(config: dict) -> float:
    """How long ECS deliberately waits inside a healthy deployment of this strategy.

    BLUE_GREEN: bakeTimeInMinutes. CANARY: + canaryBakeTimeInMinutes (default 10).
    LINEAR: + stepBakeTimeInMinutes (default 6) after every shift but the last
    (stepPercent default 10, so 9 step bakes: 54 minutes by default).
    (API_CanaryConfiguration / API_LinearConfiguration in the ECS API reference.)
    """
    strategy = config.get("strategy") or "ROLLING"
    if strategy == "ROLLING":
        return 0.0
    minutes = float(config.get("bakeTimeInMinutes") or 0)
    if strategy == "CANARY":
        canary = config.get("canaryConfiguration") or {}
        minutes += float(canary.get("canaryBakeTimeInMinutes", 10) or 0)
    elif strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        step_bake = float(linear.get("stepBakeTimeInMinutes", 6) or 0)
        minutes += step_bake * linear_steps(float(linear.get("stepPercent") or 10.0))
    return minutes * 60


def read_ledger(clients, cluster: str, service: str, container: str = "app", repository: str | None = None,
                since=None) -> Ledger:
    """The service's ledger, with ECR's digest -> release map of the repository its running image comes from.

    The map is best effort: without ECR access the ledger falls back to the revisions' paved:release tags.
    """
    ecs = clients.ecs
    by_digest: dict[str, str] = {}
    try:
        svc = describe_service(ecs, cluster, service)
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        image = next((c["image"] for c in td["containerDefinitions"] if c["name"] == container), "")
        ref = ImageRef.parse(image)
        repo = repository or (ref.repository if ref.ecr_registry_id else None)
        if repo:
            ecr = clients.ecr(ref.ecr_region if not repository else None)
            by_digest = {r.digest: r.name for r in ecr_releases.list_releases(ecr, repo, ref.ecr_registry_id
                                                                              if not repository else None) if r.digest}
    except (ClientError, StopIteration):
        by_digest = {}
    return ledger.read(ecs, cluster, service, container=container, since=since, releases_by_digest=by_digest)


def _bytes_that_ran(ecr, repository: str, registry_id: str | None, release: Release, run: Run) -> Release:
    """`--previous` goes back to the image that ran, not to wherever the release's tag points today.

    A mutable ECR tag may have been re-pointed (a rebuild pushed under the same version) since the run the
    ledger vouches for; shipping the tag's new image would put bytes that never ran here on the service during
    an incident. The image the run recorded (the service revision's containerImages digest) is used if ECR still
    has it; otherwise the rollback is refused (exit 3) with what to do.
    """
    ran = run.digest
    if not ran or ran == release.digest or not ran.startswith("sha256:"):
        return release
    try:
        found = ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": ran}],
                                    **({"registryId": registry_id} if registry_id else {}))["imageDetails"]
    except ClientError:
        found = []
    if not found:
        raise VersionNotFound(f"release {release.name} last ran here as {ran}, which is no longer in '{repository}'; "
                              f"tag {release.tag} now points at {release.digest}, which never ran here: "
                              f"use --to {release.name} to ship that anyway")
    return Release(version=release.version, tag=release.tag, digest=ran, pushed_at=found[0].get("imagePushedAt"),
                   media_type=found[0].get("imageManifestMediaType"))


def plan_change(clients, *, action: str, cluster: str, service: str, container: str = "app",
                repository: str | None = None, version: str | None = None, previous: bool = False,
                digest: str | None = None, force: bool = False, allow_downgrade: bool = False,
                in_flight: bool = False, again: bool = False, allow_bad_release: bool = False) -> Plan:
    """Everything deploy/rollback will do, computed with read-only calls."""
    wanted = ecr_releases.parse_version(version) if version is not None else None
    if wanted is None and not previous and not in_flight:
        raise BadInput("give a version (--to X.Y.Z), --previous or --in-flight")
    if digest is not None and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise BadInput(f"--digest must be sha256:<64 hex digits> (got '{digest}')")

    ecs = clients.ecs
    svc = describe_service(ecs, cluster, service)
    controller = (svc.get("deploymentController") or {}).get("type", "ECS")
    if controller != "ECS":
        raise BadInput(f"service '{service}' uses the {controller} deployment controller; paved deploys ECS-controlled "
                       "services only (ROLLING, BLUE_GREEN, LINEAR, CANARY); deploy it with its own controller")
    strategy, config = _strategy(svc)
    described = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"], include=["TAGS"])
    running_td, running_tags = described["taskDefinition"], described.get("tags", [])
    containers = [c["name"] for c in running_td["containerDefinitions"]]
    if container not in containers:
        raise BadInput(f"container '{container}' not in task definition {revision_name(running_td['taskDefinitionArn'])}; "
                       f"containers are: {', '.join(containers)}")
    current_image = next(c["image"] for c in running_td["containerDefinitions"] if c["name"] == container)
    running = ImageRef.parse(current_image)
    running_rev = revision_name(running_td["taskDefinitionArn"])

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
    current_name = from_release.name if from_release else None
    warnings: list[str] = []
    last_good = None
    settled = None

    # The ledger: every question about the past below is asked of it, and of nothing else.
    book = ledger.read(ecs, cluster, service, container=container,
                       releases_by_digest={r.digest: r.name for r in releases if r.digest})
    if book.degraded:
        warnings.append(book.degraded)
    running_deployment = next((r for r in reversed(book.runs) if r.task_definition == running_rev
                               and r.outcome != "superseded"), None)
    flight = book.in_flight
    current = book.current

    def release_named(name: str | None, what: str) -> Release:
        found = ecr_releases.find_release(releases, ecr_releases.parse_version(name)) if name else None
        if found is None:
            raise VersionNotFound(f"{what} is {name or 'no release'}, which is not in '{repo_name}'")
        return found

    if in_flight and book.degraded:
        raise BadInput(f"{book.degraded}; --in-flight cannot stop a deployment without them "
                       "(StopServiceDeployment takes a service-deployment ARN): use --previous or --to X.Y.Z")
    if in_flight:
        if flight is None:
            raise NothingInFlight(f"no deployment of '{service}' is in progress; use --to X.Y.Z or --previous")
        if flight.is_rollback and flight.release in book.bad:
            # ECS is rolling a failed rollback back onto the release that was rolled away from: that is no way back
            # to a good release, and StopServiceDeployment only continues a rollback (stop-service-deployment.html).
            raise NothingInFlight(f"ECS is putting {flight.release} back (it rolled a failed rollback back), and "
                                  f"{flight.release} is marked bad here; a rollback cannot be stopped: "
                                  "use --previous or --to X.Y.Z")
        if flight.is_rollback:
            # ECS (or a paved/outside rollback) is already rolling back: follow that, never start a second.
            settled = ledger.Previous("follow", flight, flight, f"a {flight.how} to {flight.release} is in progress")
            target = release_named(flight.release, "the release being rolled back to")
        else:
            if flight.status not in ledger.STOPPABLE:
                raise BadInput(f"deployment {flight.id.rsplit('/', 1)[-1]} is already {flight.status}")
            # StopServiceDeployment ROLLBACK returns to the source revision: the last run that completed.
            index = book.runs.index(flight)
            last_good = next((r for r in reversed(book.runs[:index]) if r.outcome in ("completed", "no-tasks")), None)
            if last_good is None:
                raise VersionNotFound("no earlier deployment ran to completion, so there is nothing to roll back to")
            target = release_named(last_good.release, "the last good deployment's release")
    elif previous:
        decision = book.previous(again=again)
        if decision.action in ("verify", "follow"):
            settled = decision
            target = release_named(decision.target.release, "the release rolled back to")  # type: ignore[union-attr]
        elif decision.action == "none" or decision.target is None:
            if current_name is None and current is None:
                raise VersionNotFound(f"the running image '{current_image}' is not a SemVer release in "
                                      f"'{repo_name}', so there is no previous one; use --to X.Y.Z")
            if book.degraded:
                raise VersionNotFound(f"{book.degraded}; so --previous cannot tell which release ran before "
                                      f"{current_name or 'the running one'}: use --to X.Y.Z")
            raise VersionNotFound(f"no release ran to completion in '{service}' before the running "
                                  f"{(current.release if current else None) or current_name} "
                                  "(failed, rolled-back and zero-task releases do not count); use --to X.Y.Z")
        else:
            target = release_named(decision.target.release, "the last good release")
            for zero in decision.skipped:
                warnings.append(f"skipped {zero.release}: its deployment completed at desiredCount 0 "
                                f"({zero.when()}), so ECS recorded no task running it; if it ran since, "
                                f"use --to {zero.release}")
            ran = _bytes_that_ran(ecr, repo_name, registry_id, target, decision.target)
            if ran.digest != target.digest:
                warnings.append(f"tag {target.tag} now points at {target.digest}, which never ran here; rolling back "
                                f"to the image {target.name} ran as ({ran.digest})")
            target = ran
    else:
        target = ecr_releases.find_release(releases, wanted)
        if target is None:
            known = ", ".join(r.name for r in releases[:10]) or "none"
            raise VersionNotFound(f"release {ecr_releases.format_version(wanted)} not found in ECR repository "
                                  f"'{repo_name}'; newest releases: {known}")
        if (action == "rollback" and current is not None and current.is_rollback and current.in_flight
                and current.release == target.name):
            settled = ledger.Previous("follow", current, current, f"a {current.how} to {current.release} is in progress")
    # Bad is about the bytes as much as the name: the same image re-tagged as another version is the same release.
    bad_mark = book.bad.get(target.name) or next(
        (run for run in book.bad.values() if run.digest and run.digest == target.digest), None)
    runs_target = from_digest is not None and from_digest == target.digest
    if action == "deploy" and bad_mark is not None and not runs_target:
        if not allow_bad_release:
            same = f" (the image of {bad_mark.release})" if bad_mark.release != target.name else ""
            raise BadInput(f"release {target.name}{same} is marked bad in '{service}': {bad_mark.describe()}; "
                           "deploying it would undo that; pass --allow-bad-release to deploy it anyway")
        warnings.append(f"{target.name} is marked bad here ({bad_mark.describe()}); deploying it anyway "
                        "(--allow-bad-release)")
    elif action == "rollback" and bad_mark is not None and settled is None and not runs_target:
        warnings.append(f"{target.name} is marked bad here: {bad_mark.describe()}")
    if digest is not None and target.digest != digest:
        raise BadInput(f"--digest {digest} does not match release {target.name}: tag {target.tag} in '{repo_name}' "
                       f"now resolves to {target.digest}; the tag moved, refusing to deploy")
    if (action == "deploy" and from_release is not None and target.version < from_release.version
            and not allow_downgrade):
        raise BadInput(f"{target.name} is older than the running {from_release.name}; going back is "
                       f"`paved rollback --to {target.name}` (or pass --allow-downgrade)")

    ecr_releases.read_architectures(ecr, repo_name, [r for r in (target, from_release) if r], registry_id)

    # The shape to copy.
    base_td, base_tags, base_reason = running_td, running_tags, "the running revision"
    if action == "deploy":
        found = terraform_revision(ecs, running_td["family"], container)
        if found is not None:
            base_td, base_tags = found
            base_reason = "newest revision registered by Terraform"
        else:
            warnings.append("no ACTIVE revision tagged paved:made-by=terraform in the family; copying the running one")
    elif not in_flight:
        ran = next((r for r in reversed(book.runs) if r.ran and r.release == target.name), None)
        if ran is not None:
            try:
                old = ecs.describe_task_definition(taskDefinition=ran.task_definition, include=["TAGS"])
            except ClientError:
                old = None
            if old is not None and old["taskDefinition"].get("status") == "ACTIVE" \
                    and container in [c["name"] for c in old["taskDefinition"]["containerDefinitions"]]:
                base_td, base_tags = old["taskDefinition"], old.get("tags", [])
                base_reason = f"the revision that last ran {target.name} successfully"
            else:
                warnings.append(f"{ran.task_definition}, which last ran {target.name}, is no longer ACTIVE; "
                                "copying the running revision's shape")
        else:
            warnings.append(f"{target.name} never ran to completion in this service; copying the running revision's shape")

    needed = service_architectures(base_td, from_release)
    if target.architectures:
        missing = [a for a in needed if a not in target.architectures]
        if missing:
            raise ArchitectureMissing(
                f"release {target.name} ({target.digest}) has {', '.join(target.architectures)} but the service runs on "
                f"{', '.join(needed)}: missing {', '.join(missing)}")
    else:
        warnings.append(f"release {target.name} is a single-platform manifest; its architecture was not checked")
    if flight is not None and not in_flight and settled is None:
        warnings.append(f"deployment {flight.id.rsplit('/', 1)[-1]} ({flight.release or '?'}, {flight.status}) is in "
                        "progress; this change supersedes it (or stop it: paved rollback --in-flight)")
    if (config.get("alarms") or {}).get("enable") and strategy == "ROLLING":
        warnings.append("after steady state ECS watches the alarms for a bake period derived from their evaluation "
                        "periods; allow for it in --timeout")
    desired = int(svc.get("desiredCount", 0))
    if desired == 0:
        warnings.append("desiredCount is 0: ECS reports success without starting a task, so nothing checks the release's health")

    new_image = f"{repo_uri}@{target.digest}"
    made_by = "deploy" if action == "deploy" else "rollback"
    new_td = copy_task_definition(ecs, base_td, base_tags, container, new_image,
                                  {history.TAG_RELEASE: target.name, history.TAG_DIGEST: target.digest,
                                   history.TAG_MADE_BY: made_by})
    # Compare like with like: the running revision as register input, with the new image.
    running_copy = copy_task_definition(ecs, running_td, [], container, current_image)
    same = shape(new_td) == shape(copy_task_definition(ecs, running_td, [], container, new_image))
    next_rev = _next_revision(ecs, base_td["family"])
    diff = [] if (in_flight or settled) else task_definition_diff(running_copy, new_td, running_rev, next_rev)
    return Plan(
        action=action, cluster=cluster, service=service, container=container,
        service_arn=svc["serviceArn"], current_task_definition=running_td["taskDefinitionArn"],
        base_task_definition=base_td["taskDefinitionArn"], base_reason=base_reason,
        current_image=current_image, repository=repo_name, from_release=from_release, from_digest=from_digest,
        to_release=target, new_image=new_image, next_revision=next_rev,
        service_architectures=needed, new_task_definition=new_td, warnings=warnings,
        strategy=strategy, bake_seconds=bake_seconds(config), desired_count=desired,
        breaker=config.get("deploymentCircuitBreaker") or {}, alarms=config.get("alarms") or {},
        force=force, same_shape=same, diff=diff, running_deployment=running_deployment,
        in_flight=flight if (in_flight and settled is None) else None, last_good=last_good,
        settled=settled, ledger=book,
    )


# ---------------------------------------------------------------- apply


@dataclass
class Applied:
    revision: str                 # task-definition ARN the service was pointed at
    registered: bool              # a new revision was registered
    note: str = ""
    exclude: set[str] = field(default_factory=set)   # deployments that existed before (--force)


# Re-reads before concluding an update did not apply: the ECS API is eventually consistent, so the first
# DescribeServices after an UpdateService may not show it yet (API_RunTask.html, "eventual consistency").
SETTLE_READS = (1.0, 2.0)


def _service_uses(ecs, plan: Plan, revision: str, sleep: Callable[[float], None] = time.sleep) -> bool | None:
    """Does the service (or any of its deployments) use `revision`? None when ECS cannot be read.

    "Yes" is believed at once; "no" only after the settle re-reads also say no.
    """
    for delay in (0.0, *SETTLE_READS):
        if delay:
            sleep(delay)
        try:
            svc = describe_service(ecs, plan.cluster, plan.service)
        except Exception:  # noqa: BLE001 - whatever the reason, we do not know
            return None
        used = {revision_name(svc.get("taskDefinition", ""))}
        used |= {revision_name(d.get("taskDefinition", "")) for d in svc.get("deployments", [])}
        if revision_name(revision) in used:
            return True
    return False


def _registered_by_us(ecs, plan: Plan) -> str | None:
    """The revision an interrupted RegisterTaskDefinition may have created (same number, same digest tag)."""
    try:
        described = ecs.describe_task_definition(taskDefinition=plan.next_revision, include=["TAGS"])
    except ClientError:
        return None
    tags = {t["key"]: t["value"] for t in described.get("tags", [])}
    if tags.get(history.TAG_DIGEST) == plan.to_release.digest:
        return described["taskDefinition"]["taskDefinitionArn"]
    return None


def _cleanup(ecs, plan: Plan, registered: str, reason: str) -> str:
    """After an error or interrupt between register and update: learn the truth, then clean up."""
    uses = _service_uses(ecs, plan, registered)
    name = revision_name(registered)
    if uses is True:
        return f"ECS applied the update anyway: the service now deploys {name}; it was kept"
    if uses is None:
        return (f"could not re-read the service, so {name} was kept (it may be in use); check with "
                f"paved history --cluster {plan.cluster} --service {plan.service}")
    try:
        ecs.deregister_task_definition(taskDefinition=registered)
    except Exception:  # noqa: BLE001
        return f"the service still runs {revision_name(plan.current_task_definition)}; {name} could not be deregistered"
    return f"the service still runs {revision_name(plan.current_task_definition)} unchanged; {name} was deregistered"


FORCE_ATTEMPTS = 5


def _force_new_deployment(clients, plan: Plan, say: Callable[[str], None],
                          sleep: Callable[[float], None] = time.sleep) -> Applied:
    """UpdateService forceNewDeployment, at most once in effect.

    Unlike a task-definition change, a forced deployment is not idempotent: sent twice, it starts two
    deployments. So the SDK does not retry it blindly (a client without retries); after any failure the
    service's deployments are re-read (with the settle re-reads for eventual consistency), and the call is
    sent again only when ECS shows no new deployment.
    """
    def deployments() -> set[str]:
        return {d.id for d in history.service_history(clients.ecs, plan.cluster, plan.service, container=plan.container)}

    before = deployments()
    once = clients.once("ecs") if hasattr(clients, "once") else clients.ecs
    for attempt in range(1, FORCE_ATTEMPTS + 1):
        try:
            once.update_service(cluster=plan.cluster, service=plan.service, forceNewDeployment=True)
            return Applied(plan.current_task_definition, False, exclude=before)
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, ClientError):
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if code not in THROTTLE_CODES and status < 500:
                    raise
            for delay in (0.0, *SETTLE_READS):
                sleep(delay)
                if deployments() - before:
                    say(f"warning: update_service failed ({exc}), but ECS had applied it: one new deployment "
                        "started; verifying it")
                    return Applied(plan.current_task_definition, False, "update_service response lost; applied",
                                   exclude=before)
            if attempt == FORCE_ATTEMPTS:
                raise
            sleep(min(20.0, 0.5 * 2 ** attempt))
    raise AssertionError("unreachable")


def apply_plan(clients, plan: Plan, say: Callable[[str], None] = print) -> Applied:
    """Register the new revision (if any) and point the service at it.

    No half states: after any error or interrupt between register and update the
    service is re-read; a revision a deployment uses is never deregistered.
    """
    ecs = clients.ecs
    if plan.in_flight is not None:
        ecs.stop_service_deployment(serviceDeploymentArn=plan.in_flight.deployment_arn, stopType="ROLLBACK")
        return Applied(plan.in_flight.deployment_arn, False)
    if plan.force and plan.same_shape and plan.from_digest == plan.to_release.digest:
        return _force_new_deployment(clients, plan, say)
    try:
        registered = ecs.register_task_definition(**plan.new_task_definition)["taskDefinition"]["taskDefinitionArn"]
    except KeyboardInterrupt:
        # The request may have reached ECS: look for the revision it would have made, unused, and remove it.
        orphan = _registered_by_us(ecs, plan)
        note = _cleanup(ecs, plan, orphan, "interrupt") if orphan else \
            f"nothing was registered; the service still runs {revision_name(plan.current_task_definition)}"
        raise Interrupted(f"interrupted while registering: {note}") from None
    try:
        ecs.update_service(cluster=plan.cluster, service=plan.service, taskDefinition=registered,
                           forceNewDeployment=plan.force)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted between register and update: {_cleanup(ecs, plan, registered, 'interrupt')}") \
            from None
    except (ClientError, BotoCoreError) as exc:
        uses = _service_uses(ecs, plan, registered)
        if uses:
            say(f"warning: update_service failed ({exc}), but ECS applied it: the service deploys "
                f"{revision_name(registered)}; verifying that deployment")
            return Applied(registered, True, "update_service response lost; ECS had applied it")
        message = _cleanup(ecs, plan, registered, str(exc))
        raise DeployError(f"update_service failed: {exc}; {message}") from None
    return Applied(registered, True)


# ---------------------------------------------------------------- verify


@dataclass
class RolloutResult:
    task_definition: str
    status: str
    reason: str
    running: int
    desired: int


def _same_revision(a: str | None, b: str) -> bool:
    return a is not None and revision_name(a) == revision_name(b)


def find_deployment(ecs, cluster: str, service: str, revision: str, exclude: set[str] | None = None) -> dict | None:
    """The newest service deployment targeting `revision` (not one of `exclude`), described.

    ListServiceDeployments documents no order and answers 20 at a time, while ECS keeps 90 days of a
    service's deployments; so the one just started is looked for among those in flight first (every
    page: usually one entry), then on the first page of all of them (one that already ended).
    No createdAt filter: the runner's clock may be off, and a registered revision is new anyway.
    """
    for statuses in (list(ledger.IN_FLIGHT), None):
        kwargs: dict = {"cluster": cluster, "service": service}
        if statuses:
            kwargs["status"] = statuses
        briefs: list[dict] = []
        while True:
            page = ecs.list_service_deployments(**kwargs)
            briefs += [b for b in page.get("serviceDeployments", [])
                       if b["serviceDeploymentArn"] not in (exclude or set())]
            if statuses is None or not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        targets = list(dict.fromkeys(b["targetServiceRevisionArn"] for b in briefs if b.get("targetServiceRevisionArn")))
        task_definitions = history.revision_task_definitions(ecs, targets)
        arns = [b["serviceDeploymentArn"] for b in briefs
                if _same_revision(task_definitions.get(b.get("targetServiceRevisionArn", "")), revision)]
        described: list[dict] = []
        for first in range(0, len(arns), 20):  # DescribeServiceDeployments takes up to 20 ARNs
            described += ecs.describe_service_deployments(serviceDeploymentArns=arns[first:first + 20]).get(
                "serviceDeployments", [])
        if described:
            return max(described, key=lambda d: d["createdAt"])
    return None


def timeout_hint(plan: Plan) -> str:
    breaker = plan.breaker
    if breaker.get("enable") and breaker.get("rollback"):
        return "the circuit breaker (rollback on) will roll it back if its tasks keep failing"
    if breaker.get("enable"):
        return "the circuit breaker is on with rollback OFF: a failing deployment stops and the service stays mixed"
    if plan.alarms.get("enable"):
        return "the circuit breaker is OFF; only the alarms can stop it"
    return "the circuit breaker is OFF and no alarms are set: ECS keeps replacing failing tasks until someone stops it"


def _without_breaker(plan: Plan) -> str:
    """What stops a rollout whose tasks fail when the circuit breaker is off: nothing, or only the deployment
    alarms (AWS DeploymentAlarms: an alarm in ALARM fails the deployment, and rolls it back with rollback on)."""
    alarms = plan.alarms
    if not alarms.get("enable"):
        return "ECS will not roll back by itself"
    names = ", ".join(alarms.get("alarmNames") or []) or "none named"
    then = "rolls back" if alarms.get("rollback") else "fails the deployment (rollback off: no roll back)"
    return (f"ECS {then} only if an alarm goes into ALARM ({names}); failing tasks do not trip an alarm "
            "unless one watches them")


def rollback_command(plan: Plan) -> str:
    """The command that takes this service back to its last good release (printed after a failed deploy)."""
    import shlex

    words = ["paved", "rollback", "--cluster", plan.cluster, "--service", plan.service]
    if plan.container != "app":
        words += ["--container", plan.container]
    return " ".join(shlex.quote(w) for w in words) + " --previous"


def _with_rollback_hint(plan: Plan, exc: DeployError) -> DeployError:
    """A failed or unfinished deploy that leaves the service on the new revision: say how to go back."""
    if plan.action == "deploy":
        exc.rollback = rollback_command(plan)
    return exc


def wait_for_deployment(ecs, plan: Plan, revision: str, *, exclude: set[str] | None = None, timeout: float,
                        poll_interval: float = 15.0, progress: Callable[[str], None] = print,
                        deployment_arn: str | None = None,
                        clock: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], None] = time.sleep) -> RolloutResult:
    """Follow the service deployment until it ends; SUCCESSFUL or an exception."""
    start = clock()
    budget = timeout + plan.bake_seconds
    deadline = start + budget
    last_line, last_print = None, start
    seen_events: set[str] = set()
    polls = 0
    fallback = False
    fallback_polls = 0
    # Breaker off: nothing in ECS stops a rollout whose tasks keep failing; say so once, when failures grow.
    breaker_off = not plan.breaker.get("enable")
    failed_before, warned = None, False

    def throttled(exc: ClientError) -> bool:
        """Throttled even after the SDK's retries: skip this poll (the deployment goes on), until the deadline."""
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in THROTTLE_CODES:
            return False
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeploymentTimeout(f"{revision_name(revision)}: ECS kept throttling ({code}) after the SDK's retries "
                                    f"until the {budget:g}s wait ran out (last: {last_line or 'no data'}); the "
                                    "deployment continues in ECS")
        progress(f"[{clock() - start:5.0f}s] throttled by ECS ({code}) after the SDK's retries; still waiting")
        sleep(min(poll_interval, remaining))
        return True

    while True:
        polls += 1
        try:
            svc = describe_service(ecs, plan.cluster, plan.service)
        except ClientError as exc:
            if throttled(exc):
                continue
            raise
        for event in reversed(svc.get("events", [])[:5]):
            if event.get("id") not in seen_events:
                seen_events.add(event.get("id"))
                if polls > 1:
                    progress(f"  event: {event.get('message')}")
        deployment, failed_now = None, None
        if not fallback:
            try:
                if deployment_arn:
                    found = ecs.describe_service_deployments(serviceDeploymentArns=[deployment_arn])
                    deployment = (found.get("serviceDeployments") or [None])[0]
                else:
                    deployment = find_deployment(ecs, plan.cluster, plan.service, revision, exclude)
                    if deployment is not None:
                        deployment_arn = deployment["serviceDeploymentArn"]
            except ClientError as exc:
                if throttled(exc):
                    continue
                if exc.response.get("Error", {}).get("Code") not in history.FALLBACK_ERRORS:
                    raise
                fallback = True
                progress("  (no service-deployment APIs here: verifying the PRIMARY deployment's rolloutState)")
        primary = next((d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), None)
        now_runs = revision_name(svc.get("taskDefinition", "")) or "nothing"
        if deployment is not None:
            status = deployment.get("status")
            reason = deployment.get("statusReason", "")
            target = deployment.get("targetServiceRevision") or {}
            if ledger.phase(status) == "succeeded":
                return RolloutResult(revision, status, reason, target.get("runningTaskCount", 0),
                                     target.get("requestedTaskCount", 0))
            if status in ledger.FAILING and clock() < deadline:
                pass  # already failed; wait for ECS to finish so the message says where the service ends
            elif ledger.phase(status) in ("failed", "rolling-back"):
                message = (f"deployment of {revision_name(revision)} {status}"
                           f"{': ' + reason if reason else ''}; the service runs {now_runs}")
                raise (_with_rollback_hint(plan, DeploymentFailed(message)) if now_runs == revision_name(revision)
                       else DeploymentFailed(message))
            stage = deployment.get("lifecycleStage")
            breaker = deployment.get("deploymentCircuitBreaker") or {}
            if ledger.phase(status) == "rolling-back":
                stage = (deployment.get("rollback") or {}).get("reason") or stage
            failed_now = breaker.get("failureCount", 0) or 0
            if breaker_off:
                # A DISABLED breaker counts nothing ("ECS is not using the circuit breaker"): the failed tasks are
                # the deployments' failedTasks in DescribeServices.
                failed_now = max(failed_now, sum(d.get("failedTasks", 0) or 0 for d in svc.get("deployments", [])
                                                 if _same_revision(d.get("taskDefinition"), revision)))
            line = (f"{revision_name(revision)}: {status}{' / ' + stage if stage else ''}, "
                    f"running {target.get('runningTaskCount', 0)}/{target.get('requestedTaskCount', 0)}, "
                    + (f"failed tasks {failed_now} (circuit breaker off)" if breaker_off else
                       f"failed tasks {breaker.get('failureCount', 0)}/{breaker.get('threshold', '-')}"))
        elif fallback or polls > 3:
            fallback_polls += 1
            ours = [d for d in svc.get("deployments", []) if _same_revision(d.get("taskDefinition"), revision)]
            failed = [d for d in ours if d.get("rolloutState") == "FAILED"]
            failed_now = sum(d.get("failedTasks", 0) or 0 for d in ours)
            if failed:
                message = (f"deployment of {revision_name(revision)} FAILED: "
                           f"{failed[0].get('rolloutStateReason', 'no reason given')}; the service runs {now_runs}")
                raise (_with_rollback_hint(plan, DeploymentFailed(message)) if now_runs == revision_name(revision)
                       else DeploymentFailed(message))
            not_ours = primary is None or not _same_revision(primary.get("taskDefinition"), revision)
            if not_ours and not ours and fallback_polls <= STALE_POLLS:
                # ECS reads are eventually consistent: a read may not show the update yet (same tolerance as
                # the main path's "waiting for ECS to list the deployment").
                line = f"{revision_name(revision)}: waiting for DescribeServices to show the deployment"
            elif not_ours:
                raise DeploymentFailed(f"the PRIMARY deployment runs {now_runs}, not {revision_name(revision)}: "
                                       "rolled back or replaced by another deployment")
            elif primary.get("rolloutState") == "COMPLETED":
                return RolloutResult(revision, "COMPLETED", primary.get("rolloutStateReason", ""),
                                     primary.get("runningCount", 0), primary.get("desiredCount", 0))
            else:
                line = (f"{revision_name(revision)}: {primary.get('rolloutState') or 'unknown'}, "
                        f"running {primary.get('runningCount', 0)}/{primary.get('desiredCount', 0)}")
        else:
            line = f"{revision_name(revision)}: waiting for ECS to list the deployment"
        if breaker_off and not warned and failed_now and failed_before is not None and failed_now > failed_before:
            progress(f"warning: {failed_now} tasks of {revision_name(revision)} have failed and the deployment circuit "
                     f"breaker is off: {_without_breaker(plan)}, it keeps starting new tasks"
                     + (f"; to roll back: {rollback_command(plan)}" if plan.action == "deploy" else ""))
            warned = True
        if failed_now is not None:
            failed_before = failed_now
        if line != last_line or clock() - last_print >= HEARTBEAT_SECONDS:
            progress(f"[{clock() - start:5.0f}s] {line}")
            last_line, last_print = line, clock()
        remaining = deadline - clock()
        if remaining <= 0 and deployment is not None and ledger.phase(deployment.get("status")) in ("failed", "rolling-back"):
            message = (f"deployment of {revision_name(revision)} {deployment.get('status')}: "
                       f"{deployment.get('statusReason', '')}; the service runs {now_runs}")
            raise (_with_rollback_hint(plan, DeploymentFailed(message)) if now_runs == revision_name(revision)
                   else DeploymentFailed(message))
        if remaining <= 0:
            raise _with_rollback_hint(plan, DeploymentTimeout(
                f"{revision_name(revision)} not finished after {budget:g}s (last: {last_line or 'no data'}); "
                f"the deployment continues in ECS; {timeout_hint(plan)}"))
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
    if plan.diff:
        lines += ["<details><summary>task definition diff</summary>", "", "```diff", *plan.diff, "```", "",
                  "</details>", ""]
    return "\n".join(lines) + "\n"
