"""`paved dora` output: JSON (stable, `schema_version`), a terminal table and a
self-contained HTML page (inline CSS and SVG, no scripts or assets from
elsewhere). The JSON schema is documented in docs/dora.md; bump
SCHEMA_VERSION on any incompatible change."""

from __future__ import annotations

import datetime as _dt
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
            "aws_calls": s.aws_calls, "error": s.error,
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
        "environment": report.environment,
        "bands": {"source": bands.SOURCE, "thresholds": bands.THRESHOLDS},
        "fleet": {
            "services": len(report.services),
            "measured": len(report.measured),
            "errors": sum(1 for s in report.services if s.error),
            "metrics": metrics.fleet_json(report.measured, report.since, report.until),
            "trend": metrics.trend(fleet_metrics, step),
        },
        "services": services,
        "skipped": report.skipped,
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


def cells(m: dict) -> dict[str, tuple[str, str | None]]:
    """Display text and band of each column, from a service's (or the fleet's) metrics JSON."""
    f, lt, cfr, ttr = m["deployment_frequency"], m["lead_time"], m["change_failure_rate"], m["time_to_restore"]
    b2p, rb = m["build_to_production"], m["rollback_duration"]
    rollbacks = rb["paved_rollback"]
    return {
        "frequency": (f"{f['per_week']:.2f}/wk ({f['successful']} ok)"
                      + (f", {f['per_service_per_day'] * 7:.2f}/wk per service" if "per_service_per_day" in f else ""),
                      f["band"]),
        "lead_time": (f"{duration(lt['median_seconds'])} (p90 {duration(lt['p90_seconds'])})"
                      if lt["commits"] else ("-" if not lt.get("note") else "n/a"), lt["band"]),
        "change_failure_rate": (f"{percent(cfr['rate'])} ({cfr['failed']}/{cfr['deployments']})", cfr["band"]),
        "time_to_restore": (f"{duration(ttr['median_seconds'])} (worst {duration(ttr['worst_seconds'])})"
                            if ttr["restored"] else "-", ttr["band"]),
        "build_to_production": (duration(b2p["median_seconds"]), None),
        "rollback": (f"{duration(rollbacks['median_seconds'])} ({rollbacks['count']})" if rollbacks["count"] else "-", None),
    }


BAND_STYLE = {"elite": "bold green", "high": "green", "medium": "yellow", "low": "red", None: "dim"}
COLUMNS = (("frequency", "Deploys"), ("lead_time", "Lead time"), ("change_failure_rate", "Change failure"),
           ("time_to_restore", "Time to restore"), ("build_to_production", "Build→prod"), ("rollback", "Rollback"))


# Columns a narrow terminal drops first have the highest number (docs/cli.md); errors read in "Deploys".
PRIORITY = {"frequency": 0, "lead_time": 0, "change_failure_rate": 0, "time_to_restore": 1,
            "build_to_production": 2, "rollback": 2}


def table(data: dict):
    """The metrics as an output.Table: a terminal table or plain aligned text (paved_road.output)."""
    from paved_road import output

    w = data["window"]
    days = f"{w['days']:g} day" + ("" if w["days"] == 1 else "s")
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
    notes = [f"{s['name']}: lead time: {s['metrics']['lead_time']['note']}" for s in data["services"]
             if s["metrics"] and s["metrics"]["lead_time"]["note"]]
    return output.Table(columns=columns, rows=rows, title=title, notes=[*notes, f"bands: {data['bands']['source']}"])


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------
def _esc(text) -> str:
    return str(escape("" if text is None else text))


def trend_svg(trend: list[dict], key: str, *, kind: str, label: str, width: int = 220, height: int = 48) -> str:
    """A small inline SVG chart of one metric per trend bucket: bars for counts
    (failures drawn over deployments), a polyline with points for durations and rates."""
    n = max(1, len(trend))
    slot = width / n
    values = [b.get(key) for b in trend]
    known = [v for v in values if v is not None]
    top = max(known) if known else 0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="trend trend-{kind}" data-metric="{_esc(key)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(label)}">'
             f'<title>{_esc(label)}</title>'
             f'<line class="axis" x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}"/>']
    if kind == "bars":
        for i, b in enumerate(trend):
            total, failed = b["deployments"], b["failed"]
            h = 0 if not top else (height - 4) * total / top
            fh = 0 if not top else (height - 4) * failed / top
            x = i * slot + 1
            parts.append(f'<g class="bucket" data-start="{_esc(b["start"])}" data-value="{total}" data-failed="{failed}">'
                         f'<rect class="ok" x="{x:.1f}" y="{height - h:.1f}" width="{max(1.0, slot - 2):.1f}" height="{h:.1f}"/>'
                         f'<rect class="bad" x="{x:.1f}" y="{height - fh:.1f}" width="{max(1.0, slot - 2):.1f}" height="{fh:.1f}"/>'
                         f'</g>')
    else:
        points = []
        for i, v in enumerate(values):
            if v is None:
                continue
            x = i * slot + slot / 2
            y = height - 4 - (0 if not top else (height - 8) * v / top)
            points.append((x, y, v, trend[i]["start"]))
        if len(points) > 1:
            parts.append('<polyline class="line" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points) + '"/>')
        for x, y, v, start in points:
            parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" data-start="{_esc(start)}" data-value="{v:g}"/>')
        if not points:
            parts.append(f'<text x="4" y="{height / 2 + 4:.0f}" class="none">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


TREND_CHARTS = (
    ("deployments", "bars", "deployments (failed in red) per bucket"),
    ("lead_time_median_seconds", "line", "median lead time per bucket"),
    ("change_failure_rate", "line", "change failure rate per bucket"),
    ("time_to_restore_median_seconds", "line", "median time to restore per bucket"),
)


def render_html(data: dict) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("paved_road", "templates"), autoescape=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)

    def charts(trend: list[dict], big: bool = False) -> dict:
        w, h = (320, 90) if big else (160, 36)
        return {key: Markup(trend_svg(trend, key, kind=kind, label=label, width=w, height=h))
                for key, kind, label in TREND_CHARTS}

    services = [{**s, "cells": cells(s["metrics"]) if s["metrics"] else None, "charts": charts(s["trend"])}
                for s in data["services"]]
    return env.get_template("dora.html").render(
        data=data, services=services, fleet=data["fleet"], fleet_cells=cells(data["fleet"]["metrics"]),
        fleet_charts=charts(data["fleet"]["trend"], big=True), columns=COLUMNS, duration=duration,
    )
