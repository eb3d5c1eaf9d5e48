"""Issue 23: alarm history kept in the store (collect.alarm_changes), against a CloudWatch whose
answers are set by hand: what the store may skip, and what it must still read."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from paved_road.dora import collect
from paved_road.dora import store as st

ARN = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-5xx"
T = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


class FakeCloudWatch:
    """DescribeAlarmHistory over a fixed list of (time, state): what CloudWatch holds now."""

    def __init__(self, items):
        self.items = items
        self.calls = []

    def describe_alarm_history(self, **kw):
        self.calls.append((kw["StartDate"], kw["EndDate"]))
        return {"AlarmHistoryItems": [
            {"AlarmName": kw["AlarmName"], "Timestamp": at,
             "HistoryData": json.dumps({"newState": {"stateValue": state}})}
            for at, state in self.items if kw["StartDate"] <= at <= kw["EndDate"]]}


def test_a_change_the_last_read_could_not_see_yet_is_read_on_the_next_run(tmp_path):
    """The stored read ended at T by our clock; our clock ran 3 minutes ahead of CloudWatch's (within the
    5-minute margin the store allows clocks: SETTLE_MARGIN), so a change at T - 2 min came after that
    read. DescribeAlarms says the alarm was updated then: the next run must read from before it."""
    store = st.Store(tmp_path / "s.sqlite")
    try:
        start = T - timedelta(days=10)
        store.save_alarm_history(ARN, [(T - timedelta(days=5), "ALARM")], start, T)
        changed = T - timedelta(minutes=2)
        cw = FakeCloudWatch([(T - timedelta(days=5), "ALARM"), (changed, "OK")])
        out = collect.alarm_changes(cw, ["checkout-5xx"], start, T + timedelta(hours=1), store,
                                    {"checkout-5xx": (ARN, changed)})
        assert [(c.at, c.state) for c in out] == [(T - timedelta(days=5), "ALARM"), (changed, "OK")]
    finally:
        store.close()


def test_a_wider_window_keeps_what_the_store_holds_past_cloudwatch_s_30_days(tmp_path):
    """The store read the alarm from day -60 (CloudWatch then still held an ALARM at day -40). A later
    run over a longer window (from day -365) reads CloudWatch, which now holds 30 days only: the stored
    change is still history, in this run's answer as in the next run's (same arguments, same report)."""
    store = st.Store(tmp_path / "s.sqlite")
    try:
        old = T - timedelta(days=40)
        store.save_alarm_history(ARN, [(old, "ALARM")], T - timedelta(days=60), T - timedelta(days=1))
        cw = FakeCloudWatch([(T - timedelta(days=2), "OK")])       # day -40 aged out of CloudWatch
        facts = {"checkout-5xx": (ARN, T - timedelta(days=2))}
        first = collect.alarm_changes(cw, ["checkout-5xx"], T - timedelta(days=365), T, store, facts)
        again = collect.alarm_changes(cw, ["checkout-5xx"], T - timedelta(days=365), T, store, facts)
        assert [(c.at, c.state) for c in first] == [(old, "ALARM"), (T - timedelta(days=2), "OK")]
        assert first == again
    finally:
        store.close()


def test_every_seeded_alarm_is_in_the_state_its_seeded_history_left():
    """`paved sim`: each alarm's DescribeAlarms StateValue / StateUpdatedTimestamp is its last seeded
    change's (what a store's warm run compares), the second alarm of a service as well as the first."""
    import boto3

    from paved_road.sim.server import SimServer
    from paved_road.sim.world import Seeder

    seed = {"region": "eu-west-1",
            "repositories": {"checkout": {"releases": [{"version": "1.0.0", "pushed_at": "2026-03-01T09:00:00Z"}]}},
            "clusters": {"apps-production": {"services": {"checkout": {
                "environment": "production", "alarms": ["checkout-5xx", "checkout-latency"],
                "history": [{"release": "1.0.0", "status": "SUCCESSFUL", "made_by": "deploy",
                             "started_at": "2026-03-02T10:00:00Z", "finished_at": "2026-03-02T10:10:00Z"}],
                "alarm_history": [{"alarm": "checkout-5xx", "at": "2026-03-05T09:12:00Z", "state": "ALARM"},
                                  {"alarm": "checkout-latency", "at": "2026-03-05T09:13:00Z", "state": "ALARM"},
                                  {"alarm": "checkout-latency", "at": "2026-03-05T09:40:00Z", "state": "OK"}]}}}}}
    server = SimServer("127.0.0.1", 0).start()
    try:
        server.app.seeder = Seeder(server.app, server.endpoint)
        server.app.reset({"seed": seed})
        cw = boto3.client("cloudwatch", endpoint_url=server.endpoint, region_name="eu-west-1",
                          aws_access_key_id="sim", aws_secret_access_key="sim")
        got = {a["AlarmName"]: (a["StateValue"], a["StateUpdatedTimestamp"].astimezone(timezone.utc))
               for a in cw.describe_alarms(AlarmNames=["checkout-5xx", "checkout-latency"])["MetricAlarms"]}
    finally:
        server.stop()
    assert got == {"checkout-5xx": ("ALARM", datetime(2026, 3, 5, 9, 12, tzinfo=timezone.utc)),
                   "checkout-latency": ("OK", datetime(2026, 3, 5, 9, 40, tzinfo=timezone.utc))}
