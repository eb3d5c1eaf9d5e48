"""The release ledger over hand-written histories: one test per way a run gets there and ends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from paved_road.deploy.history import Deployment
from paved_road.deploy.ledger import Ledger, STATUS_PHASE

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
DIGESTS = {f"sha256:{v.replace('.', '')}": v for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0")}


def dep(n: int, release: str, status: str = "SUCCESSFUL", *, hours: float | None = None, td: str | None = None,
        made_by: str = "deploy", minutes: float = 4, **extra) -> Deployment:
    started = T0 + timedelta(hours=n if hours is None else hours)
    ended = status in ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "FAILED")
    digest = f"sha256:{release.replace('.', '')}"
    return Deployment(id=f"arn:dep/{n}", release=None, digest=None, task_definition=td or f"svc:{n}",
                      strategy="ROLLING", status=status, started_at=started,
                      finished_at=started + timedelta(minutes=minutes) if ended else None, made_by=made_by,
                      image_digest=digest, requested_tasks=extra.pop("requested", 2 if ended else None), **extra)


def book(*deployments: Deployment) -> Ledger:
    return Ledger.build(deployments, DIGESTS)


def summary(ledger: Ledger) -> list[tuple]:
    return [(r.release, r.how, r.outcome) for r in ledger.runs]


def test_every_ecs_status_has_one_phase():
    from botocore.session import get_session
    model = get_session().get_service_model("ecs").shape_for("ServiceDeploymentStatus")
    assert set(model.enum) <= set(STATUS_PHASE)


def test_release_comes_from_the_recorded_digest_not_the_revision_tag():
    d = dep(1, "1.1.0", made_by="terraform")
    d = Deployment(**{**d.__dict__, "release": "9.9.9"})          # a misleading paved:release tag
    assert book(d).runs[0].release == "1.1.0"
    unknown = Deployment(**{**d.__dict__, "image_digest": "sha256:elsewhere"})
    assert book(unknown).runs[0].release == "9.9.9"               # no tag for the digest: the hint


def test_pipeline_deploys_complete_and_previous_moves_one_back():
    ledger = book(dep(1, "1.0.0", made_by="terraform"), dep(2, "1.1.0"), dep(3, "1.2.0"))
    assert summary(ledger) == [("1.0.0", "terraform", "completed"), ("1.1.0", "deploy", "completed"),
                               ("1.2.0", "deploy", "completed")]
    decision = ledger.previous()
    assert (decision.action, decision.target.release) == ("move", "1.1.0")
    assert ledger.bad == {}


def test_ecs_circuit_breaker_rollback_is_a_run_and_previous_verifies_it():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0"),
                  dep(3, "1.2.0", "ROLLBACK_SUCCESSFUL", breaker_triggered=True, rollback_task_definition="svc:2"))
    assert summary(ledger)[-2:] == [("1.2.0", "deploy", "rolled-back"), ("1.1.0", "ecs-rollback", "completed")]
    assert "circuit breaker" in ledger.bad["1.2.0"].detail
    decision = ledger.previous()
    assert (decision.action, decision.target.release) == ("verify", "1.1.0")   # never 1.0.0
    again = ledger.previous(again=True)
    assert (again.action, again.target.release) == ("move", "1.0.0")


def test_alarm_rollback_names_the_alarm():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0", "ROLLBACK_SUCCESSFUL", triggered_alarms=("high-5xx",),
                                          rollback_task_definition="svc:1"))
    assert ledger.bad["1.1.0"].detail == "rolled back by alarm high-5xx (CloudWatch, in ALARM)"


def test_ecs_rollback_in_progress_is_followed_not_repeated():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0"),
                  dep(3, "1.2.0", "ROLLBACK_IN_PROGRESS", breaker_triggered=True, rollback_task_definition="svc:2"))
    assert summary(ledger)[-2:] == [("1.2.0", "deploy", "rolling-back"), ("1.1.0", "ecs-rollback", "in-flight")]
    assert ledger.previous().action == "follow"


def test_paved_rollback_in_flight_is_followed_and_once_done_verified():
    flying = book(dep(1, "1.1.0"), dep(2, "1.2.0"), dep(3, "1.3.0"), dep(4, "1.2.0", "IN_PROGRESS", made_by="rollback"))
    decision = flying.previous()
    assert (decision.action, decision.target.release) == ("follow", "1.2.0")
    assert flying.bad.keys() == {"1.3.0"}
    done = book(dep(1, "1.1.0"), dep(2, "1.2.0"), dep(3, "1.3.0"), dep(4, "1.2.0", made_by="rollback"))
    assert summary(done)[-2:] == [("1.3.0", "deploy", "rolled-back"), ("1.2.0", "rollback", "completed")]
    assert done.previous().action == "verify"


def test_outside_rollback_counts_as_a_rollback():
    """update-service to 1.1.0's revision by hand: 1.3.0 is bad for --previous and a change failure for dora."""
    ledger = book(dep(1, "1.1.0", td="svc:1"), dep(2, "1.3.0", td="svc:2"),
                  dep(3, "1.1.0", td="svc:1", made_by="deploy"))
    assert summary(ledger)[-1] == ("1.1.0", "outside-rollback", "completed")
    assert ledger.bad.keys() == {"1.3.0"}
    assert [r.release for r in ledger.change_failures()] == ["1.3.0"]
    assert ledger.previous().action == "verify"


def test_forced_redeploy_is_forced_whatever_the_tag_says():
    ledger = book(dep(1, "1.1.0", td="svc:1", made_by="terraform"), dep(2, "1.1.0", td="svc:1", made_by="terraform"))
    assert summary(ledger)[-1] == ("1.1.0", "forced", "completed")


def test_zero_task_release_never_ran_and_is_no_previous_target():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0", requested=0), dep(3, "1.2.0"))
    assert summary(ledger)[1] == ("1.1.0", "deploy", "no-tasks")
    assert ledger.previous().target.release == "1.0.0"


def test_superseded_is_neither_good_nor_bad():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0", "STOPPED", minutes=60), dep(3, "1.2.0", hours=2.5))
    assert summary(ledger)[1] == ("1.1.0", "deploy", "superseded")
    assert ledger.bad == {} and ledger.previous().target.release == "1.0.0"


def test_breaker_without_rollback_fails_and_stays_current():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0", "STOPPED", breaker_triggered=True))
    assert summary(ledger)[-1] == ("1.1.0", "deploy", "failed")
    assert ledger.current.release == "1.1.0" and ledger.previous().target.release == "1.0.0"


def test_rollback_failed_marks_the_release_bad():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0", "ROLLBACK_FAILED", breaker_triggered=True,
                                        rollback_task_definition="svc:1"))
    assert summary(ledger)[-2:] == [("1.1.0", "deploy", "rollback-failed"), ("1.0.0", "ecs-rollback", "failed")]
    assert "1.1.0" in ledger.bad


def test_a_release_rolled_back_days_later_is_still_bad_and_a_change_failure():
    ledger = book(dep(1, "1.0.0", td="svc:1"), dep(2, "1.1.0", td="svc:2"),
                  dep(3, "1.0.0", hours=2 + 72, made_by="rollback", td="svc:1"))
    assert "1.1.0" in ledger.bad
    assert [r.release for r in ledger.change_failures()] == ["1.1.0"]


def test_redeploying_a_bad_release_that_completes_clears_the_mark():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0", "ROLLBACK_SUCCESSFUL", rollback_task_definition="svc:1"),
                  dep(3, "1.1.0"))
    assert ledger.bad == {}
    assert summary(ledger)[-1] == ("1.1.0", "deploy", "completed")


def test_a_forced_redeploy_after_a_rollback_is_still_rolled_back():
    ledger = book(dep(1, "1.0.0", td="svc:1"), dep(2, "1.1.0", td="svc:2"),
                  dep(3, "1.2.0", "ROLLBACK_SUCCESSFUL", td="svc:3", rollback_task_definition="svc:2"),
                  dep(4, "1.1.0", td="svc:2"))
    assert summary(ledger)[-1] == ("1.1.0", "forced", "completed")
    decision = ledger.previous()
    assert (decision.action, decision.target.release) == ("verify", "1.1.0")
    assert ledger.previous(again=True).target.release == "1.0.0"


def test_a_release_being_rolled_back_when_a_newer_deployment_starts_stays_bad():
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0", "ROLLBACK_IN_PROGRESS", breaker_triggered=True,
                                        rollback_task_definition="svc:1"), dep(3, "1.2.0"))
    assert summary(ledger)[1:] == [("1.1.0", "deploy", "rolling-back"), ("1.0.0", "ecs-rollback", "superseded"),
                                   ("1.2.0", "deploy", "completed")]
    assert "1.1.0" in ledger.bad and ledger.in_flight is None


def test_ecs_rolling_a_rollback_back_leaves_the_service_on_the_bad_release_and_previous_moves_on():
    """1.1.0 -> 1.2.0 -> 1.3.0; paved rollback to 1.2.0 fails and ECS's breaker puts 1.3.0 back."""
    ledger = book(dep(1, "1.1.0"), dep(2, "1.2.0"), dep(3, "1.3.0"),
                  dep(4, "1.2.0", "ROLLBACK_SUCCESSFUL", made_by="rollback", breaker_triggered=True,
                      rollback_task_definition="svc:3"))
    assert summary(ledger)[-2:] == [("1.2.0", "rollback", "rolled-back"), ("1.3.0", "ecs-rollback", "completed")]
    assert set(ledger.bad) == {"1.2.0", "1.3.0"}     # ECS restoring 1.3.0 does not vouch for it
    decision = ledger.previous()
    assert (decision.action, decision.target.release) == ("move", "1.1.0")


def test_an_outside_rollback_whose_earlier_run_aged_out_is_still_a_rollback():
    """1.1.0 ran 100 days ago on svc:1 (past ECS's 90 days: not listed), 1.3.0 on svc:2; update-service to svc:1."""
    ledger = book(dep(2, "1.3.0", td="svc:2"), dep(3, "1.1.0", td="svc:1", made_by="terraform"))
    assert summary(ledger) == [("1.3.0", "deploy", "rolled-back"), ("1.1.0", "outside-rollback", "completed")]
    assert ledger.previous().action == "verify"
    downgrade = book(dep(2, "1.3.0", td="svc:2"), dep(3, "1.1.0", td="svc:3"))   # paved deploy --allow-downgrade
    assert summary(downgrade)[-1] == ("1.1.0", "deploy", "completed")


def test_ecs_rolling_a_failed_forced_redeploy_back_is_still_already_rolled_back():
    """1.1.0 -> 1.2.0 (ECS rolled it back to 1.1.0) -> --force of 1.1.0, which ECS rolls back onto the same revision."""
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0"),
                  dep(3, "1.2.0", "ROLLBACK_SUCCESSFUL", breaker_triggered=True, rollback_task_definition="svc:2"),
                  dep(4, "1.1.0", "ROLLBACK_SUCCESSFUL", td="svc:2", breaker_triggered=True,
                      rollback_task_definition="svc:2"))
    assert set(ledger.bad) == {"1.2.0"}
    assert ledger.previous().action == "verify"


def test_a_rollback_completed_at_desired_count_zero_is_already_rolled_back():
    """The on-call scaled the service to 0, rolled back to 1.1.0, then re-ran --previous: it went on to 1.0.0."""
    ledger = book(dep(1, "1.0.0"), dep(2, "1.1.0"), dep(3, "1.2.0"), dep(4, "1.1.0", made_by="rollback", requested=0))
    assert summary(ledger)[-1] == ("1.1.0", "rollback", "no-tasks")
    assert ledger.previous().action == "verify"
    assert ledger.previous(again=True).target.release == "1.0.0"


def test_history_shows_the_finish_date_of_a_run_that_ended_on_another_day():
    """Started 23:58 UTC, finished 00:03 the next day: the finished column said only 00:03:00, which reads as
    before the start; it carries the date when the day changed, and stays a bare time on the same day."""
    from paved_road.deploy.cli import history_table

    rows = history_table(book(dep(1, "1.0.0", hours=11 + 58 / 60, minutes=5), dep(2, "1.1.0", hours=12.5)),
                         "svc on c").rows
    assert [tuple(r[:2]) for r in rows] == [("2026-11-02 00:30:00", "00:34:00"),
                                           ("2026-11-01 23:58:00", "2026-11-02 00:03:00")]
