"""The delivery metrics of one service (and of a fleet) from its deployment history.

Pure functions over deployment records shaped like
`paved_road.deploy.history.Deployment` (release, status, started_at,
finished_at, made_by, ...), so they are tested with hand-made histories.

Definitions (docs/dora.md says the same for users):

- A deployment is *in the window* when it started in [since, until). Deployments
  still in progress (PENDING, IN_PROGRESS, *_REQUESTED, ROLLBACK_IN_PROGRESS) are
  not counted yet.
- A *change* is a finished deployment not made by `paved rollback` (deploy,
  Terraform, or unknown). Rollbacks restore; they are measured separately.
- **Deployment frequency**: changes that reached SUCCESSFUL, per day and per week.
- **Change failure rate**: failed changes / changes. Which runs are changes
  (not rollbacks: `paved rollback`, ECS's own, or an outside update-service to
  an earlier release) and which failed is the release ledger's call
  (paved_road.deploy.ledger), the same one `paved rollback` makes: a change
  failed when ECS ended it ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED, the breaker
  stopped it, or a later rollback moved the service away from it (however much
  later). A deployment a newer one superseded before it finished is no failure.
- **Time to restore**: from the failed change's start to the restoring deployment
  finishing: its own finish for ROLLBACK_SUCCESSFUL (ECS put the previous
  revision back), otherwise the next deployment that reached SUCCESSFUL (the
  rollback or the hotfix). Median and worst; a failure not restored by `until`
  is counted as unrestored.
- **Lead time for changes**: per commit, commit time -> finish of the first
  successful production deployment carrying it (gitlog.py says which commits a
  release carries). Median and p90 (nearest rank).
- **Release build to production**: ECR push time of a release -> finish of its
  first successful production deployment.
- **Rollback duration**: start -> finish of `paved rollback` deployments that
  succeeded; and of deployments ECS rolled back by itself (ROLLBACK_SUCCESSFUL:
  the failing deployment plus its automatic rollback).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable

from paved_road.deploy import ledger
from paved_road.dora import bands

SUCCESSFUL = ledger.SUCCESSFUL
FINISHED_STATUSES = ledger.ENDED      # the ledger's one table of ECS statuses

# commits(release, previous_release) -> [(sha, committed_at)] or None when unknown.
CommitSource = Callable[[str, str | None], "list[tuple[str, datetime]] | None"]


def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def nearest_rank(values: list[float], pct: float) -> float | None:
    """The pct-th percentile by nearest rank: the smallest value with at least pct% of values <= it."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1])


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def _detect_seconds(failure: "Failure") -> float | None:
    """Seconds from the failed change's start to ECS starting its rollback (None: ECS did not roll it back)."""
    d = failure.deployment
    at = getattr(d, "rollback_started_at", None)
    return _seconds(at - d.started_at) if at is not None and d.status == ledger.ECS_ROLLED_BACK else None


@dataclass
class Failure:
    deployment: object
    reason: str  # rolled-back-by-ecs | rollback-failed | stopped | failed | followed-by-rollback
    restored_at: datetime | None = None
    restored_by: object | None = None

    @property
    def restore_seconds(self) -> float | None:
        if self.restored_at is None:
            return None
        return _seconds(self.restored_at - self.deployment.started_at)


@dataclass
class ServiceMetrics:
    since: datetime
    until: datetime
    deployments: list = field(default_factory=list)      # changes in the window (finished)
    successful: list = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    rollbacks: list = field(default_factory=list)        # `paved rollback` deployments in the window
    lead_times: list[tuple[str, str, float, datetime]] = field(default_factory=list)  # (sha, release, seconds, deployed)
    build_to_production: list[tuple[str, float, datetime]] = field(default_factory=list)  # (release, seconds, deployed)
    lead_time_note: str | None = None
    in_progress: int = 0

    @property
    def days(self) -> float:
        return _seconds(self.until - self.since) / 86400

    # -- the four keys ----------------------------------------------------
    @property
    def per_day(self) -> float:
        return len(self.successful) / self.days if self.days > 0 else 0.0

    @property
    def change_failure_rate(self) -> float | None:
        return len(self.failures) / len(self.deployments) if self.deployments else None

    @property
    def restore_seconds(self) -> list[float]:
        return [f.restore_seconds for f in self.failures if f.restore_seconds is not None]

    def to_json(self) -> dict:
        lead = [s for _, _, s, _ in self.lead_times]
        restore = self.restore_seconds
        detect = [x for x in map(_detect_seconds, self.failures) if x is not None]
        build = [s for _, s, _ in self.build_to_production]
        manual = [_seconds(d.finished_at - d.started_at) for d in self.rollbacks
                  if d.status == SUCCESSFUL and d.finished_at]
        automatic = [_seconds(f.deployment.finished_at - f.deployment.started_at) for f in self.failures
                     if f.deployment.status == ledger.ECS_ROLLED_BACK and f.deployment.finished_at]
        lead_median = median(lead)
        restore_median = median(restore)
        return {
            "deployment_frequency": {
                "deployments": len(self.deployments),
                "successful": len(self.successful),
                "per_day": round(self.per_day, 6),
                "per_week": round(self.per_day * 7, 6),
                "band": bands.frequency_band(self.per_day),
            },
            "lead_time": {
                "commits": len(lead),
                "median_seconds": lead_median,
                "p90_seconds": nearest_rank(lead, 90),
                "band": bands.lead_time_band(lead_median),
                "note": self.lead_time_note,
            },
            "change_failure_rate": {
                "failed": len(self.failures),
                "deployments": len(self.deployments),
                "rate": None if self.change_failure_rate is None else round(self.change_failure_rate, 6),
                "band": bands.failure_rate_band(self.change_failure_rate),
                "reasons": {r: sum(1 for f in self.failures if f.reason == r) for r in sorted({f.reason for f in self.failures})},
            },
            "time_to_restore": {
                "restored": len(restore),
                "unrestored": len(self.failures) - len(restore),
                "median_seconds": restore_median,
                "worst_seconds": max(restore) if restore else None,
                "band": bands.restore_band(restore_median),
            },
            # Time to detect: from a failed change's start to ECS starting its rollback
            # (ServiceDeployment.rollback.startedAt): when the circuit breaker or an alarm
            # (triggeredAlarmNames) judged it. Failures nobody's automation caught have none.
            "time_to_detect": {
                "detected": len(detect),
                "by_alarm": sum(1 for f in self.failures
                                if _detect_seconds(f) is not None and getattr(f.deployment, "triggered_alarms", ())),
                "median_seconds": median(detect),
                "worst_seconds": max(detect) if detect else None,
            },
            "build_to_production": {
                "releases": len(build),
                "median_seconds": median(build),
                "worst_seconds": max(build) if build else None,
            },
            "rollback_duration": {
                "paved_rollback": {"count": len(manual), "median_seconds": median(manual),
                                   "worst_seconds": max(manual) if manual else None},
                "automatic": {"count": len(automatic), "median_seconds": median(automatic),
                              "worst_seconds": max(automatic) if automatic else None},
            },
            "in_progress": self.in_progress,
        }


def compute(history: Iterable, since: datetime, until: datetime, *,
            commits: CommitSource | None = None,
            pushed_at: Callable[[object], datetime | None] | None = None,
            releases_by_digest: dict[str, str] | None = None) -> ServiceMetrics:
    """Metrics of one service over [since, until). `history` may hold deployments
    from before `since` (they tell which release ran before the window and which
    commits already reached production) and in any order."""
    ordered = sorted(history, key=lambda d: (d.started_at, d.id))
    m = ServiceMetrics(since=since, until=until)
    # How each deployment got there and ended is the ledger's call, the same one rollback makes.
    book = ledger.Ledger.build(ordered, releases_by_digest)
    runs = {r.id: r for r in book.runs}

    def is_rollback(d) -> bool:
        run = runs.get(d.id)
        return run.is_rollback if run is not None else d.made_by == "rollback"

    def in_window(d) -> bool:
        return since <= d.started_at < until

    finished = [d for d in ordered if d.status in FINISHED_STATUSES and d.started_at < until]
    m.in_progress = sum(1 for d in ordered if in_window(d) and d.status not in FINISHED_STATUSES)

    # Failures and what restored them.
    for i, d in enumerate(finished):
        if is_rollback(d) or not in_window(d):
            continue
        m.deployments.append(d)
        if d.status == SUCCESSFUL:
            m.successful.append(d)
        run = runs.get(d.id)
        outcome = run.outcome if run is not None else "completed"
        if outcome not in ledger.BAD_OUTCOMES:
            continue
        reason = {"rolled-back": "rolled-back-by-ecs" if d.status == ledger.ECS_ROLLED_BACK else "followed-by-rollback",
                  "rollback-failed": "rollback-failed", "stopped": "stopped", "failed": "failed"}.get(outcome, outcome)
        failure = Failure(d, reason)
        if d.status == ledger.ECS_ROLLED_BACK and d.finished_at is not None:
            failure.restored_at, failure.restored_by = d.finished_at, d
        else:
            later = next((n for n in finished[i + 1:] if n.status == SUCCESSFUL and n.finished_at
                          and n.finished_at <= until), None)
            if later is not None:
                failure.restored_at, failure.restored_by = later.finished_at, later
        m.failures.append(failure)
    m.rollbacks = [d for d in finished if is_rollback(d) and in_window(d)]

    # Lead time and build-to-production: walk every successful deployment in
    # order; a commit counts once, at the first deployment that carried it.
    credited: set[str] = set()
    released: set[str] = set()
    previous: str | None = None
    missing: list[str] = []
    for d in finished:
        if d.status != SUCCESSFUL or d.finished_at is None or d.finished_at > until:
            continue
        new_release = d.release is not None and d.release not in released
        if d.release is not None:
            released.add(d.release)
        if commits is not None and d.release is not None and d.release != previous:
            carried = commits(d.release, previous)
            if carried is None:
                if in_window(d) and not is_rollback(d):
                    missing.append(d.release)
            else:
                for sha, committed_at in carried:
                    if sha in credited:
                        continue
                    credited.add(sha)
                    if in_window(d):
                        m.lead_times.append((sha, d.release, _seconds(d.finished_at - committed_at), d.finished_at))
        if new_release and in_window(d) and pushed_at is not None:
            pushed = pushed_at(d)
            if pushed is not None:
                m.build_to_production.append((d.release, _seconds(d.finished_at - pushed), d.finished_at))
        previous = d.release if d.release is not None else previous
    if commits is None:
        m.lead_time_note = "no git checkout given (--repo, or the service's path in --catalog)"
    elif missing:
        m.lead_time_note = "no release tag in the checkout for " + ", ".join(sorted(set(missing)))
    return m


def combine(services: list[ServiceMetrics], since: datetime, until: datetime) -> ServiceMetrics:
    """The fleet as one service: every deployment, failure and commit of every service."""
    fleet = ServiceMetrics(since=since, until=until)
    for m in services:
        fleet.deployments += m.deployments
        fleet.successful += m.successful
        fleet.failures += m.failures
        fleet.rollbacks += m.rollbacks
        fleet.lead_times += m.lead_times
        fleet.build_to_production += m.build_to_production
        fleet.in_progress += m.in_progress
    return fleet


def fleet_json(services: list[ServiceMetrics], since: datetime, until: datetime) -> dict:
    """Fleet totals. Frequency is also given per service (the mean of the
    services' rates), and that is what the band judges: 500 services deploying
    monthly are not an elite fleet."""
    out = combine(services, since, until).to_json()
    freq = out["deployment_frequency"]
    per_service = statistics.fmean([m.per_day for m in services]) if services else 0.0
    freq["per_service_per_day"] = round(per_service, 6)
    freq["band"] = bands.frequency_band(per_service) if services else None
    return out


def trend(m: ServiceMetrics, step: timedelta) -> list[dict]:
    """The four keys per bucket of `step` from `since` (the last bucket may be shorter)."""
    buckets = []
    start = m.since
    while start < m.until:
        end = min(start + step, m.until)

        def inside(t: datetime | None) -> bool:
            return t is not None and start <= t < end

        deployed = [d for d in m.deployments if inside(d.started_at)]
        failed = [f for f in m.failures if inside(f.deployment.started_at)]
        lead = [s for _, _, s, at in m.lead_times if inside(at)]
        restore = [f.restore_seconds for f in failed if f.restore_seconds is not None]
        buckets.append({
            "start": start.isoformat(),
            "end": end.isoformat(),
            "deployments": len(deployed),
            "successful": sum(1 for d in deployed if d.status == SUCCESSFUL),
            "failed": len(failed),
            "change_failure_rate": round(len(failed) / len(deployed), 6) if deployed else None,
            "lead_time_median_seconds": median(lead),
            "time_to_restore_median_seconds": median(restore),
        })
        start = end
    return buckets


def trend_step(since: datetime, until: datetime) -> timedelta:
    """Daily buckets up to two weeks, weekly up to half a year, else 30-day buckets."""
    span = until - since
    if span <= timedelta(days=14):
        return timedelta(days=1)
    if span <= timedelta(days=183):
        return timedelta(days=7)
    return timedelta(days=30)
