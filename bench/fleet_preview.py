"""`paved fleet preview` against the naive loop a platform engineer would script.

    .venv/bin/python bench/fleet_preview.py [--services 24] [--naive-sample 4] [--jobs 8]

Builds a template copy of this working tree tagged v1.0.0, v1.1.0, v1.2.0 (each release appends a
line to the generated README), a candidate v1.3.0 (one more line), and a fleet spread evenly over the
three versions. Every fourth service has a team edit at the end of its README (conflicts with the
candidate), every fourth another has its own test asserting no release beyond v1.2.0 is named (the
candidate breaks it), the rest are clean (half of them with a passing team test). Then, in one run:

* naive: for --naive-sample services, one after the other: a copy of the checkout, `copier update`
  with paved's flags, `npm ci`, `npm test` on the pinned Node; per-service time, scaled to the fleet;
* ours: `paved fleet preview FLEET --candidate v1.3.0 --checks test`, then `--checks update`;

and checks that each report's counts are what the construction implies. The machine is shared
(other engineers' test runs): read the ratios, and the load average printed with them.
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
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_scale_setup import generate, git, tagged_template  # noqa: E402

BIN = Path(sys.executable).parent
VERSIONS = ["v1.0.0", "v1.1.0", "v1.2.0"]
CANDIDATE = "v1.3.0"
TEAM_NOTE = "Team note: ask in #platform before changing this file.\n"
BROKEN_TEST = """'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

test('the README names no release beyond v1.2.0', () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
  assert.ok(!readme.includes('Release note v1.3.0'))
})
"""
PASSING_TEST = """'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')

test('team arithmetic', () => {
  assert.equal(1 + 1, 2)
})
"""


def kind(i: int) -> str:
    return ("clean", "conflicted", "test_failed", "clean+test")[i % 4]


def build_fleet(root: Path, n: int) -> tuple[Path, Path, dict[str, str]]:
    template = tagged_template(root / "template", VERSIONS)
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + f"\nRelease note {CANDIDATE}.\n")
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", CANDIDATE)
    git(template, "tag", CANDIDATE)
    fleet, expected = root / "fleet", {}
    for i in range(n):
        name = f"svc-{i:03d}"
        svc = generate(template, fleet / name, VERSIONS[i % 3], {"service_name": name})
        k = kind(i)
        if k == "conflicted":
            (svc / "README.md").write_text((svc / "README.md").read_text() + TEAM_NOTE)
        elif k == "test_failed":
            (svc / "test" / "release.test.js").write_text(BROKEN_TEST)
        elif k == "clean+test":
            (svc / "test" / "team.test.js").write_text(PASSING_TEST)
        if k != "clean":
            git(svc, "add", "-A")
            git(svc, "commit", "-q", "-m", "team change")
        expected[name] = "clean" if k == "clean+test" else k
    return template, fleet, expected


def naive(fleet: Path, names: list[str], work: Path, env: dict[str, str]) -> list[float]:
    """What a script would do per service, one after the other."""
    times = []
    for name in names:
        t0 = time.perf_counter()
        copy = work / name
        shutil.copytree(fleet / name, copy, symlinks=True)
        subprocess.run([sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--skip-answered",
                        "--conflict", "inline", "--vcs-ref", CANDIDATE], cwd=copy, env=env, capture_output=True,
                       check=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=copy, env=env,
                       capture_output=True, check=True)
        subprocess.run(["npm", "test"], cwd=copy, env=env, capture_output=True)  # fails for some: that is the point
        times.append(time.perf_counter() - t0)
        shutil.rmtree(copy)
    return times


def preview(fleet: Path, template: Path, checks: str, jobs: int) -> tuple[float, dict, int]:
    env = {**os.environ, "PAVED_TEMPLATE": str(template)}
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN / "paved"), "fleet", "preview", str(fleet), "--candidate", CANDIDATE,
                           "--checks", checks, "--json", "--jobs", str(jobs)], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if not proc.stdout:
        raise SystemExit(f"paved fleet preview --checks {checks} printed nothing: {proc.stderr[-800:]}")
    return elapsed, json.loads(proc.stdout), proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=24)
    ap.add_argument("--naive-sample", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    from paved_road.local.node_toolchain import node_env

    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-preview.") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        template, fleet, expected = build_fleet(tmp, args.services)
        print(f"set-up: {args.services} services over {', '.join(VERSIONS)} in {time.perf_counter() - t0:.1f} s; "
              f"expected at --checks test: {dict(Counter(expected.values()))}")
        env = node_env(24)
        sample = sorted(expected)[:args.naive_sample]
        print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs, shared machine)")
        times = naive(fleet, sample, tmp / "naive", env)
        per_naive = sum(times) / len(times)
        print(f"naive sequential copier update + npm ci + npm test: {per_naive:.2f} s per service "
              f"(sample of {len(times)}), {per_naive * args.services:.0f} s for the fleet (scaled)")
        for checks in ("test", "update"):
            elapsed, rep, code = preview(fleet, template, checks, args.jobs)
            implied = {n: v if checks == "test" or v != "test_failed" else "clean" for n, v in expected.items()}
            want = Counter(implied.values())
            got = {k: v for k, v in rep["summary"]["counts"].items() if v}
            match = got == dict(want)
            ok &= match
            by = {r["name"]: r["status"] for r in rep["services"]}
            wrong = sorted(n for n in implied if by.get(n) != implied[n])
            print(f"ours --checks {checks}: {elapsed:.1f} s, {elapsed / args.services:.2f} s per service"
                  + (f", {per_naive * args.services / elapsed:.1f}x faster than naive" if checks == "test" else "")
                  + f"; npm ci runs: {rep['dependency_installs']}; exit {code}; counts {got} "
                  + ("= construction" if match and not wrong else f"!= construction {dict(want)} (wrong: {wrong})"))
            if checks == "update":
                print(f"  --checks update scaled to 500 services at this rate: {elapsed / args.services * 500:.0f} s "
                      "(target 60 s)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
