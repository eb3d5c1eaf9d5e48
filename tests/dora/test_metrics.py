"""The four keys (and build-to-production, rollback duration) asserted exactly
for the hand-computed scenario in scenario.py: Deployment records and a git
repository with fixed commit times."""

from __future__ import annotations


import pytest

from paved_road.dora import bands, metrics
from paved_road.dora.gitlog import ReleaseRepo
from dora_scenario import ORDERS, PAYMENTS, PUSHED, SINCE, UNTIL, deployments, git_repo, t


@pytest.fixture(scope="module")
def orders_repo(tmp_path_factory):
    return ReleaseRepo(git_repo(tmp_path_factory.mktemp("orders") / "orders"))


def _orders(repo, **kw):
    return metrics.compute(deployments(ORDERS), SINCE, UNTIL, commits=repo.commits,
                           pushed_at=lambda d: t(PUSHED[d.release]), **kw).to_json()


def test_deployment_frequency_counts_successful_changes_not_rollbacks(orders_repo):
    f = _orders(orders_repo)["deployment_frequency"]
    assert (f["deployments"], f["successful"]) == (6, 5)
    assert f["per_day"] == pytest.approx(5 / 30, abs=1e-6)
    assert f["per_week"] == pytest.approx(7 * 5 / 30, abs=1e-6)
    assert f["band"] == "high"


def test_change_failure_rate_counts_circuit_breaker_and_manual_rollback(orders_repo):
    cfr = _orders(orders_repo)["change_failure_rate"]
    assert (cfr["failed"], cfr["deployments"]) == (2, 6)
    assert cfr["rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert cfr["reasons"] == {"followed-by-rollback": 1, "rolled-back-by-ecs": 1}
    assert cfr["band"] == "low"


def test_time_to_restore_median_and_worst(orders_repo):
    ttr = _orders(orders_repo)["time_to_restore"]
    assert (ttr["restored"], ttr["unrestored"]) == (2, 0)
    assert ttr["median_seconds"] == 2850 and ttr["worst_seconds"] == 3900
    assert ttr["band"] == "elite"


def test_lead_time_per_commit_to_first_production_deployment(orders_repo):
    m = metrics.compute(deployments(ORDERS), SINCE, UNTIL, commits=orders_repo.commits)
    per_release = sorted((release, seconds) for _, release, seconds, _ in m.lead_times)
    assert per_release == [("1.1.0", 8400), ("1.1.0", 91200), ("1.2.1", 8100), ("1.2.1", 173700),
                           ("1.3.0", 11400), ("1.3.0", 79800), ("1.3.1", 4320), ("1.4.0", 87000)]
    lt = m.to_json()["lead_time"]
    assert lt["commits"] == 8 and lt["median_seconds"] == 45600 and lt["p90_seconds"] == 173700
    assert lt["band"] == "elite" and lt["note"] is None


def test_build_to_production_and_rollback_durations(orders_repo):
    out = _orders(orders_repo)
    assert out["build_to_production"] == {"releases": 5, "median_seconds": 1800, "worst_seconds": 4200}
    assert out["rollback_duration"] == {
        "paved_rollback": {"count": 1, "median_seconds": 300, "worst_seconds": 300},
        "automatic": {"count": 1, "median_seconds": 1800, "worst_seconds": 1800},
    }


def test_service_without_deployments_in_the_window():
    out = metrics.compute(deployments(PAYMENTS, "payments"), SINCE, UNTIL).to_json()
    assert out["deployment_frequency"]["deployments"] == 0
    assert out["deployment_frequency"]["per_day"] == 0 and out["deployment_frequency"]["band"] == "low"
    assert out["change_failure_rate"]["rate"] is None and out["change_failure_rate"]["band"] is None
    assert out["time_to_restore"]["median_seconds"] is None and out["time_to_restore"]["band"] is None
    assert out["lead_time"]["median_seconds"] is None
    assert "no git checkout" in out["lead_time"]["note"]


def test_fleet_combines_services(orders_repo):
    orders = metrics.compute(deployments(ORDERS), SINCE, UNTIL, commits=orders_repo.commits)
    payments = metrics.compute(deployments(PAYMENTS, "payments"), SINCE, UNTIL)
    fleet = metrics.fleet_json([orders, payments], SINCE, UNTIL)
    assert fleet["deployment_frequency"]["deployments"] == 6
    assert fleet["deployment_frequency"]["per_service_per_day"] == pytest.approx(5 / 60, abs=1e-6)
    assert fleet["deployment_frequency"]["band"] == "medium"
    assert fleet["change_failure_rate"]["rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert fleet["lead_time"]["median_seconds"] == 45600
    assert fleet["time_to_restore"]["median_seconds"] == 2850


def test_a_rollback_days_later_is_still_blamed_on_the_deploy_it_removed():
    """Issue 18: dora and rollback read one ledger, so there is no rollback window any more (it was 24 h, and a
    release rolled back 72 h after it shipped was bad to rollback but no change failure to dora)."""
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10"),
            ("1.1.0", "deploy", "SUCCESSFUL", "03-03 10:00", "03-03 10:10"),
            ("1.0.0", "rollback", "SUCCESSFUL", "03-06 10:00", "03-06 10:05")]
    cfr = metrics.compute(deployments(rows), SINCE, UNTIL).to_json()["change_failure_rate"]
    assert (cfr["failed"], cfr["reasons"]) == (1, {"followed-by-rollback": 1})


def test_unrestored_failure_and_in_flight_deployment():
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-01 10:00", "03-01 10:10"),
            ("1.1.0", "deploy", "ROLLBACK_FAILED", "03-29 10:00", "03-29 11:00"),
            ("1.1.1", "deploy", "IN_PROGRESS", "03-30 10:00", None)]
    out = metrics.compute(deployments(rows), SINCE, UNTIL, now=UNTIL).to_json()
    assert out["change_failure_rate"]["failed"] == 1 and out["change_failure_rate"]["deployments"] == 2
    # Open at the run (03-31 00:00): counted at its age, 03-29 10:00 -> 03-31 00:00 = 38 h = 136800 s.
    assert out["time_to_restore"] == {
        "restored": 0, "unrestored": 1, "median_seconds": 136800, "worst_seconds": 136800, "band": "medium",
        "restored_median_seconds": None,
        "open": [{"release": "1.1.0", "started_at": "2026-03-29T10:00:00+00:00", "age_seconds": 136800,
                  "reason": "rollback-failed"}]}
    assert out["in_progress"] == 1


def test_weekly_trend_buckets(orders_repo):
    m = metrics.compute(deployments(ORDERS), SINCE, UNTIL, commits=orders_repo.commits)
    trend = metrics.trend(m, metrics.trend_step(SINCE, UNTIL))
    assert [(b["deployments"], b["successful"], b["failed"]) for b in trend] == [
        (3, 2, 1), (2, 2, 1), (0, 0, 0), (1, 1, 0), (0, 0, 0)]
    assert [b["lead_time_median_seconds"] for b in trend] == [(8400 + 91200) / 2, 11400, None, 87000, None]
    assert [b["time_to_restore_median_seconds"] for b in trend] == [1800, 3900, None, None, None]


@pytest.mark.parametrize(("fn", "value", "band"), [
    (bands.lead_time_band, 86400, "elite"), (bands.lead_time_band, 86401, "high"),
    (bands.lead_time_band, 31 * 86400, "low"),
    (bands.restore_band, 3600, "elite"), (bands.restore_band, 8 * 86400, "low"),
    (bands.failure_rate_band, 0.05, "elite"), (bands.failure_rate_band, 0.15, "medium"),
    (bands.failure_rate_band, 0.16, "low"),
    (bands.frequency_band, 1.0, "elite"), (bands.frequency_band, 1 / 7, "high"),
    (bands.frequency_band, 1 / 30, "medium"), (bands.frequency_band, 0.03, "low"),
])
def test_band_edges(fn, value, band):
    assert fn(value) == band


def test_rollback_after_a_failed_deploy_blames_the_release_it_removed():
    """The demo's story: 1.2.0 runs, 1.3.0 is rolled back by the circuit breaker (1.2.0 keeps
    running), then `paved rollback` to 1.1.0 removes 1.2.0: both are failed changes."""
    rows = [("1.1.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10"),
            ("1.2.0", "deploy", "SUCCESSFUL", "03-02 11:00", "03-02 11:10"),
            ("1.3.0", "deploy", "ROLLBACK_SUCCESSFUL", "03-02 12:00", "03-02 12:20"),
            ("1.1.0", "rollback", "SUCCESSFUL", "03-02 13:00", "03-02 13:05")]
    out = metrics.compute(deployments(rows), SINCE, UNTIL).to_json()
    assert out["change_failure_rate"]["reasons"] == {"followed-by-rollback": 1, "rolled-back-by-ecs": 1}
    # 1.2.0: 11:00 -> rollback finished 13:05 = 7500 s; 1.3.0: 12:00 -> 12:20 = 1200 s; median 4350 s.
    assert (out["time_to_restore"]["median_seconds"], out["time_to_restore"]["worst_seconds"]) == (4350, 7500)


def test_the_default_window_ends_after_deployments_started_earlier_in_the_same_second():
    """`--until` defaults to now: a `paved rollback` that started 0.4 s before `paved dora` ran (as in
    `paved demo --rollback`) is inside the window, so the release it replaced counts as failed."""
    from datetime import datetime, timezone

    from paved_road.dora.command import window

    now = datetime(2026, 12, 1, 8, 6, 17, 900000, tzinfo=timezone.utc)
    rollback_started = now.replace(microsecond=500000)
    since, until = window("1d", None, now=now)
    assert since <= rollback_started < until
    assert until == datetime(2026, 12, 1, 8, 6, 18, tzinfo=timezone.utc)
    assert window("1d", None, now=now.replace(microsecond=0))[1] == now.replace(microsecond=0)


def test_a_window_ending_now_counts_every_day_and_its_last_whole_week_is_not_partial(monkeypatch):
    """`paved dora --since 28d` (--until: now, rounded up to the second) is four whole weeks: 28 days of
    rates and four full trend buckets. The run's clock, read after the window, is a fraction of a second
    short of that rounded-up end, which read as a window reaching past now: covered_days 27.99999 and the
    fourth week marked partial (hatched as unfinished in the HTML)."""
    import argparse
    from datetime import datetime, timedelta, timezone

    from paved_road.dora import collect, command, report

    # the window as prepare() makes it, with a clock 0.9 s ahead of build_report's (any run in its same second)
    since, until = command.window("28d", None, now=datetime.now(timezone.utc) + timedelta(seconds=0.9))

    def measure_all(clients, targets, since, until, *, now, **_):
        measured = report.ServiceReport(name="orders")
        measured.metrics = metrics.compute([], since, until, now=now)
        return [measured]

    monkeypatch.setattr(collect, "measure_all", measure_all)
    args = argparse.Namespace(until=None, since="28d", environment="production", container="app", jobs=1,
                              failure_window="24h", store=None, no_store=True, rate_share=0, catalog=None)
    data = report.to_json(command.build_report(args, since, until, [], clients=object()))
    service = data["services"][0]
    assert service["metrics"]["covered_days"] == data["window"]["days"] == 28
    assert [b["partial"] for b in service["trend"]] == [False] * 4
    assert [b["partial"] for b in data["fleet"]["trend"]] == [False] * 4


def test_a_window_that_starts_after_now_is_bad_input_before_any_aws_call():
    """`--since 2099-01-01 --until 2099-02-01` (a typo for 2026, or --since 30d before a far --until): no day of it
    has happened, and it read '0.00/wk (0 ok) low' for every service, exit 0. Now one line, exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    paved = str(Path(sys.executable).with_name("paved"))
    for window in (["--since", "2099-01-01", "--until", "2099-02-01"], ["--since", "30d", "--until", "2099-02-01"]):
        proc = subprocess.run([paved, "dora", "--cluster", "c", "--service", "s", "--no-store", *window],
                              capture_output=True, text=True, timeout=120,
                              env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
                                   "AWS_SECRET_ACCESS_KEY": "x", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "starts after now" in proc.stderr and proc.stdout == ""


def test_the_coverage_warning_of_a_window_reaching_past_now_names_the_span_up_to_now(monkeypatch):
    """--until two days ahead, ECS holding 90 days: the warning said the figures cover '.. <--until>', days that
    have not happened and that covered_days does not count; it names the span up to now."""
    import argparse
    from datetime import datetime, timedelta, timezone

    from paved_road.dora import collect, command, report

    today = datetime.now(timezone.utc)
    until_text = (today + timedelta(days=2)).strftime("%Y-%m-%d")
    since, until = command.window("1y", until_text)

    def measure_all(clients, targets, since, until, *, now, **_):
        measured = report.ServiceReport(name="orders", covered_since=now - timedelta(days=90))
        measured.metrics = metrics.compute([], since, until, now=now, covered_since=measured.covered_since)
        return [measured]

    monkeypatch.setattr(collect, "measure_all", measure_all)
    args = argparse.Namespace(until=until_text, since="1y", environment="production", container="app", jobs=1,
                              failure_window="24h", store=None, no_store=True, rate_share=0, catalog=None)
    rep = command.build_report(args, since, until, [], clients=object())
    warning, = rep.coverage["warnings"]
    assert f".. {rep.now.date()} at most" in warning and until_text not in warning
    assert report.to_json(rep)["services"][0]["metrics"]["covered_days"] == 90
