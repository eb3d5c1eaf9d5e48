"""`paved dora` output: JSON (stable, `schema_version`), a terminal table and a
self-contained HTML page (inline CSS, SVG and one inline script that shows
times in local time; nothing loaded from elsewhere). The JSON schema is documented in docs/dora.md; bump
SCHEMA_VERSION on any incompatible change."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from paved_road.dora import SCHEMA_VERSION, bands, metrics


@dataclass
class ServiceReport:
    name: str
    cluster: str | None = None
    service: str | None = None
    region: str | None = None
    environment: str | None = None
    environment_source: str | None = None   # tag | cluster-name | None
    repo: str | None = None
    ecr_repository: str | None = None
    aws_calls: int = 0
    error: str | None = None
    metrics: metrics.ServiceMetrics | None = None
    catalog_path: str | None = None
    alarm_note: str | None = None        # why the alarm history could not be read
    covered_since: object = None         # datetime: the history held is complete from here (store + ECS)
    notes: list = field(default_factory=list)   # one line each: what the store did

    @property
    def anchor(self) -> str:
        return anchor(self.name)


def anchor(name: str) -> str:
    """The HTML id of a service's row (`paved catalog` links to it)."""
    return "dora-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


@dataclass
class Report:
    since: _dt.datetime
    until: _dt.datetime
    environment: str | None
    services: list[ServiceReport] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)   # services of another environment
    unreadable: list[dict] = field(default_factory=list)  # {"label", "error"}: answers files that cannot be read
    # what the history read covers: {"covered_since": ISO | None, "warnings": [one line, ...]}
    coverage: dict = field(default_factory=lambda: {"covered_since": None, "warnings": []})
    now: _dt.datetime | None = None                      # outcomes are followed up to here
    generated_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())

    @property
    def measured(self) -> list[metrics.ServiceMetrics]:
        return [s.metrics for s in self.services if s.metrics is not None]


def to_json(report: Report) -> dict:
    step = metrics.trend_step(report.since, report.until)
    services = []
    for s in report.services:
        entry = {
            "name": s.name, "cluster": s.cluster, "service": s.service, "region": s.region,
            "environment": s.environment, "environment_source": s.environment_source,
            "repo": s.repo, "ecr_repository": s.ecr_repository, "anchor": s.anchor,
            "aws_calls": s.aws_calls, "error": s.error, "alarm_note": s.alarm_note, "notes": s.notes,
            "covered_since": s.covered_since.isoformat() if s.covered_since else None,
            "metrics": s.metrics.to_json() if s.metrics else None,
            "trend": metrics.trend(s.metrics, step) if s.metrics else [],
        }
        services.append(entry)
    fleet_metrics = metrics.combine(report.measured, report.since, report.until)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": report.generated_at,
        "window": {"since": report.since.isoformat(), "until": report.until.isoformat(),
                   "days": round((report.until - report.since).total_seconds() / 86400, 6),
                   "trend_bucket_days": step.days},
        "now": (report.now or _dt.datetime.fromisoformat(report.generated_at)).isoformat(),
        "environment": report.environment,
        "coverage": report.coverage,
        "bands": {"source": bands.SOURCE, "thresholds": bands.THRESHOLDS, "names": bands.NAMES},
        "fleet": {
            "services": len(report.services),
            "measured": len(report.measured),
            "errors": sum(1 for s in report.services if s.error),
            "metrics": metrics.fleet_json(report.measured, report.since, report.until),
            "trend": metrics.trend(fleet_metrics, step),
        },
        "services": services,
        "skipped": report.skipped,
        "unreadable": report.unreadable,
    }


# ---------------------------------------------------------------------------
# Human formats
# ---------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        h, m = divmod(round(seconds / 60), 60)
        return f"{h}h{m:02d}m" if m else f"{h}h"
    return f"{seconds / 86400:.1f}d"


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _restore_text(ttr: dict) -> str:
    if not (ttr["restored"] or ttr["unrestored"]):
        return "-"
    text = f"{duration(ttr['median_seconds'])} (worst {duration(ttr['worst_seconds'])})"
    if ttr["unrestored"]:
        oldest = max((o["age_seconds"] or 0) for o in ttr["open"]) if ttr.get("open") else None
        text += f", {ttr['unrestored']} open" + (f" (oldest {duration(oldest)})" if oldest is not None else "")
    if "pooled_median_seconds" in ttr:
        text += f"; pooled {duration(ttr['pooled_median_seconds'])}"
    return text


def cells(m: dict) -> dict[str, tuple[str, str | None]]:
    """Display text and band of each column, from a service's (or the fleet's) metrics JSON."""
    f, lt, cfr, ttr = m["deployment_frequency"], m["lead_time"], m["change_failure_rate"], m["time_to_restore"]
    b2p, rb = m["build_to_production"], m["rollback_duration"]
    rollbacks = rb["paved_rollback"]
    lead = (f"{duration(lt['median_seconds'])} (p90 {duration(lt['p90_seconds'])})"
            if lt["commits"] else ("-" if not lt.get("note") else "n/a"))
    if lt["commits"] and "pooled_median_seconds" in lt:
        lead = f"{duration(lt['median_seconds'])} (pooled {duration(lt['pooled_median_seconds'])})"
    if lt.get("dropped_non_positive"):
        lead += f", {lt['dropped_non_positive']} dropped (<= 0)"
    failure = f"{percent(cfr['rate'])} ({cfr['failed']}/{cfr['deployments']})"
    if "pooled_rate" in cfr:
        failure = f"{percent(cfr['rate'])} (pooled {percent(cfr['pooled_rate'])}, {cfr['failed']}/{cfr['deployments']})"
    return {
        "frequency": (f"{f['per_week']:.2f}/wk ({f['successful']} ok)"
                      + (f", {f['per_service_per_day_median'] * 7:.2f}/wk median service"
                         if f.get("per_service_per_day_median") is not None else ""),
                      f["band"]),
        "lead_time": (lead, lt["band"]),
        "change_failure_rate": (failure, cfr["band"]),
        "time_to_restore": (_restore_text(ttr), ttr["band"]),
        "build_to_production": (duration(b2p["median_seconds"]), None),
        "rollback": (f"{duration(rollbacks['median_seconds'])} ({rollbacks['count']})" if rollbacks["count"] else "-", None),
    }


BAND_STYLE = {"elite": "bold green", "high": "green", "medium": "yellow", "low": "red", None: "dim"}
COLUMNS = (("frequency", "Deploys"), ("lead_time", "Lead time"), ("change_failure_rate", "Change failure"),
           ("time_to_restore", "Failed deploy recovery"), ("build_to_production", "Build→prod"), ("rollback", "Rollback"))


# Columns a narrow terminal drops first have the highest number (docs/cli.md); errors read in "Deploys".
PRIORITY = {"frequency": 0, "lead_time": 0, "change_failure_rate": 0, "time_to_restore": 1,
            "build_to_production": 2, "rollback": 2}


def so_far(data: dict) -> str:
    """A window reaching past now: how many of its days have happened, which its rates divide by (without
    it, "30 days" beside 5 deployments at 3.33/wk reads as an error); "" for a window that is over."""
    w, now = data["window"], data.get("now")
    if not now or _dt.datetime.fromisoformat(now) >= _dt.datetime.fromisoformat(w["until"]):
        return ""
    days = max(0.0, (_dt.datetime.fromisoformat(now) - _dt.datetime.fromisoformat(w["since"])).total_seconds() / 86400)
    return f", {round(days, 1):g} of them up to now, which rates divide by"


def table(data: dict):
    """The metrics as an output.Table: a terminal table or plain aligned text (paved_road.output).
    Values are shown as typed there, so a service called `a[/]b` is text, not rich markup."""
    from paved_road import output

    w = data["window"]
    days = f"{w['days']:g} day" + ("" if w["days"] == 1 else "s") + so_far(data)
    title = (f"DORA metrics, {w['since'][:10]} .. {w['until'][:10]} ({days})"
             + (f", environment {data['environment']}" if data["environment"] else ""))
    columns = [output.Column("Service"), output.Column("Env", 3),
               *(output.Column(t, PRIORITY[k], wrap=k == "frequency") for k, t in COLUMNS)]

    def row(name: str, env: str, m: dict) -> tuple:
        values = cells(m)
        return (name, env, *((values[k][0] + (f" {values[k][1]}" if values[k][1] else ""), BAND_STYLE[values[k][1]])
                             for k, _ in COLUMNS))

    rows = []
    for s in data["services"]:
        if s["error"]:
            rows.append((s["name"], s["environment"] or "", (f"error: {s['error']}", "bold red"), *[""] * (len(COLUMNS) - 1)))
        else:
            rows.append(row(s["name"], s["environment"] or "", s["metrics"]))
    if len(data["services"]) > 1:
        rows.append(row(f"fleet ({data['fleet']['measured']})", data["environment"] or "", data["fleet"]["metrics"]))
    notes = []
    for s in data["services"]:
        m = s["metrics"]
        if m and m["lead_time"]["note"]:
            notes.append(f"{s['name']}: lead time: {m['lead_time']['note']}")
        for o in (m or {}).get("time_to_restore", {}).get("open", []):
            notes.append(f"{s['name']}: {o['release']} failed {o['started_at'][:16]} ({o['reason']}), "
                         f"still unrestored after {duration(o['age_seconds'])}")
        alarms = m and m.get("alarms")
        if alarms and alarms["failures_detected"]:
            notes.append(f"{s['name']}: alarms {', '.join(alarms['names'])}: {alarms['failures_detected']} failures "
                         f"detected, time to detect median {duration(alarms['time_to_detect']['median_seconds'])}, "
                         f"alarm to OK median {duration(alarms['alarm_to_ok']['median_seconds'])}")
    if len(data["services"]) > 1:
        notes.append(f"fleet: {data['fleet']['metrics']['lead_time']['roll_up']}")
    # a fleet's services whose answers file cannot be read: named here too, as in JSON and HTML (`-o FILE`)
    notes += [f"{u['label']}: not measured: {u['error']}" for u in data.get("unreadable", [])]
    return output.Table(columns=columns, rows=rows, title=title, notes=[*notes, f"bands: {data['bands']['source']}"],
                        empty="no service measured")


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------
def _esc(text) -> str:
    return str(escape("" if text is None else text))


def _nice(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^n at least value (a readable top of the y axis)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _nice_duration(seconds: float) -> float:
    steps = [60, 300, 900, 1800, 3600, 2 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400,
             14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400, 180 * 86400]
    return float(next((x for x in steps if x >= seconds), _nice(seconds / 86400) * 86400))


def _label(value: float, unit: str) -> str:
    if unit == "seconds":
        return duration(value)
    if unit == "share":
        return f"{round(value * 100, 1):g}%"
    return f"{value:g}"


def trend_svg(trend: list[dict], key: str, *, kind: str, label: str, width: int = 220, height: int = 48,
              unit: str = "count", thresholds: list[tuple[str, float]] = (), now: str | None = None) -> str:
    """A small inline SVG chart of one metric per trend bucket: bars for counts (failures drawn over
    deployments), a polyline with points for durations and rates. A y axis with its scale and unit
    (0 and the top), the x axis with the first and last bucket's date, the DORA band thresholds as
    dashed lines (those within the scale), and the last bucket marked when it is shorter (partial).
    The scale is the larger of the data and the band edge that matters (15% for failure rates), so
    a flat 5% does not draw full height."""
    values = [b.get(key) for b in trend]
    known = [v for v in values if v is not None]
    highest = max(known) if known else 0
    floor = max((v for _, v in thresholds), default=0) if unit == "share" else (
        min((v for _, v in thresholds), default=0) if unit == "seconds" else 0)
    wanted = max(highest, floor)
    scale = _nice_duration(wanted) if unit == "seconds" else (
        min(1.0, _nice(wanted)) if unit == "share" else _nice(max(wanted, 1)))
    top_label = (f"{scale / 86400:g}d" if unit == "seconds" and scale >= 86400 and scale % 86400 == 0
                 else _label(scale, unit))
    # The y axis' labels sit left of the plot: room for the longest (a low performer's "1000d" too).
    left, bottom, top_pad = max(34, 6 * len(top_label) + 6), 15, 4   # room below for the dates' descenders
    plot_w, plot_h = width - left - 2, height - bottom - top_pad
    n = max(1, len(trend))
    slot = plot_w / n

    def y(v: float) -> float:
        return top_pad + plot_h - plot_h * min(v, scale) / scale

    unit_text = {"seconds": "duration", "share": "share of deployments", "count": "deployments per bucket"}[unit]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend trend-{kind}" data-metric="{_esc(key)}" '
             f'data-scale="{scale:g}" data-unit="{unit}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{_esc(label)}, y axis 0 .. {_esc(_label(scale, unit))} ({unit_text})">'
             f'<title>{_esc(label)} (y: {unit_text}, 0 .. {_esc(_label(scale, unit))})</title>'
             f'<line class="axis" x1="{left}" y1="{top_pad + plot_h + 0.5}" x2="{width - 2}" y2="{top_pad + plot_h + 0.5}"/>'
             f'<line class="axis" x1="{left - 0.5}" y1="{top_pad}" x2="{left - 0.5}" y2="{top_pad + plot_h}"/>'
             f'<text class="tick" x="{left - 3}" y="{top_pad + 7}" text-anchor="end">{_esc(top_label)}</text>'
             f'<text class="tick" x="{left - 3}" y="{top_pad + plot_h}" text-anchor="end">0</text>']
    if trend:
        parts.append(f'<text class="tick" x="{left}" y="{height - 4}">{_esc(trend[0]["start"][5:10])}</text>'
                     f'<text class="tick" x="{width - 2}" y="{height - 4}" text-anchor="end">'
                     f'{_esc(trend[-1]["end"][5:10])}</text>')
    for band, value in thresholds:
        if value <= scale:
            parts.append(f'<line class="threshold" data-band="{band}" data-value="{value:g}" x1="{left}" '
                         f'y1="{y(value):.1f}" x2="{width - 2}" y2="{y(value):.1f}"><title>{band}: '
                         f'{_esc(_label(value, unit))}</title></line>')
    for i, b in enumerate(trend):
        if b.get("partial"):
            start, end = _dt.datetime.fromisoformat(b["start"]), _dt.datetime.fromisoformat(b["end"])
            days = round((end - start).total_seconds() / 86400, 1)
            text = f"partial bucket: {days:g} days"
            if now and _dt.datetime.fromisoformat(now) < end:   # the bucket now falls in: not over yet
                done = round(max(0.0, (_dt.datetime.fromisoformat(now) - start).total_seconds() / 86400), 1)
                text = f"partial bucket: {done:g} of its {days:g} days so far"
            parts.append(f'<rect class="partial" data-start="{_esc(b["start"])}" x="{left + i * slot:.1f}" y="{top_pad}" '
                         f'width="{slot:.1f}" height="{plot_h}"><title>{_esc(text)}</title></rect>')
    if kind == "bars":
        for i, b in enumerate(trend):
            total, failed = b["deployments"], b["failed"]
            x = left + i * slot + 1
            partial = ' data-partial="true"' if b.get("partial") else ""
            parts.append(f'<g class="bucket"{partial} data-start="{_esc(b["start"])}" data-value="{total}" data-failed="{failed}">'
                         f'<rect class="ok" x="{x:.1f}" y="{y(total):.1f}" width="{max(1.0, slot - 2):.1f}" '
                         f'height="{top_pad + plot_h - y(total):.1f}"/>'
                         f'<rect class="bad" x="{x:.1f}" y="{y(failed):.1f}" width="{max(1.0, slot - 2):.1f}" '
                         f'height="{top_pad + plot_h - y(failed):.1f}"/></g>')
    else:
        points = []
        for i, v in enumerate(values):
            if v is None:
                continue
            points.append((left + i * slot + slot / 2, y(v), v, trend[i]["start"]))
        if len(points) > 1:
            parts.append('<polyline class="line" points="' + " ".join(f"{x:.1f},{py:.1f}" for x, py, _, _ in points) + '"/>')
        for x, py, v, start in points:
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{py:.1f}" r="2.5" data-start="{_esc(start)}" '
                         f'data-value="{v:g}"><title>{_esc(_label(v, unit))}</title></circle>')
        if not points:
            parts.append(f'<text x="{left + 4}" y="{top_pad + plot_h / 2 + 4:.0f}" class="none">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


def _thresholds(key: str) -> list[tuple[str, float]]:
    table = bands.THRESHOLDS[key]
    return [(band, float(table[band])) for band in ("elite", "high", "medium")]


TREND_CHARTS = (
    ("deployments", "bars", "count", None, "deployments (failed in red) per bucket"),
    ("lead_time_median_seconds", "line", "seconds", "lead_time", "median lead time per bucket"),
    ("change_failure_rate", "line", "share", "change_failure_rate", "change failure rate per bucket"),
    ("time_to_restore_median_seconds", "line", "seconds", "time_to_restore",
     "median failed deployment recovery time per bucket (open failures at their age)"),
)


def time_html(iso: str | None) -> Markup:
    """A timestamp as `<time>`: the page's script shows it in the viewer's local time, the ISO (UTC)
    stays in `datetime` and as the title (and is the text when scripts are off)."""
    if not iso:
        return Markup("-")
    return Markup(f'<time datetime="{_esc(iso)}" title="{_esc(iso)}">{_esc(iso)}</time>')


MIN_REFRESH_SECONDS = 10


def render_html(data: dict, refresh: int | None = None) -> str:
    """The page; with `refresh`, a `<meta http-equiv="refresh">` reloads it every so many seconds
    (a wall screen showing a page that a scheduled `paved dora -o` rewrites)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("paved_road", "templates"), autoescape=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)

    def charts(trend: list[dict], big: bool = False) -> dict:
        w, h = (360, 120) if big else (200, 64)
        return {key: Markup(trend_svg(trend, key, kind=kind, label=label, width=w, height=h, unit=unit,
                                      thresholds=_thresholds(band_key) if band_key else (), now=data.get("now")))
                for key, kind, unit, band_key, label in TREND_CHARTS}

    days = data["window"]["trend_bucket_days"]
    per_bucket = [(band, rate * days) for band, rate in _thresholds("deployment_frequency")]

    def service_charts(trend: list[dict]) -> dict:
        out = charts(trend)
        # one service: the frequency bands as deployments per bucket (the fleet's band judges the median service)
        out["deployments"] = Markup(trend_svg(trend, "deployments", kind="bars", unit="count", width=200, height=64,
                                              label="deployments (failed in red) per bucket", thresholds=per_bucket,
                                              now=data.get("now")))
        return out

    services = [{**s, "cells": cells(s["metrics"]) if s["metrics"] else None, "charts": service_charts(s["trend"])}
                for s in data["services"]]
    return env.get_template("dora.html").render(
        data=data, services=services, fleet=data["fleet"], fleet_cells=cells(data["fleet"]["metrics"]),
        fleet_charts=charts(data["fleet"]["trend"], big=True), columns=COLUMNS, duration=duration,
        when=time_html, anchor=anchor, refresh=refresh, so_far=so_far(data),
    )
