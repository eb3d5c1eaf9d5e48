"""Issue 23: the table and the page escape every name; charts carry axes, units, band thresholds and
the partial last bucket; open failures and the fleet's two roll-ups are shown (no browser needed)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

from rich.console import Console

from paved_road import output
from paved_road.dora import SCHEMA_VERSION, metrics, report
from dora_scenario import ORDERS, SINCE, UNTIL, deployments

NASTY = "pay[/]ments<script>x</script>"


def _data(name: str = NASTY, now=UNTIL) -> dict:
    rows = [("1.0.0", "deploy", "SUCCESSFUL", "03-01 10:00", "03-01 10:10"),
            ("1.1.0", "deploy", "ROLLBACK_FAILED", "03-29 10:00", "03-29 11:00")]
    rep = report.Report(since=SINCE, until=UNTIL, environment="production", now=now)
    rep.services = [
        report.ServiceReport(name=name, cluster="apps-[b]production[/b]", environment="production",
                             metrics=metrics.compute(deployments(rows), SINCE, UNTIL, now=now)),
        report.ServiceReport(name="orders", cluster="apps-production", environment="production",
                             metrics=metrics.compute(deployments(ORDERS), SINCE, UNTIL, now=now)),
        report.ServiceReport(name="err[/]or", cluster="c", error="AccessDenied [/] <b>"),
    ]
    return report.to_json(rep)


def _table(data: dict) -> str:
    buf = io.StringIO()
    output.render_table(report.table(data), Console(file=buf, width=400, color_system=None))  # the terminal path
    return buf.getvalue()


def test_the_table_prints_names_with_rich_markup_literally_and_shows_the_open_failure():
    """Before: `[/]` in a name raised rich's MarkupError (the command crashed)."""
    out = _table(_data())
    assert NASTY in out and "err[/]or" in out and "AccessDenied [/] <b>" in out
    # The open failure: 03-29 10:00 -> the run at 03-31 00:00 = 38 h (1.6 d), counted in the median at that age.
    assert "1.6d (worst 1.6d), 1 open (oldest 1.6d) medium" in out
    assert f"{NASTY}: 1.1.0 failed 2026-03-29T10:00 (rollback-failed), still unrestored after 1.6d" in out
    # the fleet: median of the service medians (136800, 2850 -> 69825 s = 19h24m), pooled 3900 s beside it
    assert "19h24m (worst 1.6d), 1 open (oldest 1.6d); pooled 1h05m high" in out
    assert "41.7% (pooled 37.5%, 3/8) low" in out


def test_the_page_escapes_names_and_shows_the_open_failure():
    html = report.render_html(_data())
    assert "<script>x</script>" not in html
    assert "pay[/]ments&lt;script&gt;x&lt;/script&gt;" in html
    assert "AccessDenied [/] &lt;b&gt;" in html
    assert re.search(r'<span class="open" data-open="1.1.0">1.1.0 unrestored for 1.6d \(rollback-failed\)</span>', html)


class _Charts(HTMLParser):
    def __init__(self):
        super().__init__()
        self.charts: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and a.get("data-metric"):
            self.charts.append({"metric": a["data-metric"], "scale": a["data-scale"], "unit": a["data-unit"],
                                "thresholds": [], "ticks": [], "partial": 0, "axes": 0})
        elif self.charts and tag == "line" and a.get("class") == "threshold":
            self.charts[-1]["thresholds"].append((a["data-band"], a["data-value"]))
        elif self.charts and tag == "line" and a.get("class") == "axis":
            self.charts[-1]["axes"] += 1
        elif self.charts and tag == "rect" and a.get("class") == "partial":
            self.charts[-1]["partial"] += 1
        self._tick = tag == "text" and a.get("class") == "tick"

    def handle_data(self, data):
        if getattr(self, "_tick", False) and self.charts:
            self.charts[-1]["ticks"].append(data)
            self._tick = False


def test_charts_have_axes_units_band_thresholds_and_mark_the_partial_bucket():
    """Before: no y scale, each chart scaled to its own maximum, no thresholds, the last 2-day bucket of a
    30-day window drawn as a full week."""
    data = _data()
    dom = _Charts()
    dom.feed(report.render_html(data))
    orders = {c["metric"]: c for c in dom.charts[8:12]}     # fleet (4), the first service (4), then orders
    cfr = orders["change_failure_rate"]
    # orders: weekly failure rates 1/3 and 1/2: scale 0 .. 50%, the three band edges drawn.
    assert (cfr["unit"], cfr["scale"], cfr["axes"], cfr["partial"]) == ("share", "0.5", 2, 1)
    assert cfr["thresholds"] == [("elite", "0.05"), ("high", "0.1"), ("medium", "0.15")]
    assert cfr["ticks"] == ["50%", "0", "03-01", "03-31"]
    # a flat 5% is drawn against the 15% medium edge (scale 20%), not full height
    flat = _Charts()
    flat.feed(report.trend_svg([{"start": "2026-03-01T00:00:00+00:00", "end": "2026-03-08T00:00:00+00:00",
                                 "change_failure_rate": 0.05}], "change_failure_rate", kind="line", label="cfr",
                               unit="share", thresholds=[("elite", 0.05), ("high", 0.1), ("medium", 0.15)]))
    assert flat.charts[0]["scale"] == "0.2"
    # lead time's scale is a duration: orders' weekly medians reach 87000 s -> 2 days; edges <= 2 days drawn
    restore = orders["time_to_restore_median_seconds"]
    assert restore["unit"] == "seconds" and restore["thresholds"] == [("elite", "3600")]
    # one service's deployments per 7-day bucket: elite = 7 (daily), high = 1 (weekly), medium = 0.233
    bars = orders["deployments"]
    assert bars["scale"] == "5" and bars["thresholds"] == [("high", "1"), ("medium", "0.233333")]


def test_json_schema_version_is_2_with_now_coverage_and_dora_names():
    data = _data()
    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert data["now"] == "2026-03-31T00:00:00+00:00"
    assert data["coverage"] == {"covered_since": None, "warnings": []}
    assert data["bands"]["names"]["time_to_restore"] == "failed deployment recovery time"
    fleet = data["fleet"]["metrics"]
    assert fleet["lead_time"]["roll_up"].startswith("median of per-service")
    assert {"pooled_median_seconds", "pooled_band", "services"} <= set(fleet["time_to_restore"])
    assert data["services"][0]["trend"][-1]["partial"] is True


def test_the_page_lists_answers_files_that_cannot_be_read():
    """A fleet service whose answers file cannot be read is named on the page (escaped), not dropped."""
    rep = report.Report(since=SINCE, until=UNTIL, environment="production", now=UNTIL)
    rep.unreadable = [{"label": "acme/<b>broken</b>", "error": ".copier-answers.yml is not valid YAML"}]
    data = report.to_json(rep)
    assert data["unreadable"] == rep.unreadable
    html = report.render_html(data)
    assert ('<li>acme/&lt;b&gt;broken&lt;/b&gt;: .copier-answers.yml is not valid YAML; not measured</li>'
            in html)
    # the page's count says so too: not "0 of 0 services measured" for a fleet of one unreadable service
    assert re.search(r"0 of 0 services measured, 1 not read \(answers file unreadable, listed below\),", html)


def test_the_table_names_answers_files_that_cannot_be_read():
    """The table (terminal and plain, so also `-o report.txt`) names each service not measured because its
    answers file cannot be read, as JSON and HTML do; a fleet where none could be read says so instead of an
    empty header."""
    data = _data()
    data["unreadable"] = [{"label": "acme/broken", "error": ".copier-answers.yml is not valid YAML"}]
    out = _table(data)
    assert "acme/broken: not measured: .copier-answers.yml is not valid YAML" in out
    assert "acme/broken: not measured" in output.render_plain(report.table(data))
    rep = report.Report(since=SINCE, until=UNTIL, environment="production", now=UNTIL)
    rep.unreadable = [{"label": "acme/broken", "error": ".copier-answers.yml is not valid YAML"}]
    none = output.render_plain(report.table(report.to_json(rep)))
    assert none.splitlines()[0] == "no service measured"
    assert "acme/broken: not measured: .copier-answers.yml is not valid YAML" in none


def test_a_window_reaching_past_now_says_how_many_of_its_days_its_rates_divide_by():
    """March, run on 03-11 12:00: the table's title and the page said "(30 days)" beside rates divided by the
    10.5 days so far, and the week now falls in was hatched as "partial bucket: 7 days" (a shorter bucket)."""
    from dora_scenario import t

    data = _data("payments", now=t("03-11 12:00"))
    title = _table(data).splitlines()[0].rstrip()
    assert title == ("DORA metrics, 2026-03-01 .. 2026-03-31 (30 days, 10.5 of them up to now, which rates divide "
                     "by), environment production")
    assert data["services"][1]["metrics"]["covered_days"] == 10.5
    html = report.render_html(data)
    assert "(30.0 days, 10.5 of them up to now, which rates divide by, environment" in html
    assert "partial bucket: 3.5 of its 7 days so far" in html and "partial bucket: 7 days" not in html
    # a window that is over says nothing more, and its short last bucket is still a shorter one
    over = _data("payments")
    assert "up to now" not in _table(over).splitlines()[0]
    assert "partial bucket: 2 days" in report.render_html(over)
