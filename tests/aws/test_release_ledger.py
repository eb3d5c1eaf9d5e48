"""Issue 18's scenarios: the real `paved` CLI as a subprocess against `paved sim`.

Each test replays one thing an on-call engineer tried (named in its docstring);
every one of them failed before deploy, rollback, history and dora read ECS's
history through one release ledger (paved_road.deploy.ledger).
"""

from __future__ import annotations

import http.server
import json
import signal
import socket
import subprocess
import threading
import time

import boto3
import pytest
from sim_world import (CLUSTER, FAST, REGION, SERVICE, aws_env, make_world, paved_executable, ran, releases,
                       service_seed)

REPO = {"demo-service": {"releases": releases("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0")}}


def seeded(sim_endpoint, history=None, fail=None, speed=None, **spec):
    seed = {"region": REGION, "repositories": REPO,
            "clusters": {CLUSTER: {"services": {SERVICE: service_seed(history, **spec)}}}}
    return make_world(sim_endpoint, seed, fail, **({"speed": speed} if speed else {}))


def runs(world) -> list[dict]:
    """`paved history --json`: the ledger's runs, newest first."""
    return world.history(cli=True)


def running_release(world) -> str:
    digest = world.app(world.task_definition())["image"].rsplit("@", 1)[1]
    return next(v for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0") if world.digest(v) == digest)


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1


# ---------------------------------------------------------------- rollback never overshoots


@pytest.mark.parametrize("flags", [("--previous",), ("--in-flight", "--previous")])
def test_previous_after_ecs_already_rolled_back_verifies_and_stays_on_the_last_good_release(sim_endpoint, flags):
    """paved sim --fail 1.2.0: deploy 1.1.0, deploy 1.2.0 (exit 4, the breaker puts 1.1.0 back), rollback --previous."""
    world = make_world(sim_endpoint, fail=["1.2.0"])
    assert world.deploy("1.1.0").code == 0
    assert world.deploy("1.2.0").code == 4
    before = len(world.history())
    result = world.rollback(*flags)
    assert result.code == 0, result.out + result.err
    assert "already rolled back" in result.out and "ecs-rollback" in result.out
    assert running_release(world) == "1.1.0"
    assert len(world.history()) == before                      # nothing started
    assert not [r for r in runs(world) if r["release"] == "1.1.0" and r["outcome"] == "rolled-back"]
    further = world.rollback("--previous", "--again", "--dry-run")
    assert further.code == 0 and "to:        1.0.0" in further.out


def test_previous_while_the_bad_release_still_rolls_out_also_ends_on_the_last_good_release(sim_endpoint):
    """The same command during 1.2.0's rollout (before or after the breaker trips) ends on 1.1.0 too."""
    world = make_world(sim_endpoint, fail=["1.2.0"], speed=1)
    assert world.deploy("1.1.0").code == 0
    assert world.deploy("1.2.0", "--no-wait").code == 0
    result = world.rollback("--previous")
    assert result.code == 0, result.out + result.err
    world.wait_for(lambda: not world.service()["deployments"][0]["rolloutState"] == "IN_PROGRESS", timeout=30)
    assert running_release(world) == "1.1.0"


def test_rerun_of_a_rollback_in_flight_follows_it_and_never_starts_a_second(sim_endpoint):
    """1.1.0 -> 1.2.0 -> 1.3.0, rollback --previous --timeout 1 (exit 5), then the same command again."""
    world = seeded(sim_endpoint, speed=1, history=[ran("1.1.0", 3, made_by="terraform"), ran("1.2.0", 2),
                                                   ran("1.3.0", 1)])
    first = world.rollback("--previous", "--timeout", "1")
    assert first.code == 5, first.out + first.err
    assert "demo-service runs demo-service:" in first.err      # the state, not only "timed out"
    again = world.rollback("--previous")
    assert again.code == 0, again.out + again.err
    assert "already under way" in again.out
    assert running_release(world) == "1.2.0"
    assert sum(1 for d in world.history() if d["made_by"] == "rollback") == 1
    assert world.calls("StopServiceDeployment") == 0


def test_outside_rollback_counts_as_a_rollback_and_a_forced_deployment_is_forced(sim_endpoint):
    """After 1.1.0 -> 1.3.0, `aws ecs update-service --task-definition <1.1.0's revision>` (console, CLI, ecspresso)."""
    world = seeded(sim_endpoint, history=[ran("1.1.0", 3, made_by="terraform"), ran("1.3.0", 1)])
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition="demo-service:1")
    world.wait_for(lambda: world.history()[0]["status"] == "SUCCESSFUL")
    newest, left = runs(world)[:2]
    assert (newest["release"], newest["how"], newest["outcome"]) == ("1.1.0", "outside-rollback", "completed")
    assert (left["release"], left["outcome"]) == ("1.3.0", "rolled-back")
    plan = world.rollback("--previous", "--dry-run")
    assert plan.code == 0, plan.err
    assert "to:        1.1.0" in plan.out and "already rolled back" in plan.out
    forced = world.deploy("1.1.0", "--force")
    assert forced.code == 0, forced.out + forced.err
    assert runs(world)[0]["how"] == "forced"                    # not "terraform", whatever the revision's tag says


def test_deploy_of_a_release_this_environment_rolled_back_is_refused_unless_allowed(sim_endpoint):
    """After 1.2.0 failed and was rolled back, a CI "Re-run all jobs" runs deploy --version 1.2.0 again."""
    world = make_world(sim_endpoint, fail=["1.2.0"])
    assert world.deploy("1.1.0").code == 0
    assert world.deploy("1.2.0").code == 4
    revisions, count = world.revisions(), len(world.history())
    refused = world.deploy("1.2.0")
    assert refused.code == 2, refused.out + refused.err
    assert one_line(refused.err)
    assert "1.2.0" in refused.err and "rolled-back" in refused.err and "UTC" in refused.err
    assert "circuit breaker" in refused.err and "--allow-bad-release" in refused.err
    assert (world.revisions(), len(world.history())) == (revisions, count)
    world.fail()                                              # say the cause was outside the release
    allowed = world.deploy("1.2.0", "--allow-bad-release")
    assert allowed.code == 0, allowed.out + allowed.err
    assert runs(world)[0]["release"] == "1.2.0" and runs(world)[0]["outcome"] == "completed"


def test_a_release_deployed_at_desired_count_zero_never_ran_and_is_no_previous_target(sim_endpoint):
    """desiredCount 0: 1.1.0 "completes" with no task; scaled to 2, 1.2.0 runs; --previous is 1.0.0."""
    world = make_world(sim_endpoint)
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=0)
    assert world.deploy("1.1.0").code == 0
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=2)
    assert world.deploy("1.2.0").code == 0
    zero = next(r for r in runs(world) if r["release"] == "1.1.0")
    assert zero["outcome"] == "no-tasks"
    counts = world.ecs.describe_service_deployments(serviceDeploymentArns=[zero["id"]])["serviceDeployments"][0]
    assert counts["targetServiceRevision"]["requestedTaskCount"] == 0   # as of completion, not today's 2
    plan = world.rollback("--previous", "--dry-run")
    assert plan.code == 0, plan.err
    assert "to:        1.0.0" in plan.out
    # ECS records no trace of the scale-up (desiredCount changes start no deployment), so the plan says what it
    # passed over and how to get it (review of issue 18)
    assert "skipped 1.1.0" in plan.out and "--to 1.1.0" in plan.out


# ---------------------------------------------------------------- the fallback path


def test_fallback_tolerates_a_stale_read_like_the_main_path(world):
    """No service-deployment permissions, and one DescribeServices read right after UpdateService is stale."""
    world.fault("ListServiceDeployments", "denied", count=1000)
    world.fault("DescribeServices", "stale", count=1, after="UpdateService")
    result = world.deploy("1.1.0")
    assert result.code == 0, result.out + result.err


def test_fallback_says_in_one_line_what_it_cannot_tell(world):
    """Without ListServiceDeployments, --in-flight and --previous say they are degraded instead of guessing."""
    world.fault("ListServiceDeployments", "denied", count=1000)
    assert world.deploy("1.1.0", "--no-wait").code == 0
    flight = world.rollback("--in-flight")
    assert flight.code == 2 and one_line(flight.err) and "degraded" in flight.err, flight.out + flight.err
    world.wait_for(lambda: world.service()["deployments"][0]["rolloutState"] == "COMPLETED")
    previous = world.rollback("--previous")
    assert previous.code == 3 and one_line(previous.err) and "degraded" in previous.err, previous.out + previous.err
    history = world.paved("history", "--cluster", CLUSTER, "--service", SERVICE)
    assert history.code == 0 and "degraded" in history.err


# ---------------------------------------------------------------- faults


def test_throttled_polls_do_not_end_the_wait(world):
    """12 throttled ListServiceDeployments during a wait while the deployment goes on and succeeds."""
    world.fault("ListServiceDeployments", "throttle", count=12, after="UpdateService")
    result = world.paved("deploy", "--cluster", CLUSTER, "--service", SERVICE, "--to", "1.1.0", *FAST,
                         env=aws_env(world.endpoint, AWS_MAX_ATTEMPTS="2"))
    assert result.code == 0, result.out + result.err
    assert "throttled by ECS" in result.out


def test_a_wait_that_gives_up_under_throttling_exits_5_with_the_state(world):
    world.fault("ListServiceDeployments", "throttle", count=100000, after="UpdateService")
    result = world.paved("deploy", "--cluster", CLUSTER, "--service", SERVICE, "--to", "1.1.0", *FAST,
                         "--timeout", "1", env=aws_env(world.endpoint, AWS_MAX_ATTEMPTS="2"))
    assert result.code == 5, result.out + result.err
    assert "throttling" in result.err and "demo-service runs demo-service:" in result.err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_mid_wait_prints_the_state_and_writes_the_summary(sim_endpoint, tmp_path, signum):
    world = make_world(sim_endpoint, speed=1)
    summary = tmp_path / "summary.md"
    proc = subprocess.Popen([paved_executable(), "deploy", "--cluster", CLUSTER, "--service", SERVICE,
                             "--to", "1.1.0", *FAST],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=aws_env(world.endpoint, GITHUB_STEP_SUMMARY=str(summary)))
    for line in proc.stdout:
        if line.startswith("waiting up to"):
            break
    time.sleep(0.3)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert one_line(err) and "interrupted while waiting" in err and "demo-service runs demo-service:" in err
    assert "deployments: PRIMARY demo-service:2" in err
    assert "interrupted while waiting" in summary.read_text()


def test_an_endpoint_that_is_not_aws_exits_2_with_one_line(world):
    class Html(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<html>\n<head><title>404 Not Found</title></head>\n<body>\n<h1>nginx</h1>\n</body>\n</html>\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        result = world.paved("history", "--cluster", CLUSTER, "--service", SERVICE, env=aws_env(endpoint))
    finally:
        server.shutdown()
    assert result.code == 2, result.out + result.err
    assert one_line(result.err) and "not an AWS API" in result.err and "<html>" not in result.err


def test_force_with_a_lost_response_starts_one_deployment(world):
    assert world.deploy("1.1.0").code == 0
    count = len(world.history())
    world.fault("UpdateService", "lost")
    result = world.deploy("1.1.0", "--force")
    assert result.code == 0, result.out + result.err
    assert len(world.history()) == count + 1


# ---------------------------------------------------------------- paved sim


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_sims_port_opens_only_once_its_world_exists():
    """A script waits for paved sim's port, then asks for the demo service at once."""
    port = _free_port()
    proc = subprocess.Popen([paved_executable(), "sim", "--port", str(port), "--speed", "20"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "paved sim did not open its port"
                time.sleep(0.01)
        endpoint = f"http://127.0.0.1:{port}"
        ecs = boto3.client("ecs", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="sim",
                           aws_secret_access_key="sim")
        services = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
        assert [s["serviceName"] for s in services] == [SERVICE]
        result = subprocess.run([paved_executable(), "history", "--cluster", CLUSTER, "--service", SERVICE],
                                capture_output=True, text=True, timeout=60, env=aws_env(endpoint))
        assert result.returncode == 0, result.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_another_region_in_the_shell_is_told_where_the_sims_world_is(world):
    result = world.paved("history", "--cluster", CLUSTER, "--service", SERVICE,
                         env=aws_env(world.endpoint, AWS_REGION="eu-west-1", AWS_DEFAULT_REGION="eu-west-1"))
    assert result.code == 2 and one_line(result.err)
    assert "eu-west-1" in result.err and "us-east-1" in result.err


# ---------------------------------------------------------------- one reading of one history


def test_rollback_and_dora_agree_on_which_releases_failed(sim_endpoint):
    """ECS rolled 1.2.0 back; 1.3.0 was rolled back by paved 72 h after it shipped; 1.4.0 by hand (outside)."""
    world = seeded(sim_endpoint, history=[
        ran("1.0.0", 12, made_by="terraform"), ran("1.1.0", 11), ran("1.2.0", 10, status="ROLLBACK_SUCCESSFUL"),
        ran("1.3.0", 9), ran("1.1.0", 6, made_by="rollback"), ran("1.4.0", 2)])
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition="demo-service:5")  # 1.1.0 again
    world.wait_for(lambda: world.history()[0]["status"] == "SUCCESSFUL")

    refused = set()
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        result = world.deploy(version, "--dry-run", "--allow-downgrade")
        if result.code == 2 and "marked bad" in result.err:
            refused.add(version)
    assert refused == {"1.2.0", "1.3.0", "1.4.0"}

    dora = world.paved("dora", "--cluster", CLUSTER, "--service", SERVICE, "--since", "30d", "--format", "json")
    assert dora.code == 0, dora.err
    cfr = json.loads(dora.out)["services"][0]["metrics"]["change_failure_rate"]
    assert cfr["failed"] == len(refused)
    assert cfr["reasons"] == {"rolled-back-by-ecs": 1, "followed-by-rollback": 2}


def test_an_alarm_rollback_is_named_by_deploy_history_and_the_refusal(sim_endpoint):
    """paved sim --alarm 1.1.0 (the default world then watches the ecs-service module's alarms)."""
    world = make_world(sim_endpoint, alarm=["1.1.0"])
    result = world.deploy("1.1.0")
    assert result.code == 4, result.out + result.err
    assert "CloudWatch alarm demo-service-staging-http-5xx-rate" in result.err
    failed = next(r for r in runs(world) if r["release"] == "1.1.0")
    assert failed["outcome"] == "rolled-back" and failed["detail"].startswith(
        "rolled back by alarm demo-service-staging-http-5xx-rate")
    refused = world.deploy("1.1.0")
    assert refused.code == 2 and "demo-service-staging-http-5xx-rate" in refused.err


def test_a_failed_ecs_rollback_shows_in_history(sim_endpoint):
    world = make_world(sim_endpoint, fail=["1.1.0"], fail_rollback=True)
    assert world.deploy("1.1.0").code == 4
    back, failed = runs(world)[:2]
    assert (failed["release"], failed["outcome"]) == ("1.1.0", "rollback-failed")
    assert (back["how"], back["outcome"]) == ("ecs-rollback", "failed")


def test_again_without_previous_is_bad_input(world):
    result = world.rollback("--to", "1.1.0", "--again")
    assert result.code == 2 and one_line(result.err) and "--again goes with --previous" in result.err


def test_previous_after_ecs_rolled_a_rollback_back_moves_on_instead_of_claiming_already_rolled_back(sim_endpoint):
    """1.1.0 -> 1.2.0 -> 1.3.0; 1.2.0 now fails too, so ECS's breaker rolls `rollback --previous` back onto 1.3.0.

    The service runs 1.3.0 again, the release the on-call rolled away from: the next --previous must not say
    "already rolled back" and exit 0 (review of issue 18)."""
    world = make_world(sim_endpoint)
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        assert world.deploy(version).code == 0
    world.fail("1.2.0")
    assert world.rollback("--previous").code == 4
    assert running_release(world) == "1.3.0"
    again = world.rollback("--previous")
    assert again.code == 0, again.out + again.err
    assert "already rolled back" not in again.out and "to:        1.1.0" in again.out
    assert running_release(world) == "1.1.0"
    refused = world.deploy("1.3.0", "--dry-run", "--allow-downgrade")
    assert refused.code == 2 and "marked bad" in refused.err, refused.out + refused.err


def _repoint(world, version: str, keep_old: bool = True) -> str:
    """Push a rebuilt image index under an existing release tag (a mutable ECR tag moved); returns the new digest.

    ECR leaves the image the tag moved away from in the repository, untagged (until a lifecycle rule expires
    it); moto deletes it, so keep_old gives it a second tag first to model ECR."""
    index = "application/vnd.oci.image.index.v1+json"
    image = world.ecr.batch_get_image(repositoryName=SERVICE, imageIds=[{"imageTag": version}],
                                      acceptedMediaTypes=[index])["images"][0]
    if keep_old:
        world.ecr.put_image(repositoryName=SERVICE, imageManifest=image["imageManifest"], imageManifestMediaType=index,
                            imageTag=f"old-{version}")
    manifest = json.loads(image["imageManifest"])
    manifest["annotations"] = {"org.opencontainers.image.revision": "rebuilt"}
    world.ecr.put_image(repositoryName=SERVICE, imageManifest=json.dumps(manifest), imageManifestMediaType=index,
                        imageTag=version)
    return world.digest(version)


def test_previous_rolls_back_to_the_image_that_ran_not_to_where_its_tag_points_now(sim_endpoint):
    """1.1.0 ran, then 1.2.0; the 1.1.0 tag is re-pointed at a rebuild. --previous must ship the bytes that ran
    (review of issue 18: it shipped the rebuild, which never ran here, as "the last good release")."""
    world = make_world(sim_endpoint)
    assert world.deploy("1.1.0").code == 0
    ran_as = world.digest("1.1.0")
    assert world.deploy("1.2.0").code == 0
    rebuilt = _repoint(world, "1.1.0")
    assert rebuilt != ran_as
    result = world.rollback("--previous")
    assert result.code == 0, result.out + result.err
    assert "never ran here" in result.out
    assert world.app(world.task_definition())["image"].endswith("@" + ran_as)
    assert runs(world)[0]["release"] == "1.1.0"


def test_previous_refuses_when_the_image_that_ran_is_gone_and_its_tag_points_at_a_rebuild(sim_endpoint):
    world = make_world(sim_endpoint)
    assert world.deploy("1.1.0").code == 0
    assert world.deploy("1.2.0").code == 0
    _repoint(world, "1.1.0", keep_old=False)
    revisions = world.revisions()
    result = world.rollback("--previous")
    assert result.code == 3 and one_line(result.err), result.out + result.err
    assert "never ran here" in result.err and "--to 1.1.0" in result.err
    assert world.revisions() == revisions and running_release(world) == "1.2.0"


def test_an_outside_rollback_past_ecs_retention_is_still_a_rollback(sim_endpoint):
    """1.1.0 ran 100 days ago (ECS no longer lists it), 1.3.0 ten days ago; then update-service to 1.1.0's revision.
    --previous planned 1.3.0, the release just rolled away from (review of issue 18)."""
    world = seeded(sim_endpoint, history=[ran("1.1.0", 100, made_by="terraform"), ran("1.3.0", 10)])
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition="demo-service:1")
    world.wait_for(lambda: world.history()[0]["status"] == "SUCCESSFUL")
    newest, left = runs(world)[:2]
    assert (newest["release"], newest["how"]) == ("1.1.0", "outside-rollback")
    assert (left["release"], left["outcome"]) == ("1.3.0", "rolled-back")
    plan = world.rollback("--previous", "--dry-run")
    assert plan.code == 0, plan.out + plan.err
    assert "already rolled back" in plan.out and "to:        1.3.0" not in plan.out


def test_fallback_rerun_of_a_rollback_in_flight_follows_it_through_describe_services(sim_endpoint):
    """No service-deployment permissions: `rollback --to 1.1.0 --timeout 1` (exit 5), then the same again. The re-run
    followed the rollback by asking DescribeServiceDeployments for an ECS deployment id (review of issue 18)."""
    world = seeded(sim_endpoint, speed=0.25, history=[ran("1.1.0", 3, made_by="terraform"), ran("1.2.0", 1)])
    world.fault("ListServiceDeployments", "denied", count=1000)
    world.fault("DescribeServiceDeployments", "denied", count=1000)
    first = world.rollback("--to", "1.1.0", "--timeout", "1")
    assert first.code == 5, first.out + first.err
    again = world.rollback("--to", "1.1.0")
    assert again.code == 0, again.out + again.err
    assert "already under way" in again.out
    assert running_release(world) == "1.1.0"
    assert sum(1 for d in world.history() if d["made_by"] == "rollback") == 1


def test_fallback_previous_while_ecs_rolls_back_follows_it(sim_endpoint):
    """No service-deployment permissions, ECS's breaker is rolling 1.2.0 back to 1.1.0 (a new deployment of 1.1.0's
    revision in DescribeServices): --previous follows it to the end instead of failing on a deployment id."""
    world = seeded(sim_endpoint, fail=["1.2.0"], speed=0.25, history=[ran("1.1.0", 3, made_by="terraform")])
    world.fault("ListServiceDeployments", "denied", count=1000)
    world.fault("DescribeServiceDeployments", "denied", count=1000)
    assert world.deploy("1.2.0", "--no-wait").code == 0
    world.wait_for(lambda: any(d.get("rolloutState") == "FAILED" for d in world.service()["deployments"]), timeout=60)
    result = world.rollback("--previous")
    assert result.code == 0, result.out + result.err
    assert "already under way" in result.out and running_release(world) == "1.1.0"


def test_deploy_refuses_the_bytes_of_a_bad_release_under_another_tag(sim_endpoint):
    """1.2.0 was rolled back by ECS; the same image index is then tagged 1.2.1 and deployed (review of issue 18)."""
    world = make_world(sim_endpoint, fail=["1.2.0"])
    assert world.deploy("1.1.0").code == 0
    assert world.deploy("1.2.0").code == 4
    index = "application/vnd.oci.image.index.v1+json"
    image = world.ecr.batch_get_image(repositoryName=SERVICE, imageIds=[{"imageTag": "1.2.0"}],
                                      acceptedMediaTypes=[index])["images"][0]
    world.ecr.put_image(repositoryName=SERVICE, imageManifest=image["imageManifest"], imageManifestMediaType=index,
                        imageTag="1.2.1")
    assert world.digest("1.2.1") == world.digest("1.2.0")
    refused = world.deploy("1.2.1", "--dry-run")
    assert refused.code == 2 and one_line(refused.err), refused.out + refused.err
    assert "1.2.1 (the image of 1.2.0) is marked bad" in refused.err and "--allow-bad-release" in refused.err


def test_in_flight_previous_while_ecs_undoes_a_rollback_goes_to_the_last_good_release(sim_endpoint):
    """1.1.0 -> 1.2.0 -> 1.3.0; `rollback --previous --no-wait` to 1.2.0, which fails, and while ECS puts 1.3.0 back
    the on-call runs `rollback --in-flight --previous`: it followed ECS onto 1.3.0 and called it "the last good
    release" (review of issue 18)."""
    world = seeded(sim_endpoint, speed=0.5, fail=["1.2.0"],
                   history=[ran("1.1.0", 3, made_by="terraform"), ran("1.2.0", 2), ran("1.3.0", 1)])
    assert world.rollback("--previous", "--no-wait").code == 0
    world.wait_for(lambda: world.history()[0]["status"].startswith("ROLLBACK"), timeout=60)
    result = world.rollback("--in-flight", "--previous")
    assert result.code == 0, result.out + result.err
    assert "to:        1.1.0" in result.out and "runs 1.3.0" not in result.out
    assert running_release(world) == "1.1.0"


def test_rerun_of_a_rollback_done_at_desired_count_zero_does_not_go_further_back(sim_endpoint):
    """1.1.0 -> 1.2.0; the on-call scales to 0 to stop the bleeding, rolls back, then re-runs the same command: it
    went on to 1.0.0 (review of issue 18)."""
    world = make_world(sim_endpoint)
    assert world.deploy("1.1.0").code == 0
    assert world.deploy("1.2.0").code == 0
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=0)
    assert world.rollback("--previous").code == 0
    count = len(world.history())
    again = world.rollback("--previous")
    assert again.code == 0, again.out + again.err
    assert "already rolled back" in again.out and "to:        1.0.0" not in again.out
    assert running_release(world) == "1.1.0" and len(world.history()) == count
