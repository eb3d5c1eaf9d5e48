"""The preview page, opened in headless Chromium: aggregate at the top, a sortable row per service,
self-contained. The report is the one test_fleet_preview.py's fleet produces (its `preview_run`)."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser

import pytest

from headless_chromium import chromium, needs_chromium, screenshot
from paved_road.fleet.preview.command import render_html
from preview_fleet import CANDIDATE, DOC, PAVED, run_paved

pytestmark = needs_chromium


class _Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.summary, self.files, self.versions, self.external = [], {}, [], {}, []
        self._count_for = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) and re.match(r"^(https?:)?//", a[key]):
                self.external.append(a[key])
        if tag == "tr" and a.get("class") == "service":
            self.rows.append((a.get("data-name"), a.get("data-status")))
        if tag == "tr" and a.get("class") == "file":
            self.files.append(a["data-file"])
        if tag == "li" and a.get("data-summary"):
            self._count_for = a["data-summary"]
        if tag == "li" and a.get("data-version"):
            self.versions[a["data-version"]] = int(a["data-count"])

    def handle_data(self, data):
        if self._count_for and data.strip():
            self.summary[self._count_for] = int(data)
            self._count_for = None


@pytest.fixture(scope="module")
def page(preview_run, tmp_path_factory):
    _, rep, *_ = preview_run
    out = tmp_path_factory.mktemp("preview-page")
    html = out / "preview.html"
    html.write_text(render_html(rep))
    return html, rep, out


def _dom(out, html) -> _Dom:
    proc = chromium(out, "--dump-dom", html.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    return dom


def test_page_shows_the_aggregate_and_a_row_per_service(page):
    html, rep, out = page
    dom = _dom(out, html)
    assert dom.summary["total"] == rep["summary"]["total"] == len(dom.rows)
    assert {k: v for k, v in dom.summary.items() if k != "total"} == \
        {k: v for k, v in rep["summary"]["counts"].items() if v or k in ("clean", "conflicted")}
    assert dom.versions == rep["summary"]["from_versions"]
    assert dom.files == [DOC]
    assert sorted(dom.rows) == sorted((r["name"] or "", r["status"]) for r in rep["services"])
    assert dom.external == []  # self-contained
    assert "Escalate after 10 minutes." in html.read_text()  # the example hunk


def test_clicking_outcome_puts_failures_first(page):
    html, rep, out = page
    clicked = out / "clicked.html"
    clicked.write_text(html.read_text().replace(
        "</body>", "<script>document.querySelectorAll('#services th')[2].click();</script></body>"))
    statuses = [s for _, s in _dom(out, clicked).rows]
    first_ok = statuses.index("conflicted")
    assert set(statuses[:first_ok]) == {"migration_failed", "update_error", "unreadable"}
    assert statuses[first_ok:] == ["conflicted"] + ["clean"] * rep["summary"]["counts"]["clean"]


def test_screenshot(page):
    html, _, out = page
    png = screenshot(out, html, "preview.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_format_html_writes_the_page_with_o(preview_fleet, preview_template, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = run_paved(str(preview_fleet / "broken"), "--candidate", CANDIDATE, "--format", "html", "-o",
                     str(out / "p.html"), tmpdir=tmp_path / "tmp", template=preview_template)
    assert proc.returncode == 4 and proc.stdout == ""
    assert "wrote html to" in proc.stderr
    dom = _dom(out, out / "p.html")
    assert dom.rows == [("", "unreadable")] and dom.summary["unreadable"] == 1


def test_the_catalog_page_links_each_service_to_its_preview_row(page, preview_fleet):
    html, rep, out = page
    catalog = out / "catalog.html"
    proc = subprocess.run([PAVED, "catalog", str(preview_fleet), "--format", "html", "--preview", html.name,
                           "-o", str(catalog)], capture_output=True, text=True)
    assert proc.returncode == 4, proc.stderr  # broken's answers are unreadable
    dumped = chromium(out, "--dump-dom", catalog.as_uri()).stdout
    links = re.findall(r'<a class="preview" href="([^"#]+)#([^"]+)">', dumped)
    ids = set(re.findall(r'<tr class="service"[^>]* id="([^"]+)"', chromium(out, "--dump-dom", html.as_uri()).stdout))
    named = {r["name"] for r in rep["services"] if r["name"]}
    assert {page for page, _ in links} == {html.name}
    assert {frag for _, frag in links} == ids and len(ids) == len(named) == 7


def test_preview_link_needs_format_html(preview_fleet):
    proc = subprocess.run([PAVED, "catalog", str(preview_fleet), "--preview", "p.html"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("paved catalog: --preview links the html page")
