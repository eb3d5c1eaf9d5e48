"""A service's deployment history, read from ECS itself.

Source of truth: ECS service deployments (ListServiceDeployments /
DescribeServiceDeployments, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html),
whose target service revision (DescribeServiceRevisions) names the task
definition. The release a revision carries comes from the tags `paved`
registers it with (tag-on-create: `paved:release`, `paved:digest`,
`paved:made-by`); revisions without them (registered by hand, or by an older
`paved`) fall back to the app image's tag.

`previous_good()` is what `paved rollback --previous` (and anyone else asking
"what ran well before this?") uses: the newest release that ran to completion
before the current one, skipping releases whose deployment failed, was stopped
or rolled back, or that a `paved rollback` moved away from.

Accounts or regions without the service-deployment APIs (AccessDenied,
UnsupportedFeature, an endpoint that does not know the operation) fall back to
the deployments describe_services still lists (PRIMARY / ACTIVE, newest
first), which covers what is in flight or just finished but nothing older.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from botocore.exceptions import ClientError

TAG_RELEASE = "paved:release"
TAG_DIGEST = "paved:digest"
TAG_MADE_BY = "paved:made-by"
MADE_BY = ("deploy", "rollback", "terraform")

# ServiceDeployment statuses (botocore ecs model, ServiceDeploymentStatus).
IN_FLIGHT = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
FAILED = ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED",
          "STOPPED", "STOP_REQUESTED", "FAILED")

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
    made_by: str                 # deploy | rollback | terraform | unknown

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESSFUL"

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    def as_dict(self) -> dict:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


def _utc(value: datetime | None) -> datetime | None:
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


def revision_task_definitions(ecs, revision_arns: list[str]) -> dict[str, str]:
    """Service-revision ARN -> the task definition it runs (DescribeServiceRevisions)."""
    found: dict[str, str] = {}
    for start in range(0, len(revision_arns), 20):  # DescribeServiceRevisions takes up to 20 ARNs
        chunk = revision_arns[start:start + 20]
        for revision in ecs.describe_service_revisions(serviceRevisionArns=chunk).get("serviceRevisions", []):
            found[revision["serviceRevisionArn"]] = revision["taskDefinition"]
    return found


def _from_service_deployments(ecs, cluster: str, service: str, since: datetime | None,
                              info: RevisionInfo) -> list[Deployment]:
    arns: list[str] = []
    kwargs: dict = {"cluster": cluster, "service": service}
    if since is not None:
        kwargs["createdAt"] = {"after": since}
    while True:
        page = ecs.list_service_deployments(**kwargs)
        arns += [d["serviceDeploymentArn"] for d in page.get("serviceDeployments", [])]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    details = []
    for start in range(0, len(arns), 20):  # DescribeServiceDeployments takes up to 20 ARNs
        details += ecs.describe_service_deployments(serviceDeploymentArns=arns[start:start + 20]).get(
            "serviceDeployments", [])
    revisions = revision_task_definitions(
        ecs, list(dict.fromkeys(d["targetServiceRevision"]["arn"] for d in details if d.get("targetServiceRevision"))))
    history = []
    for d in details:
        target = revisions.get((d.get("targetServiceRevision") or {}).get("arn", ""), "")
        release, digest, made_by, _td = info.get(target) if target else (None, None, "unknown", None)
        history.append(Deployment(
            id=d["serviceDeploymentArn"], release=release, digest=digest,
            task_definition=target.rsplit("/", 1)[-1], status=d.get("status", "PENDING"),
            strategy=(d.get("deploymentConfiguration") or {}).get("strategy") or "ROLLING",
            started_at=_utc(d.get("startedAt") or d.get("createdAt")),  # type: ignore[arg-type]
            finished_at=_utc(d.get("finishedAt") or d.get("stoppedAt")), made_by=made_by,
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
            strategy=strategy, status=status, started_at=_utc(d.get("createdAt")),  # type: ignore[arg-type]
            finished_at=_utc(d.get("updatedAt")) if status != "IN_PROGRESS" else None, made_by=made_by,
        ))
    return history


def service_history(ecs, cluster: str, service: str, since: datetime | None = None,
                    container: str = "app") -> list[Deployment]:
    """Every deployment of the service, newest first (started_at, then id)."""
    info = RevisionInfo(ecs, container)
    try:
        history = _from_service_deployments(ecs, cluster, service, since, info)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in FALLBACK_ERRORS:
            raise
        history = _from_describe_services(ecs, cluster, service, info)
        if since is not None:
            history = [d for d in history if d.started_at >= _utc(since)]
    return sorted(history, key=lambda d: (d.started_at, d.id), reverse=True)


def bad_releases(deployments: list[Deployment]) -> set[str]:
    """Releases that failed in this service, or that a rollback moved away from (and not redeployed since)."""
    bad: set[str] = set()
    running: str | None = None
    for d in sorted(deployments, key=lambda d: (d.started_at, d.id)):
        if d.status in FAILED and d.release:
            bad.add(d.release)
        elif d.succeeded:
            if d.made_by == "rollback" and running and running != d.release:
                bad.add(running)
            if d.release:  # ran to completion (again): good from here on
                bad.discard(d.release)
            running = d.release
    return bad


def previous_good(deployments: list[Deployment], current: str | None) -> Deployment | None:
    """`--previous`: the last release that ran to completion before the current one."""
    bad = bad_releases(deployments)
    newest_current = next((d for d in deployments if d.succeeded and d.release == current), None)
    for d in deployments:  # newest first
        if newest_current is not None and (d.started_at, d.id) >= (newest_current.started_at, newest_current.id):
            continue
        if d.succeeded and d.release and d.release != current and d.release not in bad:
            return d
    return None
