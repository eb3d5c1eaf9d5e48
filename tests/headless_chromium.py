"""Debian's Chromium, headless, for the tests that open a generated page (DOM dump and screenshot)."""

from __future__ import annotations

import html as _html
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
WIDTHS = (1280, 1920)  # a laptop and a wall screen
GEOMETRY_JS = Path(__file__).with_name("page_geometry.js")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # No background networking: this machine's closed network refuses it, noisily.
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         *args],
        capture_output=True, text=True, timeout=120,
    )


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", png[16:24])


def screenshot(out: Path, html: Path, name: str, width: int = 1400, height: int = 1000) -> bytes:
    """A PNG of the page at this window size, as a reviewer would look at it (the file stays in `out`)."""
    shot = out / name
    proc = chromium(out, f"--screenshot={shot}", f"--window-size={width},{height}", html.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return shot.read_bytes()


STRICT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"  # no script may run


def dump_dom(out: Path, html: Path, width: int = 1400, script: str = "", csp: str | None = None) -> str:
    """The DOM after the page's scripts (and `script`, appended to the body) ran, at this width;
    with `csp`, served under that Content-Security-Policy (a `<meta http-equiv>` first in the head)."""
    page = html
    if script or csp:
        text = html.read_text()
        if script:
            text = text.replace("</body>", f"<script>{script}</script></body>")
        if csp:
            text = text.replace("<head>", f'<head>\n<meta http-equiv="Content-Security-Policy" content="{csp}">', 1)
        page = html.with_name(f"{html.stem}-{width}-{abs(hash((script, csp))) % 10**8}.html")
        page.write_text(text)
    proc = chromium(out, "--dump-dom", f"--window-size={width},1000", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def geometry(out: Path, html: Path, width: int, before: str = "") -> dict:
    """What tests/page_geometry.js measured on the laid-out page at this width (after `before` ran)."""
    dom = dump_dom(out, html, width, before + "\n" + GEOMETRY_JS.read_text())
    match = re.search(r'<pre id="geometry">([^<]*)</pre>', dom)
    assert match, dom[-2000:]
    return json.loads(_html.unescape(match.group(1)))
