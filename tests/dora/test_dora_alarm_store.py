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
