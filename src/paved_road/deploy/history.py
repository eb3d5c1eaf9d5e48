"""A service's deployment history, read from ECS itself.

Source of truth: ECS service deployments (ListServiceDeployments /
DescribeServiceDeployments, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html),
whose target service revision (DescribeServiceRevisions) names the task
definition. The release a revision carries comes from the tags `paved`
registers it with (tag-on-create: `paved:release`, `paved:digest`,
`paved:made-by`); revisions without them (registered by hand, or by an older
`paved`) fall back to the app image's tag.

How those records are read (which release, how it got there, how it ended, which
release is bad here, what `--previous` means) is the release ledger's job
(ledger.py); this module only reads what ECS recorded.

Accounts or regions without the service-deployment APIs (AccessDenied,
UnsupportedFeature, an endpoint that does not know the operation) fall back to
the deployments describe_services still lists (PRIMARY / ACTIVE, newest
first), which covers what is in flight or just finished but nothing older.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

from paved_road.deploy import ledger

TAG_RELEASE = "paved:release"
TAG_DIGEST = "paved:digest"
TAG_MADE_BY = "paved:made-by"
MADE_BY = ("deploy", "rollback", "terraform")

# The one table of ECS statuses lives in the ledger; these names are kept for callers.
IN_FLIGHT = ledger.IN_FLIGHT

SEMVER_TAG = re.compile(r":v?(\d+\.\d+\.\d+)(?:@|$)")
FALLBACK_ERRORS = ("AccessDeniedException", "UnsupportedFeatureException", "UnknownOperationException",
                   "InvalidAction", "UnrecognizedClientException")


@dataclass(frozen=True)
class Deployment:
    id: str                      # service-deployment ARN (or ECS deployment id in the fallback)
    release: str | None          # X.Y.Z (from revision tags, else image tag)
    digest: str | None
    task_definition: str         # task-definition ARN family:rev
    strategy: str                # ROLLING | BLUE_GREEN | LINEAR | CANARY
    status: str                  # ECS ServiceDeployment status (SUCCESSFUL, ROLLBACK_SUCCESSFUL, STOPPED, ...)
    started_at: datetime         # tz-aware UTC
    finished_at: datetime | None
    made_by: str                 # deploy | rollback | terraform | unknown (the paved:made-by tag: a hint)
    # What ECS recorded besides (None / empty when the source does not say: the fallback, older records).
    image_digest: str | None = None          # target revision's containerImages[container].imageDigest
    requested_tasks: int | None = None       # target revision's task counts, as of completion
    running_tasks: int | None = None
    breaker_triggered: bool = False          # deploymentCircuitBreaker.status TRIGGERED
    triggered_alarms: tuple = ()             # alarms.triggeredAlarmNames
    status_reason: str = ""
    rollback_reason: str | None = None       # rollback.reason
    rollback_started_at: datetime | None = None
    rollback_task_definition: str | None = None   # the revision ECS rolled back to (rollback.serviceRevisionArn)
    rollback_release: str | None = None
    rollback_digest: str | None = None

    @property
    def succeeded(self) -> bool:
        return ledger.phase(self.status) == "succeeded"

    @property
    def in_flight(self) -> bool:
        return ledger.is_in_flight(self.status)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["triggered_alarms"] = list(self.triggered_alarms)
        for key in ("rollback_started_at",):
            data[key] = data[key].isoformat() if data[key] else None
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


def utc(value: datetime | None) -> datetime | None:
    """An AWS time as a UTC instant: botocore reads epoch timestamps in the machine's local zone (a naive
    value is taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class RevisionInfo:
    """Release, digest and maker of task-definition revisions, each described once."""

    def __init__(self, ecs, container: str = "app"):
        self.ecs = ecs
        self.container = container
        self._cache: dict[str, tuple[str | None, str | None, str, dict | None]] = {}

    def get(self, task_definition: str) -> tuple[str | None, str | None, str, dict | None]:
        """(release, digest, made_by, task definition or None when it is gone)."""
        if task_definition not in self._cache:
            try:
                described = self.ecs.describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
            except ClientError:
                self._cache[task_definition] = (None, None, "unknown", None)
                return self._cache[task_definition]
            td = described["taskDefinition"]
            tags = {t["key"]: t["value"] for t in described.get("tags", [])}
            release, digest = tags.get(TAG_RELEASE), tags.get(TAG_DIGEST)
            made_by = tags.get(TAG_MADE_BY) if tags.get(TAG_MADE_BY) in MADE_BY else "unknown"
            if release is None:
                images = [c.get("image", "") for c in td.get("containerDefinitions", [])
                          if c.get("name") == self.container]
                match = SEMVER_TAG.search(images[0]) if images else None
                release = match.group(1) if match else None
                if digest is None and images and "@" in images[0]:
                    digest = images[0].rsplit("@", 1)[1]
            self._cache[task_definition] = (release, digest, made_by, td)
        return self._cache[task_definition]


class Described:
    """Service deployments and revisions already described, shared by the reads of many services.

    DescribeServiceDeployments and DescribeServiceRevisions each take up to 20 ARNs, of any services
    (Amazon ECS API Reference: serviceDeploymentArns / serviceRevisionArns, "Array Members: Minimum
    number of 1 item. Maximum number of 20 items."), so a fleet's reads describe what changed in
    shared calls (`list_service` per service, then `describe_listed`) and each service's read then finds its records here. What a service
    lists is kept per (cluster, service, since): a read from another point lists again."""

    def __init__(self):
        self.listed: dict[tuple, list[str]] = {}
        self.deployments: dict[str, dict] = {}
        self.revisions: dict[str, dict] = {}

    def list_service(self, ecs, cluster: str, service: str, since: datetime | None) -> None:
        """List one service's deployments created after `since` (then describe_listed describes every
        service's at once). A listing ECS refuses (or a connection botocore gave up on) is left for the
        service's own read (which reports it, or falls back): the batch's calls must not fail a run a
        service's own read would not."""
        try:
            self.listed[(cluster, service, since)] = list_deployment_arns(ecs, cluster, service, since)
        except (ClientError, BotoCoreError):
            pass

    def describe_listed(self, ecs) -> None:
        """Describe every listed deployment and the revisions they name, 20 to a call. A refusal is left
        for the services' own reads, which describe what is missing and report what ECS says."""
        arns = [a for listed in self.listed.values() for a in listed]
        try:
            details = describe_deployments(ecs, arns, self)
            describe_revisions(ecs, _revision_arns(details.values()), self)
        except (ClientError, BotoCoreError):
            pass


def list_deployment_arns(ecs, cluster: str, service: str, since: datetime | None) -> list[str]:
    """ListServiceDeployments, every page (newest first), created after `since`."""
    arns: list[str] = []
    kwargs: dict = {"cluster": cluster, "service": service, "maxResults": 100}   # the API's maximum
    if since is not None:
        kwargs["createdAt"] = {"after": since}
    while True:
        page = ecs.list_service_deployments(**kwargs)
        arns += [d["serviceDeploymentArn"] for d in page.get("serviceDeployments", [])]
        if not page.get("nextToken"):
            return arns
        kwargs["nextToken"] = page["nextToken"]


def describe_deployments(ecs, arns: list[str], described: Described | None = None) -> dict[str, dict]:
    """Service-deployment ARN -> DescribeServiceDeployments' record (those `described` holds are not
    described again; what is described is added to it)."""
    held = described.deployments if described is not None else {}
    found = {a: held[a] for a in arns if a in held}
    wanted = [a for a in dict.fromkeys(arns) if a not in found]
    for start in range(0, len(wanted), 20):  # DescribeServiceDeployments takes up to 20 ARNs
        for d in ecs.describe_service_deployments(serviceDeploymentArns=wanted[start:start + 20]).get(
                "serviceDeployments", []):
            found[d["serviceDeploymentArn"]] = d
    if described is not None:
        described.deployments.update(found)
    return found


def _revision_arns(details) -> list[str]:
    wanted = [d["targetServiceRevision"]["arn"] for d in details if (d.get("targetServiceRevision") or {}).get("arn")]
    wanted += [d["rollback"]["serviceRevisionArn"] for d in details
               if (d.get("rollback") or {}).get("serviceRevisionArn")]
    return list(dict.fromkeys(wanted))


def describe_revisions(ecs, revision_arns: list[str], described: Described | None = None) -> dict[str, dict]:
    """Service-revision ARN -> the revision (DescribeServiceRevisions: taskDefinition, containerImages)."""
    held = described.revisions if described is not None else {}
    found = {a: held[a] for a in revision_arns if a in held}
    wanted = [a for a in dict.fromkeys(revision_arns) if a not in found]
    for start in range(0, len(wanted), 20):  # DescribeServiceRevisions takes up to 20 ARNs
        chunk = wanted[start:start + 20]
        for revision in ecs.describe_service_revisions(serviceRevisionArns=chunk).get("serviceRevisions", []):
            found[revision["serviceRevisionArn"]] = revision
    if described is not None:
        described.revisions.update(found)
    return found


def revision_task_definitions(ecs, revision_arns: list[str]) -> dict[str, str]:
    """Service-revision ARN -> the task definition it runs (DescribeServiceRevisions)."""
    return {arn: r["taskDefinition"] for arn, r in describe_revisions(ecs, revision_arns).items()}


def _image_digest(revision: dict | None, container: str) -> str | None:
    """What ECS resolved the container's image to (ServiceRevision.containerImages[].imageDigest)."""
    for image in (revision or {}).get("containerImages") or []:
        if image.get("containerName") == container and image.get("imageDigest"):
            return image["imageDigest"]
    return None


def _from_service_deployments(ecs, cluster: str, service: str, since: datetime | None,
                              info: RevisionInfo, described: Described | None = None) -> list[Deployment]:
    listed = described.listed.get((cluster, service, since)) if described is not None else None
    arns = listed if listed is not None else list_deployment_arns(ecs, cluster, service, since)
    found = describe_deployments(ecs, arns, described)
    details = [found[a] for a in arns if a in found]
    revisions = describe_revisions(ecs, _revision_arns(details), described)
    history = []
    for d in details:
        target_rev = d.get("targetServiceRevision") or {}
        revision = revisions.get(target_rev.get("arn", ""))
        target = (revision or {}).get("taskDefinition", "")
        release, digest, made_by, _td = info.get(target) if target else (None, None, "unknown", None)
        rollback = d.get("rollback") or {}
        back = revisions.get(rollback.get("serviceRevisionArn", ""))
        back_release = back_digest = None
        if back:
            back_release, back_digest, _m, _t = info.get(back["taskDefinition"])
            back_digest = _image_digest(back, info.container) or back_digest
        finished = d.get("finishedAt") or d.get("stoppedAt")
        ended = ledger.phase(d.get("status")) in ("succeeded", "failed")
        history.append(Deployment(
            id=d["serviceDeploymentArn"], release=release, digest=digest,
            task_definition=target.rsplit("/", 1)[-1], status=d.get("status", "PENDING"),
            strategy=(d.get("deploymentConfiguration") or {}).get("strategy") or "ROLLING",
            started_at=utc(d.get("startedAt") or d.get("createdAt")),  # type: ignore[arg-type]
            finished_at=utc(finished) if ended else None, made_by=made_by,
            image_digest=_image_digest(revision, info.container),
            requested_tasks=target_rev.get("requestedTaskCount") if ended else None,
            running_tasks=target_rev.get("runningTaskCount") if ended else None,
            breaker_triggered=(d.get("deploymentCircuitBreaker") or {}).get("status") == "TRIGGERED",
            triggered_alarms=tuple((d.get("alarms") or {}).get("triggeredAlarmNames") or ()),
            status_reason=d.get("statusReason", "") or "",
            rollback_reason=rollback.get("reason"), rollback_started_at=utc(rollback.get("startedAt")),
            rollback_task_definition=back["taskDefinition"].rsplit("/", 1)[-1] if back else None,
            rollback_release=back_release, rollback_digest=back_digest,
        ))
    return history


def _from_describe_services(ecs, cluster: str, service: str, info: RevisionInfo) -> list[Deployment]:
    """Fallback: the deployments describe_services reports (in flight or just finished)."""
    services = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    if not services:
        return []
    svc = services[0]
    strategy = (svc.get("deploymentConfiguration") or {}).get("strategy") or "ROLLING"
    history = []
    for d in svc.get("deployments", []):
        release, digest, made_by, _td = info.get(d["taskDefinition"])
        rollout = d.get("rolloutState")
        status = {"COMPLETED": "SUCCESSFUL", "FAILED": "FAILED"}.get(rollout or "", "IN_PROGRESS")
        if rollout is None and d.get("status") == "PRIMARY" and len(svc.get("deployments", [])) == 1:
            status = "SUCCESSFUL"
        history.append(Deployment(
            id=d["id"], release=release, digest=digest, task_definition=d["taskDefinition"].rsplit("/", 1)[-1],
            strategy=strategy, status=status, started_at=utc(d.get("createdAt")),  # type: ignore[arg-type]
            finished_at=utc(d.get("updatedAt")) if status != "IN_PROGRESS" else None, made_by=made_by,
        ))
    return history


DEGRADED = ("degraded: no service-deployment history here ({code} on ListServiceDeployments); only the "
            "deployments DescribeServices still lists are known, so older releases, rollbacks and failures "
            "before them cannot be told")


def read_history(ecs, cluster: str, service: str, since: datetime | None = None,
                 container: str = "app", info: RevisionInfo | None = None,
                 described: Described | None = None) -> tuple[list[Deployment], str | None]:
    """(every deployment of the service newest first, None) or, on the fallback path, (what
    DescribeServices lists, a one-line notice of what cannot be told). `info`: a RevisionInfo
    the caller keeps (and may have filled from a cache: task-definition revisions never change);
    `described`: records a fleet read described in shared calls (Described.list_service, describe_listed)."""
    info = info or RevisionInfo(ecs, container)
    degraded = None
    try:
        history = _from_service_deployments(ecs, cluster, service, since, info, described)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in FALLBACK_ERRORS:
            raise
        degraded = DEGRADED.format(code=code)
        history = _from_describe_services(ecs, cluster, service, info)
        if since is not None:
            history = [d for d in history if d.started_at >= utc(since)]
    return sorted(history, key=lambda d: (d.started_at, d.id), reverse=True), degraded


def service_history(ecs, cluster: str, service: str, since: datetime | None = None,
                    container: str = "app", info: RevisionInfo | None = None,
                    described: Described | None = None) -> list[Deployment]:
    """Every deployment of the service, newest first (started_at, then id)."""
    return read_history(ecs, cluster, service, since, container, info, described)[0]
