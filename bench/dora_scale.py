"""`paved dora` over a fleet in `paved sim`: AWS calls per service cold and warm, warm wall time, cold vs the quota bound.

    .venv/bin/python bench/dora_scale.py [--services 20] [--weeks 52] [--every 2] [--jobs 8]

Seeds `paved sim` with N services in cluster apps-production, each releasing every `--every` weeks
for `--weeks` weeks (a year by default; the simulator keeps it all, as the store would hold it past
ECS's 90 days); every 10th deployment is rolled back by the circuit breaker, every 13th is followed
by a `paved rollback` 40 minutes later. Each service has the ecs-service module's two default CloudWatch
alarms; the error-rate one went to ALARM and back to OK around each ECS rollback. Then, with the real CLI over a catalog of N checkouts:

1. cold: an empty store (`--store`), ECS's documented quotas enforced client-side (`--rate-share 1`):
   wall time, AWS calls per service (served by the simulator), and the shortest time those calls take
   under the documented per-family buckets (`ratelimit.quota_bound`), with the ratio;
2. warm: the same store, nothing new: wall time and calls per service;
3. one new deployment on every service (`paved deploy`), warm again: calls per service, the
   descriptions shared across services (DescribeServiceDeployments / DescribeServiceRevisions take
   20 ARNs of any services); then one more on the first service alone: its calls.

Seeding goes through the simulator's API (a few ECR calls per release, one RegisterTaskDefinition per
deployment): it is the slow part, so keep N small on a shared machine; calls per service do not
depend on N, and the warm time is about N / 10 DescribeServices calls.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from paved_road.sim.server import admin

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dora"))
from dora_sim_world import REGION, Sim  # noqa: E402  (the tests' `paved sim` subprocess and its AWS env)

BIN = Path(sys.executable).parent


def dora_run(sim: Sim, fleet: Path, weeks: int, jobs: int, store: Path) -> tuple[float, dict, dict]:
    """One `paved dora` over the fleet: (wall seconds, AWS calls by operation as the simulator counted
    them, the JSON report)."""
    before = admin(sim.endpoint, "state")["calls"]
    t1 = time.perf_counter()
    proc = subprocess.run([str(BIN / "paved"), "dora", "--catalog", str(fleet), "--since", f"{weeks}w",
                           "--jobs", str(jobs), "--format", "json", "--store", str(store)],
                          capture_output=True, text=True, env=sim.env)
    elapsed = time.perf_counter() - t1
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    after = admin(sim.endpoint, "state")["calls"]
    calls = {op: after[op] - before.get(op, 0) for op in after if after[op] - before.get(op, 0)}
    return elapsed, calls, json.loads(proc.stdout)


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
        # the ecs-service module's two default alarms; the error-rate one fired during each ECS rollback
        alarms = [f"{name}-production-http-5xx-rate", f"{name}-production-http-latency-p99"]
        fired = [(datetime.fromisoformat(h["started_at"]) + timedelta(minutes=m), state)
                 for h in history if h["status"] == "ROLLBACK_SUCCESSFUL" for m, state in ((3, "ALARM"), (10, "OK"))]
        repos[name] = {"releases": releases}
        svcs[name] = {"environment": "production", "architectures": ["amd64"], "history": history, "alarms": alarms,
                      "created_at": (start - timedelta(days=30)).isoformat(),
                      "alarm_history": [{"alarm": alarms[0], "at": at.isoformat(), "state": state} for at, state in fired]}
    return {"region": REGION, "repositories": repos, "clusters": {"apps-production": {"services": svcs}}}


def warm_fleet(count: int, weeks: int, every: int, jobs: int, end: datetime) -> None:
    """A warm run over `count` services, each with the module's two CloudWatch alarms, whose year of
    history is in the store (ECS still lists only the
    newest deployment of each, as after 90 days): the store is filled directly with the records an
    earlier run would have saved, so only the run itself is timed."""
    import boto3

    from paved_road.deploy.history import Deployment
    from paved_road.dora import store as st

    start = end - timedelta(weeks=weeks)
    created = (start - timedelta(days=30)).isoformat()
    names = [f"w{s:04d}" for s in range(count)]
    last = weeks // every - 1
    at_last = start + timedelta(weeks=last * every, hours=9)
    world = {"region": REGION, "retention_days": None,
             "repositories": {n: {"releases": [{"version": f"1.{last}.0", "architectures": ["amd64"],
                                                "pushed_at": (at_last - timedelta(hours=1)).isoformat()}]}
                              for n in names},
             "clusters": {"apps-production": {"services": {n: {
                 "environment": "production", "architectures": ["amd64"], "created_at": created, "sidecar": False,
                 "alarms": [f"{n}-production-http-5xx-rate", f"{n}-production-http-latency-p99"],  # the module's
                 "history": [{"id": f"d{last}", "release": f"1.{last}.0", "made_by": "deploy", "status": "SUCCESSFUL",
                              "started_at": at_last.isoformat(),
                              "finished_at": (at_last + timedelta(minutes=12)).isoformat()}]} for n in names}}}}
    with tempfile.TemporaryDirectory(prefix="bench-dora-warm.") as tmp:
        tmp = Path(tmp)
        fleet = tmp / "fleet"
        for n in names:
            (fleet / n).mkdir(parents=True)
            (fleet / n / ".copier-answers.yml").write_text(f"service_name: {n}\necs_cluster_prefix: apps\n"
                                                           f"aws_region: {REGION}\n")
        t0 = time.perf_counter()
        sim = Sim(world, tmp)
        try:
            print(f"warm fleet set-up: {count} services seeded in {time.perf_counter() - t0:.0f} s")
            ecs = boto3.client("ecs", endpoint_url=sim.endpoint, region_name=REGION, aws_access_key_id="sim",
                               aws_secret_access_key="sim")
            cloudwatch = boto3.client("cloudwatch", endpoint_url=sim.endpoint, region_name=REGION,
                                      aws_access_key_id="sim", aws_secret_access_key="sim")
            store = st.Store(tmp / "dora.sqlite")
            read_at = datetime.now(timezone.utc)
            for first in range(0, count, 10):
                described = ecs.describe_services(cluster="apps-production", services=names[first:first + 10])
                for svc in described["services"]:
                    arn = svc["serviceArn"]
                    td = svc["taskDefinition"]
                    records = []
                    for w in range(last + 1):
                        at = start + timedelta(weeks=w * every, hours=9)
                        records.append(Deployment(
                            id=f"{arn.replace(':service/', ':service-deployment/')}/d{w}", release=f"1.{w}.0",
                            digest=None, task_definition=f"{svc['serviceName']}:{w + 1}", strategy="ROLLING",
                            status="ROLLBACK_SUCCESSFUL" if w % 10 == 9 else "SUCCESSFUL", started_at=at,
                            finished_at=at + timedelta(minutes=12), made_by="deploy",
                            image_digest=f"sha256:{svc['serviceName']}-{w:064d}"[:71]))
                    listed = ecs.list_service_deployments(cluster="apps-production", service=svc["serviceName"])
                    newest = listed["serviceDeployments"][0]["serviceDeploymentArn"]
                    records[-1] = Deployment(**{**records[-1].__dict__, "id": newest})
                    store.save(arn, records, read_at, start - timedelta(days=30), start - timedelta(days=60),
                               svc["createdAt"].isoformat())
                    image = ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]["containerDefinitions"][0]["image"]
                    store.save_revision_image(td, "app", image)
                    from paved_road.deploy.ecs_deploy import ImageRef
                    ref = ImageRef.parse(image)
                    key = f"{ref.ecr_region or REGION}/{ref.ecr_registry_id or ''}/{ref.repository}"  # collect.ecr_facts' key
                    store.save_images(key, {d.image_digest: d.release for d in records},
                                      {d.image_digest: d.started_at - timedelta(hours=1) for d in records})
                # what an earlier run read of the batch's alarms: no state change in the year
                names_here = [a for n in names[first:first + 10]
                              for a in (f"{n}-production-http-5xx-rate", f"{n}-production-http-latency-p99")]
                for alarm in cloudwatch.describe_alarms(AlarmNames=names_here, MaxRecords=100)["MetricAlarms"]:
                    store.save_alarm_history(alarm["AlarmArn"], [], start - timedelta(days=60), read_at)
            store.close()
            elapsed, calls, data = dora_run(sim, fleet, weeks, jobs, tmp / "dora.sqlite")
            print(f"warm run over {count} services with {weeks} weeks each in the store: {elapsed:.1f} s, "
                  f"{sum(calls.values()) / count:.2f} AWS calls per service {calls}; "
                  f"{data['fleet']['metrics']['deployment_frequency']['deployments']} deployments measured")
        finally:
            sim.stop()


def main() -> int:
    from paved_road.dora.ratelimit import quota_bound

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=20)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--every", type=int, default=2, help="weeks between releases (default: 2)")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--warm-fleet", type=int, default=0, metavar="N",
                    help="also time a warm run over N services whose year is in the store (e.g. 5000)")
    args = ap.parse_args()
    end = datetime.now(timezone.utc).replace(microsecond=0)
    if args.warm_fleet:
        warm_fleet(args.warm_fleet, args.weeks, args.every, args.jobs, end)
    if args.services <= 0:
        return 0
    n = args.services
    with tempfile.TemporaryDirectory(prefix="bench-dora.") as tmp:
        tmp = Path(tmp)
        world = seed(n, args.weeks, args.every, end)
        world["retention_days"] = None
        top = max(int(r["version"].split(".")[1]) for r in world["repositories"]["svc-000"]["releases"])
        for repo in world["repositories"].values():   # releases not deployed yet, for step 3
            repo["releases"] += [{"version": f"1.{top + k}.0", "architectures": ["amd64"],
                                  "pushed_at": end.isoformat()} for k in (1, 2)]
        fleet = tmp / "fleet"
        for s in range(n):
            d = fleet / f"svc-{s:03d}"
            d.mkdir(parents=True)
            (d / ".copier-answers.yml").write_text(yaml.safe_dump({
                "service_name": f"svc-{s:03d}", "ecs_cluster_prefix": "apps", "aws_region": REGION}))
        t0 = time.perf_counter()
        sim = Sim(world, tmp, "--speed", "50")
        try:
            print(f"set-up: {n} services x {args.weeks} weeks (a release every {args.every} weeks) seeded in "
                  f"{time.perf_counter() - t0:.0f} s")
            env = sim.env
            store = tmp / "dora.sqlite"

            def run(label: str) -> tuple[float, dict, dict]:
                elapsed, calls, data = dora_run(sim, fleet, args.weeks, args.jobs, store)
                print(f"{label}: {elapsed:.1f} s, {sum(calls.values()) / n:.2f} AWS calls per service "
                      + ", ".join(f"{op} {c / n:.2f}" for op, c in sorted(calls.items(), key=lambda kv: -kv[1])))
                return elapsed, calls, data

            cold_time, cold_calls, data = run("cold (empty store)")
            bound = quota_bound(cold_calls)
            print(f"  the documented ECS quotas allow these calls in {bound:.1f} s at best; ours {cold_time:.1f} s "
                  f"({cold_time / bound:.2f}x)" if bound else "  within the quotas' bursts")
            warm_time, warm_calls, _ = run("warm (nothing new)")
            print(f"  a warm run over 5,000 services would make {5000 / 10:.0f} DescribeServices calls "
                  f"(at least {quota_bound({'DescribeServices': 500}):.0f} s under the quota); measured here: "
                  f"{warm_time:.1f} s for {n}")
            def deploy(name: str, version: str) -> None:
                proc = subprocess.run([str(BIN / "paved"), "deploy", "--cluster", "apps-production", "--service",
                                       name, "--to", version, "--poll-interval", "0.2"],
                                      capture_output=True, text=True, env=env)
                if proc.returncode:
                    raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])

            # A week later every service has released once more: the usual incremental run.
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda s: deploy(f"svc-{s:03d}", f"1.{top + 1}.0"), range(n)))
            _t, new_calls, _ = run("after one new release on every service")
            print(f"  per service with a year in the store and one new deployment: "
                  f"{sum(new_calls.values()) / n:.2f} calls (target <= 4), the shared descriptions included")
            deploy("svc-000", f"1.{top + 2}.0")
            _t, new_calls, report = run("after one more release on svc-000 alone")
            own = {svc["name"]: svc["aws_calls"] for svc in report["services"]}
            shared = sum(new_calls.values()) - sum(own.values())
            print(f"  svc-000 alone (a year in the store, one new deployment): {own['svc-000']} calls of its own "
                  f"(List, DescribeTaskDefinition, DescribeImages) + its batch's shared calls ({shared} for the "
                  f"fleet; the others were listed again only because their deployments ended within the store's "
                  f"5-minute clock margin)")
        finally:
            sim.stop()
        fleet_m = data["fleet"]["metrics"]
        print(f"fleet: {fleet_m['deployment_frequency']['deployments']} deployments, change failure rate "
              f"{fleet_m['change_failure_rate']['rate']:.3f}, errors {data['fleet']['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
