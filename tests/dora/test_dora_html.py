"""The `paved dora` page, opened in headless Chromium (DOM dump and a screenshot),
for the hand-computed scenario (scenario.py)."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser

import pytest

from headless_chromium import STRICT_CSP, WIDTHS, chromium as _chromium, dump_dom, geometry, needs_chromium, png_size, screenshot
from paved_road.dora import metrics, report
from paved_road.dora.gitlog import ReleaseRepo
from dora_scenario import ORDERS, PAYMENTS, PUSHED, SINCE, UNTIL, deployments, git_repo, t

pytestmark = needs_chromium


class _Dom(HTMLParser):
    """Service rows with their metric cells (text and band), fleet cards, chart buckets, external refs."""

    def __init__(self):
        super().__init__()
        self.rows: dict[str, dict] = {}
        self.fleet: dict[str, str] = {}
        self.charts: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
        self.external: list[str] = []
        self.scripts = 0
        self._row = self._cell = self._chart = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) and re.match(r"^(https?:)?//", a[key]):
                self.external.append(a[key])
        if tag == "script":
            self.scripts += 1
        if tag == "tr" and "service" in (a.get("class") or "").split():
            self._row = a["data-name"]
            self.rows[self._row] = {"id": a.get("id"), "cells": {}}
        if tag == "td" and a.get("data-metric") and self._row:
            self._cell = a["data-metric"]
            self._text = []
            self.rows[self._row]["cells"][self._cell] = {"band": a.get("data-band") or None}
        if tag == "li" and a.get("data-metric"):
            self.fleet[a["data-metric"]] = a.get("data-band") or None
        if tag == "svg" and a.get("data-metric"):
            self._chart = (self._row or "fleet", a["data-metric"])
            self.charts[self._chart] = []
        if tag == "g" and a.get("class") == "bucket" and self._chart:
            self.charts[self._chart].append((a["data-start"], a["data-value"], a["data-failed"]))
        if tag == "circle" and self._chart:
            self.charts[self._chart].append((a["data-start"], a["data-value"]))

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None
        if tag == "td" and self._cell:
            self.rows[self._row]["cells"][self._cell]["text"] = "".join(self._text).split("\n")[0].strip()
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell and not self._chart:
            self._text.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("dora-page")
    repo = ReleaseRepo(git_repo(out / "orders"))
    rep = report.Report(since=SINCE, until=UNTIL, environment="production")
    rep.services = [
        report.ServiceReport(name="orders", cluster="apps-production", service="orders", environment="production",
                             environment_source="tag",
                             metrics=metrics.compute(deployments(ORDERS), SINCE, UNTIL, commits=repo.commits,
                                                     pushed_at=lambda d: t(PUSHED[d.release]))),
        report.ServiceReport(name="payments", cluster="apps-production", service="payments", environment="production",
                             environment_source="cluster-name",
                             metrics=metrics.compute(deployments(PAYMENTS, "payments"), SINCE, UNTIL)),
        report.ServiceReport(name="ghost", cluster="apps-production", service="ghost",
                             error="service ghost not found in cluster apps-production"),
    ]
    data = report.to_json(rep)
    html = out / "dora.html"
    html.write_text(report.render_html(data))
    return html, data, out


def test_page_shows_the_four_metrics_and_bands_per_service(page):
    html, data, out = page
    proc = _chromium(out, "--dump-dom", html.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    assert set(dom.rows) == {"orders", "payments", "ghost"}
    orders = dom.rows["orders"]
    assert orders["id"] == "dora-orders"  # what `paved catalog` links to
    cells = orders["cells"]
    assert {k: v["band"] for k, v in cells.items() if k in ("frequency", "lead_time", "change_failure_rate", "time_to_restore")} == {
        "frequency": "high", "lead_time": "elite", "change_failure_rate": "low", "time_to_restore": "elite"}
    assert cells["frequency"]["text"].startswith("1.17/wk (5 ok)")
    assert cells["lead_time"]["text"].startswith("12h40m (p90 2.0d)")
    assert cells["change_failure_rate"]["text"].startswith("33.3% (2/6)")
    assert cells["time_to_restore"]["text"].startswith("48m (worst 1h05m)")
    assert cells["build_to_production"]["text"] == "30m"
    assert cells["rollback"]["text"] == "5m (1)"
    payments = dom.rows["payments"]["cells"]
    assert payments["frequency"]["band"] == "low" and payments["change_failure_rate"]["band"] is None
    assert "cells" in dom.rows["ghost"] and dom.rows["ghost"]["cells"] == {}
    assert dom.fleet == {"frequency": "medium", "lead_time": "elite", "change_failure_rate": "low", "time_to_restore": "elite"}


def test_trend_charts_carry_the_weekly_buckets(page):
    html, data, out = page
    dom = _Dom()
    dom.feed(_chromium(out, "--dump-dom", html.as_uri()).stdout)
    bars = dom.charts[("orders", "deployments")]
    assert [(v, f) for _, v, f in bars] == [("3", "1"), ("2", "1"), ("0", "0"), ("1", "0"), ("0", "0")]
    assert [b[0][:10] for b in bars] == ["2026-03-01", "2026-03-08", "2026-03-15", "2026-03-22", "2026-03-29"]
    assert [v for _, v in dom.charts[("orders", "lead_time_median_seconds")]] == ["49800", "11400", "87000"]
    assert [v for _, v in dom.charts[("fleet", "time_to_restore_median_seconds")]] == ["1800", "3900"]
    # Self-contained: nothing loaded from elsewhere; one inline script (local times).
    assert dom.external == [] and dom.scripts == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_wall_screen_layout(page, width):
    """At 1280 and 1920 px: the four headline cards on one row, every chart's marks inside its
    viewBox (the lead-time line once reached y=266 in a 90-px chart), no element's box outside its
    container, no horizontal scrolling; the screenshot has the window's size."""
    html, _, out = page
    g = geometry(out, html, width)
    assert g["charts"] == 4 * 3 and g["chartsOutside"] == [], g["chartsOutside"]
    assert g["boxesOutside"] == [], g["boxesOutside"]
    assert g["scrollWidth"] <= g["innerWidth"] == width
    assert [c["metric"] for c in g["cards"]] == ["frequency", "lead_time", "change_failure_rate", "time_to_restore"]
    assert len({round(c["top"]) for c in g["cards"]}) == 1, g["cards"]
    png = screenshot(out, html, f"dora-{width}.png", width=width, height=1000)
    assert png_size(png) == (width, 1000) and len(png) > 10_000


def test_legend_is_visible_text_and_times_are_local(page):
    """The legend is on the page (not hover text); times keep their ISO as `datetime` and title and
    are shown in the viewer's zone (Chromium here runs with TZ=Asia/Tokyo)."""
    html, data, out = page
    import os
    env_tz = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    try:
        dom = dump_dom(out, html)
    finally:
        if env_tz is None:
            os.environ.pop("TZ")
        else:
            os.environ["TZ"] = env_tz
    legend = re.search(r'<ul class="legend" id="legend">(.*?)</ul>', dom, re.S).group(1)
    text = re.sub(r"<[^>]+>", " ", legend)
    for words in ("deployments per 7-day bucket", "failed deployments", "per bucket: median lead time", "elite edge",
                  "high edge", "medium edge", "partial"):
        assert words in text, text
    times = re.findall(r'<time datetime="([^"]+)" title="([^"]+)" data-local="true">([^<]+)</time>', dom)
    assert {iso for iso, _, _ in times} >= {data["window"]["since"], data["window"]["until"], data["generated_at"]}
    assert all(iso == title and shown != iso for iso, title, shown in times), times
    # 2026-04-01T00:00:00+00:00 (the window's end) is 9:00 in Tokyo.
    until = next(shown for iso, _, shown in times if iso == data["window"]["until"])
    assert "9:00" in until and "2026" in until, until


def test_without_scripts_times_read_as_iso_utc(page):
    """Under a strict CSP (no script runs; the same as JavaScript off): times stay ISO 8601 UTC, nothing is lost."""
    html, data, out = page
    dom = dump_dom(out, html, csp=STRICT_CSP)
    times = re.findall(r'<time datetime="([^"]+)" title="[^"]+">([^<]+)</time>', dom)
    assert times and all(iso == shown for iso, shown in times)
    assert 'data-local="true"' not in dom


def test_refresh_option_reloads_the_page(page, tmp_path):
    _, data, _ = page
    assert '<meta http-equiv="refresh" content="60">' in report.render_html(data, refresh=60)
    assert "http-equiv" not in report.render_html(data)
    from dora_sim_world import PAVED
    out = tmp_path / "dora.html"
    for argv in (["--refresh", "5", "--format", "html"], ["--refresh", "60"]):
        proc = subprocess.run([PAVED, "dora", "--cluster", "c", "--service", "s", *argv, "-o", str(out)],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--refresh" in proc.stderr, proc.stderr
        assert not out.exists()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.skipped = {}, set(), []
        self._href, self._in_skipped = None, False

    def handle_endtag(self, tag):
        if tag == "ul":
            self._in_skipped = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "li" and self._in_skipped:
            self.skipped.append(a["id"])
        if tag == "ul" and a.get("id") == "skipped":
            self._in_skipped = True
        if tag == "a" and a.get("class") == "dora":
            self._href = a["href"]

    def handle_data(self, data):
        if self._href and data.strip():
            self.links[data.strip()] = self._href
            self._href = None


def test_catalog_links_each_service_to_its_dora_row(tmp_path):
    """`paved dora --catalog DIR --format html` and `paved catalog DIR --format html --dora PAGE`
    run together: every service measured has a link in the catalog page that lands on its row."""
    from dora_sim_world import PAVED, Sim, catalog, scenario_seed

    fleet = catalog(tmp_path / "fleet")
    out = tmp_path / "site"
    out.mkdir()
    sim = Sim(scenario_seed(), tmp_path)
    try:
        proc = subprocess.run([PAVED, "dora", "--catalog", str(fleet), "--since", "2026-03-01", "--until", "2026-03-31",
                               "--format", "html", "-o", str(out / "dora.html")], capture_output=True, text=True, env=sim.env)
        assert proc.returncode == 0, proc.stderr
    finally:
        sim.stop()
    proc = subprocess.run([PAVED, "catalog", str(fleet), "--format", "html", "--dora", "dora.html",
                           "-o", str(out / "catalog.html")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    pages = {}
    for name in ("catalog", "dora"):
        dom = _Links()
        dom.feed(_chromium(out, "--dump-dom", (out / f"{name}.html").as_uri()).stdout)
        pages[name] = dom
    links = pages["catalog"].links
    assert links == {name: f"dora.html#dora-{name}" for name in ("legacy", "orders", "payments")}
    # Every link lands on an element of the real DORA page of the same fleet: the measured services on
    # their rows, legacy (staging, not on a production page) on its line under "Not in environment".
    for name, href in links.items():
        assert href.split("#")[1] in pages["dora"].ids, f"{name}: {href} has no target"
    assert pages["dora"].skipped == ["dora-legacy"]
    # Without --format html the option is refused, one line, exit 2.
    proc = subprocess.run([PAVED, "catalog", str(fleet), "--dora", "dora.html"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--dora" in proc.stderr


@pytest.mark.parametrize("days", [100, 365, 1000])
def test_long_lead_times_keep_the_axis_label_inside_the_chart(page, tmp_path, days):
    """A low performer's lead time (months): the y axis' top label ("180.0d", "1000.0d") once ran off
    the chart's left edge; the geometry check finds any text outside its chart."""
    import copy
    _, data, _ = page
    data = copy.deepcopy(data)
    for trend in [data["fleet"]["trend"]] + [s["trend"] for s in data["services"]]:
        for bucket in trend:
            bucket["lead_time_median_seconds"] = days * 86400.0
    html = tmp_path / "dora.html"
    html.write_text(report.render_html(data))
    g = geometry(tmp_path, html, 1280)
    assert g["chartsOutside"] == [] and g["boxesOutside"] == [], (g["chartsOutside"], g["boxesOutside"])


@pytest.mark.parametrize("width", WIDTHS)
def test_a_long_service_name_keeps_the_table_on_the_screen(page, tmp_path, width):
    """A 100-character service name without a hyphen once pushed the table 450 px past a 1280-px screen."""
    import copy
    _, data, _ = page
    data = copy.deepcopy(data)
    data["services"][0]["name"] = data["services"][0]["cluster"] = "orders" + "verylongname" * 8
    html = tmp_path / "dora.html"
    html.write_text(report.render_html(data))
    g = geometry(tmp_path, html, width)
    assert g["boxesOutside"] == [], g["boxesOutside"]
    assert g["scrollWidth"] <= g["innerWidth"] == width


def test_legend_names_what_the_failure_rate_line_is(page):
    """The legend said every line is a "median per bucket"; the change failure rate line is a share
    (failed / deployments) per bucket."""
    html, _, _ = page
    legend = re.search(r'<ul class="legend" id="legend">(.*?)</ul>', html.read_text(), re.S).group(1)
    line = next(li for li in re.findall(r"<li>(.*?)</li>", legend, re.S) if "<circle" in li)
    text = re.sub(r"<[^>]+>", "", line)
    assert "median lead time and recovery time" in text and "change failure rate" in text, text
