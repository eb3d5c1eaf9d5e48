"""`paved fleet update` on 20 services: --jobs 1 against the default.

    .venv/bin/python bench/fleet_update.py [--services 20]

Generates the services with copier at v1.0.0 of a tagged copy of this working
tree, then updates two identical copies of the fleet to the latest tag, one
with --jobs 1 and one with the default (CPU count), and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_scale_setup import generate, tagged_template  # noqa: E402

TAGS = ["v1.0.0", "v1.1.0"]
BIN = Path(sys.executable).parent


def run(fleet: Path, jobs: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([BIN / "paved", "fleet", "update", fleet, "--json", *jobs], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    statuses = [r["status"] for r in json.loads(proc.stdout)]
    assert proc.returncode == 0 and set(statuses) == {"updated"}, (proc.returncode, statuses, proc.stderr[-500:])
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fleet.") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        template = tagged_template(tmp / "template", TAGS)
        for i in range(args.services):
            generate(template, tmp / "serial" / f"svc-{i:02d}", TAGS[0], {"service_name": f"svc-{i:02d}"})
        shutil.copytree(tmp / "serial", tmp / "parallel", symlinks=True)
        print(f"set-up: {args.services} services in {time.perf_counter() - t0:.1f} s")
        serial = run(tmp / "serial", ["--jobs", "1"])
        parallel = run(tmp / "parallel", [])
        print(f"--jobs 1: {serial:.1f} s ({serial / args.services:.2f} s per service)")
        print(f"default (--jobs {os.cpu_count()}): {parallel:.1f} s")
        print(f"ratio: {serial / parallel:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
