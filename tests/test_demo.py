"""`make demo` runs `paved demo`: it must keep showing telemetry flowing."""

from __future__ import annotations

import os
import re
import subprocess


def test_paved_demo_shows_received_spans(tmp_path):
    proc = subprocess.run(["paved", "demo", "--workdir", str(tmp_path / "demo")], capture_output=True,
                          text=True, timeout=600, env={k: v for k, v in os.environ.items() if k != "COLUMNS"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "spans received" in out
    assert "GET /api/example" in out and "SERVER" in out and "CLIENT" in out
    assert "http.server.request.duration" in out
    assert "service exited with code 0" in out
    assert "demo ok: telemetry is flowing" in out
    correlated = re.search(r"(\d+) carrying the trace id of a received span", out)
    assert correlated and int(correlated.group(1)) > 0, out
    assert (tmp_path / "demo" / "demo-service" / "package.json").is_file()
    # sections in order: the spans are shown before the service is stopped
    headings = [line for line in out.splitlines() if any(f"{n}. " in line for n in range(1, 7)) and "─" in line]
    numbers = [int(h.strip("─ ")[0]) for h in headings]
    assert numbers == [1, 2, 3, 4, 5, 6], headings
    assert "spans received" in headings[4] and "stop" in headings[5]
    # a second run replaces what the first created, and only that
    again = subprocess.run(["paved", "demo", "--workdir", str(tmp_path / "demo")], capture_output=True,
                           text=True, timeout=600, env={k: v for k, v in os.environ.items() if k != "COLUMNS"})
    assert again.returncode == 0, again.stdout + again.stderr
