"""A release that passes its health checks but hurts users rolls back by itself.

`paved sim --alarm 1.2.0` (a subprocess, the real `paved` CLI against it): the
default world's service watches the alarms the ecs-service module creates
(paved_road.sim.world.module_alarms, checked against the module in
tests/terraform/test_alarm_metrics.py); 1.2.0's tasks drive them to ALARM once
they take traffic, ECS fails the deployment naming them in
`triggeredAlarmNames` and rolls back, and every command says so.
"""

from __future__ import annotations

import json
from datetime import datetime

import boto3

from sim_world import CLUSTER, REGION, SERVICE, make_world

ERROR_RATE = "demo-service-staging-http-5xx-rate"
LATENCY = "demo-service-staging-http-latency-p99"


def test_an_alarm_rolls_the_bad_release_back_and_every_command_says_so(sim_endpoint):
    world = make_world(sim_endpoint, alarm=["1.2.0"])
    cloudwatch = boto3.session.Session(region_name=REGION, aws_access_key_id="sim", aws_secret_access_key="sim") \
        .client("cloudwatch", endpoint_url=sim_endpoint)
    watched = world.service()["deploymentConfiguration"]["alarms"]
    assert (sorted(watched["alarmNames"]), watched["enable"], watched["rollback"]) == (sorted([ERROR_RATE, LATENCY]), True, True)
    rate = cloudwatch.describe_alarms(AlarmNames=[ERROR_RATE])["MetricAlarms"][0]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate["Metrics"] if "MetricStat" in m} == {"http.server.request.duration"}

    good = world.deploy("1.1.0")
    assert good.code == 0, good.out + good.err

    bad = world.deploy("1.2.0")
    assert bad.code == 4, bad.out + bad.err
    assert f"CloudWatch alarm {ERROR_RATE}" in bad.err

    (deployment_arn, *_) = [d["serviceDeploymentArn"] for d in world.ecs.list_service_deployments(
        cluster=CLUSTER, service=SERVICE)["serviceDeployments"]]
    done = world.ecs.describe_service_deployments(serviceDeploymentArns=[deployment_arn])["serviceDeployments"][0]
    assert done["status"] == "ROLLBACK_SUCCESSFUL"
    # the release serves 500s, fast: the error-rate alarm fires, the latency alarm does not
    assert done["alarms"]["status"] == "TRIGGERED" and done["alarms"]["triggeredAlarmNames"] == [ERROR_RATE]
    assert cloudwatch.describe_alarms(AlarmNames=[LATENCY])["MetricAlarms"][0]["StateValue"] == "OK"
    assert world.app(world.task_definition())["image"].endswith(world.digest("1.1.0"))   # 1.1.0 serves again
    assert cloudwatch.describe_alarms(AlarmNames=[ERROR_RATE])["MetricAlarms"][0]["StateValue"] == "OK"

    history = world.paved("history", "--cluster", CLUSTER, "--service", SERVICE)
    assert history.code == 0, history.err
    assert f"1.2.0 (demo-service:3) rolled-back: rolled back by alarm {ERROR_RATE} (CloudWatch, in ALARM)" in history.out, \
        history.out

    dora = world.paved("dora", "--cluster", CLUSTER, "--service", SERVICE, "--since", "1d", "--format", "json")
    assert dora.code == 0, dora.err
    metrics = json.loads(dora.out)["services"][0]["metrics"]
    cfr, detect, restore = metrics["change_failure_rate"], metrics["time_to_detect"], metrics["time_to_restore"]
    assert cfr["failed"] == 1, cfr
    # time to detect: 1.2.0's start to ECS starting the rollback its alarm asked for, before the restore ends
    started = datetime.fromisoformat(done["startedAt"]) if isinstance(done["startedAt"], str) else done["startedAt"]
    rolled = done["rollback"]["startedAt"]
    rolled = datetime.fromisoformat(rolled) if isinstance(rolled, str) else rolled
    assert (detect["detected"], detect["by_alarm"]) == (1, 1), detect
    assert detect["median_seconds"] == (rolled - started).total_seconds() > 0, detect
    assert restore["restored"] == 1 and detect["median_seconds"] <= restore["median_seconds"], (detect, restore)
