"""The published catalog page, opened in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from headless_chromium import STRICT_CSP, WIDTHS, chromium as _chromium, dump_dom, geometry, needs_chromium, png_size, screenshot
from catalog_fleet import SERVICES

PAVED = str(Path(sys.executable).with_name("paved"))
pytestmark = needs_chromium


class _Dom(HTMLParser):
    """Rows, summary counts, chart bars and every external reference in a DOM dump."""

    def __init__(self):
        super().__init__()
        self.rows, self.summary, self.bars, self.external = [], {}, {}, []
        self.hidden, self.placeholders = [], {}
        self._count_for = None
        self._in_count = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) and re.match(r"^(https?:)?//", a[key]):
                self.external.append(a[key])
        if tag == "tr" and "service" in (a.get("class") or "").split():
            self.rows.append((a.get("data-name"), a.get("data-drift")))
            self.hidden.append("hidden" in a)
        if tag == "td" and "data-placeholders" in a:
            self.placeholders[self.rows[-1][0]] = [p for p in a["data-placeholders"].split(",") if p]
        if tag in ("li", "span") and (a.get("data-drift") or a.get("data-summary")):
            self._count_for = a.get("data-drift") or a.get("data-summary")
        if tag == "span" and a.get("class") in ("count", "count-inline") and self._count_for:
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


@pytest.mark.parametrize("width", WIDTHS)
def test_wall_screen_layout(page, width):
    """At 1280 and 1920 px: no element's box outside its container, no chart mark outside its
    viewBox, no horizontal scrolling; the screenshot has the window's size."""
    html, _, out = page
    g = geometry(out, html, width)
    assert g["charts"] >= 1 and g["chartsOutside"] == [], g["chartsOutside"]
    assert g["boxesOutside"] == [], g["boxesOutside"]
    assert g["scrollWidth"] <= g["innerWidth"] == width
    png = screenshot(out, html, f"catalog-{width}.png", width=width, height=1000)
    assert png_size(png) == (width, 1000) and len(png) > 10_000


def test_summary_adds_up_and_names_the_services_with_demo_values(page):
    html, data, out = page
    text = dump_dom(out, html)
    dom = _Dom()
    dom.feed(text)
    s = data["summary"]
    # current + behind (patch + minor + major) + unknown + unreadable = total, each shown on the page.
    assert dom.summary["none"] + dom.summary["behind"] + dom.summary["unknown"] + dom.summary["errors"] == dom.summary["total"]
    assert dom.summary["behind"] == dom.summary["patch"] + dom.summary["minor"] + dom.summary["major"]
    line = re.search(r'<p id="summary-line">([^<]*)</p>', text).group(1)
    assert line.startswith(f"{s['total']} services: {s['drift']['none']} current, {s['behind']} behind "
                           f"({s['drift']['patch']} patch, {s['drift']['minor']} minor, {s['drift']['major']} major), "
                           f"{s['drift']['unknown']} unknown, {s['errors']} unreadable"), line
    assert ">none<" not in text and 'class="drift drift-none">current<' in text
    # Demo values per service, as in the JSON, and the services named in the summary line.
    expected = {x["name"]: x["placeholders"] for x in data["services"] if x["name"]}
    assert {k: v for k, v in dom.placeholders.items() if k} == expected
    carrying = [name for name, p in expected.items() if p]
    assert carrying and dom.summary["placeholders"] == len(carrying) == s["placeholders"]
    assert f"{len(carrying)} still carrying demo values ({', '.join(carrying)})" in line


def test_filter_box_hides_rows(page):
    """Typing in the filter box (an input event) hides the rows that do not match, and says how many show."""
    html, data, out = page
    typed = ("const f = document.getElementById('filter'); f.value = 'BRAVO';"
             "f.dispatchEvent(new Event('input'));")
    text = dump_dom(out, html, script=typed)
    dom = _Dom()
    dom.feed(text)
    visible = [name for (name, _), hidden in zip(dom.rows, dom.hidden) if not hidden]
    assert visible == ["bravo"] and len(dom.rows) == data["summary"]["total"]
    assert f'<span id="shown">1 of {data["summary"]["total"]} shown</span>' in text
    # Two words: both must match (owner and drift).
    text = dump_dom(out, html, script=typed.replace("BRAVO", "team-delta major"))
    dom = _Dom()
    dom.feed(text)
    assert [name for (name, _), hidden in zip(dom.rows, dom.hidden) if not hidden] == ["delta"]


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


def test_without_scripts_every_row_shows_and_no_dead_filter_box(page):
    """Under a strict CSP (no script runs; the same as JavaScript off): the rows and summary are all there,
    and the filter box, which could not work, is not shown."""
    html, data, out = page
    text = dump_dom(out, html, csp=STRICT_CSP)
    dom = _Dom()
    dom.feed(text)
    assert len(dom.rows) == data["summary"]["total"] and not any(dom.hidden)
    assert '<p class="filter" id="filter-box" hidden="">' in text
    assert '<p class="filter" id="filter-box">' in dump_dom(out, html)


@pytest.mark.parametrize("width", WIDTHS)
def test_table_fits_the_screen_with_a_github_template_url_and_long_names(tmp_path, monkeypatch, width):
    """The usual fleet: services generated from https://github.com/ORG/paved-road.git, one with a long
    unbroken name. At 1280 px the table once ran 36 px past the page (and 800 px past it with the name),
    so a wall screen cut off the Path column."""
    from paved_road.fleet import catalog

    monkeypatch.setattr(catalog, "template_tags", lambda src: ["v1.0.0", "v2.0.0", "v2.1.1"])

    def answers(name, version):
        return json.dumps({"_src_path": "https://github.com/example-org/paved-road.git", "_commit": version,
                           "service_name": name, "owner": "team-payments", "system": "shop",
                           "architectures": ["amd64", "arm64"], "node_major": 24, "_placeholders": ["owner"]})

    read = [("example-org/orders", answers("orders", "v2.1.1"), None),
            ("example-org/long", answers("checkout" + "service" * 12, "v1.0.0"), None),
            ("example-org/broken", None, "cannot read .copier-answers.yml: 404")]
    html = tmp_path / "catalog.html"
    html.write_text(catalog.render_html(catalog.build_catalog(read=read), dora_page="dora.html"))
    g = geometry(tmp_path, html, width)
    assert g["boxesOutside"] == [], g["boxesOutside"]
    assert g["scrollWidth"] <= g["innerWidth"] == width


def test_generated_time_is_local_like_the_dora_page(fleet_root, tmp_path, monkeypatch):
    """The catalog's "Generated" time was raw ISO UTC; like the DORA page it shows the viewer's local time
    (ISO kept as `datetime` and title, and as the text when scripts are off). The page and the time it
    is compared with come from one catalog (two runs can fall on either side of a second)."""
    from paved_road.fleet import catalog

    data = catalog.build_catalog([fleet_root])
    out, html = tmp_path, tmp_path / "catalog.html"
    html.write_text(catalog.render_html(data))
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    dom = dump_dom(out, html)
    (iso, title, shown), = re.findall(r'<time datetime="([^"]+)" title="([^"]+)" data-local="true">([^<]+)</time>', dom)
    assert iso == title == data["generated_at"] and shown != iso
    assert re.findall(r'<time datetime="[^"]+" title="[^"]+">([^<]+)</time>', dump_dom(out, html, csp=STRICT_CSP)) \
        == [data["generated_at"]]


def test_versions_chart_keeps_a_long_version_label_inside(tmp_path, monkeypatch):
    """A service recorded at a bare commit (`_commit` a full SHA) once drew its bar label 130 px left of
    the chart; the label is shortened (the full value stays as the bar's title)."""
    from paved_road.fleet import catalog

    monkeypatch.setattr(catalog, "template_tags", lambda src: ["v1.0.0", "v2.1.1"])
    sha = "0123456789abcdef0123456789abcdef01234567"
    read = [(f"o/{n}", json.dumps({"_src_path": "https://github.com/o/paved-road.git", "_commit": v, "service_name": n}),
             None) for n, v in (("a", "v2.1.1"), ("b", sha))]
    html = tmp_path / "catalog.html"
    html.write_text(catalog.render_html(catalog.build_catalog(read=read)))
    assert geometry(tmp_path, html, 1280)["chartsOutside"] == []
    assert f'data-version="{sha}"' in html.read_text() and f"<title>{sha}: 1 service" in html.read_text()
