"""The delivery metrics of one service (and of a fleet) from its deployment history.

Pure functions over deployment records shaped like
`paved_road.deploy.history.Deployment` (release, status, started_at,
finished_at, made_by, ...) and CloudWatch alarm state changes, so they are
tested with hand-made histories. docs/dora.md states each definition next to
DORA's and dora-team/fourkeys' wording, with every departure named.

- **Windows.** A change belongs to the window its deployment *started* in
  ([since, until)). Its outcome (failed or not, restored or not, the finish that
  delivers its commits) is followed past `until` up to `now` (the time of the
  run). A failure still open at `now` is *open*: shown with its age and counted
  in the restore median at that age.
- **Change**: a deployment run the release ledger (paved_road.deploy.ledger)
  does not call a rollback, that has not been superseded before it finished and
  is no longer in flight. A re-deploy of the same release (forced, or a new
  revision) is a change too; `redeploys` counts them.
- **Change failure**: the ledger's bad outcomes (ECS's breaker or alarm
  rollback, STOPPED/FAILED, `paved rollback`, an outside rollback or a revert
  deploy to an earlier release, however much later), plus **fix-forward**: a
  completed change whose successor is a patch release of the same minor
  started within `failure_window` of it, or any change started while a
  CloudWatch alarm of the service that went to ALARM after it started was
  still in ALARM.
- **Failed deployment recovery time** (DORA 2023's name for time to restore):
  failed change's start -> the restoring deployment's finish (ECS's own
  rollback: its finish; otherwise the next deployment that reached SUCCESSFUL).
- **Alarms**: time to detect = failed change's start -> the first of its
  service's alarms going to ALARM after it; alarm to OK = that ALARM -> OK.
- **Lead time for changes**: per commit, commit time -> finish of the first
  successful deployment carrying it; counted in the window its deployment
  started in. Lead times <= 0 (commit dated at or after the deploy) are dropped
  and counted, as fourkeys drops them.
- **Release build to production**, **rollback duration**: as before.
- **Fleet**: lead time, recovery time and change failure rate are the median of
  the per-service figures; the pooled figure (all commits / failures of all
  services as one) is given beside it, labelled.
"""

from __future__ import annotations

import math
import re
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


# fix-forward: a patch release of the same minor within this long of the change it replaced
DEFAULT_FAILURE_WINDOW = timedelta(hours=24)
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class AlarmChange:
    """One CloudWatch alarm state change (DescribeAlarmHistory, HistoryItemType StateUpdate)."""
    alarm: str
    at: datetime
    state: str            # the new state: ALARM | OK | INSUFFICIENT_DATA


def alarm_periods(changes: Iterable[AlarmChange]) -> list[tuple[str, datetime, datetime | None]]:
    """(alarm, went to ALARM, left ALARM or None while still in ALARM), oldest first."""
    periods: list[tuple[str, datetime, datetime | None]] = []
    open_at: dict[str, datetime] = {}
    for c in sorted(changes, key=lambda c: (c.at, c.alarm)):
        if c.state == "ALARM":
            open_at.setdefault(c.alarm, c.at)
        elif c.alarm in open_at:
            periods.append((c.alarm, open_at.pop(c.alarm), c.at))
    periods += [(name, at, None) for name, at in open_at.items()]
    return sorted(periods, key=lambda p: (p[1], p[0]))


def _detect_seconds(failure: "Failure") -> float | None:
    """Seconds from the failed change's start to ECS starting its rollback (None: ECS did not roll it back)."""
    d = failure.deployment
    at = getattr(d, "rollback_started_at", None)
    return _seconds(at - d.started_at) if at is not None and d.status == ledger.ECS_ROLLED_BACK else None


@dataclass
class Failure:
    deployment: object
    reason: str  # rolled-back-by-ecs | rollback-failed | stopped | failed | followed-by-rollback | reverted
    #              | rolling-back | fixed-forward | fixed-forward-under-alarm
    restored_at: datetime | None = None
    restored_by: object | None = None
    now: datetime | None = None            # when the run looked (the age of an open failure)
    detected_at: datetime | None = None    # first alarm of the service going to ALARM after the change started
    alarm: str | None = None
    alarm_ok_at: datetime | None = None

    @property
    def restore_seconds(self) -> float | None:
        if self.restored_at is None:
            return None
        return _seconds(self.restored_at - self.deployment.started_at)

    @property
    def age_seconds(self) -> float | None:
        """Open failures: how long they have been open when the run looked."""
        if self.restored_at is not None or self.now is None:
            return None
        return max(0.0, _seconds(self.now - self.deployment.started_at))

    @property
    def measured_seconds(self) -> float | None:
        """What the recovery-time median counts: the restore time, or an open failure's age."""
        return self.restore_seconds if self.restored_at is not None else self.age_seconds

    @property
    def detect_seconds(self) -> float | None:
        return None if self.detected_at is None else _seconds(self.detected_at - self.deployment.started_at)

    @property
    def alarm_to_ok_seconds(self) -> float | None:
        if self.detected_at is None or self.alarm_ok_at is None:
            return None
        return _seconds(self.alarm_ok_at - self.detected_at)


def _stats(values: list[float]) -> dict:
    return {"median_seconds": median(values), "worst_seconds": max(values) if values else None}


@dataclass
class ServiceMetrics:
    since: datetime
    until: datetime
    now: datetime | None = None
    deployments: list = field(default_factory=list)      # changes in the window (finished)
    successful: list = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    rollbacks: list = field(default_factory=list)        # `paved rollback` deployments in the window
    lead_times: list[tuple[str, str, float, datetime]] = field(default_factory=list)  # (sha, release, seconds, deployed)
    build_to_production: list[tuple[str, float, datetime]] = field(default_factory=list)  # (release, seconds, deployed)
    lead_time_note: str | None = None
    lead_times_dropped: int = 0                          # commits dated at or after their deployment's finish
    redeploys: int = 0                                   # changes re-deploying the release already running
    in_progress: int = 0
    alarms: list[str] | None = None                      # the service's alarms whose history was read (None: not read)
    covered_since: datetime | None = None                # the history held starts after `since` (from here)

    @property
    def end(self) -> datetime:
        """Where the measured span ends: `until`, or `now` when the window reaches into the future (days
        that have not happened yet hold no deployments, and would dilute every rate)."""
        return min(self.until, self.now) if self.now else self.until

    @property
    def days(self) -> float:
        """The span rates divide by: the window up to now, or the part of it the history held covers."""
        start = max(self.since, self.covered_since) if self.covered_since else self.since
        return max(0.0, _seconds(self.end - start) / 86400)

    # -- the four keys ----------------------------------------------------
    @property
    def per_day(self) -> float:
        return len(self.successful) / self.days if self.days > 0 else 0.0

    @property
    def change_failure_rate(self) -> float | None:
        return len(self.failures) / len(self.deployments) if self.deployments else None

    @property
    def restore_seconds(self) -> list[float]:
        """Recovery times the median counts: restored failures, and open ones at their age."""
        return [f.measured_seconds for f in self.failures if f.measured_seconds is not None]

    @property
    def lead_time_median(self) -> float | None:
        return median([s for _, _, s, _ in self.lead_times])

    @property
    def restore_median(self) -> float | None:
        return median(self.restore_seconds)

    def to_json(self) -> dict:
        lead = [s for _, _, s, _ in self.lead_times]
        restore = self.restore_seconds
        detect = [x for x in map(_detect_seconds, self.failures) if x is not None]
        restored = [f.restore_seconds for f in self.failures if f.restored_at is not None]
        build = [s for _, s, _ in self.build_to_production]
        manual = [_seconds(d.finished_at - d.started_at) for d in self.rollbacks
                  if d.status == SUCCESSFUL and d.finished_at]
        automatic = [_seconds(f.deployment.finished_at - f.deployment.started_at) for f in self.failures
                     if f.deployment.status == ledger.ECS_ROLLED_BACK and f.deployment.finished_at]
        lead_median = median(lead)
        restore_median = median(restore)
        opened = [f for f in self.failures if f.restored_at is None]
        out = {
            "deployment_frequency": {
                "deployments": len(self.deployments),
                "successful": len(self.successful),
                "redeploys": self.redeploys,
                "per_day": round(self.per_day, 6),
                "per_week": round(self.per_day * 7, 6),
                "band": bands.frequency_band(self.per_day),
            },
            "lead_time": {
                "commits": len(lead),
                "median_seconds": lead_median,
                "p90_seconds": nearest_rank(lead, 90),
                "band": bands.lead_time_band(lead_median),
                "dropped_non_positive": self.lead_times_dropped,
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
                "restored": len(restored),
                "unrestored": len(opened),
                "median_seconds": restore_median,
                "worst_seconds": max(restore) if restore else None,
                "band": bands.restore_band(restore_median),
                "restored_median_seconds": median(restored),
                "open": [{"release": f.deployment.release, "started_at": f.deployment.started_at.isoformat(),
                          "age_seconds": f.age_seconds, "reason": f.reason} for f in opened],
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
            "alarms": None,
            "in_progress": self.in_progress,
            "covered_days": round(self.days, 6),
        }
        if self.alarms is not None:
            detected = [f for f in self.failures if f.detected_at is not None]
            out["alarms"] = {
                "names": list(self.alarms),
                "failures_detected": len(detected),
                "time_to_detect": _stats([f.detect_seconds for f in detected]),
                "alarm_to_ok": {**_stats([f.alarm_to_ok_seconds for f in detected if f.alarm_ok_at is not None]),
                                "still_in_alarm": sum(1 for f in detected if f.alarm_ok_at is None)},
            }
        return out


def _version(release: str | None) -> tuple[int, int, int] | None:
    match = _SEMVER.match(release or "")
    return tuple(int(x) for x in match.groups()) if match else None  # type: ignore[return-value]


def fixed_forward(runs: list, periods: list[tuple[str, datetime, datetime | None]],
                  window: timedelta = DEFAULT_FAILURE_WINDOW) -> dict[str, str]:
    """Runs (by id) the ledger calls completed that DORA counts as failed, fixed forward:
    the next change is a patch release of the same minor started within `window` of it
    ('fixed-forward'), or any change started while an alarm that went to ALARM after the
    run started is still in ALARM ('fixed-forward-under-alarm'). A rollback next is the
    ledger's business (it already marks the run rolled back)."""
    out: dict[str, str] = {}
    for i, run in enumerate(runs):
        if run.outcome != "completed" or run.is_rollback:
            continue
        after = next((r for r in runs[i + 1:] if r.release != run.release), None)
        if after is None or after.is_rollback:
            continue
        if any(start >= run.started_at and start <= after.started_at and (end is None or end > after.started_at)
               for _, start, end in periods):
            out[run.id] = "fixed-forward-under-alarm"
            continue
        mine, theirs = _version(run.release), _version(after.release)
        if (mine and theirs and mine[:2] == theirs[:2] and theirs[2] > mine[2]
                and after.started_at - run.started_at <= window):
            out[run.id] = "fixed-forward"
    return out


def compute(history: Iterable, since: datetime, until: datetime, *,
            now: datetime | None = None,
            commits: CommitSource | None = None,
            pushed_at: Callable[[object], datetime | None] | None = None,
            releases_by_digest: dict[str, str] | None = None,
            alarm_changes: Iterable[AlarmChange] | None = None,
            alarms: list[str] | None = None,
            failure_window: timedelta = DEFAULT_FAILURE_WINDOW,
            covered_since: datetime | None = None) -> ServiceMetrics:
    """Metrics of the changes that started in [since, until), their outcomes followed up to `now`
    (default: the current time). `history` may hold deployments from before
    `since` (which release ran before the window, which commits already reached production) and after
    `until` (what restored a failure, which deployment delivered a commit), in any order.
    `alarm_changes`: the service's alarms' state changes (None: not read)."""
    now = now or datetime.now(until.tzinfo)
    ordered = sorted((d for d in history if d.started_at <= now), key=lambda d: (d.started_at, d.id))
    m = ServiceMetrics(since=since, until=until, now=now,
                       covered_since=covered_since if covered_since is not None and covered_since > since else None)
    # How each deployment got there and ended is the ledger's call, the same one rollback makes.
    book = ledger.Ledger.build(ordered, releases_by_digest)
    runs = {r.id: r for r in book.runs}
    periods = alarm_periods(alarm_changes or ())
    if alarm_changes is not None or alarms is not None:
        m.alarms = sorted(set(alarms or ()) | {c.alarm for c in alarm_changes or ()})
    forward = fixed_forward(book.runs, periods, failure_window)

    def run_of(d):
        return runs.get(d.id)

    def is_rollback(d) -> bool:
        run = run_of(d)
        return run.is_rollback if run is not None else d.made_by == "rollback"

    def in_window(d) -> bool:
        return since <= d.started_at < until

    def outcome(d) -> str:
        run = run_of(d)
        return run.outcome if run is not None else ("completed" if d.status == SUCCESSFUL else "failed")

    finished = [d for d in ordered if d.status in FINISHED_STATUSES and (d.finished_at is None or d.finished_at <= now)]
    for d in ordered:
        if in_window(d) and not is_rollback(d) and outcome(d) in ("in-flight", "superseded") \
                and d.status not in FINISHED_STATUSES:
            m.in_progress += 1

    # Changes, failures and what restored them.
    for d in ordered:
        if is_rollback(d) or not in_window(d):
            continue
        result = outcome(d)
        if result in ("in-flight", "superseded"):
            continue  # not finished, or replaced before it finished: neither a change nor a failure
        m.deployments.append(d)
        run = run_of(d)
        if run is not None and run.how in ("forced", "redeploy"):
            m.redeploys += 1
        if d.status == SUCCESSFUL:
            m.successful.append(d)
        if result in ledger.BAD_OUTCOMES:
            reason = {"rolled-back": "rolled-back-by-ecs" if d.status == ledger.ECS_ROLLED_BACK else (
                          "reverted" if run is not None and "outside rollback" in run.detail else "followed-by-rollback"),
                      "rollback-failed": "rollback-failed", "stopped": "stopped", "failed": "failed",
                      "rolling-back": "rolling-back"}.get(result, result)
        elif d.id in forward:
            reason = forward[d.id]
        else:
            continue
        failure = Failure(d, reason, now=now)
        if d.status == ledger.ECS_ROLLED_BACK and d.finished_at is not None:
            failure.restored_at, failure.restored_by = d.finished_at, d
        else:
            later = next((n for n in finished if n.started_at >= d.started_at and n is not d
                          and n.status == SUCCESSFUL and n.finished_at), None)
            if later is not None:
                failure.restored_at, failure.restored_by = later.finished_at, later
        bound = failure.restored_at or now
        fired = next((p for p in periods if d.started_at <= p[1] <= bound), None)
        if fired is not None:
            failure.alarm, failure.detected_at, failure.alarm_ok_at = fired
        m.failures.append(failure)
    m.rollbacks = [d for d in finished if is_rollback(d) and in_window(d)]

    # Lead time and build-to-production: walk every successful deployment in
    # order; a commit counts once, at the first deployment that carried it, in
    # the window that deployment started in (its finish may come after `until`).
    credited: set[str] = set()
    released: set[str] = set()
    previous: str | None = None
    missing: list[str] = []
    for d in finished:
        if d.status != SUCCESSFUL or d.finished_at is None:
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
                        seconds = _seconds(d.finished_at - committed_at)
                        if seconds <= 0:   # fourkeys drops these too (a clock skew or a re-tag)
                            m.lead_times_dropped += 1
                        else:
                            m.lead_times.append((sha, d.release, seconds, d.finished_at))
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
    """The fleet as one service (pooled): every deployment, failure and commit of every service."""
    fleet = ServiceMetrics(since=since, until=until,
                           now=max((m.now for m in services if m.now), default=None))
    for m in services:
        fleet.deployments += m.deployments
        fleet.successful += m.successful
        fleet.failures += m.failures
        fleet.rollbacks += m.rollbacks
        fleet.lead_times += m.lead_times
        fleet.build_to_production += m.build_to_production
        fleet.in_progress += m.in_progress
        fleet.lead_times_dropped += m.lead_times_dropped
        fleet.redeploys += m.redeploys
        if m.alarms is not None:
            fleet.alarms = (fleet.alarms or []) + m.alarms
    return fleet


ROLL_UP = "median of per-service figures (services with data); pooled_*: all services as one"


def fleet_json(services: list[ServiceMetrics], since: datetime, until: datetime) -> dict:
    """Fleet roll-ups: lead time, recovery time and change failure rate are the median of the
    per-service figures (a busy service does not dominate), with the pooled figure beside them;
    frequency's band judges the median service's rate (mean and pooled total beside it):
    500 services deploying monthly are not an elite fleet."""
    out = combine(services, since, until).to_json()
    freq = out["deployment_frequency"]
    rates = [m.per_day for m in services]
    per_service = statistics.fmean(rates) if services else 0.0
    freq["per_service_per_day"] = round(per_service, 6)
    freq["per_service_per_day_median"] = round(float(statistics.median(rates)), 6) if rates else None
    freq["band"] = bands.frequency_band(freq["per_service_per_day_median"]) if services else None
    freq["roll_up"] = "median service's rate per day (band); mean per service and pooled per_day beside it"

    lt = out["lead_time"]
    medians = [v for v in (m.lead_time_median for m in services) if v is not None]
    lt["pooled_median_seconds"], lt["pooled_band"] = lt["median_seconds"], lt["band"]
    lt["median_seconds"], lt["services"] = median(medians), len(medians)
    lt["band"], lt["roll_up"] = bands.lead_time_band(lt["median_seconds"]), ROLL_UP

    ttr = out["time_to_restore"]
    medians = [v for v in (m.restore_median for m in services) if v is not None]
    ttr["pooled_median_seconds"], ttr["pooled_band"] = ttr["median_seconds"], ttr["band"]
    ttr["median_seconds"], ttr["services"] = median(medians), len(medians)
    ttr["band"], ttr["roll_up"] = bands.restore_band(ttr["median_seconds"]), ROLL_UP

    cfr = out["change_failure_rate"]
    shares = [v for v in (m.change_failure_rate for m in services) if v is not None]
    cfr["pooled_rate"], cfr["pooled_band"] = cfr["rate"], cfr["band"]
    cfr["rate"] = None if not shares else round(float(statistics.median(shares)), 6)
    cfr["services"], cfr["band"], cfr["roll_up"] = len(shares), bands.failure_rate_band(cfr["rate"]), ROLL_UP
    return out


def trend(m: ServiceMetrics, step: timedelta) -> list[dict]:
    """The four keys per bucket of `step` from `since` up to `until`; the last bucket may be shorter, and
    one that `now` falls in is not over: both are `partial`. Buckets wholly after `now` are left out."""
    buckets = []
    start = m.since
    while start < m.end or (start == m.since < m.until):
        end = min(start + step, m.until)

        def inside(t: datetime | None) -> bool:
            return t is not None and start <= t < end

        deployed = [d for d in m.deployments if inside(d.started_at)]
        failed = [f for f in m.failures if inside(f.deployment.started_at)]
        lead = [s for _, _, s, at in m.lead_times if inside(at)]
        restore = [f.measured_seconds for f in failed if f.measured_seconds is not None]
        buckets.append({
            "start": start.isoformat(),
            "end": end.isoformat(),
            "partial": end - start < step or end > m.end,
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
