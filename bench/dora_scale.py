"""`paved dora` over a fleet: 500 services x a year of deployment history in `paved sim`.

    .venv/bin/python bench/dora_scale.py [--services 500] [--weeks 52] [--every 2] [--jobs 8] [--throttle 20]

Seeds `paved sim` with N services in cluster apps-production, each releasing
every `--every` weeks (a release pushed to its ECR repository an hour before
its deployment, finished 12 minutes after start); every 10th deployment is
rolled back by the circuit breaker, every 13th is followed by a `paved
rollback` 40 minutes later. Seeding goes through the simulator's API one call
at a time (about 3 ECR calls per release, one RegisterTaskDefinition per
deployment): 500 services x 26 releases take tens of minutes on 2 cores. Then runs `paved dora --catalog DIR --since <weeks>w --format json`
(the real CLI) over a catalog of N checkouts (answers files only: git lead
time is local work and not what this measures) and prints the wall time, the
AWS calls per service (counted by the client, and served by the simulator
including retries) and the `--throttle` ThrottlingExceptions the simulator
injected into ListServiceDeployments / DescribeTaskDefinition, which the standard
retry mode absorbs.
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=500)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--every", type=int, default=2, help="weeks between releases (default: 2)")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--throttle", type=int, default=20, help="ThrottlingExceptions to inject (default: 20)")
    args = ap.parse_args()
    end = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bench-dora.") as tmp:
        tmp = Path(tmp)
        (tmp / "seed.yml").write_text(yaml.safe_dump(seed(args.services, args.weeks, args.every, end), sort_keys=False))
        fleet = tmp / "fleet"
        for s in range(args.services):
            d = fleet / f"svc-{s:03d}"
            d.mkdir(parents=True)
            (d / ".copier-answers.yml").write_text(yaml.safe_dump({
                "service_name": f"svc-{s:03d}", "ecs_cluster_prefix": "apps", "aws_region": REGION}))
        t0 = time.perf_counter()
        sim = subprocess.Popen([str(BIN / "paved"), "sim", "--port", "0", "--seed", str(tmp / "seed.yml")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
            seeded = admin(endpoint, "state")["calls"]
            print(f"set-up: {args.services} services x {args.weeks} weeks seeded in {time.perf_counter() - t0:.0f} s "
                  f"({sum(seeded.values())} calls to the simulator)")
            for operation in ("ListServiceDeployments", "DescribeTaskDefinition"):
                admin(endpoint, "fault", {"operation": operation, "fault": "throttle", "count": args.throttle // 2})
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                        "AWS_ACCESS_KEY_ID": "sim", "AWS_SECRET_ACCESS_KEY": "sim"})
            t1 = time.perf_counter()
            proc = subprocess.run([str(BIN / "paved"), "dora", "--catalog", str(fleet), "--since", f"{args.weeks}w",
                                   "--until", end.isoformat(), "--jobs", str(args.jobs), "--format", "json",
                                   "--store", str(tmp / "dora.sqlite")],
                                  capture_output=True, text=True, env=env)
            elapsed = time.perf_counter() - t1
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            served = admin(endpoint, "state")["calls"]
        finally:
            sim.terminate()
            sim.wait(timeout=30)
        data = json.loads(proc.stdout)
        run_calls = {op: served.get(op, 0) - seeded.get(op, 0) for op in served}
        client_calls = [s["aws_calls"] for s in data["services"]]
        fleet_m = data["fleet"]["metrics"]
        n = len(data["services"])
        print(f"paved dora --catalog ({n} services, {args.weeks} weeks, a release every {args.every} weeks, "
              f"--jobs {args.jobs}): {elapsed:.1f} s, "
              f"{elapsed / n * 1000:.0f} ms per service")
        print(f"AWS calls per service (client): mean {sum(client_calls) / n:.1f}, min {min(client_calls)}, max {max(client_calls)}")
        print(f"requests served by the simulator during the run: {sum(run_calls.values())} "
              f"({sum(run_calls.values()) / n:.1f} per service, including {args.throttle} throttled and retried)")
        for op, count in sorted(run_calls.items(), key=lambda kv: -kv[1]):
            if count:
                print(f"  {op:32} {count:7d}  {count / n:6.1f} per service")
        print(f"fleet: {fleet_m['deployment_frequency']['deployments']} deployments, "
              f"{fleet_m['deployment_frequency']['per_service_per_day'] * 7:.2f}/wk per service "
              f"({fleet_m['deployment_frequency']['band']}), change failure rate "
              f"{fleet_m['change_failure_rate']['rate']:.3f} ({fleet_m['change_failure_rate']['band']}), "
              f"time to restore median {fleet_m['time_to_restore']['median_seconds']:.0f} s, "
              f"errors {data['fleet']['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
