"""The published catalog page, opened in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from headless_chromium import chromium as _chromium, needs_chromium, screenshot
from catalog_fleet import SERVICES

PAVED = str(Path(sys.executable).with_name("paved"))
pytestmark = needs_chromium


class _Dom(HTMLParser):
    """Rows, summary counts, chart bars and every external reference in a DOM dump."""

    def __init__(self):
        super().__init__()
        self.rows, self.summary, self.bars, self.external = [], {}, {}, []
        self._count_for = None
        self._in_count = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) and re.match(r"^(https?:)?//", a[key]):
                self.external.append(a[key])
        if tag == "tr" and "service" in (a.get("class") or "").split():
            self.rows.append((a.get("data-name"), a.get("data-drift")))
        if tag == "li" and (a.get("data-drift") or a.get("data-summary")):
            self._count_for = a.get("data-drift") or a.get("data-summary")
        if tag == "span" and a.get("class") == "count" and self._count_for:
            self._in_count = True
        if tag == "g" and a.get("class") == "version-bar":
            self.bars[a["data-version"]] = int(a["data-count"])

    def handle_data(self, data):
        if self._in_count and data.strip():
            self.summary[self._count_for] = int(data)
            self._in_count, self._count_for = False, None


@pytest.fixture(scope="module")
def page(fleet_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("page")
    html = out / "catalog.html"
    data = json.loads(subprocess.run([PAVED, "catalog", str(fleet_root), "--format", "json"],
                                     capture_output=True, text=True).stdout)
    proc = subprocess.run([PAVED, "catalog", str(fleet_root), "--format", "html", "-o", str(html)],
                          capture_output=True, text=True)
    assert proc.returncode == 4, proc.stderr  # the fleet has one unreadable entry
    return html, data, out


def test_page_renders_in_chromium_with_a_row_per_service(page):
    html, data, out = page
    proc = _chromium(out, "--dump-dom", html.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    assert len(dom.rows) == data["summary"]["total"]
    by_name = {name: drift for name, drift in dom.rows if name}
    json_drift = {s["name"]: s["drift"] for s in data["services"] if s["name"]}
    assert by_name == json_drift and set(by_name) == set(SERVICES)
    assert sum(1 for _, drift in dom.rows if drift == "error") == data["summary"]["errors"]
    # Summary counts on the page are the JSON's.
    assert {d: dom.summary[d] for d in data["summary"]["drift"]} == data["summary"]["drift"]
    assert dom.summary["behind"] == data["summary"]["behind"]
    assert dom.summary["total"] == data["summary"]["total"]
    # The chart has one bar per version in use, with the JSON's counts.
    assert dom.bars == data["summary"]["versions"]
    # Self-contained: nothing loaded from elsewhere.
    assert dom.external == []


def test_screenshot(page):
    html, _, out = page
    png = screenshot(out, html, "catalog.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_clicking_a_header_sorts_the_rows(page):
    """The sort script runs in the browser: dump the DOM after clicking "Drift" twice."""
    html, data, out = page
    clicked = out / "clicked.html"
    clicked.write_text(html.read_text().replace(
        "</body>",
        "<script>const th = document.querySelectorAll('#services th')[6]; th.click(); th.click();</script></body>",
    ))
    proc = _chromium(out, "--dump-dom", clicked.as_uri())
    dom = _Dom()
    dom.feed(proc.stdout)
    order = ["error", "unknown", "major", "minor", "patch", "none"]
    drifts = [d for _, d in dom.rows]
    assert drifts == sorted(drifts, key=order.index)
