"""Debian's Chromium, headless, for the tests that open a generated page (DOM dump and screenshot)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # No background networking: this machine's closed network refuses it, noisily.
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=120,
    )


def screenshot(out: Path, html: Path, name: str) -> bytes:
    """A 1400x1000 PNG of the page, as a reviewer would look at it (the file stays in `out`)."""
    shot = out / name
    proc = chromium(out, f"--screenshot={shot}", "--window-size=1400,1000", html.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return shot.read_bytes()
