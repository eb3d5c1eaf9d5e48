"""`paved deploy` / `rollback` / `history` against `paved sim`, the real CLI as a subprocess.

Each test names the incident it covers (issue 9). The simulator runs ECS's
deployment state machine (IN_PROGRESS -> SUCCESSFUL, circuit-breaker rollback,
blue/green stages and bake time, StopServiceDeployment) on top of moto.
"""

from __future__ import annotations

import json

import signal
import subprocess

import pytest
from sim_world import (CLUSTER, FAST, SERVICE, aws_env, make_world, paved_executable, ran, releases,
                       service_seed)

REPO_SEED = {"demo-service": {"releases": releases("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.3.1")}}


def seeded(sim_endpoint, history=None, fail=None, speed=None, clusters=None, list_order=None, **spec):
    seed = {"region": "us-east-1", "repositories": REPO_SEED,
            "clusters": clusters or {CLUSTER: {"services": {SERVICE: service_seed(history, **spec)}}}}
    kwargs: dict = {"speed": speed} if speed else {}
    if list_order:
        kwargs["list_order"] = list_order
    return make_world(sim_endpoint, seed, fail, **kwargs)


# ---------------------------------------------------------------- --previous comes from history


def test_previous_after_a_hotfix_is_the_release_that_ran_before_not_the_semver_previous(sim_endpoint):
    """1.1.0 -> 1.3.0 -> rollback to 1.1.0 -> hotfix 1.3.1: --previous from 1.3.1 plans 1.1.0, never 1.3.0."""
    world = seeded(sim_endpoint, history=[
        ran("1.1.0", 5, made_by="terraform"), ran("1.3.0", 4), ran("1.1.0", 3, made_by="rollback"), ran("1.3.1", 2)])
    result = world.rollback("--previous", "--dry-run")
    assert result.code == 0, result.err
    assert "from:      1.3.1" in result.out
    assert "to:        1.1.0" in result.out
    assert "1.3.0" not in result.out.split("to:", 1)[1].split("\n", 1)[0]


def test_dry_run_hands_the_resolved_release_and_digest_to_the_next_step(sim_endpoint, tmp_path):
    """rollback.yml resolves `--previous` with --dry-run, verifies that release's
    attestation, then rolls back to exactly it: the dry run writes to= and digest=."""
    world = seeded(sim_endpoint, history=[ran("1.1.0", 5, made_by="terraform"), ran("1.3.0", 4), ran("1.3.1", 2)])
    out = tmp_path / "github_output"
    out.write_text("")
    result = world.paved("rollback", "--cluster", CLUSTER, "--service", SERVICE, "--previous", "--dry-run",
                         env=aws_env(world.endpoint, GITHUB_OUTPUT=str(out)))
    assert result.code == 0, result.err
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    digest = world.ecr.describe_images(repositoryName="demo-service", imageIds=[{"imageTag": "1.3.0"}])
    assert outputs == {"to": "1.3.0", "digest": digest["imageDetails"][0]["imageDigest"]}


def test_a_release_that_failed_or_never_ran_here_is_never_a_previous_target(sim_endpoint):
    """1.2.0 failed in staging (rolled back) and never ran in production: --previous in either skips it."""
    world = seeded(sim_endpoint, clusters={
        "demo-staging": {"services": {SERVICE: service_seed(
            [ran("1.1.0", 6, made_by="terraform"), ran("1.2.0", 5, status="ROLLBACK_SUCCESSFUL"), ran("1.3.0", 4)])}},
        "demo-production": {"services": {SERVICE: service_seed(
            [ran("1.1.0", 6, made_by="terraform"), ran("1.3.0", 3)], environment="production")}},
    })
    for cluster in ("demo-staging", "demo-production"):
        result = world.rollback("--previous", "--dry-run", cluster=cluster)
        assert result.code == 0, result.err
        assert "to:        1.1.0" in result.out, (cluster, result.out)


def test_previous_skips_a_release_that_a_rollback_moved_away_from(sim_endpoint):
    """1.0.0 -> 1.1.0 -> 1.2.0 -> rollback to 1.1.0: --previous --again from 1.1.0 is 1.0.0, not the rolled-back 1.2.0.

    Issue 18 changed what plain --previous does here: the service is already on the last good release after a
    rollback, so it verifies that and moves nowhere (it used to plan 1.0.0).
    """
    world = seeded(sim_endpoint, history=[
        ran("1.0.0", 5, made_by="terraform"), ran("1.1.0", 4), ran("1.2.0", 3), ran("1.1.0", 2, made_by="rollback")])
    result = world.rollback("--previous", "--again", "--dry-run")
    assert result.code == 0, result.err
    assert "to:        1.0.0" in result.out
    stays = world.rollback("--previous", "--dry-run")
    assert stays.code == 0, stays.err
    assert "to:        1.1.0" in stays.out and "already rolled back" in stays.out


def test_previous_with_no_earlier_good_release_exits_3(world):
    result = world.rollback("--previous")
    assert result.code == 3
    assert "no release ran to completion" in result.err


# ---------------------------------------------------------------- verification cannot be fooled


def test_circuit_breaker_rollback_exits_4_and_history_shows_rollback_successful(sim_endpoint):
    world = seeded(sim_endpoint, fail=["1.3.0"])
    result = world.deploy("1.3.0")
    assert result.code == 4, result.out + result.err
    assert "ROLLBACK_SUCCESSFUL" in result.err and "the service runs demo-service:1" in result.err
    # history lists release runs (issue 18): ECS's rollback is a run of its own, on top of the failed one
    back, failed = world.history(cli=True)[:2]
    assert (failed["release"], failed["status"], failed["how"], failed["outcome"]) == (
        "1.3.0", "ROLLBACK_SUCCESSFUL", "deploy", "rolled-back")
    assert (back["release"], back["how"], back["outcome"], back["task_definition"]) == (
        "1.0.0", "ecs-rollback", "completed", "demo-service:1")
    assert world.service()["taskDefinition"].endswith("demo-service:1")


def test_history_in_a_pipe_and_in_a_file_is_plain_with_full_values(sim_endpoint, tmp_path):
    world = seeded(sim_endpoint, fail=["1.3.0"])
    assert world.deploy("1.3.0").code == 4
    piped = world.paved("history", "--cluster", CLUSTER, "--service", SERVICE)
    assert piped.code == 0, piped.err
    header, back, failed, *_ = piped.out.splitlines()
    assert header.split() == ["started", "(UTC)", "finished", "release", "revision", "strategy", "how", "outcome",
                              "ECS", "status"]
    # counted from the end: a run that ends after midnight UTC shows its finish date too (one more word)
    assert back.split()[-6:-2] == ["1.0.0", "demo-service:1", "ROLLING", "ecs-rollback"]
    assert failed.split()[-6:] == ["1.3.0", "demo-service:2", "ROLLING", "deploy", "rolled-back", "ROLLBACK_SUCCESSFUL"]
    assert not set("│┃━─…") & set(piped.out)
    out = tmp_path / "history.txt"
    assert world.paved("history", "--cluster", CLUSTER, "--service", SERVICE, "--format", "table", "-o", str(out)).out == ""
    assert out.read_text() == piped.out  # -o gets plain too, even when asked for a table
    as_json = world.paved("history", "--cluster", CLUSTER, "--service", SERVICE, "--format", "json")
    assert json.loads(as_json.out) == world.history(cli=True)  # --json and --format json are one thing


def test_rerun_of_a_failed_rollout_exits_4_not_nothing_to_do(sim_endpoint):
    """deploy --no-wait, the rollout fails (breaker without rollback), deploy again: exit 4, no new deployment."""
    world = seeded(sim_endpoint, fail=["1.1.0"], circuit_breaker={"enable": True, "rollback": False})
    assert world.deploy("1.1.0", "--no-wait").code == 0
    world.wait_for(lambda: world.history()[0]["status"] == "STOPPED")
    before = len(world.history())
    result = world.deploy("1.1.0")
    assert result.code == 4, result.out + result.err
    assert "ended STOPPED" in result.err
    assert len(world.history()) == before


def test_rerun_of_a_successful_deploy_verifies_it_and_force_starts_a_new_deployment(sim_endpoint):
    world = seeded(sim_endpoint)
    assert world.deploy("1.1.0").code == 0
    revisions, count = world.revisions(), len(world.history())
    again = world.deploy("1.1.0")
    assert again.code == 0 and "is SUCCESSFUL" in again.out
    assert (world.revisions(), len(world.history())) == (revisions, count)

    forced = world.deploy("1.1.0", "--force")
    assert forced.code == 0, forced.err
    history = world.history()
    assert len(history) == count + 1 and history[0]["status"] == "SUCCESSFUL"
    assert history[0]["task_definition"] == history[1]["task_definition"]  # same revision, new deployment
    assert world.revisions() == revisions


def test_blue_green_with_bake_time_succeeds_inside_the_wait(sim_endpoint):
    """Bake time (1 min = 3 s at speed 20) is added to --timeout 1: a healthy deploy is not a timeout."""
    world = seeded(sim_endpoint, strategy="BLUE_GREEN", bake_time_minutes=1)
    result = world.deploy("1.1.0", "--timeout", "1")
    assert result.code == 0, result.out + result.err
    assert "BAKE_TIME" in result.out and "including 60s bake time" in result.out
    assert result.seconds > 2.5  # it really waited out the bake
    assert world.history()[0]["strategy"] == "BLUE_GREEN"


def test_rolling_deploy_that_outlives_the_timeout_exits_5_naming_the_breaker_state(sim_endpoint):
    world = seeded(sim_endpoint, fail=["1.1.0"], circuit_breaker={"enable": False, "rollback": False})
    result = world.deploy("1.1.0", "--timeout", "1")
    assert result.code == 5
    assert "circuit breaker is OFF" in result.err


def test_breaker_off_failures_warn_once_and_the_timeout_says_how_to_roll_back(sim_endpoint):
    world = seeded(sim_endpoint, fail=["1.1.0"], circuit_breaker={"enable": False, "rollback": False})
    result = world.deploy("1.1.0", "--timeout", "3")
    assert result.code == 5, result.out + result.err
    warnings = [line for line in result.out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.out
    assert "have failed and the deployment circuit breaker is off: ECS will not roll back by itself" in warnings[0]
    count = int(warnings[0].split()[1])
    assert count >= 2  # failures grew before it warned
    assert "failed tasks 0 (circuit breaker off)" in result.out  # no threshold that nothing enforces
    rollback = f"paved rollback --cluster {CLUSTER} --service {SERVICE} --previous"
    assert warnings[0].endswith(f"; to roll back: {rollback}")
    (error,) = result.err.splitlines()
    assert error.startswith("error: demo-service:2 not finished after 3s") and error.endswith(f"; to roll back: {rollback}")
    # The hint's arguments are the real ones: it brings the service back to 1.0.0.
    back = world.paved(*rollback.split()[1:], "--poll-interval", "0.05")
    assert back.code == 0, back.out + back.err
    assert f"rollback complete: {SERVICE} runs 1.0.0 on " in back.out, back.out


def test_breaker_off_warning_with_alarm_rollback_does_not_say_ecs_never_rolls_back(sim_endpoint):
    """Breaker off but deployment alarms with rollback on: ECS rolls back when an alarm goes into ALARM
    (AWS API DeploymentAlarms), so the warning names the alarms instead of "will not roll back by itself"."""
    world = seeded(sim_endpoint, fail=["1.1.0"], circuit_breaker={"enable": False, "rollback": False},
                   alarms=["demo-service-5xx"])
    result = world.deploy("1.1.0", "--timeout", "3")
    warnings = [line for line in result.out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.out
    assert "will not roll back by itself" not in warnings[0]
    assert "only if an alarm goes into ALARM (demo-service-5xx)" in warnings[0], warnings[0]
    assert "failing tasks do not trip an alarm" in warnings[0]


def test_breaker_rollback_names_where_the_service_is_and_no_hint(sim_endpoint):
    """ECS already rolled back: the error says where the service runs and prints no rollback command."""
    world = seeded(sim_endpoint, fail=["1.3.0"])
    result = world.deploy("1.3.0")
    assert result.code == 4 and "the service runs demo-service:1" in result.err
    assert "to roll back" not in result.err and "warning:" not in result.out


def test_desired_count_zero_is_reported_as_unverified(sim_endpoint):
    world = seeded(sim_endpoint, desired_count=0)
    result = world.deploy("1.1.0")
    assert result.code == 0, result.err
    assert "desiredCount is 0" in result.out and "health is unverified" in result.out


def test_breaker_off_and_alarms_are_reported_in_the_plan(sim_endpoint):
    world = seeded(sim_endpoint, circuit_breaker={"enable": False}, alarms=["demo-service-5xx"])
    result = world.deploy("1.1.0", "--dry-run")
    assert result.code == 0, result.err
    assert "breaker:   OFF" in result.out
    assert "alarms:    demo-service-5xx (rollback on" in result.out and "allow for it in --timeout" in result.out


@pytest.mark.parametrize("controller", ["CODE_DEPLOY", "EXTERNAL"])
def test_code_deploy_and_external_controllers_are_refused_with_one_line(sim_endpoint, controller):
    world = seeded(sim_endpoint, controller=controller)
    result = world.deploy("1.1.0")
    assert result.code == 2
    assert result.err.count("\n") == 1 and f"uses the {controller} deployment controller" in result.err
    assert world.revisions() == ["demo-service:1"]


def test_without_service_deployment_permissions_history_and_verification_fall_back(world):
    """ListServiceDeployments denied: describe_services' deployments and the PRIMARY rolloutState still answer."""
    world.fault("ListServiceDeployments", "denied", count=1000)
    result = world.deploy("1.1.0")
    assert result.code == 0, result.out + result.err
    assert "no service-deployment APIs here" in result.out
    history = world.history(cli=True)
    assert [(d["release"], d["status"]) for d in history] == [("1.1.0", "SUCCESSFUL")]
    assert history[0]["id"].startswith("ecs-svc/")


# ---------------------------------------------------------------- the shape of the revision


def _terraform_registers(world, memory: str, env_value: str, made_by: str | None = "terraform") -> str:
    td = world.task_definition("demo-service:1")
    containers = td["containerDefinitions"]
    for c in containers:
        if c["name"] == "app":
            c["environment"] = [e for e in c["environment"] if e["name"] != "FEATURE"] + [{"name": "FEATURE", "value": env_value}]
    tags = [{"key": "paved:made-by", "value": made_by}] if made_by else []
    return world.ecs.register_task_definition(
        family=td["family"], containerDefinitions=containers, cpu=td["cpu"], memory=memory,
        networkMode=td["networkMode"], requiresCompatibilities=td["requiresCompatibilities"],
        runtimePlatform=td["runtimePlatform"], taskRoleArn=td["taskRoleArn"], executionRoleArn=td["executionRoleArn"],
        **({"tags": tags} if tags else {}))["taskDefinition"]["taskDefinitionArn"]


def test_rollback_restores_the_shape_that_ran_the_release_and_dry_run_shows_the_diff(sim_endpoint):
    world = seeded(sim_endpoint)
    assert world.deploy("1.1.0").code == 0                         # demo-service:2, memory 1024
    _terraform_registers(world, "2048", "on")                        # demo-service:3 (Terraform's new shape)
    assert world.deploy("1.2.0").code == 0                         # demo-service:4, memory 2048, FEATURE=on
    assert world.task_definition()["memory"] == "2048"

    plan = world.rollback("--previous", "--dry-run")
    assert plan.code == 0, plan.err
    assert "to:        1.1.0" in plan.out and "copy of demo-service:2" in plan.out
    assert '-  "memory": "2048"' in plan.out and '+  "memory": "1024"' in plan.out
    assert '-          "name": "FEATURE",' in plan.out  # the variable goes; values are shown as hashes only
    assert '"value": "on"' not in plan.out

    result = world.rollback("--previous")
    assert result.code == 0, result.err
    td = world.task_definition()
    assert td["memory"] == "1024" and "FEATURE" not in {e["name"] for e in world.app(td)["environment"]}
    assert world.app(td)["image"].endswith(world.digest("1.1.0"))
    tags = world.tags(td["taskDefinitionArn"])
    assert tags["paved:release"] == "1.1.0" and tags["paved:made-by"] == "rollback"
    assert tags["paved:digest"] == world.digest("1.1.0")


def test_deploy_takes_terraforms_newest_revision_and_never_a_hand_registered_one(sim_endpoint):
    world = seeded(sim_endpoint)
    _terraform_registers(world, "2048", "terraform")                  # demo-service:2
    _terraform_registers(world, "4096", "debug-by-hand", made_by=None)  # demo-service:3, by hand
    result = world.deploy("1.1.0")
    assert result.code == 0, result.err
    assert "copy of demo-service:2: newest revision registered by Terraform" in result.out
    td = world.task_definition()
    assert td["taskDefinitionArn"].endswith("demo-service:4")
    assert td["memory"] == "2048"
    assert {"name": "FEATURE", "value": "terraform"} in world.app(td)["environment"]
    assert world.tags(td["taskDefinitionArn"])["paved:made-by"] == "deploy"


def test_a_collector_config_change_ships_by_deploying_the_running_release_again(sim_endpoint):
    """What docs/telemetry.md and the ecs-service README tell a user to do after
    an apply that changed only the collector config (a new Terraform revision,
    the service left alone): `paved deploy --version <running release>` must
    ship that revision's config, not answer "already runs this release"."""
    world = seeded(sim_endpoint)
    assert world.deploy("1.1.0").code == 0                                      # demo-service:2
    td = world.task_definition("demo-service:1")
    containers = td["containerDefinitions"]
    for c in containers:
        if c["name"] == "otel-collector":
            c["environment"] = [{"name": "AOT_CONFIG_CONTENT", "value": "receivers: {} # namespace Checkout/Orders"}]
    world.ecs.register_task_definition(                                         # demo-service:3, by Terraform
        family=td["family"], containerDefinitions=containers, cpu=td["cpu"], memory=td["memory"],
        networkMode=td["networkMode"], requiresCompatibilities=td["requiresCompatibilities"],
        runtimePlatform=td["runtimePlatform"], taskRoleArn=td["taskRoleArn"], executionRoleArn=td["executionRoleArn"],
        tags=[{"key": "paved:made-by", "value": "terraform"}])
    assert world.service()["taskDefinition"].endswith("demo-service:2")       # the apply moved nothing

    result = world.deploy("1.1.0")
    assert result.code == 0, result.out + result.err
    running = world.task_definition()
    assert running["taskDefinitionArn"].endswith("demo-service:4"), result.out
    collector = next(c for c in running["containerDefinitions"] if c["name"] == "otel-collector")
    assert collector["environment"] == [{"name": "AOT_CONFIG_CONTENT", "value": "receivers: {} # namespace Checkout/Orders"}]
    assert world.app(running)["image"].endswith(world.digest("1.1.0"))
    assert world.history()[0]["status"] == "SUCCESSFUL"


def test_the_config_change_commands_the_docs_give_are_real_paved_deploy_flags():
    """docs/telemetry.md once told users a `paved deploy` flag deploy did not have
    (today deploy and rollback both take --to; --version is hidden), and the generated
    README said a config change "deploys as a new revision" (the apply
    restarts nothing): each doc says to deploy, with the real CLI's flags."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    help_text = subprocess.run([paved_executable(), "deploy", "--help"], capture_output=True, text=True).stdout
    known = set(re.findall(r"--[a-z][a-z-]*", help_text))
    for doc in ("docs/telemetry.md", "terraform-modules/ecs-service/README.md", "template/README.md.jinja"):
        commands = re.findall(r"`(paved deploy[^`]*)`", (root / doc).read_text())
        assert commands, f"{doc} does not say how a collector-config change reaches running tasks"
        for command in commands:
            assert set(re.findall(r"--[a-z][a-z-]*", command)) <= known, (doc, command)
    assert "`paved deploy --to" in (root / "template/README.md.jinja").read_text()


# ---------------------------------------------------------------- --in-flight, --digest, downgrade


def test_in_flight_rollback_stops_the_deployment_and_verifies_the_last_good_one(sim_endpoint):
    world = seeded(sim_endpoint, speed=1)  # a rolling deployment takes 3 s
    assert world.deploy("1.1.0", "--no-wait").code == 0
    result = world.rollback("--in-flight")
    assert result.code == 0, result.out + result.err
    assert "ROLLBACK_SUCCESSFUL" in result.out and "runs 1.0.0 on demo-service:1 again" in result.out
    assert world.history()[0]["status"] == "ROLLBACK_SUCCESSFUL"
    assert world.service()["taskDefinition"].endswith("demo-service:1")


def test_in_flight_without_a_deployment_in_progress_exits_2(world):
    result = world.rollback("--in-flight")
    assert result.code == 2 and "no deployment" in result.err
    assert world.rollback().code == 2  # none of --to / --previous / --in-flight


def test_in_flight_with_to_stops_nothing_when_idle_and_rolls_back_as_asked(world):
    assert world.deploy("1.1.0").code == 0
    result = world.rollback("--to", "1.0.0", "--in-flight")
    assert result.code == 0, result.out + result.err
    assert "rolling back as usual" in result.out
    assert world.history()[0]["release"] == "1.0.0"


def test_digest_pins_the_release_and_a_moved_tag_is_refused(world):
    assert world.deploy("1.1.0", "--digest", world.digest("1.1.0")).code == 0
    moved = world.deploy("1.2.0", "--digest", world.digest("1.3.0"))
    assert moved.code == 2 and "tag moved" in moved.err
    assert world.service()["taskDefinition"].endswith("demo-service:2")


def test_rollback_registers_only_the_digest_it_was_given(world):
    """rollback.yml verifies the target's attestation, then rolls back with --digest: if the
    release's tag resolves to anything else by then, nothing is registered."""
    assert world.deploy("1.2.0").code == 0
    moved = world.rollback("--to", "1.1.0", "--digest", world.digest("1.0.0"))
    assert moved.code == 2 and "tag moved" in moved.err, moved.out + moved.err
    assert world.service()["taskDefinition"].endswith("demo-service:2")
    assert world.rollback("--to", "1.1.0", "--digest", world.digest("1.1.0")).code == 0
    assert world.history()[0]["release"] == "1.1.0"


def test_deploy_refuses_a_downgrade_unless_allowed(world):
    assert world.deploy("1.2.0").code == 0
    refused = world.deploy("1.1.0")
    assert refused.code == 2 and "paved rollback --to 1.1.0" in refused.err
    assert world.deploy("1.1.0", "--allow-downgrade").code == 0


# ---------------------------------------------------------------- no half states


def test_lost_update_service_response_keeps_the_revision_and_verifies_it(world):
    world.fault("UpdateService", "lost", count=2)
    result = world.paved("deploy", "--cluster", CLUSTER, "--service", SERVICE, "--to", "1.1.0", *FAST,
                         env=aws_env(world.endpoint, AWS_MAX_ATTEMPTS="2"))
    assert result.code == 0, result.out + result.err
    assert "ECS applied it" in result.out
    assert world.calls("UpdateService") == 2
    td = world.task_definition("demo-service:2")
    assert td["status"] == "ACTIVE" and world.service()["taskDefinition"].endswith("demo-service:2")
    assert "deploy complete" in result.out


def test_sigint_between_register_and_update_leaves_no_orphan_and_says_where_the_service_is(world):
    world.fault("UpdateService", "stall", seconds=4)
    proc = subprocess.Popen([paved_executable(), "deploy", "--cluster", CLUSTER, "--service", SERVICE,
                             "--to", "1.1.0", *FAST], env=aws_env(world.endpoint, AWS_MAX_ATTEMPTS="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    world.wait_for(lambda: world.calls("UpdateService") >= 1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "still runs demo-service:1 unchanged; demo-service:2 was deregistered" in err
    assert world.revisions() == ["demo-service:1"]
    assert world.service()["taskDefinition"].endswith("demo-service:1")


def test_throttling_is_retried_and_the_deploy_succeeds(world):
    before = world.calls("RegisterTaskDefinition")
    world.fault("DescribeServices", "throttle", count=2)
    world.fault("RegisterTaskDefinition", "throttle", count=1)
    result = world.deploy("1.1.0")
    assert result.code == 0, result.err
    assert world.calls("RegisterTaskDefinition") - before == 2  # one throttled, the retry registered
    assert world.revisions() == ["demo-service:1", "demo-service:2"]


# ---------------------------------------------------------------- bad environment: exit 2, fast


def test_bad_profile_exits_2_in_seconds(world, tmp_path):
    config = tmp_path / "config"
    config.write_text("[profile real]\nregion = us-east-1\n")
    env = aws_env(world.endpoint, AWS_PROFILE="nope", AWS_CONFIG_FILE=str(config))
    result = world.paved("deploy", "--cluster", CLUSTER, "--service", SERVICE, "--to", "1.1.0", env=env)
    assert result.code == 2 and result.seconds < 5
    assert result.err.strip() == "error: AWS profile 'nope' not found (set by AWS_PROFILE); check ~/.aws/config or unset AWS_PROFILE"


@pytest.mark.parametrize("proxy_env", [{}, {"NO_PROXY": "169.254.169.254,localhost"}])
def test_unknown_region_exits_2_in_seconds(world, proxy_env):
    """NO_PROXY without a proxy (set on many runners) must not switch the fast check off."""
    env = aws_env(world.endpoint, AWS_REGION="nowhere-1", AWS_DEFAULT_REGION="nowhere-1", **proxy_env)
    env.pop("AWS_ENDPOINT_URL")
    result = world.paved("rollback", "--cluster", CLUSTER, "--service", SERVICE, "--previous", env=env)
    assert result.code == 2 and result.seconds < 5, result.err
    assert result.err.count("\n") == 1 and "region 'nowhere-1'" in result.err


def test_simulator_not_running_exits_2_in_seconds(world):
    env = aws_env("http://127.0.0.1:9")
    result = world.paved("history", "--cluster", CLUSTER, "--service", SERVICE, env=env)
    assert result.code == 2 and result.seconds < 5
    assert "cannot reach http://127.0.0.1:9" in result.err


# ---------------------------------------------------------------- bad input changes nothing


@pytest.mark.parametrize("version", ["1.2", "latest", "01.2.0", "1.2.0-rc.1"])
def test_malformed_version_exits_2(world, version):
    result = world.rollback("--to", version)
    assert result.code == 2 and "SemVer X.Y.Z" in result.err


def test_unknown_release_exits_3_and_changes_nothing(world):
    result = world.rollback("--to", "9.9.9")
    assert result.code == 3 and "release 9.9.9 not found" in result.err
    assert world.revisions() == ["demo-service:1"]


def test_release_lacking_the_service_architecture_exits_6(sim_endpoint):
    seed = {"repositories": {"demo-service": {"releases": [
        {"version": "1.0.0"}, {"version": "1.1.0", "architectures": ["amd64"]}]}},
        "clusters": {CLUSTER: {"services": {SERVICE: service_seed(architectures=["arm64"])}}}}
    world = make_world(sim_endpoint, seed)
    result = world.deploy("1.1.0")
    assert result.code == 6 and "missing arm64" in result.err
    assert world.revisions() == ["demo-service:1"]


def test_history_lists_every_deployment_newest_first(sim_endpoint):
    world = seeded(sim_endpoint, history=[ran("1.0.0", 3, made_by="terraform"), ran("1.1.0", 2), ran("1.2.0", 1)])
    history = world.history(cli=True)
    assert [(d["release"], d["how"], d["outcome"], d["status"]) for d in history] == [
        ("1.2.0", "deploy", "completed", "SUCCESSFUL"), ("1.1.0", "deploy", "completed", "SUCCESSFUL"),
        ("1.0.0", "terraform", "completed", "SUCCESSFUL")]
    table = world.paved("history", "--cluster", CLUSTER, "--service", SERVICE)
    assert table.code == 0 and table.out.index("1.2.0") < table.out.index("1.1.0")


# ---------------------------------------------------------------- review fixes (after the suite above)


@pytest.mark.parametrize("strategy, extra, minutes", [
    ("LINEAR", {}, 54 + 1),                                              # defaults: 10% steps, 6 min after 9 of them
    ("LINEAR", {"linear": {"stepPercent": 11, "stepBakeTimeInMinutes": 2}}, 9 * 2 + 1),   # floor(100/11) step bakes
    ("CANARY", {}, 10 + 1),                                              # canary bake defaults to 10 min
])
def test_linear_and_canary_step_bakes_count_in_the_wait(sim_endpoint, strategy, extra, minutes):
    """A healthy LINEAR deploy with ECS's defaults bakes 54 min between shifts: the wait must allow for all of it."""
    world = seeded(sim_endpoint, strategy=strategy, bake_time_minutes=1, **extra)
    plan = world.deploy("1.1.0", "--dry-run")
    assert plan.code == 0, plan.err
    assert f"bake time: {minutes:g} min, added to the wait" in plan.out


def test_linear_deploy_waits_out_every_step_bake(sim_endpoint):
    world = seeded(sim_endpoint, speed=60, strategy="LINEAR", bake_time_minutes=0,
                   linear={"stepPercent": 25, "stepBakeTimeInMinutes": 1})   # 3 step bakes: 3 s at speed 60
    result = world.deploy("1.1.0", "--timeout", "1")
    assert result.code == 0, result.out + result.err
    assert "including 180s bake time" in result.out and result.seconds > 2.5


def test_verification_finds_its_deployment_behind_a_long_history_in_any_list_order(sim_endpoint):
    """90 days of deployments, listed oldest first (ECS documents no order): the new one is found, not guessed."""
    past = [ran("1.0.0" if i % 2 else "1.1.0", days_ago=30 - i) for i in range(25)]
    world = seeded(sim_endpoint, history=past, list_order="oldest-first")
    result = world.deploy("1.2.0")
    assert result.code == 0, result.out + result.err
    assert "no service-deployment APIs" not in result.out and "waiting for ECS to list" not in result.out
    assert result.out.rstrip().endswith("SUCCESSFUL)")


def test_lost_response_then_a_stale_read_never_deregisters_the_revision_ecs_now_deploys(world):
    """ECS applied the update, the response was lost, and the next reads still show the old service."""
    world.fault("UpdateService", "lost", count=2)
    world.fault("DescribeServices", "stale", count=2, after="UpdateService")
    result = world.paved("deploy", "--cluster", CLUSTER, "--service", SERVICE, "--to", "1.1.0", *FAST,
                         env=aws_env(world.endpoint, AWS_MAX_ATTEMPTS="2"))
    assert result.code == 0, result.out + result.err
    assert "ECS applied it" in result.out and "deregistered" not in result.out + result.err
    assert world.task_definition("demo-service:2")["status"] == "ACTIVE"
    assert world.service()["taskDefinition"].endswith("demo-service:2")
