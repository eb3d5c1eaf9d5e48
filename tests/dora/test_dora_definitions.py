"""Issue 23: the definitions docs/dora.md states, each on a hand-computed history (times UTC, window
2026-03-01 .. 2026-03-31 unless said). Every test here failed on the code before issue 23."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from paved_road.dora import metrics
from dora_scenario import SINCE, UNTIL, deployments, t

APRIL = datetime(2026, 4, 30, tzinfo=timezone.utc)


def _at(text: str) -> datetime:
    return t(text)


def test_a_rollback_finishing_after_until_restores_the_failure_of_the_window():
    """Outcomes are followed past `until`: 1.1.0 started 03-30 23:00 (in the window), `paved rollback`
    finished 03-31 00:35: restored in 5700 s (high), not 'unrestored'."""
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-01 10:00", "03-01 10:10"),
            ("1.1.0", "deploy", "SUCCESSFUL", "03-30 23:00", "03-30 23:10"),
            ("1.0.0", "rollback", "SUCCESSFUL", "03-31 00:30", "03-31 00:35")]
    ttr = metrics.compute(deployments(rows), SINCE, UNTIL, now=_at("04-01 00:00")).to_json()["time_to_restore"]
    assert (ttr["restored"], ttr["unrestored"], ttr["median_seconds"], ttr["band"]) == (1, 0, 5700, "high")


def test_an_open_failure_is_shown_at_its_age_and_measured_once_restored():
    """1.1.0 (03-29 10:00) ended ROLLBACK_FAILED. Run on 04-02 00:00: open for 86 h = 309600 s, and the
    median counts it at that age (medium, not 'no data'). The hotfix 1.1.1 finishes 04-03 09:10; run on
    04-05 the same window reports it restored after 119 h 10 m = 429000 s; the April window holds the
    hotfix (a change, no failure) and nothing of 1.1.0."""
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-01 10:00", "03-01 10:10"),
            ("1.1.0", "deploy", "ROLLBACK_FAILED", "03-29 10:00", "03-29 11:00")]
    early = metrics.compute(deployments(rows), SINCE, UNTIL, now=_at("04-02 00:00")).to_json()["time_to_restore"]
    assert (early["restored"], early["unrestored"], early["median_seconds"], early["band"]) == (0, 1, 309600, "medium")
    assert early["open"] == [{"release": "1.1.0", "started_at": "2026-03-29T10:00:00+00:00",
                              "age_seconds": 309600, "reason": "rollback-failed"}]
    rows.append(("1.1.1", "deploy", "SUCCESSFUL", "04-03 09:00", "04-03 09:10"))
    later = metrics.compute(deployments(rows), SINCE, UNTIL, now=_at("04-05 00:00")).to_json()
    assert (later["time_to_restore"]["restored"], later["time_to_restore"]["unrestored"]) == (1, 0)
    assert later["time_to_restore"]["median_seconds"] == 429000
    april = metrics.compute(deployments(rows), UNTIL, APRIL, now=APRIL).to_json()
    assert (april["change_failure_rate"]["failed"], april["change_failure_rate"]["deployments"]) == (0, 1)
    assert april["time_to_restore"]["open"] == []


def test_a_deployment_spanning_until_delivers_its_commits_in_the_window_it_started_in():
    """1.1.0 started 03-30 23:50 and finished 03-31 00:10; its commit of 03-30 20:00 has a lead time of
    4 h 10 m = 15000 s in March, and none in April (before: lost in both)."""
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-01 10:00", "03-01 10:10"),
            ("1.1.0", "deploy", "SUCCESSFUL", "03-30 23:50", "03-31 00:10")]
    carried = {"1.0.0": [("c0", _at("03-01 09:00"))], "1.1.0": [("c1", _at("03-30 20:00"))]}

    def commits(release, previous):
        return carried[release]

    march = metrics.compute(deployments(rows), SINCE, UNTIL, now=APRIL, commits=commits)
    assert [(sha, s) for sha, _, s, _ in march.lead_times] == [("c0", 4200), ("c1", 15000)]
    april = metrics.compute(deployments(rows), UNTIL, APRIL, now=APRIL, commits=commits)
    assert april.lead_times == []


def test_lead_times_at_or_below_zero_are_dropped_and_counted():
    """fourkeys drops lead times <= 0: commits dated at (10:10) or after (11:00) the finish of the
    deployment carrying them are dropped and counted; the 09:00 one (4200 s) stays."""
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10")]
    carried = [("a", _at("03-02 09:00")), ("b", _at("03-02 10:10")), ("c", _at("03-02 11:00"))]
    lt = metrics.compute(deployments(rows), SINCE, UNTIL, now=UNTIL,
                         commits=lambda r, p: carried).to_json()["lead_time"]
    assert (lt["commits"], lt["median_seconds"], lt["dropped_non_positive"]) == (1, 4200, 2)


def test_fix_forward_by_a_patch_release_is_a_change_failure():
    """1.4.0 (03-10 10:00) is superseded 5 h later by 1.4.1: fixed forward, a failure restored at 1.4.1's
    finish (15:10): 18600 s. 1.4.2 three days later is routine (outside the 24 h failure window), 1.5.0
    a new minor: 1 failure in 4 changes (before: 0/4)."""
    rows = [("1.3.0", "deploy", "SUCCESSFUL", "02-25 10:00", "02-25 10:10"),
            ("1.4.0", "deploy", "SUCCESSFUL", "03-10 10:00", "03-10 10:10"),
            ("1.4.1", "deploy", "SUCCESSFUL", "03-10 15:00", "03-10 15:10"),
            ("1.4.2", "deploy", "SUCCESSFUL", "03-13 15:00", "03-13 15:10"),
            ("1.5.0", "deploy", "SUCCESSFUL", "03-13 16:00", "03-13 16:10")]
    out = metrics.compute(deployments(rows), SINCE, UNTIL, now=UNTIL).to_json()
    cfr = out["change_failure_rate"]
    assert (cfr["failed"], cfr["deployments"], cfr["reasons"]) == (1, 4, {"fixed-forward": 1})
    assert out["time_to_restore"]["median_seconds"] == 18600
    wider = metrics.compute(deployments(rows), SINCE, UNTIL, now=UNTIL, failure_window=timedelta(days=4))
    assert wider.to_json()["change_failure_rate"]["failed"] == 2   # 1.4.1 -> 1.4.2 (3 days) too


def test_a_revert_deploy_to_an_earlier_release_fails_the_change_and_is_not_one():
    """`paved deploy 1.0.0` after 1.1.0: the revert is remediation, not a change; 1.1.0 failed (1/2:
    1.0.0 and 1.1.0), restored at the revert's finish: 03-03 10:00 -> 03-03 12:05 = 7500 s."""
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10"),
            ("1.1.0", "deploy", "SUCCESSFUL", "03-03 10:00", "03-03 10:10"),
            ("1.0.0", "deploy", "SUCCESSFUL", "03-03 12:00", "03-03 12:05")]
    out = metrics.compute(deployments(rows), SINCE, UNTIL, now=UNTIL).to_json()
    cfr = out["change_failure_rate"]
    assert (cfr["failed"], cfr["deployments"], cfr["reasons"]) == (1, 2, {"reverted": 1})
    assert out["deployment_frequency"]["successful"] == 2
    assert out["time_to_restore"]["median_seconds"] == 7500


def test_a_redeploy_of_the_running_release_is_a_change_and_counted_as_a_redeploy():
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10"),
            ("1.0.0", "deploy", "SUCCESSFUL", "03-04 10:00", "03-04 10:10")]
    f = metrics.compute(deployments(rows), SINCE, UNTIL, now=UNTIL).to_json()["deployment_frequency"]
    assert (f["deployments"], f["successful"], f["redeploys"]) == (2, 2, 1)


def test_alarm_history_gives_time_to_detect_and_alarm_to_ok():
    """1.2.0 (03-05 09:00) was rolled back by ECS when orders-5xx went to ALARM at 09:12; the alarm was OK
    again at 09:28 and the rollback finished 09:30. 1.5.0 (03-12 10:00, completed 10:10) is superseded by
    1.6.0 at 11:30 while orders-5xx has been in ALARM since 11:00 (OK 11:45): fixed forward under alarm,
    restored at 11:40 (6000 s). Detect: 720 s and 3600 s (median 2160); alarm to OK: 960 s and 2700 s."""
    rows = [("1.1.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10"),
            ("1.2.0", "deploy", "ROLLBACK_SUCCESSFUL", "03-05 09:00", "03-05 09:30"),
            ("1.5.0", "deploy", "SUCCESSFUL", "03-12 10:00", "03-12 10:10"),
            ("1.6.0", "deploy", "SUCCESSFUL", "03-12 11:30", "03-12 11:40")]
    changes = [metrics.AlarmChange("orders-5xx", _at(at), state) for at, state in (
        ("03-05 09:12", "ALARM"), ("03-05 09:28", "OK"), ("03-12 11:00", "ALARM"), ("03-12 11:45", "OK"))]
    out = metrics.compute(deployments(rows), SINCE, UNTIL, now=UNTIL, alarm_changes=changes,
                          alarms=["orders-5xx"]).to_json()
    assert out["change_failure_rate"]["reasons"] == {"fixed-forward-under-alarm": 1, "rolled-back-by-ecs": 1}
    assert out["time_to_restore"]["median_seconds"] == (1800 + 6000) / 2
    assert out["alarms"] == {
        "names": ["orders-5xx"], "failures_detected": 2,
        "time_to_detect": {"median_seconds": 2160, "worst_seconds": 3600},
        "alarm_to_ok": {"median_seconds": 1830, "worst_seconds": 2700, "still_in_alarm": 0}}


def test_without_alarm_history_the_alarm_figures_are_null_not_zero():
    rows = [("1.1.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10")]
    assert metrics.compute(deployments(rows), SINCE, UNTIL, now=UNTIL).to_json()["alarms"] is None


def _service(lead: list[float], restore: list[tuple[str, str]]) -> metrics.ServiceMetrics:
    m = metrics.ServiceMetrics(since=SINCE, until=UNTIL, now=UNTIL)
    m.lead_times = [(f"c{i}", "1.0.0", s, _at("03-10 10:00")) for i, s in enumerate(lead)]
    for i, (start, end) in enumerate(restore):
        d = deployments([("1.0.0", "deploy", "ROLLBACK_SUCCESSFUL", start, end)], f"s{i}")[0]
        m.deployments.append(d)
        m.failures.append(metrics.Failure(d, "rolled-back-by-ecs", restored_at=d.finished_at, now=UNTIL))
    return m


def test_fleet_roll_up_is_the_median_of_service_medians_with_the_pooled_figure_beside_it():
    """busy: 5 commits of 2 h (median 7200 s); b: 200000 s; c: 300000 s. Pooled over the 7 commits the
    median is 7200 (elite): the busy service dominates; the median of the service medians is 200000 (high).
    Restore: busy 3 x 10 min, b 5 h, c 2 days: pooled 600 s (elite), median of medians 18000 s (high)."""
    busy = _service([7200] * 5, [("03-02 10:00", "03-02 10:10")] * 3)
    b = _service([200000], [("03-03 10:00", "03-03 15:00")])
    c = _service([300000], [("03-04 10:00", "03-06 10:00")])
    fleet = metrics.fleet_json([busy, b, c], SINCE, UNTIL)
    lt, ttr = fleet["lead_time"], fleet["time_to_restore"]
    assert (lt["median_seconds"], lt["band"], lt["services"]) == (200000, "high", 3)
    assert (lt["pooled_median_seconds"], lt["pooled_band"]) == (7200, "elite")
    assert (ttr["median_seconds"], ttr["band"]) == (18000, "high")
    assert (ttr["pooled_median_seconds"], ttr["pooled_band"]) == (600, "elite")
    assert "median of per-service" in lt["roll_up"]


def test_the_last_partial_trend_bucket_is_marked():
    m = metrics.compute([], SINCE, UNTIL, now=UNTIL)
    buckets = metrics.trend(m, metrics.trend_step(SINCE, UNTIL))
    assert [b["partial"] for b in buckets] == [False, False, False, False, True]
    assert buckets[-1]["start"] == "2026-03-29T00:00:00+00:00"


def test_a_window_reaching_past_now_divides_by_the_days_so_far_and_its_trend_stops_at_now():
    """March, run on 03-11 12:00: 5 successful deployments in 10.5 days are 0.476 a day, not 5/30 (the 19.5
    days to come hold nothing yet); the week 03-08..03-15 is not over (partial), the weeks after are left out."""
    rows = [(f"1.{i}.0", "deploy", "SUCCESSFUL", f"03-0{i + 1} 10:00", f"03-0{i + 1} 10:10") for i in range(5)]
    now = _at("03-11 12:00")
    m = metrics.compute(deployments(rows), SINCE, UNTIL, now=now)
    out = m.to_json()
    assert out["covered_days"] == 10.5
    assert out["deployment_frequency"]["per_day"] == pytest.approx(5 / 10.5, abs=1e-3)
    buckets = metrics.trend(m, metrics.trend_step(SINCE, UNTIL))
    assert [(b["start"][:10], b["partial"], b["successful"]) for b in buckets] == [
        ("2026-03-01", False, 5), ("2026-03-08", True, 0)]
    # once the month is over, the same deployments are 5 in 30 days and the trend has all five buckets
    later = metrics.compute(deployments(rows), SINCE, UNTIL, now=APRIL)
    assert later.to_json()["covered_days"] == 30
    assert len(metrics.trend(later, metrics.trend_step(SINCE, UNTIL))) == 5
