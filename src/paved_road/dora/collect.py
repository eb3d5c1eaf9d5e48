"""Reading ECS, ECR and git for one service or a fleet, in parallel.

Per service: DescribeServices (tags: `environment`; current revision; the
CloudWatch alarms ECS watches), the current revision's app image (which ECR
repository holds its releases), `paved_road.deploy.history.service_history`
(ECS service deployments), CloudWatch DescribeAlarmHistory of those alarms,
ECR DescribeImages (push times) and the service checkout's tags and commits.
Clients come from `paved_road.deploy.aws_session` (botocore standard retry
mode: throttling is retried with backoff); services are read by a bounded
thread pool sharing those clients (boto3 clients are thread-safe, sessions
are not, so clients are created before the pool starts).

ECS keeps service deployments for 90 days (created on or after 2024-10-25):
a longer --since reaches back no further in a real account.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from botocore.exceptions import (BotoCoreError, ClientError, NoCredentialsError, NoRegionError,
                                 PartialCredentialsError, ProfileNotFound)

from paved_road.deploy.history import utc
from paved_road.dora import metrics
from paved_road.dora.gitlog import GitError, ReleaseRepo
from paved_road.dora.report import ServiceReport

ENVIRONMENT_TAG = "environment"
ENVIRONMENTS = ("staging", "production")
# History read before the window too: which release ran before it, which
# commits already reached production, and a rollback just after a deploy.
HISTORY_CONTEXT = timedelta(days=30)
DEFAULT_JOBS = 8


class DoraInputError(ValueError):
    """Bad input to the run as a whole (exit 2)."""


@dataclass
class Target:
    """One service to measure."""
    name: str
    cluster: str
    service: str
    region: str | None = None
    repo: str | None = None
    ecr_repository: str | None = None
    catalog_path: str | None = None


# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------
def environment_of(tags: dict[str, str], cluster: str) -> tuple[str | None, str | None]:
    """(environment, where it came from): the service's `environment` tag, else
    the cluster name's -staging / -production suffix (the template's
    `<ecs_cluster_prefix>-<environment>` clusters)."""
    for key, value in tags.items():
        if key.lower() == ENVIRONMENT_TAG and value:
            return value.strip().lower(), "tag"
    name = cluster.rsplit("/", 1)[-1].lower()
    for env in ENVIRONMENTS:
        if name.endswith("-" + env):
            return env, "cluster-name"
    return None, None


def service_environment(svc: dict, cluster: str) -> tuple[str | None, str | None]:
    """environment_of for a DescribeServices answer (its tags, read with include=["TAGS"])."""
    return environment_of({t["key"]: t.get("value", "") for t in svc.get("tags", [])}, cluster)


def watched_alarms(svc: dict) -> list[str]:
    """The CloudWatch alarms ECS watches for a service (DescribeServices deploymentConfiguration.alarms)."""
    return list(((svc.get("deploymentConfiguration") or {}).get("alarms") or {}).get("alarmNames") or [])


# ---------------------------------------------------------------------------
# Targets from a catalog
# ---------------------------------------------------------------------------
def _service_answers(content: bytes | str | None, error: str | None, name: str = ".copier-answers.yml") -> dict:
    """A service's answers, read as `paved catalog` reads them (bounded, each field type-checked);
    AnswersError (one line) when they cannot be or name no service."""
    from paved_road.untrusted import AnswersError, load_answers

    if error or content is None:
        raise AnswersError(error or "no answers file")
    answers = load_answers(content)
    if not (isinstance(answers, dict) and answers.get("service_name")):
        raise AnswersError(f"{name} has no service_name")
    return answers


def _not_measured(unreadable: list[dict] | None, where: str, label: str, exc: Exception) -> None:
    """A fleet service whose answers cannot be read: listed in `unreadable`, or (no list) DoraInputError."""
    if unreadable is None:
        raise DoraInputError(f"{where}: {label}: {exc}") from None
    unreadable.append({"label": label, "error": str(exc)})


def targets_from_catalog(path: str, environment: str, option: str = "--catalog",
                         unreadable: list[dict] | None = None) -> list[Target]:
    """Services of a catalog: a directory of service checkouts (found by their
    .copier-answers.yml, like `paved catalog DIR`) or a repos file (like
    `paved catalog --repos-file FILE`; entries may add `cluster:` / `service:`).
    Each service runs on `<ecs_cluster_prefix>-<environment>` as the service
    named `service_name`; its checkout is where lead time is read from.
    `option` names the option the path came from in errors (PATH, --repos-file, --catalog).
    A service whose answers file cannot be read is appended to `unreadable` ({"label", "error"}: the fleet
    is measured without it, as `paved catalog` reports it as one bad row); without the list it is a
    DoraInputError."""
    from paved_road.fleet import catalog as cat
    from paved_road.untrusted import MAX_ANSWERS_BYTES, AnswersError

    p = Path(path)
    if not p.exists():
        raise DoraInputError(f"{option} {path}: no such file or directory")
    if option == "PATH" and not p.is_dir():
        raise DoraInputError(f"PATH {path}: is a file; pass a service checkout or a directory holding them "
                             "(a repos file goes to --repos-file)")
    if option == "--repos-file" and p.is_dir():
        raise DoraInputError(f"--repos-file {path}: is a directory; pass a YAML list of checkouts "
                             "(a directory of checkouts goes to PATH)")
    entries: list[tuple[str, Path | None, str | None, dict]] = []
    if p.is_dir():
        entries = [(*e, {}) for e in cat.find_answers_files([p])]
    else:
        try:
            items = cat.read_repos_file(p)
        except cat.CatalogError as exc:
            raise DoraInputError(str(exc).replace("--repos-file", option)) from exc
        for item in items:
            if not item.get("path"):
                raise DoraInputError(f"{option} {path}: entries need a local 'path' (a checkout, for its git history); got {item.get('url')!r}")
            entries.extend((*e, item) for e in cat.find_answers_files([item["path"]]))
    targets = []
    for label, answers_file, error, item in entries:
        try:
            content = None
            if answers_file is not None and not error:
                try:
                    with answers_file.open("rb") as fh:
                        content = fh.read(MAX_ANSWERS_BYTES + 1)
                except OSError as exc:
                    raise AnswersError(f"cannot read {answers_file.name} ({exc.__class__.__name__})") from None
            answers = _service_answers(content, error)
        except AnswersError as exc:
            _not_measured(unreadable, f"{option} {path}", label, exc)
            continue
        targets.append(_target(answers, environment, item, repo=str(answers_file.parent), label=label))
    return targets


def _target(answers: dict, environment: str, item: dict, repo: str | None, label: str) -> Target:
    name = answers["service_name"]
    prefix = answers.get("ecs_cluster_prefix") or "apps"
    return Target(name=name, cluster=item.get("cluster") or f"{prefix}-{environment}",
                  service=item.get("service") or name, region=answers.get("aws_region"), repo=repo,
                  ecr_repository=answers.get("ecr_repository") or name, catalog_path=label)


def targets_from_selection(sel, environment: str, canonical: list[str] = (), token: str | None = None,
                           client=None, unreadable: list[dict] | None = None) -> tuple[list[Target], object | None]:
    """The fleet selection of docs/fleet.md as services to measure, and for --github-org the
    selection.GitHubFleet read (its notes say what was left out). PATHs and --repos-file are read as --catalog reads them;
    --github-org reads each service's answers file through GitHub (paved_road.fleet.selection): no
    checkout, so lead time (git tags) is not measured for those services (docs/dora.md)."""
    from paved_road.fleet import selection
    from paved_road.untrusted import AnswersError

    if sel.github_org:
        found = selection.read_github(sel, list(canonical), token=token, client=client)
        targets = []
        for label, text, error in found.entries:
            try:
                answers = _service_answers(text, error)
            except AnswersError as exc:
                _not_measured(unreadable, f"--github-org {sel.github_org}", label, exc)
                continue
            targets.append(_target(answers, environment, {}, repo=None, label=label))
        return targets, found
    targets = [t for path in sel.paths for t in targets_from_catalog(path, environment, "PATH", unreadable)]
    if sel.repos_file:
        targets += targets_from_catalog(sel.repos_file, environment, "--repos-file", unreadable)
    return targets, None


# ---------------------------------------------------------------------------
# Counting AWS calls per service
# ---------------------------------------------------------------------------
_CLIENTS_LOCK = threading.Lock()


def _client(clients, name: str, region: str | None):
    """A shared client, created under a lock (boto3 sessions are not thread-safe)."""
    with _CLIENTS_LOCK:
        return clients.client(name, region)


class CallCounter:
    """AWS API calls (not HTTP retries) made while measuring each service, via
    botocore's before-call event on the shared clients."""

    def __init__(self):
        self.local = threading.local()
        self.calls: Counter = Counter()
        self.lock = threading.Lock()
        self._hooked: set[int] = set()

    def hook(self, client) -> None:
        with self.lock:
            if id(client) not in self._hooked:
                client.meta.events.register("before-call", self._count)
                self._hooked.add(id(client))

    def _count(self, **_kw) -> None:
        key = getattr(self.local, "key", None)   # None: a call for many services (DescribeServices batch)
        with self.lock:
            self.calls[key] += 1


# ---------------------------------------------------------------------------
# One service
# ---------------------------------------------------------------------------
def _image_repository(ecs, task_definition: str, container: str, store=None
                      ) -> tuple[str | None, str | None, str | None]:
    """(repository, registry id, region) of the app container's image in a revision (a revision never
    changes: the store keeps its image, so a warm run describes no task definition)."""
    from paved_road.deploy.ecs_deploy import ImageRef

    image = store.revision_image(task_definition, container) if store is not None else None
    if image is None:
        td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        image = next((c.get("image", "") for c in td.get("containerDefinitions", []) if c.get("name") == container), "")
        if store is not None:
            store.save_revision_image(task_definition, container, image)
    if not image:
        return None, None, None
    ref = ImageRef.parse(image)
    return ref.repository, ref.ecr_registry_id, ref.ecr_region


def ecr_facts(ecr, repository: str, registry_id: str | None, digests: set[str], store=None, region: str | None = None
              ) -> tuple[dict[str, datetime], dict[str, datetime], dict[str, str]]:
    """(release -> pushed_at, digest -> pushed_at, digest -> release) for the digests the history
    names: from the store, and for the rest one DescribeImages by imageIds per 100 digests (not the
    whole repository). An image ECR no longer has (ImageNotFoundException) makes this read the
    repository's releases in full, as before; with no digest at all (old records) too."""
    from paved_road.deploy.releases import SEMVER, format_version

    # ECR is regional (a replicated image has its own push time in each Region) and a registry is an
    # account: the store keeps one repository's facts per Region and registry.
    key = f"{region or ecr.meta.region_name or ''}/{registry_id or ''}/{repository}"
    names, pushed = store.images(key) if store is not None else ({}, {})
    known = set(names) | set(pushed) | (store.missing_images(key) if store is not None else set())
    wanted = sorted(digests - known)
    if not digests:
        return push_times(ecr, repository, registry_id)
    fresh_names: dict[str, str] = {}
    fresh_pushed: dict[str, datetime] = {}
    try:
        for start in range(0, len(wanted), 100):
            page = ecr.describe_images(repositoryName=repository,
                                       imageIds=[{"imageDigest": d} for d in wanted[start:start + 100]],
                                       **({"registryId": registry_id} if registry_id else {}))
            for image in page.get("imageDetails", []):
                digest = image["imageDigest"]
                versions = sorted((tuple(int(p) for p in m.groups()) for m in
                                   (SEMVER.match(t) for t in image.get("imageTags") or []) if m), reverse=True)
                if versions:
                    fresh_names[digest] = format_version(versions[0])
                if image.get("imagePushedAt"):
                    fresh_pushed[digest] = image["imagePushedAt"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ImageNotFoundException":
            raise
        by_release, by_digest, all_names = push_times(ecr, repository, registry_id)
        fresh_names = {d: all_names[d] for d in wanted if d in all_names}
        fresh_pushed = {d: by_digest[d] for d in wanted if d in by_digest}
        if store is not None:
            store.save_missing_images(key, [d for d in wanted if d not in fresh_names and d not in fresh_pushed])
    if store is not None and (fresh_names or fresh_pushed):
        store.save_images(key, fresh_names, fresh_pushed)
    names, pushed = {**names, **fresh_names}, {**pushed, **fresh_pushed}
    by_release = {names[d]: at for d, at in pushed.items() if d in names}
    return by_release, pushed, names


def push_times(ecr, repository: str, registry_id: str | None
               ) -> tuple[dict[str, datetime], dict[str, datetime], dict[str, str]]:
    """(release -> pushed_at, digest -> pushed_at, digest -> release) from ECR DescribeImages."""
    from paved_road.deploy.releases import list_releases

    by_release, by_digest, names = {}, {}, {}
    for r in list_releases(ecr, repository, registry_id):
        if r.digest:
            names[r.digest] = r.name
        if r.pushed_at is not None:
            by_release[r.name] = r.pushed_at
            by_digest[r.digest] = r.pushed_at
    return by_release, by_digest, names


ALARM_STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
DESCRIBE_SERVICES_BATCH = 10     # DescribeServices takes up to 10 services per call (API reference)


def describe_services(ecs, cluster: str, names: list[str]) -> dict[str, dict | str]:
    """Service name -> its DescribeServices answer (with tags), or a one-line error, for up to 10 names."""
    try:
        found = ecs.describe_services(cluster=cluster, services=names, include=["TAGS"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ClusterNotFoundException":
            return {n: f"cluster {cluster} not found" for n in names}
        raise
    out: dict[str, dict | str] = {}
    for svc in found.get("services", []):
        if svc.get("status") != "INACTIVE":
            out[svc.get("serviceName")] = svc
            out.setdefault(svc.get("serviceArn"), svc)
    for name in names:
        out.setdefault(name, f"service {name} not found in cluster {cluster}")
    return out


def _alarm_history(cloudwatch, name: str, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """One alarm's state changes from `start` to `end` (DescribeAlarmHistory, HistoryItemType StateUpdate,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html).
    The new state is HistoryData's newState.stateValue. CloudWatch keeps 30 days of alarm history."""
    import json

    out: list[tuple[datetime, str]] = []
    token = None
    while True:
        kwargs = {"AlarmName": name, "HistoryItemType": "StateUpdate", "StartDate": start, "EndDate": end,
                  "MaxRecords": 100, "ScanBy": "TimestampAscending"}
        if token:
            kwargs["NextToken"] = token
        page = cloudwatch.describe_alarm_history(**kwargs)
        for item in page.get("AlarmHistoryItems", []):
            try:
                state = json.loads(item.get("HistoryData") or "{}").get("newState", {}).get("stateValue")
            except ValueError:
                state = None
            if state in ALARM_STATES:
                at = item["Timestamp"]
                out.append((utc(at), state))
        token = page.get("NextToken")
        if not token:
            return out


def alarm_facts(cloudwatch, names: list[str]) -> dict[str, tuple[str, datetime | None]]:
    """Alarm name -> (ARN, when its state was last updated), by DescribeAlarms (up to 100 names a call,
    metric and composite alarms: API_DescribeAlarms.html). StateUpdatedTimestamp is "the time stamp of
    the last update to the value of either the StateValue or EvaluationState parameters": an alarm
    not updated since the store's last read has no new state change to read."""
    out: dict[str, tuple[str, datetime | None]] = {}
    names = list(dict.fromkeys(names))
    for first in range(0, len(names), 100):
        kwargs: dict = {"AlarmNames": names[first:first + 100], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                        "MaxRecords": 100}
        while True:
            page = cloudwatch.describe_alarms(**kwargs)
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                at = alarm.get("StateUpdatedTimestamp")
                if isinstance(at, datetime):
                    at = utc(at)
                out[alarm["AlarmName"]] = (alarm.get("AlarmArn") or alarm["AlarmName"], at)
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return out


def alarm_changes(cloudwatch, names: list[str], start: datetime, end: datetime, store=None,
                  facts: dict[str, tuple[str, datetime | None]] | None = None) -> list[metrics.AlarmChange]:
    """State changes of the service's alarms from `start` to `end`. With a store and the alarms' facts
    (alarm_facts): an alarm whose state was last updated before the stored read's end is answered from
    the store (no call), another one is read from where the store ends (five minutes of overlap: the
    clock margin); the store then holds its history past CloudWatch's 30 days."""
    from paved_road.dora import store as st

    out: list[metrics.AlarmChange] = []
    for name in names:
        arn, updated = (facts or {}).get(name, (None, None))
        held = store.alarm_history(arn) if store is not None and arn else None
        # The store's read began later than this window: read CloudWatch from the window's start, and keep
        # what the store holds (CloudWatch may have forgotten it: 30 days).
        earlier = held is not None and held[1] > start
        if held is not None and not earlier and updated is not None and updated + st.SETTLE_MARGIN <= held[2]:
            changes = held[0]                             # nothing updated since the stored read
        else:
            # From where the stored read ended, less the clock margin the test above allows: a change up to
            # SETTLE_MARGIN before that end may have been invisible to it (our clock ahead of CloudWatch's).
            read_from = max(start, held[2] - st.SETTLE_MARGIN) if held is not None and not earlier else start
            if held is not None and read_from >= end:     # a window that ended before the stored read did
                out += [metrics.AlarmChange(name, at, state) for at, state in held[0] if start <= at <= end]
                continue
            fresh = _alarm_history(cloudwatch, name, read_from, end)
            if store is not None and arn:
                if held is None or (earlier and end < held[1]):
                    span = (start, end)                   # (a read that does not reach the stored one: its own span)
                else:
                    span = (min(start, held[1]), max(end, held[2]))
                store.save_alarm_history(arn, fresh, *span)
            changes = sorted(set((held[0] if held is not None else []) + fresh))
        out += [metrics.AlarmChange(name, at, state) for at, state in changes if start <= at <= end]
    return out


def store_key(svc: dict, target: Target) -> str:
    """A service's key in the store: its ARN (account, Region, cluster, name). A service made before ECS's
    long ARN format has `arn:...:service/NAME` without its cluster (Amazon ECS Developer Guide, "Amazon
    Resource Names (ARNs) and IDs"): two such services of one name in two clusters would share a key, so
    the cluster's ARN is put in front of it."""
    arn = svc.get("serviceArn")
    if not arn:
        return f"{target.region}/{target.cluster}/{target.service}"
    if arn.split(":", 5)[-1].count("/") < 2:
        return f"{svc.get('clusterArn') or target.cluster}|{arn}"
    return arn


def _created_at(svc: dict) -> datetime | None:
    created = svc.get("createdAt")
    # botocore reads ECS's epoch timestamps in the machine's local zone: kept and compared as UTC instants,
    # or a run under another TZ would take the service for a recreated one and drop its stored history.
    return utc(created) if isinstance(created, datetime) else None


def _read_plan(store, key: str, svc: dict, requested: datetime) -> tuple[list, tuple | None, datetime, bool]:
    """(stored records, coverage, where ECS is read from, whether ECS need not be read at all) for a
    service, from the store; changes nothing (a recreated service is read from `requested`)."""
    from paved_road.dora import store as st

    stored, coverage, read_from = [], None, requested
    if store is not None:
        was, created = store.created_at(key), _created_at(svc)
        if was is not None and created is not None and not st.same_instant(was, created):
            return [], None, requested, False
        stored, coverage = store.deployments(key), store.coverage(key)
        if stored and coverage and coverage[2] <= requested:
            read_from = max(requested, st.read_since(stored) or requested)
    return stored, coverage, read_from, read_from != requested and st.settled(stored, svc, coverage[0])


def read_deployments(ecs, target: Target, svc: dict, requested: datetime, now: datetime, container: str,
                     store, report: ServiceReport, described=None, plan: tuple | None = None) -> list:
    """The service's deployments from `requested` on: ECS alone, or the store plus what ECS added since
    the newest stored one (store.py). Sets report.covered_since: from when the history held is
    complete (the oldest record held proves it: ECS's retention is a cut-off in time; otherwise the
    earliest time reads covered, and never before ECS's 90 days unless the store holds it)."""
    from paved_road.deploy import history as hist
    from paved_road.dora import store as st

    info = hist.RevisionInfo(ecs, container)
    if store is not None:   # revisions never change: what earlier runs described is not described again
        info._cache.update({td: (*facts, None) for td, facts in store.revisions(container).items()})
    known = set(info._cache)

    def service_history(ecs, cluster, service, since, container):
        return hist.service_history(ecs, cluster, service, since=since, container=container, info=info,
                                    described=described)

    key = store_key(svc, target)
    created = _created_at(svc)
    if store is not None:
        was = store.created_at(key)
        if was is not None and created is not None and not st.same_instant(was, created):
            report.notes.append(f"store: service created {created.isoformat()}, not {was} as stored (recreated); read afresh from ECS")
            store.forget(key)
            plan = None
    stored, coverage, read_from, skipped = plan or _read_plan(store, key, svc, requested)
    if skipped:
        fresh = []   # DescribeServices shows nothing created or updated since the last read: no history call
    else:
        fresh = service_history(ecs, target.cluster, target.service, since=read_from, container=container)
    if store is not None:
        why = None if skipped else st.contradicts(stored, fresh, read_from, now)
        if why:
            report.notes.append(f"store: {why}; read afresh from ECS")
            store.forget(key)
            stored, coverage = [], None
            if read_from != requested:
                read_from = requested
                fresh = service_history(ecs, target.cluster, target.service, since=read_from, container=container)
        if stored and coverage and coverage[0] < now - st.ECS_RETENTION:
            report.notes.append(f"store: last read {coverage[0].date()}, more than ECS's 90 days ago: deployments "
                                f"between {coverage[0].date()} and {(now - st.ECS_RETENTION).date()} may be missing")
    # ECS's retention is a cut-off in time: it holds everything after max(read_from, now - 90 days), and the
    # oldest record it returned proves it held everything after that one too.
    vouched = max(read_from, now - st.ECS_RETENTION)
    oldest_fresh = min((d.started_at for d in fresh), default=None)
    if oldest_fresh is not None:
        vouched = min(vouched, oldest_fresh)
    if store is not None:
        covered_from = min(coverage[1], vouched) if (stored and coverage) else vouched
        asked_from = min(coverage[2], read_from) if (stored and coverage) else read_from
        store.save(key, fresh, now, covered_from, asked_from, created.isoformat() if created else None)
        store.save_revisions(container, {td: facts[:3] for td, facts in info._cache.items()
                                         if td not in known and facts[3] is not None})
        for td, facts in info._cache.items():   # their images too: the running revision's needs no describe
            if td not in known and facts[3] is not None:
                image = next((c.get("image", "") for c in facts[3].get("containerDefinitions", [])
                              if c.get("name") == container), "")
                store.save_revision_image(td, container, image)
        history = [d for d in st.merge(stored, fresh) if d.started_at >= requested]
    else:
        covered_from, history = vouched, fresh
    report.covered_since = covered_from
    return history


@dataclass
class Prefetched:
    """What measure_all read for a batch of services in shared calls: their new deployments and
    revisions (history.Described) and their alarms' ARNs and last state updates (alarm_facts)."""
    deployments: object
    alarms: dict
    plans: dict          # service name -> its _read_plan, made once


def measure(clients, target: Target, since: datetime, until: datetime, *,
            environment: str | None, container: str,
            counter: CallCounter | None = None, now: datetime | None = None,
            failure_window: timedelta = metrics.DEFAULT_FAILURE_WINDOW, store=None,
            described: dict | None = None, records=None) -> ServiceReport:
    """Read one service and compute its metrics (`described`: its DescribeServices answer, read in a
    batch by measure_all; `records`: a history.Described holding what the batch's services added to
    their histories, described in shared calls). AWS and git problems become the
    service's `error` (or lead-time note), so one bad service does not stop a fleet."""
    report = ServiceReport(name=target.name, cluster=target.cluster, service=target.service, region=target.region,
                           repo=target.repo, ecr_repository=target.ecr_repository, catalog_path=target.catalog_path)
    if counter is not None:
        counter.local.key = (target.cluster, target.service)
    try:
        ecs = _client(clients, "ecs", target.region)
        if counter is not None:
            counter.hook(ecs)
        if described is None:
            described = describe_services(ecs, target.cluster, [target.service])
        svc = described.get(target.service)
        if isinstance(svc, str):
            report.error = svc
            return report
        report.environment, report.environment_source = service_environment(svc, target.cluster)
        if environment is not None and report.environment != environment:
            return report  # the caller lists it as skipped
        history = read_deployments(ecs, target, svc, since - HISTORY_CONTEXT, now or until, container, store, report,
                                   records.deployments if records is not None else None,
                                   records.plans.get(target.service) if records is not None else None)
        alarm_names = watched_alarms(svc)
        changes = None
        if alarm_names:
            cloudwatch = _client(clients, "cloudwatch", target.region)
            if counter is not None:
                counter.hook(cloudwatch)
            try:
                changes = alarm_changes(cloudwatch, alarm_names, since - HISTORY_CONTEXT, now or until, store,
                                        records.alarms if records is not None else None)
            except ClientError as exc:
                report.alarm_note = f"alarm history unreadable: {str(exc).splitlines()[0]}"
        releases_by_digest: dict[str, str] = {}
        pushed_release: dict[str, datetime] = {}
        pushed_digest: dict[str, datetime] = {}
        repository, registry_id, region = _image_repository(ecs, svc["taskDefinition"], container, store)
        # The running image names the repository; the catalog's (service name) is the fallback.
        repository = repository or target.ecr_repository
        report.ecr_repository = repository
        if repository:
            ecr = _client(clients, "ecr", region or target.region)
            if counter is not None:
                counter.hook(ecr)
            digests = {x for d in history for x in (d.image_digest, d.digest, d.rollback_digest) if x}
            try:
                pushed_release, pushed_digest, releases_by_digest = ecr_facts(ecr, repository, registry_id, digests,
                                                                              store, region or target.region)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
                    raise
        commits = None
        note = None
        if target.repo:
            try:
                commits = ReleaseRepo(target.repo).commits
            except GitError as exc:
                note = f"cannot read the checkout: {exc}"

        def pushed_at(d) -> datetime | None:
            for digest in (d.digest, d.image_digest):
                if digest in pushed_digest:
                    return pushed_digest[digest]
            return pushed_release.get(d.release)

        def safe_commits(release, previous):
            try:
                return commits(release, previous)
            except GitError:
                return None

        report.metrics = metrics.compute(history, since, until, now=now, commits=safe_commits if commits else None,
                                         pushed_at=pushed_at, releases_by_digest=releases_by_digest,
                                         alarm_changes=changes, alarms=alarm_names if changes is not None else None,
                                         failure_window=failure_window,
                                         covered_since=report.covered_since)
        if note:
            report.metrics.lead_time_note = note
    except (NoCredentialsError, NoRegionError, ProfileNotFound, PartialCredentialsError):
        raise  # the same for every service: the command stops with one line (exit 2)
    except (ClientError, BotoCoreError) as exc:
        report.error = str(exc).splitlines()[0]
    finally:
        if counter is not None:
            report.aws_calls = counter.calls[(target.cluster, target.service)]
            counter.local.key = None
    return report


def measure_all(clients, targets: list[Target], since: datetime, until: datetime, *,
                environment: str | None, container: str = "app",
                jobs: int = DEFAULT_JOBS, now: datetime | None = None,
                failure_window: timedelta = metrics.DEFAULT_FAILURE_WINDOW, store=None,
                on_done: Callable[[ServiceReport], None] | None = None,
                counter: CallCounter | None = None, limiter=None) -> list[ServiceReport]:
    """Every target, read in parallel: one job per batch of up to 10 services of one cluster (one
    DescribeServices for the batch, then each service's history). The batch call is counted in
    `counter.calls[None]` (the fleet's), each service's own calls under it."""
    counter = counter or CallCounter()
    # Create (and hook) every client in this thread before the pool starts.
    for region in dict.fromkeys(t.region for t in targets):
        ecs = _client(clients, "ecs", region)
        counter.hook(ecs)
        if limiter is not None:
            limiter.hook(ecs)   # ECS's documented quotas per API family (ratelimit.py)
    batches: list[list[int]] = []
    open_batch: dict[tuple, list[int]] = {}
    for i, t in enumerate(targets):
        key = (t.region, t.cluster)
        batch = open_batch.get(key)
        if batch is None or len(batch) == DESCRIBE_SERVICES_BATCH:
            batch = open_batch[key] = []
            batches.append(batch)
        batch.append(i)
    results: list[ServiceReport | None] = [None] * len(targets)

    def prefetch(ecs, batch: list[Target], described: dict):
        """What the batch's services added since the store's last read, listed per service and described
        in shared calls (history.Described): a weekly run where every service released once makes about
        3 calls per service instead of 5. Each service's own read plans the same way (_read_plan)."""
        from paved_road.deploy import history as hist

        records = Prefetched(hist.Described(), {}, {})
        reads, alarm_names = [], []
        for t in batch:
            svc = described.get(t.service)
            if not isinstance(svc, dict):
                continue
            if environment is not None and service_environment(svc, t.cluster)[0] != environment:
                continue
            plan = records.plans[t.service] = _read_plan(store, store_key(svc, t), svc, since - HISTORY_CONTEXT)
            _stored, _coverage, read_from, skipped = plan
            if not skipped:
                reads.append((t, read_from))
            alarm_names += watched_alarms(svc)
        for t, read_from in reads:        # each listing is the service's own call
            counter.local.key = (t.cluster, t.service)
            records.deployments.list_service(ecs, t.cluster, t.service, read_from)
        counter.local.key = None          # the descriptions are the batch's, like DescribeServices
        records.deployments.describe_listed(ecs)
        if store is not None and alarm_names:   # which alarms changed since the store read them: one call
            try:
                cloudwatch = _client(clients, "cloudwatch", batch[0].region)
                counter.hook(cloudwatch)
                records.alarms.update(alarm_facts(cloudwatch, alarm_names))
            except (ClientError, BotoCoreError):
                pass                      # each service reads its alarms' history itself, as without a store
        return records

    def one(batch: list[int]) -> None:
        first = targets[batch[0]]
        counter.local.key = None
        try:
            described = describe_services(_client(clients, "ecs", first.region), first.cluster,
                                          list(dict.fromkeys(targets[i].service for i in batch)))
        except (NoCredentialsError, NoRegionError, ProfileNotFound, PartialCredentialsError):
            raise
        except (ClientError, BotoCoreError) as exc:
            described = {targets[i].service: str(exc).splitlines()[0] for i in batch}
        records = prefetch(_client(clients, "ecs", first.region), [targets[i] for i in batch], described)
        for i in batch:
            result = measure(clients, targets[i], since, until, environment=environment, container=container,
                             counter=counter, now=now, failure_window=failure_window, store=store,
                             described=described, records=records)
            results[i] = result
            if on_done is not None:
                on_done(result)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, batches))
    return [r for r in results if r is not None]
