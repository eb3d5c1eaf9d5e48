"""CloudWatch DescribeAlarmHistory for the simulator (moto 5.2 records alarm state changes but has no
such operation).

Model: https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarmHistory.html
- AlarmName (optional; without it, every alarm), HistoryItemType (ConfigurationUpdate | StateUpdate | Action;
  only StateUpdate items exist here), StartDate / EndDate (inclusive range on Timestamp), MaxRecords
  (1..100, default 50), NextToken, ScanBy (TimestampDescending, the default, or TimestampAscending).
- Each item: AlarmName, AlarmType (MetricAlarm), Timestamp, HistoryItemType, HistorySummary
  ("Alarm updated from OK to ALARM") and HistoryData, a JSON document with oldState / newState
  (stateValue, stateReason).
- CloudWatch keeps alarm history for 30 days (the same page); the simulator keeps what it has.

State changes come from moto's own record (SetAlarmState, and the ECS model driving the alarms with
`paved sim --alarm VERSION`), plus changes a seed dates in the past (`alarm_history:` on a service in
world.py), kept here because moto stamps every change with the wall clock.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

_SEEDED: dict[tuple[str, str], list[tuple[datetime, str, str, str]]] = {}  # (region, alarm) -> [(at, old, new, reason)]
_LOCK = threading.Lock()
_INSTALLED = False


def _utc(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)


def seed(region: str, alarm: str, changes: list[tuple[datetime, str, str]]) -> None:
    """Past state changes of one alarm: [(at, new state, reason)], oldest first (the first starts from OK)."""
    with _LOCK:
        entries = _SEEDED.setdefault((region, alarm), [])
        old = entries[-1][2] if entries else "OK"
        for at, state, reason in changes:
            entries.append((at, old, state, reason))
            old = state


def reset() -> None:
    with _LOCK:
        _SEEDED.clear()


def changes(backend, region: str, name: str) -> list[tuple[datetime, str, str, str]]:
    """(at, old state, new state, reason) of one alarm, oldest first: seeded ones, then moto's."""
    with _LOCK:
        out = list(_SEEDED.get((region, name), ()))
    alarm = backend.alarms.get(name)
    if alarm is not None:
        # moto appends the state it leaves (reason, data, value, since when) on each update
        history = [h for h in alarm.history if h and h[0] == "StateUpdate"]
        for i, (_kind, _reason, _data, old, _since) in enumerate(history):
            nxt = history[i + 1] if i + 1 < len(history) else None
            new = nxt[3] if nxt else alarm.state_value
            at = nxt[4] if nxt else alarm.state_updated_timestamp
            reason = nxt[1] if nxt else alarm.state_reason
            if old != new:
                out.append((_utc(at), old, new, reason))
    return sorted(out, key=lambda c: c[0])


def install() -> None:
    """Add describe_alarm_history to moto's CloudWatch responses (once)."""
    global _INSTALLED
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    if _INSTALLED or "describe_alarm_history" in CloudWatchResponse.__dict__:
        return

    def describe_alarm_history(self) -> ActionResult:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start, end = _utc(self._get_param("StartDate")), _utc(self._get_param("EndDate"))
        limit = max(1, min(100, int(self._get_param("MaxRecords") or 50)))
        offset = int(self._get_param("NextToken") or 0)
        ascending = self._get_param("ScanBy") == "TimestampAscending"
        backend = self.cloudwatch_backend
        names = [name] if name else sorted(set(backend.alarms) | {a for r, a in _SEEDED if r == self.region})
        items = []
        if kind in (None, "", "StateUpdate"):
            for alarm in names:
                for at, old, new, reason in changes(backend, self.region, alarm):
                    if (start and at < start) or (end and at > end):
                        continue
                    items.append({
                        "AlarmName": alarm, "AlarmType": "MetricAlarm", "Timestamp": at,
                        "HistoryItemType": "StateUpdate", "HistorySummary": f"Alarm updated from {old} to {new}",
                        "HistoryData": json.dumps({"version": "1.0", "oldState": {"stateValue": old},
                                                   "newState": {"stateValue": new, "stateReason": reason}}),
                    })
        items.sort(key=lambda i: (i["Timestamp"], i["AlarmName"]), reverse=not ascending)
        page = items[offset:offset + limit]
        result = {"AlarmHistoryItems": page}
        if offset + limit < len(items):
            result["NextToken"] = str(offset + limit)
        return ActionResult(result)

    CloudWatchResponse.describe_alarm_history = describe_alarm_history
    _INSTALLED = True
