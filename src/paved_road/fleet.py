"""Fleet updates: bring many generated services to a template release.

`update_service` works on one git checkout: it creates a branch, runs
`copier update` to the target version in a subprocess (copier changes the
process's working directory, so threads cannot share it), and commits. A
failure leaves the checkout exactly as it was: original branch, same HEAD,
clean tree, no new branch. `update_fleet` runs that over many services in
parallel.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

CONFLICT_START = "<<<<<<< "
CONFLICT_END = ">>>>>>> "
_SKIP_DIRS = {".git", "node_modules"}


def find_conflicts(root: Path) -> list[str]:
    """Files under `root` with merge-conflict markers, and `.rej` files, sorted."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if name.endswith(".rej"):
                found.append(rel)
                continue
            try:
                with path.open("rb") as fh:
                    lines = fh.read().splitlines()
            except OSError:
                continue
            starts = any(line.startswith(CONFLICT_START.encode()) for line in lines)
            ends = any(line.startswith(CONFLICT_END.encode()) for line in lines)
            if starts and ends:
                found.append(rel)
    return sorted(found)
