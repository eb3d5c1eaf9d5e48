"""`paved fleet preview` against the naive loop a platform engineer would script.

    .venv/bin/python bench/fleet_preview.py [--services 24] [--update-services 500] [--naive-sample 4] [--jobs 8]

Builds a template copy of this working tree tagged v1.0.0, v1.1.0, v1.2.0 (each release appends a
line to the generated README), a candidate v1.3.0 (one more line), and a fleet spread evenly over the
three versions. Every fourth service has a team edit at the end of its README (conflicts with the
candidate), every fourth another has its own test asserting no release beyond v1.2.0 is named (the
candidate breaks it), the rest are clean (half of them with a passing team test). Then, in one run:

* naive: for --naive-sample services, one after the other: a copy of the checkout, `copier update`
  with paved's flags, `npm ci`, `npm test` on the pinned Node; per-service time, scaled to the fleet;
* ours: `paved fleet preview SERVICES --candidate v1.3.0 --checks test` over the first --services,
  then `--checks update` over --update-services (default: the same; 500 is the issue's target fleet,
  generated with copier one service at a time: a few minutes of set-up);

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


def preview(services: list[Path], template: Path, checks: str, jobs: int) -> tuple[float, dict, int, float]:
    """(wall seconds, report, exit code, CPU seconds of paved and everything it ran)."""
    env = {**os.environ, "PAVED_TEMPLATE": str(template)}
    t0, c0 = time.perf_counter(), os.times()
    proc = subprocess.run([str(BIN / "paved"), "fleet", "preview", *map(str, services), "--candidate", CANDIDATE,
                           "--checks", checks, "--json", "--jobs", str(jobs)], capture_output=True, text=True, env=env)
    elapsed, c1 = time.perf_counter() - t0, os.times()
    cpu = c1.children_user - c0.children_user + c1.children_system - c0.children_system
    if not proc.stdout:
        raise SystemExit(f"paved fleet preview --checks {checks} printed nothing: {proc.stderr[-800:]}")
    return elapsed, json.loads(proc.stdout), proc.returncode, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=24)
    ap.add_argument("--update-services", type=int, default=None,
                    help="services for the --checks update run (default: --services)")
    ap.add_argument("--naive-sample", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    from paved_road.local.node_toolchain import node_env

    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-preview.") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        n_update = args.update_services or args.services
        template, fleet, expected_all = build_fleet(tmp, max(args.services, n_update))
        names = sorted(expected_all)
        print(f"set-up: {len(names)} services over {', '.join(VERSIONS)} in {time.perf_counter() - t0:.1f} s")
        env = node_env(24)
        sample = names[:args.naive_sample]
        print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs, shared machine)")
        times = naive(fleet, sample, tmp / "naive", env)
        per_naive = sum(times) / len(times)
        print(f"naive sequential copier update + npm ci + npm test: {per_naive:.2f} s per service "
              f"(sample of {len(times)}), {per_naive * args.services:.0f} s for {args.services} services (scaled)")
        for checks, n in (("test", args.services), ("update", n_update)):
            expected = {name: expected_all[name] for name in names[:n]}
            print(f"load average before --checks {checks}: {os.getloadavg()[0]:.2f}")
            elapsed, rep, code, cpu = preview([fleet / name for name in expected], template, checks, args.jobs)
            implied = {s: v if checks == "test" or v != "test_failed" else "clean" for s, v in expected.items()}
            want = Counter(implied.values())
            got = {k: v for k, v in rep["summary"]["counts"].items() if v}
            match = got == dict(want)
            ok &= match
            by = {r["name"]: r["status"] for r in rep["services"]}
            wrong = sorted(n for n in implied if by.get(n) != implied[n])
            print(f"ours --checks {checks} over {n} services: {elapsed:.1f} s, {elapsed / n:.3f} s per service "
                  f"({cpu / n:.3f} s CPU per service)"
                  + (f", {per_naive * n / elapsed:.1f}x faster than naive" if checks == "test" else "")
                  + f"; engines {rep['summary'].get('engines')}; npm ci runs: {rep['dependency_installs']}; "
                  f"exit {code}; counts {got} "
                  + ("= construction" if match and not wrong else f"!= construction {dict(want)} (wrong: {wrong})"))
            if checks == "update":
                print(f"  --checks update: {'measured' if n == 500 else 'scaled to'} 500 services: "
                      f"{elapsed / n * 500:.0f} s (target 60 s)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
