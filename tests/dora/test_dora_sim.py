"""`paved dora` (the real CLI, a subprocess) against `paved sim` seeded with the
scenario's history of known timestamps: the numbers are the hand-computed ones
(scenario.py), for one service and for a fleet read through a catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from dora_sim_world import PAVED, Sim, catalog, scenario_seed

WINDOW = ["--since", "2026-03-01", "--until", "2026-03-31"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    server = Sim(scenario_seed(), tmp_path_factory.mktemp("sim"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    return catalog(tmp_path_factory.mktemp("catalog"))


def dora(sim, *args, check=0):
    proc = subprocess.run([PAVED, "dora", *args], capture_output=True, text=True,
                          env={**sim.env, "COLUMNS": "220"}, timeout=300)
    assert proc.returncode == check, proc.stderr
    return proc


def assert_orders(m: dict) -> None:
    assert (m["deployment_frequency"]["successful"], m["deployment_frequency"]["deployments"]) == (5, 6)
    assert m["deployment_frequency"]["per_week"] == pytest.approx(7 / 6, abs=1e-6)
    assert (m["lead_time"]["median_seconds"], m["lead_time"]["p90_seconds"], m["lead_time"]["commits"]) == (45600, 173700, 8)
    assert (m["change_failure_rate"]["failed"], m["change_failure_rate"]["deployments"]) == (2, 6)
    assert m["change_failure_rate"]["reasons"] == {"followed-by-rollback": 1, "rolled-back-by-ecs": 1}
    assert (m["time_to_restore"]["median_seconds"], m["time_to_restore"]["worst_seconds"]) == (2850, 3900)
    assert m["build_to_production"] == {"releases": 5, "median_seconds": 1800, "worst_seconds": 4200}
    assert m["rollback_duration"]["paved_rollback"]["median_seconds"] == 300
    bands = {k: m[k]["band"] for k in ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore")}
    assert bands == {"deployment_frequency": "high", "lead_time": "elite", "change_failure_rate": "low",
                     "time_to_restore": "elite"}


def test_one_service(sim, fleet):
    out = json.loads(dora(sim, "--cluster", "apps-production", "--service", "orders", "--repo", str(fleet / "orders"),
                          *WINDOW, "--format", "json").stdout)
    assert out["schema_version"] == 2 and out["environment"] is None
    [svc] = out["services"]
    assert (svc["environment"], svc["environment_source"], svc["ecr_repository"]) == ("production", "tag", "orders")
    assert_orders(svc["metrics"])
    assert svc["aws_calls"] > 0, (svc["notes"], svc["covered_since"])


def test_one_service_counts_whatever_its_environment(sim):
    """--cluster/--service: the staging-tagged service is measured, not filtered out."""
    out = json.loads(dora(sim, "--cluster", "apps-production", "--service", "legacy", *WINDOW, "--format", "json").stdout)
    [svc] = out["services"]
    assert svc["environment"] == "staging"
    assert svc["metrics"]["deployment_frequency"]["successful"] == 1


def test_fleet_from_a_catalog(sim, fleet):
    out = json.loads(dora(sim, "--catalog", str(fleet), *WINDOW, "--format", "json").stdout)
    assert out["environment"] == "production"
    by_name = {s["name"]: s for s in out["services"]}
    assert set(by_name) == {"orders", "payments"}
    assert out["skipped"] == [{"name": "legacy", "cluster": "apps-production", "environment": "staging",
                               "environment_source": "tag"}]
    assert_orders(by_name["orders"]["metrics"])
    payments = by_name["payments"]
    assert (payments["environment"], payments["environment_source"]) == ("production", "cluster-name")
    assert payments["metrics"]["deployment_frequency"]["deployments"] == 0
    assert payments["metrics"]["change_failure_rate"]["rate"] is None
    fleet_m = out["fleet"]["metrics"]
    assert fleet_m["deployment_frequency"]["per_service_per_day"] == pytest.approx(5 / 60, abs=1e-6)
    assert fleet_m["deployment_frequency"]["band"] == "medium"
    assert (fleet_m["change_failure_rate"]["failed"], fleet_m["change_failure_rate"]["deployments"]) == (2, 6)
    assert fleet_m["lead_time"]["median_seconds"] == 45600
    assert fleet_m["time_to_restore"]["median_seconds"] == 2850


def test_staging_run_of_the_catalog(sim, fleet):
    """--environment staging looks in apps-staging, which does not exist: each service is an error, exit 1."""
    proc = dora(sim, "--catalog", str(fleet), *WINDOW, "--environment", "staging", "--format", "json", check=1)
    out = json.loads(proc.stdout)
    assert {s["name"]: s["error"] for s in out["services"]}["orders"] == "cluster apps-staging not found"
    assert "apps-staging/orders" in proc.stderr


def test_table_on_a_terminal_less_run(sim, fleet):
    proc = dora(sim, "--catalog", str(fleet), *WINDOW)
    assert "orders" in proc.stdout and "12h40m (p90 2.0d)" in proc.stdout and "33.3% (2/6)" in proc.stdout
    assert "fleet (2)" in proc.stdout
    assert "reading ECS" not in proc.stderr  # no progress bar off a terminal


def test_a_pipe_and_a_file_get_plain_full_values_never_a_cut_box_table(sim, fleet, tmp_path):
    proc = subprocess.run([PAVED, "dora", "--catalog", str(fleet), *WINDOW], capture_output=True, text=True,
                          env={**sim.env, "COLUMNS": "80"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not set("│┃━─…") & set(proc.stdout)
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:3] == ["Service", "Env", "Deploys"] and "Rollback" in header
    orders = next(r for r in rows if r.startswith("orders "))
    assert "12h40m (p90 2.0d) elite" in orders and "33.3% (2/6) low" in orders
    out = tmp_path / "dora.txt"
    written = subprocess.run([PAVED, "dora", "--catalog", str(fleet), *WINDOW, "-o", str(out)],
                             capture_output=True, text=True, env=sim.env, timeout=300)
    assert written.returncode == 0 and written.stdout == ""
    assert out.read_text().splitlines()[0] == header


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "soon", "--cluster", "c", "--service", "s"], "--since must be a span like 30d"),
    (["--cluster", "c"], "name a service with --cluster C --service S"),
    (["--catalog", "nowhere", "--cluster", "c", "--service", "s"], "either --cluster and --service, or a fleet"),
    (["nowhere", "--cluster", "c", "--service", "s"], "either --cluster and --service, or a fleet"),
    (["--catalog", "nowhere"], "--catalog nowhere: no such file or directory"),
    (["nowhere"], "PATH nowhere: no such file or directory"),
    (["nowhere", "--template", "x"], "--template chooses which repositories of --github-org ORG are the fleet"),
    (["--github-org=-bad"], "--github-org: '-bad' is not a GitHub organisation login"),
    (["--repos-file", "."], "--repos-file .: is a directory; pass a YAML list of checkouts"),
])
def test_bad_input_exits_2_with_one_line(sim, args, message):
    proc = dora(sim, *args, check=2)
    assert proc.stderr.strip().splitlines() == [f"paved dora: {proc.stderr.split('paved dora: ', 1)[1].strip()}"]
    assert message in proc.stderr


def test_unknown_service_exits_2(sim):
    proc = dora(sim, "--cluster", "apps-production", "--service", "nope", check=2)
    assert "service nope not found in cluster apps-production" in proc.stderr


def test_throttling_is_retried(sim, fleet):
    """ThrottlingException from ECS (as the simulator injects it) is retried by the standard retry mode."""
    from paved_road.sim.server import admin

    before = admin(sim.endpoint, "state")["calls"].get("ListServiceDeployments", 0)
    for operation in ("ListServiceDeployments", "DescribeServices"):
        admin(sim.endpoint, "fault", {"operation": operation, "fault": "throttle", "count": 3})
    out = json.loads(dora(sim, "--catalog", str(fleet), *WINDOW, "--format", "json", "--no-store").stdout)  # read ECS in full
    assert_orders({s["name"]: s for s in out["services"]}["orders"]["metrics"])
    state = admin(sim.endpoint, "state")
    assert state["calls"]["ListServiceDeployments"] - before == 2 + 3  # orders, payments, and the 3 throttled
    assert not any(f[1] for faults in state["faults"].values() for f in faults)


@pytest.mark.parametrize(("env", "message"), [
    ({"AWS_PROFILE": "no-such-profile"}, "paved dora: AWS: The config profile (no-such-profile) could not be found"),
    ({"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}, "paved dora: AWS: Unable to locate credentials"),
])
def test_aws_environment_problems_exit_2_with_one_line(tmp_path, env, message):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run([PAVED, "dora", "--cluster", "c", "--service", "s"], capture_output=True, text=True,
                          env={**clean, "HOME": str(tmp_path), **env}, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == message


def test_fleet_from_a_github_org_is_the_catalogs_fleet_without_lead_time(sim, fleet, node24_env):
    """`paved dora --github-org` (the fleet selection of docs/fleet.md) against the fixture GitHub server: the
    services of the organisation whose answers files are those of the catalog's checkouts are measured as
    `paved dora DIR` measures them, except lead time, which needs a checkout's tags."""
    import sys
    from pathlib import Path

    import yaml

    here = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(here / "catalog"), str(here / "ecosystem")]
    import npm_tools
    from github_fixture import FixtureOrg, FixtureRepo, load_schema, serve

    schema = load_schema(npm_tools.install("graphql-schema", node24_env))
    repos = [FixtureRepo(p.name, {".copier-answers.yml": (p / ".copier-answers.yml").read_bytes()})
             for p in sorted(fleet.iterdir())]
    template = yaml.safe_load((fleet / "orders" / ".copier-answers.yml").read_text())["_src_path"]
    org = FixtureOrg(schema, "shop", repos, "walkthrough-token")
    server, url = serve(org)
    try:
        env = {**sim.env, "COLUMNS": "220", "GH_ENTERPRISE_TOKEN": "walkthrough-token"}
        proc = subprocess.run([PAVED, "dora", "--github-org", "shop", "--github-api", url, "--template", template,
                               *WINDOW, "--format", "json"], capture_output=True, text=True, env=env, timeout=300)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr
    assert "paved dora: shop: 3 repositories listed, 3 in the fleet" in proc.stderr
    from_org = json.loads(proc.stdout)
    from_dir = json.loads(dora(sim, str(fleet), *WINDOW, "--format", "json").stdout)
    assert from_org["skipped"] == from_dir["skipped"]
    by_name = {s["name"]: s for s in from_org["services"]}
    assert set(by_name) == {"orders", "payments"}
    orders, local = by_name["orders"]["metrics"], {s["name"]: s for s in from_dir["services"]}["orders"]["metrics"]
    assert orders["lead_time"]["commits"] == 0 and local["lead_time"]["commits"] == 8
    for metric in ("deployment_frequency", "change_failure_rate", "time_to_restore", "build_to_production"):
        assert orders[metric] == local[metric], metric
    assert all(errors == [] for _, errors in org.queries)


@pytest.mark.parametrize(("answers", "field"), [
    ("service_name: {a: 1}\n", "service_name must be a string"),
    ("service_name: orders\naws_region: [us-east-1]\n", "aws_region must be a string"),
    ("service_name: orders\necs_cluster_prefix: {x: 1}\n", "ecs_cluster_prefix must be a string"),
    ("service_name: orders\necr_repository: [a]\n", "ecr_repository must be a string"),
    ("service_name: &n orders\nowner: *n\n", "alias"),
])
def test_a_fleet_answers_file_of_the_wrong_shape_is_one_named_line(sim, fleet, tmp_path, answers, field):
    """A PATH's answers file is read as the org path and `paved catalog` read it (untrusted.load_answers):
    a field dora uses of the wrong type is named on one line and that service is not measured; the rest of
    the fleet is (as `paved catalog` reports one bad row), exit 1; no 'unexpected error: TypeError'."""
    shutil.copytree(fleet, tmp_path / "fleet")
    (tmp_path / "fleet" / "svc").mkdir()
    (tmp_path / "fleet" / "svc" / ".copier-answers.yml").write_text("_commit: v1.0.0\n_src_path: x\n" + answers)
    proc = dora(sim, str(tmp_path / "fleet"), *WINDOW, "--format", "json", check=1)
    assert len(proc.stderr.strip().splitlines()) == 1 and field in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"paved dora: {tmp_path / 'fleet' / 'svc'}: ") and proc.stderr.endswith(" (not measured)\n")
    assert "unexpected error" not in proc.stderr
    data = json.loads(proc.stdout)
    assert [u["label"] for u in data["unreadable"]] == [str(tmp_path / "fleet" / "svc")] and field in data["unreadable"][0]["error"]
    assert_orders({s["name"]: s for s in data["services"]}["orders"]["metrics"])
