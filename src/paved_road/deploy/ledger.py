"""The release ledger: one reading of a service's deployment history, for every command.

`deploy`, `rollback` (which release `--previous` means, whether a release is bad
here, whether a re-run has anything left to do), the deploy/rollback
verification, `history` and `dora` (change failures) all classify ECS's records
through this module; no other module keeps a table of ECS statuses.

Input: the service's deployment records (`history.Deployment`, read from
ListServiceDeployments / DescribeServiceDeployments / DescribeServiceRevisions,
or from the describe_services fallback). Output: an ordered list of *release
runs*, each saying

- **which release** ran: from what ECS itself recorded, the target service
  revision's `containerImages[].imageDigest`, mapped to the ECR tag that points
  at that digest; the `paved:release` tag on the task definition only when the
  digest maps to no tag (a hint: anyone may register a revision with any tag);
- **how it got there** (`Run.how`, one of `HOW`): a pipeline `deploy`, a
  `paved rollback`, ECS's own rollback (`ecs-rollback`: circuit breaker,
  CloudWatch alarm, or StopServiceDeployment ROLLBACK), an `outside-rollback`
  (update-service to an earlier release by the console, the AWS CLI, ecspresso:
  a release that ran here before the current one), a `forced` redeploy (same
  task definition again), a `redeploy` of the same release in a new revision,
  or `terraform`;
- **how it ended** (`Run.outcome`, one of `OUTCOMES`): `completed` (ran to
  completion with tasks running), `no-tasks` (completed at desiredCount 0: it
  never ran a task, so nothing vouches for it), `failed`, `rolled-back` (by ECS,
  by `paved rollback` or by an outside rollback), `rollback-failed`, `stopped`,
  `superseded` (a newer deployment replaced it before it finished), or still
  `in-flight` / `rolling-back`;
- **when** (`started_at`, `finished_at`).

A release is *bad in this service* (`Ledger.bad`) when its newest run ended
failed, rolled back, rollback-failed or stopped, and no later run of it
completed (ECS restoring it by rolling a failed rollback back does not count).
`--previous` (`Ledger.previous`) never picks a bad release, a `no-tasks` one,
or one that never completed; when the current run is itself a rollback (ECS's,
paved's or an outside one) onto a release that is not bad, it answers "already
there" instead of moving further back (`again=True` moves on).

Superseded deployments: the ECS docs list STOPPED among the "completed
(unsuccessfully)" states and do not say which state a deployment replaced by a
newer UpdateService ends in (service-deployment.html, "Service deployment
states"). The ledger therefore does not rely on it: a deployment that had not
completed when a newer one was created is `superseded`, whatever its final
status, unless the circuit breaker or an alarm had triggered (then `failed`).
A superseded release is not bad and not good: it simply never completed.

API (stable; `paved dora` and later readers build on it):

- `read(ecs, cluster, service, since=None, container="app", releases_by_digest=None) -> Ledger`
  reads ECS (and says `Ledger.degraded`, one line, on the describe_services fallback);
  `Ledger.build(deployments, releases_by_digest)` builds one from `history.Deployment` records (tests,
  other sources).
- `Ledger.runs` (oldest first) / `newest_first`: `Run`s (`release`, `digest`, `task_definition`, `how`,
  `outcome`, `started_at`, `finished_at`, `status`, `detail`, `deployment`: the ECS record).
- `Ledger.current`, `Ledger.in_flight`, `Ledger.bad` (release -> the run that made it bad),
  `Ledger.change_failures()`, `Ledger.previous(again=False) -> Previous(action, target, current, reason)`.
- `phase(status)`, `is_in_flight(status)` and the constants `STATUS_PHASE`, `IN_FLIGHT`, `ENDED`,
  `STOPPABLE`, `FAILING`: the one table of ECS statuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping

# ---------------------------------------------------------------- the one table of ECS statuses

# ServiceDeploymentStatus (botocore ecs model) plus the describe_services fallback's rolloutState FAILED.
# phase: in-flight | rolling-back | succeeded | failed
STATUS_PHASE = {
    "PENDING": "in-flight",
    "IN_PROGRESS": "in-flight",
    "STOP_REQUESTED": "in-flight",
    "ROLLBACK_REQUESTED": "rolling-back",
    "ROLLBACK_IN_PROGRESS": "rolling-back",
    "SUCCESSFUL": "succeeded",
    "STOPPED": "failed",
    "ROLLBACK_SUCCESSFUL": "failed",
    "ROLLBACK_FAILED": "failed",
    "FAILED": "failed",
}
IN_FLIGHT = tuple(s for s, p in STATUS_PHASE.items() if p in ("in-flight", "rolling-back"))
ENDED = tuple(s for s, p in STATUS_PHASE.items() if p in ("succeeded", "failed"))
SUCCESSFUL = "SUCCESSFUL"
ECS_ROLLED_BACK = "ROLLBACK_SUCCESSFUL"          # ECS put the previous revision back by itself
STOPPABLE = ("PENDING", "IN_PROGRESS")           # StopServiceDeployment starts a rollback from these
FAILING = ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED")   # failed, ECS still moving


def phase(status: str | None) -> str:
    """in-flight | rolling-back | succeeded | failed (an unknown status counts as in flight)."""
    return STATUS_PHASE.get(status or "", "in-flight")


def is_in_flight(status: str | None) -> bool:
    return phase(status) in ("in-flight", "rolling-back")


# ---------------------------------------------------------------- runs

HOW = ("deploy", "rollback", "ecs-rollback", "outside-rollback", "forced", "redeploy", "terraform")
ROLLBACK_HOWS = ("rollback", "ecs-rollback", "outside-rollback")
OUTCOMES = ("in-flight", "rolling-back", "completed", "no-tasks", "failed", "rolled-back", "rollback-failed",
            "stopped", "superseded")
BAD_OUTCOMES = ("failed", "rolled-back", "rolling-back", "rollback-failed", "stopped")
RAN_OUTCOMES = ("completed",)  # a --previous target must have run to completion with tasks


@dataclass
class Run:
    """One release run: a release on this service, how it got there, how it ended, when."""

    id: str                      # the service deployment's ARN (ECS's rollback: ARN + "#rollback")
    release: str | None
    digest: str | None
    task_definition: str         # family:revision
    how: str                     # one of HOW
    outcome: str                 # one of OUTCOMES
    started_at: datetime
    finished_at: datetime | None
    status: str                  # the ECS status of the record it comes from
    strategy: str = "ROLLING"
    detail: str = ""             # why it ended so (circuit breaker, alarm names, which rollback)
    made_by: str = "unknown"     # the paved:made-by tag (a hint only)
    deployment: object = field(default=None, repr=False, compare=False)   # the history.Deployment

    @property
    def deployment_arn(self) -> str:
        return self.id.split("#", 1)[0]

    @property
    def in_flight(self) -> bool:
        return self.outcome in ("in-flight", "rolling-back")

    @property
    def ran(self) -> bool:
        return self.outcome in RAN_OUTCOMES

    @property
    def landed(self) -> bool:
        """It completed: with tasks, or at desiredCount 0 (the service is on it either way)."""
        return self.outcome in ("completed", "no-tasks")

    @property
    def is_rollback(self) -> bool:
        return self.how in ROLLBACK_HOWS

    def success_status(self) -> str:
        """The ECS status of its record that means this run succeeded (ECS's rollback: ROLLBACK_SUCCESSFUL)."""
        return "ROLLBACK_SUCCESSFUL" if self.how == "ecs-rollback" else "SUCCESSFUL"

    def settled(self, status: str | None) -> str | None:
        """Given its record's current status: 'ok', 'bad' or None (still going)."""
        if self.how == "ecs-rollback":
            return {"ROLLBACK_SUCCESSFUL": "ok", "ROLLBACK_FAILED": "bad"}.get(status or "")
        p = phase(status)
        return {"succeeded": "ok", "failed": "bad"}.get(p)

    def when(self) -> str:
        at = self.finished_at or self.started_at
        return at.strftime("%Y-%m-%d %H:%M UTC")

    def describe(self) -> str:
        """One line: '1.2.0 (demo-service:3) rolled-back 2026-12-05 09:00 UTC: circuit breaker ...'."""
        text = f"{self.release or '?'} ({self.task_definition}, {self.how}) {self.outcome} {self.when()}"
        return f"{text}: {self.detail}" if self.detail else text

    def as_dict(self) -> dict:
        return {"id": self.id, "release": self.release, "digest": self.digest, "task_definition": self.task_definition,
                "how": self.how, "outcome": self.outcome, "status": self.status, "strategy": self.strategy,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "detail": self.detail, "made_by": self.made_by}


@dataclass
class Previous:
    """What `rollback --previous` should do: 'move' to target, 'verify' or 'follow' current, or 'none'."""
    action: str
    target: Run | None
    current: Run | None
    reason: str = ""
    # 'move': releases passed over because they completed at desiredCount 0 (ECS records no tasks for them; a
    # later scale-up without a deployment leaves no trace in the service deployments, so say which were skipped)
    skipped: list = field(default_factory=list)


class Ledger:
    """The runs of one service, oldest first, and the questions every command asks of them."""

    def __init__(self, runs: list[Run], degraded: str | None = None):
        self.runs = runs
        self.degraded = degraded      # one line: what the fallback path cannot tell, or None

    # -- reading ---------------------------------------------------------
    @classmethod
    def build(cls, deployments: Iterable, releases_by_digest: Mapping[str, str] | None = None,
              degraded: str | None = None) -> "Ledger":
        return cls(_build_runs(list(deployments), releases_by_digest or {}), degraded)

    @property
    def newest_first(self) -> list[Run]:
        return list(reversed(self.runs))

    @property
    def current(self) -> Run | None:
        """The run the service is on now, or moving to: the newest run a newer one did not supersede.

        After ECS's own rollback that is the `ecs-rollback` run (the revision ECS went back to).
        """
        return next((r for r in reversed(self.runs) if r.outcome != "superseded"), None)

    @property
    def in_flight(self) -> Run | None:
        """The run under way now (the newest run, if it has not ended), else None."""
        newest = self.runs[-1] if self.runs else None
        return newest if newest is not None and newest.in_flight else None

    def run_of(self, deployment_arn: str) -> list[Run]:
        return [r for r in self.runs if r.deployment_arn == deployment_arn]

    @property
    def bad(self) -> dict[str, Run]:
        """Release -> the run that made it bad here (its newest bad ending, not completed since)."""
        marks: dict[str, Run] = {}
        for run in self.runs:
            if not run.release:
                continue
            if run.outcome in BAD_OUTCOMES:
                marks[run.release] = run
            elif run.outcome == "completed" and not self._undid_a_rollback(run):
                marks.pop(run.release, None)
        return marks

    def _undid_a_rollback(self, run: Run) -> bool:
        """ECS's rollback of a rollback: after a paved (or outside) rollback from 1.3.0 fails and ECS restores 1.3.0,
        1.3.0 is still the release rolled away from; ECS putting it back vouches for nothing."""
        if run.how != "ecs-rollback":
            return False
        undone = next((r for r in self.runs if r is not run and r.deployment_arn == run.deployment_arn), None)
        return undone is not None and undone.is_rollback

    def change_failures(self) -> list[Run]:
        """Runs that were changes (not rollbacks) and ended bad: what dora counts as change failures."""
        return [r for r in self.runs if not r.is_rollback and r.outcome in BAD_OUTCOMES and r.outcome != "rolling-back"]

    def previous(self, again: bool = False) -> Previous:
        """`rollback --previous`: get off the current (bad) release onto the last good one.

        - the current run is a rollback still going: follow it (never start a second);
        - the current run is a rollback that completed (at desiredCount 0 too): already there, verify
          (again=True: one further);
        - neither when the rollback's release is bad here (ECS rolled a failed rollback back onto it);
        - otherwise: the newest release that ran to completion before the current run, not bad here,
          not the current release.
        """
        current = self.current
        if current is None:
            return Previous("none", None, None, "the service has no recorded deployment")
        skip = {current.release}
        start = self.runs.index(current)
        # A forced redeploy (or a new revision of the same release) continues the run it redeploys: after a
        # rollback to 1.1.0 and a --force of 1.1.0, the service is still on the rollback's release.
        deciding = current
        while deciding.how in ("forced", "redeploy", "terraform") and deciding.release:
            index = self.runs.index(deciding)
            earlier = next((r for r in reversed(self.runs[:index]) if r.outcome != "superseded"), None)
            if earlier is None or earlier.release != deciding.release:
                break
            deciding = earlier
        bad = self.bad
        # "Already rolled back" only when the rollback landed on a release nobody rolled away from: when ECS rolls
        # a rollback back (the rollback's release failed too), the service is on the bad release again.
        if (deciding.is_rollback and not again and deciding.release not in bad
                and (deciding is current or current.landed or current.in_flight)):
            if current.in_flight:
                return Previous("follow", current, current, f"a {current.how} to {current.release} is in progress")
            if current.landed:   # a rollback completed at desiredCount 0 landed too: re-runs must not go further
                return Previous("verify", current, current, f"already rolled back ({deciding.how})")
        zero: list[Run] = []
        for run in reversed(self.runs[:start]):
            if run.ran and run.release and run.release not in skip and run.release not in bad:
                return Previous("move", run, current, skipped=[z for z in zero if z.release != run.release])
            if run.outcome == "no-tasks" and run.release and run.release not in bad \
                    and run.release not in {z.release for z in zero} | skip:
                zero.append(run)
        return Previous("none", None, current, "no earlier release ran to completion here "
                                              "(failed, rolled-back and zero-task releases do not count)")


# ---------------------------------------------------------------- building runs


def _identity(d, releases_by_digest: Mapping[str, str]) -> tuple[str | None, str | None]:
    digest = getattr(d, "image_digest", None) or d.digest
    if digest and digest in releases_by_digest:
        return releases_by_digest[digest], digest
    return d.release, digest


def _failure_detail(d) -> str:
    alarms = list(getattr(d, "triggered_alarms", ()) or ())
    if alarms:
        return f"CloudWatch alarm {', '.join(alarms)} in ALARM"
    if getattr(d, "breaker_triggered", False):
        return "circuit breaker: tasks failed to start"
    reason = getattr(d, "rollback_reason", None) or getattr(d, "status_reason", "") or ""
    if "StopServiceDeployment" in reason:
        return "StopServiceDeployment ROLLBACK"
    return reason


def _semver(name: str | None) -> tuple[int, ...] | None:
    parts = (name or "").lstrip("v").split(".")
    return tuple(int(p) for p in parts) if len(parts) == 3 and all(p.isdigit() for p in parts) else None


def _revision(task_definition: str) -> tuple[str, int] | None:
    family, _, number = task_definition.rpartition(":")
    return (family, int(number)) if number.isdigit() else None


def _pointed_back(task_definition: str, release: str | None, current: Run) -> bool:
    """The service was pointed at an earlier revision of its family that carries an earlier release.

    `paved deploy` registers a new (higher) revision even with --allow-downgrade; pointing the service at an
    existing older revision is how the console, the AWS CLI and ecspresso roll back.
    """
    new, now = _revision(task_definition), _revision(current.task_definition)
    older, newer = _semver(release), _semver(current.release)
    return bool(new and now and older and newer and new[0] == now[0] and new[1] < now[1] and older < newer)


def _build_runs(deployments: list, releases_by_digest: Mapping[str, str]) -> list[Run]:
    records = sorted(deployments, key=lambda d: (d.started_at, d.id))
    runs: list[Run] = []
    first_seen: dict[str, int] = {}      # release -> index of its first completed run
    completed: set[str] = set()
    current: Run | None = None           # the run the service was on (completed, or ECS's rollback target)
    for i, d in enumerate(records):
        release, digest = _identity(d, releases_by_digest)
        newer = records[i + 1] if i + 1 < len(records) else None
        status = d.status
        p = phase(status)
        triggered = bool(getattr(d, "breaker_triggered", False) or getattr(d, "triggered_alarms", ()))

        # how it got there
        if current is not None and d.task_definition == current.task_definition:
            how = "forced"
        elif current is not None and release and release == current.release:
            how = "terraform" if d.made_by == "terraform" else "redeploy"
        elif d.made_by == "rollback":
            how = "rollback"
        elif (current is not None and release and release in completed and current.release
              and first_seen.get(release, 10**9) < first_seen.get(current.release, 10**9)):
            how = "outside-rollback"
        elif current is not None and _pointed_back(d.task_definition, release, current):
            # The earlier run aged out of ECS's 90-day window (or was never seen): an update-service to an older
            # revision of the family carrying an older release is still a rollback, not a deploy.
            how = "outside-rollback"
        elif d.made_by == "terraform":
            how = "terraform"
        else:
            how = "deploy"

        # how it ended
        detail = ""
        # Not finished, or STOPPED with neither breaker nor alarm triggered (StopServiceDeployment's only stop
        # type is ROLLBACK), and a newer deployment exists: that one replaced it.
        superseded = newer is not None and not triggered and (p == "in-flight" or status == "STOPPED")
        if p == "succeeded":
            requested = getattr(d, "requested_tasks", None)
            outcome = "no-tasks" if requested == 0 else "completed"
            if outcome == "no-tasks":
                detail = "desiredCount 0 at completion: no task ran it"
        elif superseded:
            outcome, detail = "superseded", "a newer deployment replaced it before it finished"
        elif status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"):
            outcome, detail = "rolling-back", _failure_detail(d)
        elif status == "ROLLBACK_SUCCESSFUL":
            outcome, detail = "rolled-back", f"rolled back by ECS ({_failure_detail(d) or 'rollback'})"
        elif status == "ROLLBACK_FAILED":
            outcome, detail = "rollback-failed", f"ECS's rollback failed ({_failure_detail(d) or 'rollback'})"
        elif status == "STOPPED":
            outcome = "failed" if triggered else "stopped"
            detail = _failure_detail(d) or (getattr(d, "status_reason", "") or "")
        elif status == "FAILED":
            outcome, detail = "failed", getattr(d, "status_reason", "") or "rolloutState FAILED"
        else:
            outcome = "in-flight"
        run = Run(id=d.id, release=release, digest=digest, task_definition=d.task_definition, how=how,
                  outcome=outcome, started_at=d.started_at, finished_at=d.finished_at, status=status,
                  strategy=d.strategy, detail=detail, made_by=d.made_by, deployment=d)

        # A rollback (paved or outside) marks what it moved away from: the run the service was on,
        # and an in-flight run it superseded.
        if how in ("rollback", "outside-rollback"):
            by = f"rolled back by {'paved rollback' if how == 'rollback' else 'an outside rollback'} " \
                 f"to {release or '?'} at {d.started_at.strftime('%Y-%m-%d %H:%M UTC')}"
            left: list[Run] = []
            for previous in reversed(runs):
                if previous.outcome == "superseded" or previous is current:
                    left.append(previous)
                if previous is current:
                    break
            if current is not None and current.is_rollback:
                # the service was on a release a rollback had put back: the change that introduced it is blamed
                left += [next((r for r in reversed(runs) if r.release == current.release and not r.is_rollback
                               and r.outcome == "completed"), current)]
            for previous in left:
                if previous.release and previous.release != release and previous.outcome in (
                        "completed", "superseded", "in-flight", "no-tasks"):
                    previous.outcome, previous.detail = "rolled-back", by
        runs.append(run)
        if outcome == "completed" and release:
            completed.add(release)
            first_seen.setdefault(release, len(runs) - 1)
        if outcome in ("completed", "no-tasks", "failed"):
            current = run

        # ECS's own rollback: a run of the revision it went back to.
        if status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"):
            back_td = getattr(d, "rollback_task_definition", None) or (current.task_definition if current else "")
            back_release = getattr(d, "rollback_release", None)
            back_digest = getattr(d, "rollback_digest", None)
            back_digest_release = releases_by_digest.get(back_digest or "")
            if back_digest_release:
                back_release = back_digest_release
            if back_release is None and current is not None and current.task_definition == back_td:
                back_release, back_digest = current.release, current.digest
            rb_outcome = {"ROLLBACK_REQUESTED": "in-flight", "ROLLBACK_IN_PROGRESS": "in-flight",
                          "ROLLBACK_SUCCESSFUL": "completed", "ROLLBACK_FAILED": "failed"}[status]
            if rb_outcome == "in-flight" and newer is not None:
                rb_outcome = "superseded"
            rb = Run(id=f"{d.id}#rollback", release=back_release, digest=back_digest, task_definition=back_td,
                     how="ecs-rollback", outcome=rb_outcome,
                     started_at=getattr(d, "rollback_started_at", None) or d.finished_at or d.started_at,
                     finished_at=d.finished_at if rb_outcome != "in-flight" else None, status=status,
                     strategy=d.strategy, detail=f"ECS rolled {release or '?'} back: {_failure_detail(d) or 'rollback'}",
                     made_by=d.made_by, deployment=d)
            runs.append(rb)
            if rb_outcome == "completed":
                current = rb
    return runs


def read(ecs, cluster: str, service: str, *, since: datetime | None = None, container: str = "app",
         releases_by_digest: Mapping[str, str] | None = None) -> Ledger:
    """The ledger of one service, read from ECS (history.service_history), with ECR's digest -> tag map."""
    from paved_road.deploy import history

    records, degraded = history.read_history(ecs, cluster, service, since=since, container=container)
    return Ledger.build(records, releases_by_digest, degraded)
