"""ECS's service-deployment state machine, as AWS documents it, on top of moto.

moto 5.2.5 stores services and task definitions but its deployments never
progress and it has none of the service-deployment APIs. This model keeps, per
service, what ECS keeps: service revisions, service deployments and the
`deployments` list of DescribeServices, and moves them along on a clock.

Behaviour modelled (AWS docs, cited where each rule is applied):

- Service deployments: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-deployment.html
  PENDING -> IN_PROGRESS -> SUCCESSFUL; a newer deployment stops an in-flight one (STOPPED).
- Circuit breaker: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
  failed tasks are counted against threshold = min(max(3, ceil(0.5 * desiredCount)), 200); when it
  trips with rollback on, the deployment goes ROLLBACK_IN_PROGRESS and ECS redeploys the last
  completed service revision, then ROLLBACK_SUCCESSFUL; DescribeServices shows the failed deployment
  with rolloutState FAILED and a new PRIMARY on the old task definition. With rollback off the
  deployment stops (rolloutState FAILED) and the service stays where it is; with the breaker off
  ECS keeps replacing the failing tasks and the deployment never ends.
- Alarms: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html
  ECS watches the CloudWatch alarms named in deploymentConfiguration.alarms during the deployment and
  for a bake period after steady state; an alarm in ALARM fails the deployment, its name goes to
  ServiceDeployment.alarms.triggeredAlarmNames, and with `rollback` on ECS rolls back (else STOPPED).
  The model reads the alarms' state from CloudWatch (moto's backend, through `alarm_states`); a release
  the simulator is told breaches them (`paved sim --alarm VERSION`) sets them to ALARM once its tasks
  take traffic (`set_alarms`), as its error metric would, and back to OK when it is gone.
- Rollback failure (`paved sim --fail-rollback`): the rollback's tasks fail too: ROLLBACK_FAILED.
- Blue/green: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html
  lifecycle stages RECONCILE_SERVICE ... BAKE_TIME, CLEAN_UP; `bakeTimeInMinutes` keeps blue running
  after production traffic moved and the deployment is IN_PROGRESS until it ends.
- StopServiceDeployment: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopServiceDeployment.html
  ROLLBACK -> ROLLBACK_REQUESTED -> ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL; "The valid values are
  ROLLBACK", so ABORT is refused; only a deployment in progress can be stopped (ConflictException otherwise).
- Superseded deployments: the docs do not say which completed state a deployment replaced by a newer one
  ends in (service-deployment.html lists STOPPED among "finished unsuccessfully"); the model ends it STOPPED
  with a statusReason saying so, and paved's ledger classifies it by the newer deployment, not the status.
- Task counts of a finished deployment are frozen at completion; deployments older than 90 days are not returned.

Timings are in seconds at speed 1 (a rolling deployment takes ROLL seconds, a
bake minute takes 60) and divided by the simulator's speed.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

START = 0.5          # PENDING -> IN_PROGRESS (scheduler picks the deployment up)
ROLL = 3.0           # new tasks healthy, old ones drained
TASK_FAIL = 0.4      # a task of a failing release fails its health check this often
ROLLBACK = 2.0       # redeploying the previous revision
STOP = 0.5           # ABORT / STOP_REQUESTED -> STOPPED
ALARM_BAKE = 2.0     # alarm monitoring after steady state (ECS derives it from the alarms' periods)
STAGE = 0.3          # each blue/green lifecycle stage without work of its own
SCALE_UP = 1.0       # blue/green: green tasks starting

BLUE_GREEN_STAGES = ["RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
                     "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
                     "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"]


def lifecycle(config: dict, reconcile: bool) -> list[tuple[str, float]]:
    """The stages of a BLUE_GREEN / LINEAR / CANARY deployment and their durations at speed 1.

    ServiceDeployment.lifecycleStage (botocore ecs model): RECONCILE_SERVICE "only happens when you start a
    new service deployment with more than 1 service revision in an ACTIVE state"; PRE_PRODUCTION_TRAFFIC_SHIFT
    and PRODUCTION_TRAFFIC_SHIFT are "invoked before / at every traffic shift step" of linear and canary
    deployments. A step's bake (canaryBakeTimeInMinutes, stepBakeTimeInMinutes) is spent inside its
    PRODUCTION_TRAFFIC_SHIFT, with the defaults of API_CanaryConfiguration / API_LinearConfiguration.
    """
    stages = [("RECONCILE_SERVICE", STAGE)] if reconcile else []
    stages += [("PRE_SCALE_UP", STAGE), ("SCALE_UP", SCALE_UP), ("POST_SCALE_UP", STAGE),
               ("TEST_TRAFFIC_SHIFT", STAGE), ("POST_TEST_TRAFFIC_SHIFT", STAGE)]
    strategy = config.get("strategy")
    if strategy == "CANARY":
        bakes = [float((config.get("canaryConfiguration") or {}).get("canaryBakeTimeInMinutes", 10) or 0), 0.0]
    elif strategy == "LINEAR":
        linear = config.get("linearConfiguration") or {}
        shifts = math.ceil(100.0 / float(linear.get("stepPercent") or 10.0) - 1e-9)
        bakes = [float(linear.get("stepBakeTimeInMinutes", 6) or 0)] * (shifts - 1) + [0.0]
    else:
        bakes = [0.0]
    for bake in bakes:
        stages += [("PRE_PRODUCTION_TRAFFIC_SHIFT", STAGE), ("PRODUCTION_TRAFFIC_SHIFT", STAGE + 60.0 * bake)]
    stages += [("POST_PRODUCTION_TRAFFIC_SHIFT", STAGE), ("BAKE_TIME", 60.0 * _bake_minutes(config)),
               ("CLEAN_UP", STAGE)]
    return stages
IN_FLIGHT = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")


class SimError(Exception):
    """An ECS error response: code (the __type) and message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _id(n: int = 20) -> str:
    return secrets.token_urlsafe(n)[:n]


@dataclass
class Revision:
    arn: str
    service_arn: str
    cluster_arn: str
    task_definition: str
    created_at: datetime
    launch_type: str | None
    images: list[dict]

    def describe(self) -> dict:
        return {"serviceRevisionArn": self.arn, "serviceArn": self.service_arn, "clusterArn": self.cluster_arn,
                "taskDefinition": self.task_definition, "launchType": self.launch_type or "FARGATE",
                "platformFamily": "Linux", "containerImages": self.images, "createdAt": self.created_at}


@dataclass
class ServiceDeployment:
    arn: str
    service: "SimService"
    target: Revision
    source: Revision | None
    config: dict
    failing: bool
    created_at: datetime
    ecs_id: str = field(default_factory=lambda: f"ecs-svc/{secrets.randbelow(10**19):019d}")
    status: str = "PENDING"
    status_reason: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stopped_at: datetime | None = None
    updated_at: datetime | None = None
    lifecycle_stage: str | None = None
    stage_index: int = 0
    phase_at: float = 0.0          # monotonic time the current phase started
    failures: int = 0
    rollback: dict | None = None
    rollback_ecs_id: str | None = None
    breaker_status: str = "MONITORING"
    alarm_status: str = "DISABLED"
    rolled_out: bool = False       # all target tasks healthy (rolling) / traffic shifted (blue/green)
    # Task counts as of completion: "This number represents the number of running tasks when the deployment
    # completed" (service-deployment.html, "Service deployment lifecycle"); None while it runs.
    final_counts: tuple[int, int] | None = None   # (requested, running)
    stages: list = field(default_factory=list)      # [(lifecycleStage, seconds at speed 1)], non-ROLLING
    alarming: bool = False         # its tasks breach the service's CloudWatch alarms (paved sim --alarm)
    triggered_alarms: list = field(default_factory=list)
    manual_stop: bool = False      # StopServiceDeployment (stoppedAt is documented for it)

    @property
    def strategy(self) -> str:
        return self.config.get("strategy") or "ROLLING"

    @property
    def breaker(self) -> dict:
        return self.config.get("deploymentCircuitBreaker") or {}

    @property
    def threshold(self) -> int:
        return min(max(3, math.ceil(0.5 * self.service.desired)), 200)

    def live_counts(self) -> tuple[int, int]:
        desired = self.service.desired
        target_running = desired if self.rolled_out or self.status == "SUCCESSFUL" else (
            0 if self.failing else desired // 2)
        if self.status.startswith("ROLLBACK") or self.status in ("STOPPED", "PENDING"):
            target_running = 0
        return desired, target_running

    def describe(self) -> dict:
        desired, target_running = self.final_counts or self.live_counts()
        out = {
            "serviceDeploymentArn": self.arn, "serviceArn": self.service.arn, "clusterArn": self.service.cluster_arn,
            "createdAt": self.created_at, "status": self.status, "deploymentConfiguration": self.config,
            "targetServiceRevision": {"arn": self.target.arn, "requestedTaskCount": desired,
                                      "runningTaskCount": target_running, "pendingTaskCount": 0},
            "sourceServiceRevisions": ([{"arn": self.source.arn, "requestedTaskCount": 0 if self.rolled_out else desired,
                                         "runningTaskCount": 0 if self.rolled_out else desired,
                                         "pendingTaskCount": 0}] if self.source else []),
            # DISABLED: "Amazon ECS is not using the circuit breaker" (API ServiceDeploymentCircuitBreaker), so it
            # counts nothing; the failed tasks show only in DescribeServices' deployments[].failedTasks.
            "deploymentCircuitBreaker": {"status": self.breaker_status if self.breaker.get("enable") else "DISABLED",
                                         "failureCount": self.failures if self.breaker.get("enable") else 0,
                                         "threshold": self.threshold},
            "alarms": {"status": self.alarm_status,
                       "alarmNames": list((self.config.get("alarms") or {}).get("alarmNames", [])),
                       "triggeredAlarmNames": list(self.triggered_alarms)},
        }
        for key, value in (("startedAt", self.started_at), ("finishedAt", self.finished_at),
                           ("stoppedAt", self.stopped_at), ("updatedAt", self.updated_at or self.created_at),
                           ("statusReason", self.status_reason or None), ("rollback", self.rollback),
                           ("lifecycleStage", self.lifecycle_stage)):
            if value is not None:
                out[key] = value
        return out

    def brief(self) -> dict:
        out = {"serviceDeploymentArn": self.arn, "serviceArn": self.service.arn, "clusterArn": self.service.cluster_arn,
               "createdAt": self.created_at, "status": self.status, "targetServiceRevisionArn": self.target.arn}
        for key, value in (("startedAt", self.started_at), ("finishedAt", self.finished_at or self.stopped_at),
                           ("statusReason", self.status_reason or None)):
            if value is not None:
                out[key] = value
        return out


@dataclass
class SimService:
    arn: str
    name: str
    cluster_arn: str
    cluster_name: str
    region: str
    account: str
    desired: int
    config: dict
    controller: str
    launch_type: str | None
    task_definition: str
    deployments: list[ServiceDeployment] = field(default_factory=list)   # oldest first
    events: list[dict] = field(default_factory=list)                     # newest first
    completed: Revision | None = None                                    # last revision that completed
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))   # Service.createdAt

    def event(self, message: str, at: datetime) -> None:
        self.events.insert(0, {"id": _id(36), "createdAt": at, "message": f"(service {self.name}) {message}"})
        del self.events[100:]


class EcsModel:
    """All simulated services; `failing(image)` tells whether a release fails its health checks."""

    def __init__(self, speed: float = 1.0, failing=None):
        self.speed = speed
        self.failing = failing or (lambda region, image: False)
        self.lock = threading.RLock()
        self.services: dict[str, SimService] = {}        # service ARN -> state
        self.revisions: dict[str, Revision] = {}
        self.by_arn: dict[str, ServiceDeployment] = {}
        self.clock = time.monotonic
        self.retention: timedelta | None = RETENTION
        self.fail_rollback = False   # rollbacks end ROLLBACK_FAILED (paved sim --fail-rollback)
        # CloudWatch, as ECS sees it: (region, names) -> {name: state}; set_alarms(region, names, state, reason)
        self.alarm_states = lambda region, names: {n: "OK" for n in names}
        self.set_alarms = lambda region, names, state, reason: None

    def reset(self) -> None:
        with self.lock:
            self.services.clear()
            self.revisions.clear()
            self.by_arn.clear()

    # ------------------------------------------------------------ helpers

    def _seconds(self, base: float) -> float:
        return base / self.speed

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    def _revision(self, svc: SimService, task_definition: str, images: list[dict], at: datetime) -> Revision:
        arn = (f"arn:aws:ecs:{svc.region}:{svc.account}:service-revision/{svc.cluster_name}/{svc.name}/"
               f"{secrets.randbelow(10**19):019d}")
        revision = Revision(arn, svc.arn, svc.cluster_arn, task_definition, at, svc.launch_type, images)
        self.revisions[arn] = revision
        return revision

    def find_service(self, cluster: str, service: str) -> SimService | None:
        cluster_name = cluster.rsplit("/", 1)[-1]
        name = service.rsplit("/", 1)[-1]
        for svc in self.services.values():
            if svc.cluster_name == cluster_name and svc.name == name:
                return svc
        return None

    # ------------------------------------------------------------ service lifecycle (from moto's responses)

    def service_created(self, svc: SimService, images: list[dict], at: datetime | None = None,
                        failing: bool = False, alarming: bool = False) -> ServiceDeployment:
        """CreateService starts the first deployment (it runs like any other)."""
        with self.lock:
            self.services[svc.arn] = svc
            return self.start_deployment(svc, svc.task_definition, images, failing=failing, at=at, alarming=alarming)

    def start_deployment(self, svc: SimService, task_definition: str, images: list[dict], *, failing: bool,
                         at: datetime | None = None, alarming: bool = False) -> ServiceDeployment:
        with self.lock:
            self.advance()
            at = at or self.now()
            reconcile = False
            for older in svc.deployments:  # a newer deployment stops the one in flight
                if older.status in IN_FLIGHT:
                    reconcile = True       # its target revision is still ACTIVE next to the source
                    self._finish(older, "STOPPED", at, "stopped: a newer service deployment started")
            svc.task_definition = task_definition
            target = self._revision(svc, task_definition, images, at)
            arn = (f"arn:aws:ecs:{svc.region}:{svc.account}:service-deployment/{svc.cluster_name}/{svc.name}/"
                   f"{_id(20)}")
            dep = ServiceDeployment(arn, svc, target, svc.completed, _config_copy(svc.config), failing, at,
                                    phase_at=self.clock(), updated_at=at, alarming=alarming)
            if dep.strategy != "ROLLING":
                dep.stages = lifecycle(dep.config, reconcile)
            if (dep.config.get("alarms") or {}).get("enable"):
                dep.alarm_status = "MONITORING"
            svc.deployments.append(dep)
            self.by_arn[arn] = dep
            svc.event(f"deployment {dep.ecs_id} started for task definition {task_definition.rsplit('/', 1)[-1]}.",
                      at)
            return dep

    def seed_deployment(self, svc: SimService, task_definition: str, images: list[dict], *, status: str,
                        strategy: str, started_at: datetime, finished_at: datetime | None,
                        reason: str = "", tasks: int | None = None,
                        deployment_id: str | None = None) -> ServiceDeployment:
        """A finished deployment from a seed's history (nothing runs; the record is what ECS would keep).
        `deployment_id`: the ARN's last part (a seed may fix it, so two worlds share a history)."""
        with self.lock:
            target = self._revision(svc, task_definition, images, started_at)
            arn = (f"arn:aws:ecs:{svc.region}:{svc.account}:service-deployment/{svc.cluster_name}/{svc.name}/"
                   f"{deployment_id or _id(20)}")
            config = _config_copy(svc.config)
            config["strategy"] = strategy
            dep = ServiceDeployment(arn, svc, target, svc.completed, config, status.startswith("ROLLBACK"),
                                    started_at, status=status, started_at=started_at, updated_at=finished_at,
                                    rolled_out=status == "SUCCESSFUL", status_reason=reason)
            if status in ("STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"):
                dep.stopped_at = finished_at
            dep.finished_at = finished_at
            if status.startswith("ROLLBACK") and svc.completed:
                dep.rollback = {"reason": reason or "circuit breaker triggered", "startedAt": finished_at or started_at,
                                "serviceRevisionArn": svc.completed.arn}
                dep.breaker_status = "TRIGGERED"
            if status == "SUCCESSFUL":
                svc.completed = target
                svc.task_definition = task_definition
                dep.breaker_status = "MONITORING_COMPLETE"
            requested = svc.desired if tasks is None else tasks
            dep.final_counts = (requested, requested if status == "SUCCESSFUL" else 0)
            svc.deployments.append(dep)
            self.by_arn[arn] = dep
            return dep

    def stop(self, arn: str, stop_type: str) -> ServiceDeployment:
        with self.lock:
            self.advance()
            dep = self.by_arn.get(arn)
            if dep is None:
                raise SimError("ServiceDeploymentNotFoundException", f"Service deployment {arn} not found.")
            # The model's enum lists ABORT and ROLLBACK, but the API reference says "The valid values are
            # ROLLBACK" (API_StopServiceDeployment.html, stopType), so ABORT is refused as a parameter error.
            if stop_type != "ROLLBACK":
                raise SimError("InvalidParameterException", f"Invalid stopType '{stop_type}'. The valid values are ROLLBACK.")
            if dep.status not in ("PENDING", "IN_PROGRESS"):
                raise SimError("ConflictException",
                               f"The service deployment is {dep.status} and cannot be stopped.")
            at = self.now()
            dep.phase_at, dep.updated_at = self.clock(), at
            if stop_type == "ROLLBACK":
                if dep.source is None:
                    raise SimError("ConflictException", "There is no previous service revision to roll back to.")
                dep.status, dep.status_reason = "ROLLBACK_REQUESTED", "rollback requested by StopServiceDeployment"
                dep.manual_stop = True
            return dep

    # ------------------------------------------------------------ the clock

    def _finish(self, dep: ServiceDeployment, status: str, at: datetime, reason: str) -> None:
        dep.status, dep.status_reason, dep.updated_at = status, reason, at
        if status == "ROLLBACK_SUCCESSFUL":
            dep.rolled_out = False
        dep.final_counts = dep.live_counts()   # frozen: later desiredCount changes do not rewrite history
        # stoppedAt (botocore ecs model, ServiceDeployment.stoppedAt): "A user manually stops the deployment" or
        # "the rollback option is not in use for the failure detection mechanism ... and the service fails".
        failed_without_rollback = status == "STOPPED" and "TRIGGERED" in (dep.breaker_status, dep.alarm_status)
        if dep.manual_stop or failed_without_rollback:
            dep.stopped_at = at
        dep.finished_at = at
        dep.lifecycle_stage = None if dep.strategy == "ROLLING" else dep.lifecycle_stage
        if dep.breaker_status == "MONITORING":
            dep.breaker_status = "MONITORING_COMPLETE"
        if dep.alarm_status == "MONITORING":
            dep.alarm_status = "MONITORING_COMPLETE"

    def _start_rollback(self, dep: ServiceDeployment, at: datetime, reason: str) -> None:
        svc = dep.service
        dep.status, dep.status_reason, dep.updated_at = "ROLLBACK_IN_PROGRESS", reason, at
        dep.rollback = {"reason": reason, "startedAt": at, "serviceRevisionArn": dep.source.arn}  # type: ignore[union-attr]
        dep.rollback_ecs_id = f"ecs-svc/{secrets.randbelow(10**19):019d}"
        dep.phase_at = self.clock()
        svc.task_definition = dep.source.task_definition  # type: ignore[union-attr]
        svc.event(f"deployment {dep.ecs_id} failed: {reason}; rolling back to "
                  f"{svc.task_definition.rsplit('/', 1)[-1]} (deployment {dep.rollback_ecs_id}).", at)

    def _step(self, dep: ServiceDeployment, now: float) -> bool:
        """Apply at most one due transition; True when something changed."""
        elapsed = now - dep.phase_at
        at = self.now()
        svc = dep.service
        if dep.status == "PENDING":
            if elapsed < self._seconds(START):
                return False
            dep.status, dep.started_at, dep.updated_at, dep.phase_at = "IN_PROGRESS", at, at, now
            if dep.stages:
                dep.lifecycle_stage, dep.stage_index = dep.stages[0][0], 0
            return True
        if dep.status == "IN_PROGRESS" and self._alarm_fired(dep, at):
            return True
        if dep.status == "IN_PROGRESS":
            if svc.desired == 0:  # nothing to start: ECS reports the deployment successful at once
                dep.rolled_out = True
                self._complete(dep, at, "the service's desiredCount is 0; no task was started")
                return True
            if dep.failing and (dep.strategy == "ROLLING" or dep.lifecycle_stage == "SCALE_UP"):
                failures = int(elapsed / self._seconds(TASK_FAIL))
                if failures <= dep.failures:
                    return False
                breaker = dep.breaker
                if breaker.get("enable"):
                    failures = min(failures, dep.threshold)
                dep.failures, dep.updated_at = failures, at
                if breaker.get("enable") and dep.failures >= dep.threshold:
                    dep.breaker_status = "TRIGGERED"
                    reason = (f"ECS deployment circuit breaker: tasks failed to start "
                              f"({dep.failures} failed, threshold {dep.threshold})")
                    if breaker.get("rollback") and dep.source is not None:
                        self._start_rollback(dep, at, reason)
                    else:
                        self._finish(dep, "STOPPED", at, reason + "; rollback is off, the service stays as it is")
                        svc.event(f"deployment {dep.ecs_id} failed: {reason}.", at)
                return True
            if dep.strategy == "ROLLING":
                if not dep.rolled_out:
                    if elapsed < self._seconds(ROLL):
                        return False
                    dep.phase_at = now
                    self._rolled_out(dep, at)
                    svc.event("has reached a steady state.", at)
                    return True
                if dep.alarm_status == "MONITORING" and elapsed < self._seconds(ALARM_BAKE):
                    return False
                self._complete(dep, at, "")
                return True
            stage, duration = dep.stages[dep.stage_index]
            if elapsed < self._seconds(duration):
                return False
            if stage == "PRODUCTION_TRAFFIC_SHIFT" and dep.stages[dep.stage_index + 1][0] != "PRE_PRODUCTION_TRAFFIC_SHIFT":
                self._rolled_out(dep, at)
            if dep.stage_index == len(dep.stages) - 1:
                self._complete(dep, at, "")
                return True
            dep.stage_index += 1
            dep.lifecycle_stage, dep.phase_at, dep.updated_at = dep.stages[dep.stage_index][0], now, at
            return True
        if dep.status == "ROLLBACK_REQUESTED":
            if elapsed < self._seconds(START):
                return False
            self._start_rollback(dep, at, dep.status_reason or "rollback requested")
            return True
        if dep.status == "ROLLBACK_IN_PROGRESS":
            if elapsed < self._seconds(ROLLBACK):
                return False
            if self.fail_rollback:
                self._finish(dep, "ROLLBACK_FAILED", at, f"{dep.status_reason}; the rollback's tasks failed to start too")
                svc.event(f"deployment {dep.rollback_ecs_id} failed: tasks failed to start.", at)
                return True
            self._finish(dep, "ROLLBACK_SUCCESSFUL", at, dep.status_reason)
            dep.rolled_out = False
            self._release_alarms(dep, at)
            svc.event("has reached a steady state.", at)
            return True
        if dep.status == "STOP_REQUESTED":
            if elapsed < self._seconds(STOP):
                return False
            self._finish(dep, "STOPPED", at, dep.status_reason)
            return True
        return False

    def _alarm_names(self, dep: ServiceDeployment) -> list[str]:
        alarms = dep.config.get("alarms") or {}
        return list(alarms.get("alarmNames") or []) if alarms.get("enable") else []

    def _rolled_out(self, dep: ServiceDeployment, at: datetime) -> None:
        """Its tasks take production traffic: a release that breaches the alarms now drives them to ALARM."""
        dep.rolled_out = True
        names = self._alarm_names(dep)
        if names:
            if dep.alarming:
                self.set_alarms(dep.service.region, names, "ALARM",
                                f"5xx errors of {dep.target.task_definition.rsplit('/', 1)[-1]} above the threshold")
            else:
                self._release_alarms(dep, at)

    def _release_alarms(self, dep: ServiceDeployment, at: datetime) -> None:
        names = self._alarm_names(dep)
        if names:
            self.set_alarms(dep.service.region, names, "OK", "the release breaching the threshold is gone")

    def _alarm_fired(self, dep: ServiceDeployment, at: datetime) -> bool:
        """ECS polls the alarms while it monitors them: one in ALARM fails the deployment."""
        names = self._alarm_names(dep)
        if not names or dep.alarm_status != "MONITORING" or not dep.rolled_out:
            return False  # evaluated once its own tasks take traffic (before, the alarms judge the old ones)
        firing = [n for n, state in self.alarm_states(dep.service.region, names).items() if state == "ALARM"]
        if not firing:
            return False
        dep.alarm_status, dep.triggered_alarms = "TRIGGERED", firing
        reason = f"CloudWatch alarm {', '.join(firing)} in ALARM"
        if (dep.config.get("alarms") or {}).get("rollback") and dep.source is not None:
            self._start_rollback(dep, at, reason)
        else:
            self._finish(dep, "STOPPED", at, reason + "; alarm rollback is off, the service stays as it is")
            dep.service.event(f"deployment {dep.ecs_id} failed: {reason}.", at)
        return True

    def _complete(self, dep: ServiceDeployment, at: datetime, reason: str) -> None:
        self._finish(dep, "SUCCESSFUL", at, reason)
        dep.service.completed = dep.target
        dep.service.event(f"deployment {dep.ecs_id} completed.", at)

    def advance(self) -> None:
        with self.lock:
            now = self.clock()
            for svc in self.services.values():
                for dep in svc.deployments:
                    for _ in range(50):
                        if not self._step(dep, now):
                            break

    # ------------------------------------------------------------ DescribeServices view

    def ecs_deployments(self, svc: SimService) -> list[dict]:
        """The `deployments` of DescribeServices: PRIMARY first, then ACTIVE ones still draining."""
        out: list[dict] = []
        current = svc.deployments[-1] if svc.deployments else None
        if current is None:
            return out

        def entry(ecs_id, task_definition, status, rollout, reason, running, failed, at):
            return {"id": ecs_id, "status": status, "taskDefinition": task_definition, "desiredCount": svc.desired,
                    "pendingCount": max(svc.desired - running, 0) if rollout == "IN_PROGRESS" else 0,
                    "runningCount": running, "failedTasks": failed, "createdAt": at,
                    "updatedAt": current.updated_at or at, "launchType": svc.launch_type or "FARGATE",
                    "rolloutState": rollout, "rolloutStateReason": reason}

        d = current
        if d.status in ("PENDING", "IN_PROGRESS"):
            running = svc.desired if d.rolled_out else (0 if d.failing else svc.desired // 2)
            out.append(entry(d.ecs_id, d.target.task_definition, "PRIMARY", "IN_PROGRESS",
                             f"ECS deployment {d.ecs_id} in progress.", running, d.failures, d.created_at))
            if d.source and not (d.rolled_out and d.alarm_status != "MONITORING" and d.strategy == "ROLLING"):
                out.append(entry(f"ecs-svc/{d.source.arn.rsplit('/', 1)[-1]}", d.source.task_definition, "ACTIVE",
                                 "COMPLETED", "", svc.desired if not d.rolled_out else 0, 0, d.source.created_at))
        elif d.status in ("ROLLBACK_REQUESTED",):
            out.append(entry(d.ecs_id, d.target.task_definition, "PRIMARY", "IN_PROGRESS",
                             f"ECS deployment {d.ecs_id} in progress.", 0, d.failures, d.created_at))
        elif d.status in ("ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED") and d.source:
            done = d.status != "ROLLBACK_IN_PROGRESS"
            out.append(entry(d.rollback_ecs_id or d.ecs_id, d.source.task_definition, "PRIMARY",
                             "COMPLETED" if done else "IN_PROGRESS",
                             f"ECS deployment {d.rollback_ecs_id} {'completed' if done else 'in progress'}.",
                             svc.desired if done else svc.desired // 2, 0, (d.rollback or {}).get("startedAt") or d.created_at))
            if not done:
                out.append(entry(d.ecs_id, d.target.task_definition, "ACTIVE", "FAILED",
                                 d.status_reason, 0, d.failures, d.created_at))
        elif d.status in ("STOPPED", "STOP_REQUESTED"):
            out.append(entry(d.ecs_id, d.target.task_definition, "PRIMARY",
                             "FAILED" if d.breaker_status == "TRIGGERED" else "IN_PROGRESS",
                             d.status_reason, 0 if d.failing else svc.desired, d.failures, d.created_at))
            if d.source:
                out.append(entry(f"ecs-svc/{d.source.arn.rsplit('/', 1)[-1]}", d.source.task_definition, "ACTIVE",
                                 "COMPLETED", "", svc.desired, 0, d.source.created_at))
        else:  # SUCCESSFUL
            out.append(entry(d.ecs_id, d.target.task_definition, "PRIMARY", "COMPLETED",
                             f"ECS deployment {d.ecs_id} completed.", svc.desired, d.failures, d.created_at))
        return out

    def decorate_service(self, described: dict) -> dict:
        """Replace moto's static view of a service with the model's."""
        with self.lock:
            self.advance()
            svc = self.services.get(described.get("serviceArn", ""))
            if svc is None:
                return described
            deployments = self.ecs_deployments(svc)
            described["createdAt"] = svc.created_at   # Service.createdAt (moto has none): when it was created
            described["taskDefinition"] = svc.task_definition
            described["desiredCount"] = svc.desired
            described["deployments"] = deployments
            described["runningCount"] = sum(d["runningCount"] for d in deployments)
            described["pendingCount"] = sum(d["pendingCount"] for d in deployments)
            described["deploymentConfiguration"] = svc.config
            described["deploymentController"] = {"type": svc.controller}
            described["events"] = svc.events[:20]
            return described

    # ------------------------------------------------------------ service-deployment API

    def retained(self, dep: ServiceDeployment) -> bool:
        """"You can view the most recent 90-day history" (service-deployment.html): older ones are not returned."""
        return self.retention is None or dep.created_at >= self.now() - self.retention

    def list_deployments(self, cluster: str, service: str, statuses: list[str] | None,
                         after: datetime | None, before: datetime | None) -> list[ServiceDeployment]:
        with self.lock:
            self.advance()
            svc = self.find_service(cluster, service)
            if svc is None:
                raise SimError("ServiceNotFoundException", "Service not found.")
            found = [d for d in reversed(svc.deployments) if self.retained(d)
                     and (not statuses or d.status in statuses)
                     and (after is None or d.created_at >= after) and (before is None or d.created_at <= before)]
            return found


RETENTION = timedelta(days=90)


def _bake_minutes(config: dict) -> float:
    """BAKE_TIME: both revisions run after all production traffic moved (bakeTimeInMinutes)."""
    return float(config.get("bakeTimeInMinutes") or 0)


def _config_copy(config: dict) -> dict:
    import copy
    out = copy.deepcopy(config)
    out.setdefault("strategy", "ROLLING")
    return out


def epoch(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value), timezone.utc)


__all__ = ["EcsModel", "SimService", "ServiceDeployment", "SimError", "timedelta"]
