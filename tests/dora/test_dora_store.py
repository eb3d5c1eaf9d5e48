"""Issue 23: the history store. Past ECS's 90 days (a world that forgot its old deployments reads the
same year from the store), and incremental runs (the same report as a cold run on the same world,
with fewer AWS calls). The real CLI against `paved sim`."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from dora_sim_world import PAVED, REGION, Sim
from paved_road.deploy.history import Deployment
from paved_road.dora import store as st

NOW = datetime.now(timezone.utc).replace(microsecond=0)
UNTIL = (NOW + timedelta(days=2)).strftime("%Y-%m-%d")


@pytest.fixture(autouse=True)
def _clock():
    """Each test's NOW is when it starts, not when the module was imported (a suite collected before
    midnight ran these after it), and --until is the midnight after tomorrow, so what a test deploys
    minutes later, across a midnight, still falls inside the window."""
    global NOW, UNTIL
    NOW = datetime.now(timezone.utc).replace(microsecond=0)
    UNTIL = (NOW + timedelta(days=2)).strftime("%Y-%m-%d")


def _at(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed(rows, retention) -> dict:
    releases = sorted({r for r, *_ in rows} | {"1.9.0"})
    return {
        "region": REGION, "retention_days": retention,
        "repositories": {"orders": {"releases": [{"version": v, "pushed_at": _at(400)} for v in releases]}},
        "clusters": {"apps-production": {"services": {"orders": {
            "environment": "production", "circuit_breaker": {"enable": True, "rollback": True},
            "created_at": _at(400),      # the same service in both worlds (its createdAt is its identity)
            "history": [{"id": f"d{i}", "release": r, "status": status, "made_by": "deploy",
                         "started_at": _at(days), "finished_at": _at(days - minutes / 1440)}
                        for i, (r, status, days, minutes) in enumerate(rows)]}}}},
    }


def dora(sim, *args):
    proc = subprocess.run([PAVED, "dora", "--cluster", "apps-production", "--service", "orders", "--until", UNTIL,
                           "--format", "json", *args], capture_output=True, text=True, env=sim.env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


RATES = ("per_day", "per_week", "per_service_per_day", "per_service_per_day_median")


def _close(a, b, where: str, shift: float, days: tuple[float, float] | None = None) -> None:
    """Equal, but for the span rates divide by: --until lies in the future, so each run divides by the days up
    to its own now, `shift` days apart (seconds). covered_days must differ by exactly that, and each rate times
    its run's days must give the same count: a rate over a span an hour off fails (a tolerance of 0.1% let a
    year's rates be 8 hours apart)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        if "covered_days" in a:
            assert a["covered_days"] - b["covered_days"] == pytest.approx(shift, abs=2e-6), where
            days = (a["covered_days"], b["covered_days"])
        for k in a:
            if k in RATES and a[k] is not None and b[k] is not None:
                assert days is not None and a[k] * days[0] == pytest.approx(b[k] * days[1], abs=1e-3), f"{where}.{k}"
            elif k != "covered_days":
                _close(a[k], b[k], f"{where}.{k}", shift, days)
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]", shift, days)
    else:
        assert a == b, where


def _same(a: dict, b: dict) -> None:
    """Everything a reader compares: the metrics, the trend, the fleet and the window."""
    shift = (datetime.fromisoformat(a["now"]) - datetime.fromisoformat(b["now"])).total_seconds() / 86400
    for key in ("window", "fleet", "coverage"):
        _close(a[key], b[key], key, shift)
    assert len(a["services"]) == len(b["services"])
    for x, y in zip(a["services"], b["services"]):
        _close((x["metrics"], x["trend"], x["covered_since"]), (y["metrics"], y["trend"], y["covered_since"]),
               x["name"] if "name" in x else "service", shift)


def test_two_runs_compare_equal_only_when_their_rates_divide_by_their_own_days():
    """The comparison itself: 5 deployments over 50 days, the second run 10 s later, passes; a rate over a
    span an hour short, or covered_days an hour off, fails."""
    def run(now: str, days: float, per_day: float) -> dict:
        m = {"deployment_frequency": {"successful": 5, "per_day": per_day, "per_week": per_day * 7},
             "covered_days": days}
        return {"now": now, "window": {"days": 52.0}, "coverage": {}, "fleet": {"metrics": m},
                "services": [{"name": "orders", "metrics": m, "trend": [], "covered_since": None}]}

    first = run("2026-03-01T00:00:00+00:00", 50.0, 0.1)
    later = 50 + 10 / 86400
    _same(run("2026-03-01T00:00:10+00:00", round(later, 6), round(5 / later, 6)), first)
    with pytest.raises(AssertionError):
        _same(run("2026-03-01T00:00:10+00:00", round(later, 6), round(5 / (later - 1 / 24), 6)), first)
    with pytest.raises(AssertionError):
        _same(run("2026-03-01T00:00:10+00:00", round(later - 1 / 24, 6), round(5 / (later - 1 / 24), 6)), first)


# 1.0.0 300 days ago, 1.2.0 rolled back by ECS 120 days ago (4 min), then releases up to 10 days ago.
YEAR = [("1.0.0", "SUCCESSFUL", 300, 5), ("1.1.0", "SUCCESSFUL", 200, 5), ("1.2.0", "ROLLBACK_SUCCESSFUL", 120, 4),
        ("1.2.1", "SUCCESSFUL", 100, 5), ("1.3.0", "SUCCESSFUL", 30, 5), ("1.4.0", "SUCCESSFUL", 10, 5)]


def test_a_year_past_ecs_90_days_comes_from_the_store(tmp_path):
    """The store was filled while ECS still held the year; after ECS forgot all but 90 days the run with
    the store reports the same year. Without the store: 2 changes, one warning naming the span covered."""
    since = (NOW - timedelta(days=365)).strftime("%Y-%m-%d")
    sim = Sim(_seed(YEAR, None), tmp_path)
    try:
        store = str(tmp_path / "dora.sqlite")
        full, _ = dora(sim, "--since", since, "--store", store)
        m = full["services"][0]["metrics"]
        assert (m["deployment_frequency"]["deployments"], m["deployment_frequency"]["successful"]) == (6, 5)
        assert m["change_failure_rate"]["reasons"] == {"rolled-back-by-ecs": 1}
        assert m["time_to_restore"]["median_seconds"] == 240
        sim.reset(_seed(YEAR, 90))                       # ECS now returns 90 days only
        kept, _ = dora(sim, "--since", since, "--store", store)
        _same(full, kept)
        # another service of that name (created again): the store's records are not its history
        recreated = _seed(YEAR, 90)
        recreated["clusters"]["apps-production"]["services"]["orders"]["created_at"] = _at(1)
        sim.reset(recreated)
        other, err = dora(sim, "--since", since, "--store", store)
        assert other["services"][0]["metrics"]["deployment_frequency"]["deployments"] == 2
        assert "(recreated); read afresh from ECS" in err
        sim.reset(_seed(YEAR, 90))
        short, err = dora(sim, "--since", since, "--no-store")
    finally:
        sim.stop()
    m = short["services"][0]["metrics"]
    assert (m["deployment_frequency"]["deployments"], m["change_failure_rate"]["failed"]) == (2, 0)
    # 90 days held, up to now (--until, the midnight after tomorrow, is in the future): 90 days
    assert m["covered_days"] == pytest.approx(90, abs=0.01)
    assert err.count("warning:") == 1 and "starts later for 1 of 1 services" in err
    covered_since = datetime.fromisoformat(short["coverage"]["covered_since"].replace("Z", "+00:00"))
    assert abs(covered_since - (NOW - timedelta(days=90))) < timedelta(minutes=15)


def test_the_incremental_run_gives_the_cold_runs_report_with_fewer_calls(tmp_path):
    """Run with a store, deploy 1.9.0 through `paved deploy`, run again with that store (incremental:
    only what ECS added since) and with a new one (cold): the same report."""
    rows = [("1.0.0", "SUCCESSFUL", 60, 5), ("1.1.0", "SUCCESSFUL", 40, 5), ("1.2.0", "ROLLBACK_SUCCESSFUL", 20, 4),
            ("1.2.1", "SUCCESSFUL", 19, 5), ("1.3.0", "SUCCESSFUL", 5, 5)]
    since = (NOW - timedelta(days=50)).strftime("%Y-%m-%d")
    sim = Sim(_seed(rows, 90), tmp_path, "--speed", "50")
    try:
        store = str(tmp_path / "warm.sqlite")
        dora(sim, "--since", since, "--store", store)
        proc = subprocess.run([PAVED, "deploy", "--cluster", "apps-production", "--service", "orders",
                               "--to", "1.9.0", "--poll-interval", "0.2", "--timeout", "120"],
                              capture_output=True, text=True, env=sim.env, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        warm, err = dora(sim, "--since", since, "--store", store)
        cold, _ = dora(sim, "--since", since, "--store", str(tmp_path / "cold.sqlite"))
    finally:
        sim.stop()
    _same(warm, cold)
    assert warm["services"][0]["metrics"]["deployment_frequency"]["successful"] == 4   # 1.1.0, 1.2.1, 1.3.0, 1.9.0
    assert warm["services"][0]["aws_calls"] < cold["services"][0]["aws_calls"]


def _d(i: int, started: str, status: str = "SUCCESSFUL") -> Deployment:
    at = datetime.fromisoformat(started)
    return Deployment(id=f"arn:d{i}", release=f"1.{i}.0", digest=None, task_definition=f"orders:{i}",
                      strategy="ROLLING", status=status, started_at=at,
                      finished_at=at + timedelta(minutes=5) if status != "IN_PROGRESS" else None, made_by="deploy",
                      triggered_alarms=("a",) if i == 2 else ())


def test_store_round_trip_and_where_the_next_read_starts(tmp_path):
    s = st.Store(tmp_path / "x.sqlite")
    records = [_d(1, "2026-03-01T10:00:00+00:00"), _d(2, "2026-03-05T10:00:00+00:00"),
               _d(3, "2026-03-06T10:00:00+00:00", "IN_PROGRESS")]
    s.save("svc", records, datetime(2026, 3, 7, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert sorted(s.deployments("svc"), key=lambda d: d.id) == records
    # the in-flight one is older than nothing ended after it: read from it (minus a minute)
    assert st.read_since(records) == datetime(2026, 3, 5, 9, 59, tzinfo=timezone.utc)
    assert st.read_since(records[:2]) == datetime(2026, 3, 5, 9, 59, tzinfo=timezone.utc)
    assert st.read_since([records[0], records[2]]) == datetime(2026, 3, 1, 9, 59, tzinfo=timezone.utc)
    # another world: a deployment at the same instant under another ARN
    other = [Deployment(**{**records[1].__dict__, "id": "arn:other"})]
    assert "another deployment starting at 2026-03-05" in st.contradicts(records, other, records[0].started_at,
                                                                         datetime(2026, 3, 7, tzinfo=timezone.utc))
    s.close()


def test_a_file_that_is_not_a_store_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not sqlite " * 100)
    proc = subprocess.run([PAVED, "dora", "--cluster", "c", "--service", "s", "--store", str(bad)],
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "AWS_REGION": REGION,
                                                               "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                                                               "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--store" in proc.stderr, proc.stderr
    assert bad.read_text().startswith("not sqlite")


def test_aws_calls_cold_warm_after_one_new_deployment_and_shared_across_services(tmp_path):
    """Three services with 26 deployments each (a year, every 2 weeks), counted by the simulator.
    Cold (empty store): one DescribeServices for the three, per service 1 List, one Describe-
    TaskDefinition per revision (26: its paved:* tags) and one DescribeImages by imageIds; the 78
    deployments and their revisions are described 20 to a call across the services (4 + 4). Warm
    (nothing new): the one DescribeServices. After `paved deploy` on one service: that service alone
    reads List, DescribeServiceDeployments, DescribeServiceRevisions, DescribeTaskDefinition and
    DescribeImages once each. After a deploy on the two others: their new deployments (and svc-a's,
    listed again because it ended within the store's clock margin) are described in one call each,
    not one per service; and the report is the one a cold run gives."""
    from paved_road.sim.server import admin

    names = ["svc-a", "svc-b", "svc-c"]
    seed = {"region": REGION, "retention_days": None,
            "repositories": {n: {"releases": [{"version": f"1.{w}.0", "pushed_at": _at(400)} for w in range(27)]}
                             for n in names},
            "clusters": {"apps-production": {"services": {n: {
                "environment": "production", "created_at": _at(400),
                "history": [{"release": f"1.{w}.0", "status": "SUCCESSFUL", "made_by": "deploy",
                             "started_at": _at(362 - 14 * w), "finished_at": _at(362 - 14 * w - 0.01)}
                            for w in range(26)]} for n in names}}}}
    fleet = tmp_path / "fleet"
    for n in names:
        (fleet / n).mkdir(parents=True)
        (fleet / n / ".copier-answers.yml").write_text(f"service_name: {n}\necs_cluster_prefix: apps\n"
                                                       f"aws_region: {REGION}\n")
    sim = Sim(seed, tmp_path, "--speed", "50")
    store = str(tmp_path / "s.sqlite")

    def run(store: str) -> tuple[dict, dict]:
        before = admin(sim.endpoint, "state")["calls"]
        proc = subprocess.run([PAVED, "dora", "--catalog", str(fleet), "--since", "1y", "--until", UNTIL,
                               "--format", "json", "--store", store],
                              capture_output=True, text=True, env=sim.env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        after = admin(sim.endpoint, "state")["calls"]
        return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}, json.loads(proc.stdout)

    def deploy(service: str) -> None:
        proc = subprocess.run([PAVED, "deploy", "--cluster", "apps-production", "--service", service, "--to",
                               "1.26.0", "--poll-interval", "0.2", "--timeout", "120"],
                              capture_output=True, text=True, env=sim.env, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    try:
        cold, _ = run(store)
        warm, _ = run(store)
        deploy("svc-a")
        one_new, _ = run(store)
        deploy("svc-b")
        deploy("svc-c")
        two_new, incremental = run(store)
        _calls, from_scratch = run(str(tmp_path / "cold.sqlite"))
    finally:
        sim.stop()
    assert cold == {"DescribeServices": 1, "ListServiceDeployments": 3, "DescribeServiceDeployments": 4,
                    "DescribeServiceRevisions": 4, "DescribeTaskDefinition": 78, "DescribeImages": 3}
    assert warm == {"DescribeServices": 1}
    assert one_new == {"DescribeServices": 1, "ListServiceDeployments": 1, "DescribeServiceDeployments": 1,
                       "DescribeServiceRevisions": 1, "DescribeTaskDefinition": 1, "DescribeImages": 1}
    assert two_new == {"DescribeServices": 1, "ListServiceDeployments": 3, "DescribeServiceDeployments": 1,
                       "DescribeServiceRevisions": 1, "DescribeTaskDefinition": 2, "DescribeImages": 2}
    _same(incremental, from_scratch)
    assert [s["metrics"]["deployment_frequency"]["successful"] for s in incremental["services"]] == [27, 27, 27]


def test_rate_limiter_spends_the_burst_then_the_sustained_rate_per_family():
    """ECS's documented buckets: Service deployment actions burst 50, 20/s. 60 List/Describe-
    ServiceDeployments calls at once: 50 immediately, the 10 others 0.05 s apart (the last waits
    0.5 s); DescribeServices has its own bucket (100) and does not wait."""
    from paved_road.dora.ratelimit import Limiter, quota_bound

    now = [0.0]
    slept: list[float] = []
    limiter = Limiter(clock=lambda: now[0], sleep=slept.append)
    waits = [limiter.acquire("us-east-1", "ListServiceDeployments" if i % 2 else "DescribeServiceDeployments")
             for i in range(60)]
    assert waits[:50] == [0.0] * 50
    assert waits[50:] == pytest.approx([0.05 * k for k in range(1, 11)])
    assert limiter.acquire("us-east-1", "DescribeServices") == 0.0
    assert limiter.acquire("us-east-1", "DescribeImages") == 0.0            # ECR: not limited here
    # 5,000 services cold: 500 DescribeServices, 15,000 service-deployment calls, 130,000 task definitions
    assert quota_bound({"DescribeServices": 500, "ListServiceDeployments": 5000,
                        "DescribeServiceDeployments": 10000, "DescribeTaskDefinition": 130000}) == (130000 - 50) / 20


def test_the_store_survives_a_run_from_another_time_zone(tmp_path):
    """botocore reads ECS's epoch timestamps in the machine's local zone: the same service's createdAt
    prints differently under another TZ. A run from a laptop in Tokyo after one in UTC (or a CI runner)
    must not take the service for a recreated one and drop its year past ECS's 90 days."""
    since = (NOW - timedelta(days=365)).strftime("%Y-%m-%d")
    sim = Sim(_seed(YEAR, None), tmp_path)
    try:
        store = str(tmp_path / "dora.sqlite")
        sim.env = {**sim.env, "TZ": "UTC"}
        full, _ = dora(sim, "--since", since, "--store", store)
        sim.reset(_seed(YEAR, 90))
        sim.env = {**sim.env, "TZ": "Asia/Tokyo"}
        kept, err = dora(sim, "--since", since, "--store", store)
    finally:
        sim.stop()
    assert "recreated" not in err, err
    _same(full, kept)


def test_a_damaged_store_is_one_line_exit_2_not_a_traceback(tmp_path):
    """A store whose header is intact but whose pages are damaged opens, then fails in the reading
    threads (sqlite3.DatabaseError: malformed): the run says so in one line naming --store, exit 2."""
    since = (NOW - timedelta(days=365)).strftime("%Y-%m-%d")
    sim = Sim(_seed(YEAR, None), tmp_path)
    try:
        store = tmp_path / "dora.sqlite"
        dora(sim, "--since", since, "--store", str(store))
        s = st.Store(store)       # fold the WAL into the file, then damage the deployments table's root page
        s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root, = s.db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'deployments'").fetchone()
        size, = s.db.execute("PRAGMA page_size").fetchone()
        s.close()
        data = bytearray(store.read_bytes())
        data[(root - 1) * size:(root - 1) * size + 64] = b"\xff" * 64
        store.write_bytes(bytes(data))
        proc = subprocess.run([PAVED, "dora", "--cluster", "apps-production", "--service", "orders", "--until",
                               UNTIL, "--since", since, "--format", "json", "--store", str(store)],
                              capture_output=True, text=True, env=sim.env, timeout=300)
    finally:
        sim.stop()
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"paved dora: --store {store}") and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def _open_store(path: str, at: float) -> str:
    import time

    time.sleep(max(0.0, at - time.time()))     # all at once
    try:
        st.Store(path).close()
        return "ok"
    except st.StoreError as exc:
        return str(exc)


def test_two_first_runs_on_one_new_store_both_open_it(tmp_path):
    """Two `paved dora` runs started together (two CI jobs sharing a cache) on a store neither has made:
    both open it (before: one failed 'UNIQUE constraint failed: meta.key' or 'database is locked')."""
    import multiprocessing
    import time

    results = []
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        for n in range(30):
            at = time.time() + 0.3
            results += pool.starmap(_open_store, [(str(tmp_path / f"s{n}.sqlite"), at)] * 6)
    assert [r for r in results if r != "ok"] == []


def test_a_newer_schemas_store_is_refused_and_left_as_it_is(tmp_path):
    """A store written by a newer paved (schema 2, tables of its own): one line, exit 2, and the file is
    not changed (no tables of schema 1 added to it, its journal mode kept)."""
    import sqlite3

    path = tmp_path / "new.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema', '2');"
                     "CREATE TABLE ledger (service TEXT, entry TEXT);")
    db.close()
    before = path.read_bytes()
    with pytest.raises(st.StoreError, match=r"^--store .*new\.sqlite: store schema 2, this paved reads 1"):
        st.Store(path)
    assert path.read_bytes() == before


def test_ecr_facts_are_kept_per_region(tmp_path):
    """The same repository and digest replicated to two Regions was pushed at two times: a store that read
    us-east-1 first must not answer eu-west-1's push time from it (lead time would use the wrong one)."""
    from types import SimpleNamespace

    from paved_road.dora.collect import ecr_facts

    pushed = {"us-east-1": datetime(2026, 3, 1, 10, tzinfo=timezone.utc),
              "eu-west-1": datetime(2026, 3, 1, 12, tzinfo=timezone.utc)}

    def ecr(region):   # ECR's DescribeImages by imageIds in one Region (the fields paved reads)
        return SimpleNamespace(meta=SimpleNamespace(region_name=region), describe_images=lambda **kw: {
            "imageDetails": [{"imageDigest": "sha256:aa", "imageTags": ["1.0.0"], "imagePushedAt": pushed[region]}]})

    s = st.Store(tmp_path / "s.sqlite")
    for region in ("us-east-1", "eu-west-1"):
        by_release, by_digest, names = ecr_facts(ecr(region), "orders", "123456789012", {"sha256:aa"}, s)
        assert (by_release, names) == ({"1.0.0": pushed[region]}, {"sha256:aa": "1.0.0"}), region
    s.close()



def test_an_unusable_default_cache_dir_says_it_is_the_default_store_and_how_to_go_on(tmp_path):
    """No --store given and the cache dir cannot be made (a read-only or odd $XDG_CACHE_HOME in CI): one
    line, exit 2, naming the default store and --store / --no-store."""
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache dir should be")
    proc = subprocess.run([PAVED, "dora", "--cluster", "c", "--service", "s"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(blocker),
                               "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                               "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "the default store" in proc.stderr and "--no-store" in proc.stderr
    assert blocker.read_text().startswith("a file")


def test_services_of_one_name_with_short_arns_in_two_clusters_have_two_store_keys():
    """A service made before ECS's long ARN format is `arn:aws:ecs:REGION:ACCOUNT:service/NAME` (no cluster):
    orders in apps-staging and in apps-production must not share stored history (each run would take the
    other for a recreated service and drop it)."""
    from paved_road.dora.collect import Target, store_key

    def svc(cluster):
        return {"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/orders",
                "clusterArn": f"arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"}

    keys = {store_key(svc(c), Target(name="orders", cluster=c, service="orders")) for c in ("apps-staging",
                                                                                          "apps-production")}
    assert len(keys) == 2
    long_arn = "arn:aws:ecs:us-east-1:123456789012:service/apps-production/orders"
    assert store_key({"serviceArn": long_arn}, Target(name="orders", cluster="apps-production", service="orders")) \
        == long_arn   # stores already written keep their keys


def test_a_dropped_connection_while_the_batch_lists_is_that_service_s_error_not_the_run_s(tmp_path):
    """The batch's shared listing (measure_all's prefetch) meets what a service's own read met before:
    a connection ECS drops (after botocore's retries) is the service's error, named with the service
    (exit 2 when every service failed, as before), not an "unexpected error" that stops the whole run."""
    from paved_road.sim.server import admin

    sim = Sim(_seed(YEAR, None), tmp_path)
    try:
        admin(sim.endpoint, "fault", {"operation": "ListServiceDeployments", "fault": "lost", "count": 50})
        proc = subprocess.run([PAVED, "dora", "--cluster", "apps-production", "--service", "orders", "--until", UNTIL,
                               "--since", "30d", "--format", "json", "--no-store"],
                              capture_output=True, text=True, env=sim.env, timeout=300)
    finally:
        sim.stop()
    assert "unexpected error" not in proc.stderr
    assert "apps-production/orders: Connection was closed" in proc.stderr
