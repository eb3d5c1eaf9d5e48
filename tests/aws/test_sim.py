"""`paved sim` speaks the ECS API as AWS documents it: boto3 against the simulator, no paved code in between."""

from __future__ import annotations

import subprocess
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from sim_world import CLUSTER, SERVICE, make_world, paved_executable, ran, service_seed

SEED = {"repositories": {"demo-service": {"releases": [{"version": "1.0.0"}, {"version": "1.1.0"}]}}}


def _world(sim_endpoint, fail=None, speed=20, **spec):
    seed = {**SEED, "clusters": {CLUSTER: {"services": {SERVICE: service_seed(**spec)}}}}
    return make_world(sim_endpoint, seed, fail, speed=speed)


def _register(world, version: str) -> str:
    td = world.task_definition()
    image = world.app(td)["image"].rsplit("@", 1)[0] + "@" + world.digest(version)
    containers = [{**c, "image": image} if c["name"] == "app" else c for c in td["containerDefinitions"]]
    keep = ("family", "cpu", "memory", "networkMode", "requiresCompatibilities", "runtimePlatform",
            "taskRoleArn", "executionRoleArn")
    return world.ecs.register_task_definition(containerDefinitions=containers, **{k: td[k] for k in keep})[
        "taskDefinition"]["taskDefinitionArn"]


def _documented_stages(world) -> list[str]:
    import re
    text = world.ecs.meta.service_model.shape_for("ServiceDeployment").members["lifecycleStage"].documentation
    return list(dict.fromkeys(re.findall(r"<p>([A-Z_]+)</p>", text)))


def _newest(world) -> dict:
    arn = world.ecs.list_service_deployments(cluster=CLUSTER, service=SERVICE)["serviceDeployments"][0][
        "serviceDeploymentArn"]
    return world.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]


def _until(world, statuses: set[str], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        deployment = _newest(world)
        if deployment["status"] in statuses:
            return deployment
        assert time.monotonic() < deadline, deployment["status"]
        time.sleep(0.05)


def test_circuit_breaker_rollback_as_describe_services_and_service_deployments_report_it(sim_endpoint):
    world = _world(sim_endpoint, fail=["1.1.0"])
    old = world.service()["taskDefinition"]
    broken = _register(world, "1.1.0")
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=broken)

    rolling_back = _until(world, {"ROLLBACK_IN_PROGRESS"})
    deployments = world.service()["deployments"]
    assert [(d["status"], d["taskDefinition"], d["rolloutState"]) for d in deployments] == [
        ("PRIMARY", old, "IN_PROGRESS"), ("ACTIVE", broken, "FAILED")]
    assert rolling_back["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert rolling_back["deploymentCircuitBreaker"]["failureCount"] == rolling_back["deploymentCircuitBreaker"]["threshold"] == 3

    done = _until(world, {"ROLLBACK_SUCCESSFUL"})
    assert done["finishedAt"] >= done["startedAt"]
    revisions = world.ecs.describe_service_revisions(
        serviceRevisionArns=[done["rollback"]["serviceRevisionArn"], done["targetServiceRevision"]["arn"]])
    by_arn = {r["serviceRevisionArn"]: r["taskDefinition"] for r in revisions["serviceRevisions"]}
    assert by_arn[done["rollback"]["serviceRevisionArn"]] == old
    assert by_arn[done["targetServiceRevision"]["arn"]] == broken
    service = world.service()
    assert service["taskDefinition"] == old
    assert [(d["status"], d["rolloutState"]) for d in service["deployments"]] == [("PRIMARY", "COMPLETED")]


def test_blue_green_walks_the_documented_lifecycle_stages(sim_endpoint):
    world = _world(sim_endpoint, speed=40, strategy="BLUE_GREEN", bake_time_minutes=1)
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    stages = []
    deadline = time.monotonic() + 20
    while (deployment := _newest(world))["status"] != "SUCCESSFUL":
        if deployment.get("lifecycleStage") and deployment["lifecycleStage"] not in stages:
            stages.append(deployment["lifecycleStage"])
        assert time.monotonic() < deadline
        time.sleep(0.02)
    # short stages may pass between two polls; what is seen comes in the order the botocore model documents
    # them (ServiceDeployment.lifecycleStage, which also names PRE_PRODUCTION_TRAFFIC_SHIFT)
    documented = _documented_stages(world)
    assert stages == [s for s in documented if s in stages]
    assert "BAKE_TIME" in stages
    assert "RECONCILE_SERVICE" not in stages   # only one revision was ACTIVE when it started
    assert deployment["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"


def test_stop_service_deployment_rolls_back_and_refuses_a_finished_one(sim_endpoint):
    world = _world(sim_endpoint, speed=1)
    old = world.service()["taskDefinition"]
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    arn = _newest(world)["serviceDeploymentArn"]
    world.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert _newest(world)["status"] == "ROLLBACK_REQUESTED"
    _until(world, {"ROLLBACK_SUCCESSFUL"})
    assert world.service()["taskDefinition"] == old
    with pytest.raises(ClientError) as error:
        world.ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    assert error.value.response["Error"]["Code"] == "ConflictException"


def test_a_seed_the_api_refuses_exits_2_with_one_line(tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text("clusters:\n  demo:\n    services:\n      api: {repository: nope}\n")
    proc = subprocess.run([paved_executable(), "sim", "--port", "0", "--seed", str(seed)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "paved sim: clusters.demo.services.api.repository: 'nope' is not under repositories"


# ---------------------------------------------------------------- issue 18: closer to ECS


def test_linear_walks_a_pre_production_and_production_shift_per_step():
    """LINEAR 25%: four shifts, each PRE_PRODUCTION_TRAFFIC_SHIFT then PRODUCTION_TRAFFIC_SHIFT (the model's doc)."""
    from paved_road.sim.ecs_model import lifecycle
    config = {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25, "stepBakeTimeInMinutes": 2}}
    stages = lifecycle(config, reconcile=False)
    names = [s for s, _ in stages]
    shifts = names[names.index("POST_TEST_TRAFFIC_SHIFT") + 1:names.index("POST_PRODUCTION_TRAFFIC_SHIFT")]
    assert shifts == ["PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"] * 4
    bakes = [d for s, d in stages if s == "PRODUCTION_TRAFFIC_SHIFT"]
    assert [round(b - bakes[-1]) for b in bakes] == [120, 120, 120, 0]  # a step bake after every shift but the last
    assert lifecycle(config, reconcile=True)[0][0] == "RECONCILE_SERVICE"


def test_reconcile_service_only_when_a_deployment_starts_over_one_in_flight(sim_endpoint):
    world = _world(sim_endpoint, speed=2, strategy="BLUE_GREEN", bake_time_minutes=1)
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    assert _until(world, {"IN_PROGRESS"})["lifecycleStage"] != "RECONCILE_SERVICE"
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.0.0"))
    assert _until(world, {"IN_PROGRESS"})["lifecycleStage"] == "RECONCILE_SERVICE"


def test_stop_service_deployment_takes_only_rollback(sim_endpoint):
    """API_StopServiceDeployment: "The valid values are ROLLBACK" (the model's enum also lists ABORT)."""
    world = _world(sim_endpoint, speed=1)
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    with pytest.raises(ClientError) as error:
        world.ecs.stop_service_deployment(serviceDeploymentArn=_newest(world)["serviceDeploymentArn"], stopType="ABORT")
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"


def test_stopped_at_only_where_documented(sim_endpoint):
    """stoppedAt: a manual stop, or a failure with rollback off; not an automatic rollback (ServiceDeployment model)."""
    world = _world(sim_endpoint, fail=["1.1.0"])
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    automatic = _until(world, {"ROLLBACK_SUCCESSFUL"})
    assert "stoppedAt" not in automatic and "finishedAt" in automatic
    world = _world(sim_endpoint, speed=1)
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    world.ecs.stop_service_deployment(serviceDeploymentArn=_newest(world)["serviceDeploymentArn"], stopType="ROLLBACK")
    assert "stoppedAt" in _until(world, {"ROLLBACK_SUCCESSFUL"})
    world = _world(sim_endpoint, fail=["1.1.0"], circuit_breaker={"enable": True, "rollback": False})
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    assert "stoppedAt" in _until(world, {"STOPPED"})


def test_task_counts_are_frozen_at_completion_and_old_deployments_age_out(sim_endpoint):
    world = _world(sim_endpoint, history=[ran("1.0.0", 120, made_by="terraform"), ran("1.1.0", 2)])
    listed = world.ecs.list_service_deployments(cluster=CLUSTER, service=SERVICE)["serviceDeployments"]
    assert len(listed) == 1                        # 120 days ago is beyond ECS's 90 days
    done = _newest(world)
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=5)
    again = world.ecs.describe_service_deployments(serviceDeploymentArns=[done["serviceDeploymentArn"]])
    assert again["serviceDeployments"][0]["targetServiceRevision"]["requestedTaskCount"] == 2


def test_seeded_revisions_record_their_image_digest(sim_endpoint):
    world = _world(sim_endpoint, history=[ran("1.0.0", 3, made_by="terraform"), ran("1.1.0", 2)])
    revision = world.ecs.describe_service_revisions(
        serviceRevisionArns=[_newest(world)["targetServiceRevision"]["arn"]])["serviceRevisions"][0]
    app = next(i for i in revision["containerImages"] if i["containerName"] == "app")
    assert app["imageDigest"] == world.digest("1.1.0")


def test_an_alarm_fires_the_rollback_and_is_named(sim_endpoint):
    """paved sim --alarm 1.1.0: ECS watches the service's CloudWatch alarm, which 1.1.0's tasks drive to ALARM."""
    seed = {**SEED, "clusters": {CLUSTER: {"services": {SERVICE: service_seed(alarms=["demo-service-5xx"])}}}}
    world = make_world(sim_endpoint, seed, alarm=["1.1.0"])
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    done = _until(world, {"ROLLBACK_SUCCESSFUL"})
    assert done["alarms"]["status"] == "TRIGGERED" and done["alarms"]["triggeredAlarmNames"] == ["demo-service-5xx"]
    assert "demo-service-5xx" in done["rollback"]["reason"]
    cloudwatch = boto3.session.Session(region_name="us-east-1", aws_access_key_id="sim",
                                       aws_secret_access_key="sim").client("cloudwatch", endpoint_url=sim_endpoint)
    alarm = cloudwatch.describe_alarms(AlarmNames=["demo-service-5xx"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "OK"             # 1.1.0's tasks are gone again
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.0.0"))
    assert _until(world, {"SUCCESSFUL", "ROLLBACK_SUCCESSFUL"})["status"] == "SUCCESSFUL"


def test_fail_rollback_ends_rollback_failed(sim_endpoint):
    seed = {**SEED, "clusters": {CLUSTER: {"services": {SERVICE: service_seed()}}}}
    world = make_world(sim_endpoint, seed, ["1.1.0"], fail_rollback=True)
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=_register(world, "1.1.0"))
    assert _until(world, {"ROLLBACK_FAILED", "ROLLBACK_SUCCESSFUL"})["status"] == "ROLLBACK_FAILED"


# ---------------------------------------------------------------------------
# Issue 27: a web page cannot drive the admin API
# ---------------------------------------------------------------------------
def _raw(endpoint: str, method: str, route: str, body: bytes = b"", headers: dict | None = None):
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(endpoint)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    conn.request(method, f"/_paved_sim/{route}", body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


@pytest.mark.parametrize("method,route,body,headers,status,says", [
    # what a cross-origin page can send without a preflight: a text/plain POST (fetch no-cors, a form)
    ("POST", "fail", b'{"versions": ["1.1.0"]}', {"Content-Type": "text/plain"}, 415,
     b"Content-Type must be application/json"),
    ("POST", "fail", b'{"versions": ["1.1.0"]}', {"Content-Type": "application/x-www-form-urlencoded"}, 415,
     b"Content-Type must be application/json"),
    # DNS rebinding: the page's own name in Host
    ("POST", "fail", b'{"versions": ["1.1.0"]}', {"Content-Type": "application/json", "Host": "evil.example:5055"},
     403, b"Host must be one of"),
    ("GET", "state", b"", {"Host": "evil.example"}, 403, b"Host must be one of"),
    ("GET", "reset", b"", {}, 405, b"takes POST with a JSON body"),
    ("POST", "fail", b"[not json", {"Content-Type": "application/json"}, 400, b"body must be a JSON object"),
    ("POST", "fail", b'"x"', {"Content-Type": "application/json"}, 400, b"body must be a JSON object"),
])
def test_the_admin_api_takes_only_json_addressed_to_loopback(sim_endpoint, method, route, body, headers, status, says):
    before = _raw(sim_endpoint, "GET", "state")
    assert _raw(sim_endpoint, method, route, body, headers)[0] == status
    assert says in _raw(sim_endpoint, method, route, body, headers)[1]
    after = _raw(sim_endpoint, "GET", "state")
    assert before[0] == after[0] == 200
    import json

    assert json.loads(after[1])["fail"] == json.loads(before[1])["fail"]  # nothing changed
    ok = _raw(sim_endpoint, "POST", "fail", b'{"versions": []}', {"Content-Type": "application/json"})
    assert ok[0] == 200


def test_the_aws_api_is_bounded_idle_connections_threads_and_bodies():
    """Review of issue 27 ("paved sim caps body size, times out idle connections, bounds its threads"): only
    the admin API was bounded. 300 connections that sent half a request line held 302 threads for good,
    and a 300 MB body to the AWS API was buffered whole (876 MB RSS)."""
    import re
    import socket

    from paved_road.bounded_http import IDLE_TIMEOUT, MAX_CONNECTIONS
    from paved_road.sim.server import MAX_BODY

    proc = subprocess.Popen([paved_executable(), "sim", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        port = None
        while port is None:
            line = proc.stdout.readline()
            assert line, "paved sim exited"
            if match := re.search(r"export AWS_ENDPOINT_URL=http://127\.0\.0\.1:(\d+)", line):
                port = int(match[1])

        def threads() -> int:
            return int(re.search(r"^Threads:\s+(\d+)", open(f"/proc/{proc.pid}/status").read(), re.M)[1])

        def reply(head: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(head)
                return s.recv(200)

        base = threads()
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
        for s in idle:
            s.sendall(b"POST / HTTP/1.1\r\n")
        time.sleep(1)
        assert threads() <= base + MAX_CONNECTIONS
        time.sleep(IDLE_TIMEOUT + 3)
        assert threads() <= base + 1
        for s in idle:
            s.close()

        ecs = (b"X-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n"
               b"Content-Type: application/x-amz-json-1.1\r\nAuthorization: AWS4-HMAC-SHA256 "
               b"Credential=AKIDEXAMPLE/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0\r\n")
        big = reply(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + ecs + b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1))
        assert big.startswith(b"HTTP/1.1 413 "), big  # refused before a byte of the body was read
        negative = reply(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + ecs + b"Content-Length: -1\r\n\r\n")
        assert negative.startswith(b"HTTP/1.1 400 "), negative
        ok = reply(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + ecs + b"Content-Length: 2\r\n\r\n{}")
        assert ok.startswith(b"HTTP/1.1 200 "), ok
    finally:
        proc.terminate()
        proc.wait(timeout=10)
