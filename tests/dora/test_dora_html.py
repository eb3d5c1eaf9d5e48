"""The `paved dora` page, opened in headless Chromium (DOM dump and a screenshot),
for the hand-computed scenario (scenario.py)."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser

import pytest

from headless_chromium import chromium as _chromium, needs_chromium, screenshot
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
    # Self-contained: no scripts, nothing loaded from elsewhere.
    assert dom.external == [] and dom.scripts == 0


def test_screenshot(page):
    html, _, out = page
    png = screenshot(out, html, "dora.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = {}, set()
        self._href = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
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
    # The measured services' links land on their rows (legacy is staging: not on a production page).
    assert {"dora-orders", "dora-payments"} <= pages["dora"].ids and "dora-legacy" not in pages["dora"].ids
    # Without --format html the option is refused, one line, exit 2.
    proc = subprocess.run([PAVED, "catalog", str(fleet), "--dora", "dora.html"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--dora" in proc.stderr
