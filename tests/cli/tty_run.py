"""Run `paved` with a real terminal as stdout (a pty), as a person at a shell would see it."""

from __future__ import annotations

import os
import pty
import sys
from pathlib import Path

PAVED = str(Path(sys.executable).with_name("paved"))


def paved_on_terminal(*args: str, columns: int) -> tuple[int, str]:
    """`paved ARGS` on a pty `columns` wide: its exit code and everything it wrote, escapes included."""
    pid, fd = pty.fork()
    if pid == 0:  # child: stdout is a terminal
        os.environ["COLUMNS"] = str(columns)
        os.execv(PAVED, [PAVED, *args])
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()
