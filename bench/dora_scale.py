"""`paved dora` over a fleet in `paved sim`: AWS calls per service cold and warm, warm wall time, cold vs the quota bound.

    .venv/bin/python bench/dora_scale.py [--services 20] [--weeks 52] [--every 2] [--jobs 8]

Seeds `paved sim` with N services in cluster apps-production, each releasing every `--every` weeks
for `--weeks` weeks (a year by default; the simulator keeps it all, as the store would hold it past
ECS's 90 days); every 10th deployment is rolled back by the circuit breaker, every 13th is followed
by a `paved rollback` 40 minutes later. Then, with the real CLI over a catalog of N checkouts:

1. cold: an empty store (`--store`), ECS's documented quotas enforced client-side (`--rate-share 1`):
   wall time, AWS calls per service (served by the simulator), and the shortest time those calls take
   under the documented per-family buckets (`ratelimit.quota_bound`), with the ratio;
2. warm: the same store, nothing new: wall time and calls per service;
3. one new deployment (`paved deploy` on the first service), warm again: that service's calls.

Seeding goes through the simulator's API (a few ECR calls per release, one RegisterTaskDefinition per
deployment): it is the slow part, so keep N small on a shared machine; calls per service do not
depend on N, and the warm time is about N / 10 DescribeServices calls.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from paved_road.sim.server import admin

BIN = Path(sys.executable).parent
REGION = "us-east-1"


def seed(services: int, weeks: int, every: int, end: datetime) -> dict:
    repos, svcs = {}, {}
    start = end - timedelta(weeks=weeks)
    for s in range(services):
        name = f"svc-{s:03d}"
        releases, history = [], []
        for w in range(weeks // every):
            at = start + timedelta(weeks=w * every, hours=(s % 8) + 9)
            version = f"1.{w}.0"
            releases.append({"version": version, "architectures": ["amd64"],
                             "pushed_at": (at - timedelta(hours=1)).isoformat()})
            failed = w % 10 == 9
            history.append({"release": version, "made_by": "deploy",
                            "status": "ROLLBACK_SUCCESSFUL" if failed else "SUCCESSFUL",
                            "started_at": at.isoformat(), "finished_at": (at + timedelta(minutes=12)).isoformat()})
            if w % 13 == 12 and w > 0 and not failed:
                back = at + timedelta(minutes=52)
                history.append({"release": f"1.{w - 1}.0", "made_by": "rollback", "status": "SUCCESSFUL",
                                "started_at": back.isoformat(), "finished_at": (back + timedelta(minutes=4)).isoformat()})
        repos[name] = {"releases": releases}
        svcs[name] = {"environment": "production", "architectures": ["amd64"], "history": history}
    return {"region": REGION, "repositories": repos, "clusters": {"apps-production": {"services": svcs}}}


def main() -> int:
    from paved_road.dora.ratelimit import quota_bound

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--every", type=int, default=2, help="weeks between releases (default: 2)")
    ap.add_argument("--jobs", type=int, default=8)
    args = ap.parse_args()
    end = datetime.now(timezone.utc).replace(microsecond=0)
    n = args.services
    with tempfile.TemporaryDirectory(prefix="bench-dora.") as tmp:
        tmp = Path(tmp)
        world = seed(n, args.weeks, args.every, end)
        world["retention_days"] = None
        top = max(int(r["version"].split(".")[1]) for r in world["repositories"]["svc-000"]["releases"])
        for repo in world["repositories"].values():   # a release not deployed yet, for step 3
            repo["releases"].append({"version": f"1.{top + 1}.0", "architectures": ["amd64"],
                                     "pushed_at": end.isoformat()})
        (tmp / "seed.yml").write_text(yaml.safe_dump(world, sort_keys=False))
        fleet = tmp / "fleet"
        for s in range(n):
            d = fleet / f"svc-{s:03d}"
            d.mkdir(parents=True)
            (d / ".copier-answers.yml").write_text(yaml.safe_dump({
                "service_name": f"svc-{s:03d}", "ecs_cluster_prefix": "apps", "aws_region": REGION}))
        t0 = time.perf_counter()
        sim = subprocess.Popen([str(BIN / "paved"), "sim", "--port", "0", "--speed", "50", "--seed",
                                str(tmp / "seed.yml")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        endpoint = None
        try:
            for line in sim.stdout:
                if "export AWS_ENDPOINT_URL=" in line:
                    endpoint = line.split("=", 1)[1].strip()
                if "Ctrl-C stops it" in line:
                    break
            if endpoint is None:
                print("paved sim did not start", file=sys.stderr)
                return 1
            print(f"set-up: {n} services x {args.weeks} weeks (a release every {args.every} weeks) seeded in "
                  f"{time.perf_counter() - t0:.0f} s")
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                        "AWS_ACCESS_KEY_ID": "sim", "AWS_SECRET_ACCESS_KEY": "sim"})
            store = str(tmp / "dora.sqlite")

            def run(label: str) -> tuple[float, dict, dict]:
                before = admin(endpoint, "state")["calls"]
                t1 = time.perf_counter()
                proc = subprocess.run([str(BIN / "paved"), "dora", "--catalog", str(fleet), "--since",
                                       f"{args.weeks}w", "--jobs", str(args.jobs), "--format", "json",
                                       "--store", store], capture_output=True, text=True, env=env)
                elapsed = time.perf_counter() - t1
                if proc.returncode:
                    raise SystemExit(proc.stderr[-3000:])
                after = admin(endpoint, "state")["calls"]
                calls = {op: after[op] - before.get(op, 0) for op in after if after[op] - before.get(op, 0)}
                print(f"{label}: {elapsed:.1f} s, {sum(calls.values()) / n:.2f} AWS calls per service "
                      + ", ".join(f"{op} {c / n:.2f}" for op, c in sorted(calls.items(), key=lambda kv: -kv[1])))
                return elapsed, calls, json.loads(proc.stdout)

            cold_time, cold_calls, data = run("cold (empty store)")
            bound = quota_bound(cold_calls)
            print(f"  the documented ECS quotas allow these calls in {bound:.1f} s at best; ours {cold_time:.1f} s "
                  f"({cold_time / bound:.2f}x)" if bound else "  within the quotas' bursts")
            warm_time, warm_calls, _ = run("warm (nothing new)")
            print(f"  a warm run over 5,000 services would make {5000 / 10:.0f} DescribeServices calls "
                  f"(at least {quota_bound({'DescribeServices': 500}):.0f} s under the quota); measured here: "
                  f"{warm_time:.1f} s for {n}")
            proc = subprocess.run([str(BIN / "paved"), "deploy", "--cluster", "apps-production", "--service",
                                   "svc-000", "--version", f"1.{top + 1}.0", "--poll-interval", "0.2"],
                                  capture_output=True, text=True, env=env)
            if proc.returncode:
                raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
            _t, new_calls, _ = run("after one deploy on svc-000")
            shared = new_calls.get("DescribeServices", 0)
            print(f"  svc-000 (a year in the store, one new deployment): {sum(new_calls.values()) - shared} calls "
                  f"+ {shared / n:.1f} DescribeServices share")
        finally:
            sim.terminate()
            sim.wait(timeout=30)
        fleet_m = data["fleet"]["metrics"]
        print(f"fleet: {fleet_m['deployment_frequency']['deployments']} deployments, change failure rate "
              f"{fleet_m['change_failure_rate']['rate']:.3f}, errors {data['fleet']['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
