"""Issue 23: `paved dora` (the real CLI) reads the service's CloudWatch alarms (the ones ECS watches,
deploymentConfiguration.alarms) through DescribeAlarmHistory on `paved sim`, whose seed dates their
state changes. Hand-computed (the same history as test_dora_definitions' alarm test):

checkout: 1.1.0 03-02 10:00; 1.2.0 03-05 09:00 ROLLBACK_SUCCESSFUL 09:30, checkout-5xx ALARM 09:12, OK 09:28;
1.5.0 03-12 10:00 (completed 10:10), ALARM 11:00, 1.6.0 started 11:30 (finished 11:40), OK 11:45.
-> failures: 1.2.0 rolled back by ECS (restore 1800 s), 1.5.0 fixed forward under alarm (6000 s);
time to detect 720 s and 3600 s (median 2160), alarm to OK 960 s and 2700 s (median 1830)."""

from __future__ import annotations

import json
import subprocess

from dora_sim_world import PAVED, REGION, Sim, _history, _iso


def test_alarm_history_gives_time_to_detect_and_restore_through_the_cli(tmp_path):
    rows = [("1.1.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10"),
            ("1.2.0", "deploy", "ROLLBACK_SUCCESSFUL", "03-05 09:00", "03-05 09:30"),
            ("1.5.0", "deploy", "SUCCESSFUL", "03-12 10:00", "03-12 10:10"),
            ("1.6.0", "deploy", "SUCCESSFUL", "03-12 11:30", "03-12 11:40")]
    seed = {
        "region": REGION, "retention_days": None,  # its fixed 2026 dates: kept on any day the suite runs
        "repositories": {"checkout": {"releases": [{"version": v, "pushed_at": _iso("03-01 09:00")}
                                                   for v in ("1.1.0", "1.2.0", "1.5.0", "1.6.0")]}},
        "clusters": {"apps-production": {"services": {"checkout": {
            "environment": "production", "history": _history(rows), "alarms": ["checkout-5xx"],
            "alarm_history": [{"alarm": "checkout-5xx", "at": _iso(at), "state": state} for at, state in (
                ("03-05 09:12", "ALARM"), ("03-05 09:28", "OK"), ("03-12 11:00", "ALARM"), ("03-12 11:45", "OK"))],
        }}}},
    }
    sim = Sim(seed, tmp_path)
    try:
        proc = subprocess.run([PAVED, "dora", "--cluster", "apps-production", "--service", "checkout",
                               "--since", "2026-03-01", "--until", "2026-03-31", "--format", "json"],
                              capture_output=True, text=True, env=sim.env, timeout=300)
    finally:
        sim.stop()
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)["services"][0]["metrics"]
    assert m["change_failure_rate"]["reasons"] == {"fixed-forward-under-alarm": 1, "rolled-back-by-ecs": 1}
    assert (m["change_failure_rate"]["failed"], m["change_failure_rate"]["deployments"]) == (2, 4)
    assert m["time_to_restore"]["median_seconds"] == 3900
    assert m["alarms"] == {
        "names": ["checkout-5xx"], "failures_detected": 2,
        "time_to_detect": {"median_seconds": 2160, "worst_seconds": 3600},
        "alarm_to_ok": {"median_seconds": 1830, "worst_seconds": 2700, "still_in_alarm": 0}}


def test_alarm_history_is_kept_in_the_store_and_read_again_only_after_a_state_change(tmp_path):
    """With a store, a warm run asks CloudWatch only which alarms changed (one DescribeAlarms for the
    batch: StateUpdatedTimestamp) and answers the rest from the store: the same alarm figures, no
    DescribeAlarmHistory. Once the alarm changes state, the next run reads its history again, from
    where the store ends, and holds the new state."""
    import boto3

    from paved_road.sim.server import admin

    rows = [("1.1.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:10"),
            ("1.2.0", "deploy", "ROLLBACK_SUCCESSFUL", "03-05 09:00", "03-05 09:30")]
    seed = {
        "region": REGION, "retention_days": None,  # its fixed 2026 dates: kept on any day the suite runs
        "repositories": {"checkout": {"releases": [{"version": v, "pushed_at": _iso("03-01 09:00")}
                                                   for v in ("1.1.0", "1.2.0")]}},
        "clusters": {"apps-production": {"services": {"checkout": {
            "environment": "production", "history": _history(rows), "alarms": ["checkout-5xx"],
            "alarm_history": [{"alarm": "checkout-5xx", "at": _iso(at), "state": state} for at, state in (
                ("03-05 09:12", "ALARM"), ("03-05 09:28", "OK"))],
        }}}},
    }
    sim = Sim(seed, tmp_path)
    store = str(tmp_path / "dora.sqlite")

    def run() -> tuple[dict, dict]:
        before = admin(sim.endpoint, "state")["calls"]
        proc = subprocess.run([PAVED, "dora", "--cluster", "apps-production", "--service", "checkout",
                               "--since", "2026-03-01", "--format", "json", "--store", store],
                              capture_output=True, text=True, env=sim.env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        after = admin(sim.endpoint, "state")["calls"]
        calls = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
        return calls, json.loads(proc.stdout)["services"][0]["metrics"]["alarms"]

    try:
        cold_calls, cold = run()
        warm_calls, warm = run()
        boto3.client("cloudwatch", endpoint_url=sim.endpoint, region_name=REGION, aws_access_key_id="sim",
                     aws_secret_access_key="sim").set_alarm_state(
            AlarmName="checkout-5xx", StateValue="ALARM", StateReason="5xx above threshold")
        changed_calls, changed = run()
    finally:
        sim.stop()
    assert cold_calls["DescribeAlarmHistory"] == 1 and cold_calls["DescribeAlarms"] == 1
    assert warm_calls == {"DescribeServices": 1, "DescribeAlarms": 1}
    assert warm == cold and cold["alarm_to_ok"]["median_seconds"] == 960
    assert changed_calls["DescribeAlarmHistory"] == 1
    assert changed == cold      # the new ALARM follows no deployment of the window: no failure to detect
    from paved_road.dora.store import Store
    held = Store(store)
    try:
        (arn,) = [r[0] for r in held.db.execute("SELECT alarm FROM alarm_reads")]
        assert [state for _at, state in held.alarm_history(arn)[0]] == ["ALARM", "OK", "ALARM"]
    finally:
        held.close()
