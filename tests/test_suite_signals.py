"""The suite's Ctrl-C tests hold however the suite was started."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

SIGINT_BIT = 1 << (signal.SIGINT - 1)


def _ignored(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError("no SigIgn line")


def test_a_suite_started_with_sigint_ignored_gives_its_processes_ctrl_c_back(tmp_path):
    """As `nohup make test &` from a shell without job control starts it:
    SIGINT ignored. After the suite's conftest, a process a test starts can be
    interrupted again."""
    conftest = Path(__file__).resolve().parent / "conftest.py"
    script = textwrap.dedent(f"""
        import importlib.util, signal, subprocess, sys
        spec = importlib.util.spec_from_file_location("suite_conftest", {str(conftest)!r})
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        child = subprocess.Popen(["sleep", "30"])
        print(child.pid, flush=True)
        sys.stdin.readline()
        child.kill()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        child = int(proc.stdout.readline())
        assert not _ignored(child) & SIGINT_BIT
    finally:
        proc.communicate("\n", timeout=30)
    # ...and without the conftest the child would have inherited it ignored.
    plain = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert _ignored(plain.pid) & SIGINT_BIT
    finally:
        plain.kill()
        plain.wait()
