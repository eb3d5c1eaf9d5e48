"""Edges a newcomer hits: `paved sim` on a busy port, and `fleet conflicts` reading prose as conflicts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from paved_road.fleet.conflict_markers import count_hunks

PAVED = str(Path(sys.executable).with_name("paved"))
REPO = Path(__file__).resolve().parents[2]


def test_sim_on_a_busy_port_exits_2_with_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([PAVED, "sim", "--port", str(port)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"paved sim: cannot listen on 127.0.0.1:{port}: Address already in use; "
                                        "pass another --port (0 picks a free one) or stop what uses it"]


HUNK = "<<<<<<< before updating\nours\n=======\ntheirs\n>>>>>>> after updating\n"


@pytest.mark.parametrize(("name", "text", "hunks"), [
    ("app.js", HUNK, 1),
    ("app.js", HUNK + "x\n" + HUNK.replace("=======", "||||||| base\nold\n======="), 2),
    ("README.md", "# Title\n" + HUNK, 1),                                   # a real conflict in Markdown
    ("README.md", "Resolve the <<<<<<< markers, then commit.\n", 0),      # prose mentioning a marker
    ("README.md", "An update leaves:\n\n```\n" + HUNK + "```\n", 0),       # a fenced example
    ("README.md", "~~~text\n" + HUNK + "~~~\n\n" + HUNK, 1),              # the example no, the conflict yes
    ("notes.txt", "<<<<<<<\n=======\n>>>>>>>\n", 0),                       # no labels: not git's markers
    ("notes.txt", "<<<<<<< a\nonly a start\n", 0),                         # an unfinished hunk
    ("notes.txt", " <<<<<<< a\n=======\n>>>>>>> b\n", 0),                   # not at column 0
    ("app.js", HUNK.replace("\n", "\r\n"), 1),                             # CRLF files
])
def test_a_conflict_is_a_complete_hunk_at_column_0(name, text, hunks):
    assert count_hunks(text.encode().splitlines(), name) == hunks


def test_fleet_conflicts_ignores_the_example_in_the_upgrade_docs_but_finds_a_real_conflict(tmp_path):
    service = tmp_path / "svc"
    (service / "docs").mkdir(parents=True)
    shutil.copy(REPO / "docs" / "upgrades.md", service / "docs" / "upgrades.md")
    assert "```\n<<<<<<< before updating" in (service / "docs" / "upgrades.md").read_text()
    clean = subprocess.run([PAVED, "fleet", "conflicts", str(service)], capture_output=True, text=True)
    assert (clean.returncode, clean.stdout) == (0, f"no conflicts in {service}\n"), clean.stderr
    (service / "app.js").write_text("const a = 1\n" + HUNK)
    found = subprocess.run([PAVED, "fleet", "conflicts", str(service)], capture_output=True, text=True)
    assert (found.returncode, found.stdout) == (3, "app.js  1 hunk(s)\n")
