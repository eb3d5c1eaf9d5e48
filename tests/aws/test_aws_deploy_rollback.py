"""`paved deploy` / `paved rollback` against moto in server mode.

moto does not run tasks: its services never reach runningCount == desiredCount
and update_service does not touch the deployments list. Waiting and verification
are therefore covered by rewriting DescribeServices responses at the boto3 layer
(a botocore `after-call` event hook on the session the CLI uses), and plain moto
is used with --no-wait. Throttling is injected one layer lower (`before-send`),
inside botocore's retry loop, so the real retry/backoff path runs.
"""

from __future__ import annotations

import copy
import os
import subprocess

import pytest
from botocore.awsrequest import AWSResponse

from aws_world import CLUSTER, FAMILY, REPO, SERVICE, paved_executable, run_paved
from paved_road.deploy.ecs_deploy import READ_ONLY_KEYS, revision_name

ROLLBACK = ("rollback", "--cluster", CLUSTER, "--service", SERVICE)
DEPLOY = ("deploy", "--cluster", CLUSTER, "--service", SERVICE)
FAST = ("--poll-interval", "0.05")


def comparable(td: dict) -> dict:
    return {k: v for k, v in td.items() if k not in READ_ONLY_KEYS}


def tags_of(world, ref: str) -> list[dict]:
    return sorted(world.ecs.describe_task_definition(taskDefinition=ref, include=["TAGS"]).get("tags", []),
                  key=lambda t: t["key"])


def assert_only_app_image_changed(world, old: dict, new: dict, expected_image: str) -> None:
    assert world.container(new)["image"] == expected_image
    expected = copy.deepcopy(comparable(old))
    world.container(expected)["image"] = expected_image
    assert comparable(new) == expected  # sidecar, environment, secrets, roles, cpu/memory, platform
    assert world.container(new, "otel-collector") == world.container(old, "otel-collector")
    assert tags_of(world, new["taskDefinitionArn"]) == tags_of(world, old["taskDefinitionArn"])


@pytest.fixture
def unchanged(world):
    """Assert after the test body that no revision was registered and the service was not touched."""
    revisions, service_td = world.revisions(), world.service()["taskDefinition"]
    yield
    assert world.revisions() == revisions
    assert world.service()["taskDefinition"] == service_td


# ---------------------------------------------------------------- end to end on plain moto


def test_rollback_previous_registers_a_copy_with_the_previous_release_digest(world, tmp_path):
    old = world.task_definition()
    summary = tmp_path / "summary.md"
    result = subprocess.run([paved_executable(), *ROLLBACK, "--previous", "--no-wait"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0, result.stderr

    service = world.service()
    assert revision_name(service["taskDefinition"]) == f"{FAMILY}:3"
    new = world.task_definition()
    assert_only_app_image_changed(world, old, new, f"{world.repo_uri}@{world.digests['1.1.0']}")
    assert "from:      1.2.0 (checkout:2)" in result.stdout and "to:        1.1.0" in result.stdout
    text = summary.read_text()
    assert "1.2.0 → 1.1.0" in text and "`checkout:3`" in text and world.digests["1.1.0"] in text


def test_rollback_to_a_named_release(world):
    old = world.task_definition()
    result = run_paved(*ROLLBACK, "--to", "1.0.0", "--no-wait")
    assert result.code == 0, result.err
    assert_only_app_image_changed(world, old, world.task_definition(), f"{world.repo_uri}@{world.digests['1.0.0']}")


def test_rollback_previous_twice_walks_back_release_by_release(world):
    assert run_paved(*ROLLBACK, "--previous", "--no-wait").code == 0
    assert run_paved(*ROLLBACK, "--previous", "--no-wait").code == 0
    assert world.container(world.task_definition())["image"].endswith(world.digests["1.0.0"])
    assert revision_name(world.service()["taskDefinition"]) == f"{FAMILY}:4"


def test_running_release_is_found_by_tag_too(world):
    tagged = world.register_revision(f"{world.repo_uri}:1.2.0")
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=tagged)
    result = run_paved(*ROLLBACK, "--previous", "--no-wait")
    assert result.code == 0, result.err
    assert world.container(world.task_definition())["image"] == f"{world.repo_uri}@{world.digests['1.1.0']}"


def test_deploy_the_running_release_again_changes_nothing(world, unchanged):
    result = run_paved(*DEPLOY, "--version", "v1.2.0")
    assert result.code == 0, result.err
    assert "already runs 1.2.0" in result.out


def test_dry_run_prints_the_plan_and_changes_nothing(world, unchanged):
    result = run_paved(*ROLLBACK, "--previous", "--dry-run")
    assert result.code == 0, result.err
    assert "from:      1.2.0 (checkout:2)" in result.out
    assert f"image:     {world.repo_uri}@{world.digests['1.1.0']}" in result.out
    assert "revision:  checkout:3" in result.out
    assert "dry run" in result.out


# ---------------------------------------------------------------- bad input: nothing changes


def test_unknown_release_exits_3_and_changes_nothing(world, unchanged):
    result = subprocess.run([paved_executable(), *ROLLBACK, "--to", "9.9.9"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "release 9.9.9 not found in ECR repository 'checkout'" in result.stderr


@pytest.mark.parametrize("version", ["1.2", "latest", "1.2.0.1", "01.2.0", "1.2.0-rc.1", "sha-3f1c2ab"])
def test_malformed_version_exits_2_and_changes_nothing(world, unchanged, version):
    result = run_paved(*ROLLBACK, "--to", version)
    assert result.code == 2
    assert "version must be SemVer X.Y.Z" in result.err and version in result.err


def test_malformed_deploy_version_exits_2(world, unchanged):
    result = run_paved(*DEPLOY, "--version", "banana")
    assert result.code == 2 and "version must be SemVer" in result.err


@pytest.mark.parametrize(("args", "message"), [
    (("--cluster", "nope", "--service", SERVICE), "cluster 'nope' not found"),
    (("--cluster", CLUSTER, "--service", "nope"), "service 'nope' not found in cluster 'paved-staging'"),
    (("--cluster", CLUSTER, "--service", SERVICE, "--container", "web"),
     "container 'web' not in task definition checkout:2; containers are: app, otel-collector"),
    (("--cluster", CLUSTER, "--service", SERVICE, "--repository", "nope"), "ECR repository 'nope' not found"),
])
def test_missing_cluster_service_container_or_repository_exits_2(world, unchanged, args, message):
    result = run_paved("rollback", *args, "--to", "1.1.0")
    assert result.code == 2
    assert message in result.err


def test_release_lacking_the_service_architecture_exits_6(world, unchanged):
    # The service runs on Fargate ARM64; 0.9.0 was built for amd64 only.
    result = run_paved(*ROLLBACK, "--to", "0.9.0")
    assert result.code == 6
    assert "missing arm64" in result.err and "0.9.0" in result.err


def test_previous_from_a_non_release_image_exits_3(world):
    sha_build = world.register_revision(f"{world.repo_uri}:sha-9d8e7f6")
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=sha_build)
    revisions = world.revisions()
    result = run_paved(*ROLLBACK, "--previous")
    assert result.code == 3
    assert "not a SemVer release" in result.err
    assert world.revisions() == revisions


@pytest.mark.parametrize("extra", [("--to", "1.1.0", "--previous"), ("--to", "1.1.0", "--timeout", "5", "--no-wait"), ()])
def test_conflicting_or_missing_options_exit_2(world, unchanged, extra):
    assert run_paved(*ROLLBACK, *extra).code == 2


def test_no_region_is_bad_input(world, unchanged, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = run_paved(*ROLLBACK, "--previous")
    assert result.code == 2 and "AWS_REGION" in result.err


# ---------------------------------------------------------------- faults injected at the boto3 layer


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


def throttle_once(session, operation: str) -> list[str]:
    """Answer the first attempt of `operation` with HTTP 400 ThrottlingException; record every attempt."""
    attempts: list[str] = []

    def before_send(request, **_):
        attempts.append("throttled" if not attempts else "sent")
        if attempts[-1] == "throttled":
            body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
            return AWSResponse(request.url, 400, {"x-amzn-RequestId": "throttle-test",
                                                  "Content-Type": "application/x-amz-json-1.1"}, _Raw(body))
        return None

    session.events.register(f"before-send.{operation}", before_send)
    return attempts


def test_throttling_is_retried_with_backoff(world, hooked_session):
    ecr_attempts = throttle_once(hooked_session, "ecr.DescribeImages")
    register_attempts = throttle_once(hooked_session, "ecs.RegisterTaskDefinition")
    update_attempts = throttle_once(hooked_session, "ecs.UpdateService")
    result = run_paved(*ROLLBACK, "--previous", "--no-wait")
    assert result.code == 0, result.err
    for attempts in (ecr_attempts, register_attempts, update_attempts):
        assert attempts == ["throttled", "sent"]
    # A retried register does not leave two revisions behind.
    assert [revision_name(a) for a in world.revisions()] == ["checkout:1", "checkout:2", "checkout:3"]
    assert revision_name(world.service()["taskDefinition"]) == "checkout:3"


def deployment(task_definition: str, status: str, state: str, running: int, reason: str = "") -> dict:
    return {"id": f"ecs-svc/{abs(hash((task_definition, status))) % 10**12}", "status": status,
            "taskDefinition": task_definition, "desiredCount": 2, "runningCount": running,
            "pendingCount": 2 - running, "failedTasks": 0 if state != "FAILED" else 3,
            "rolloutState": state, "rolloutStateReason": reason or f"ECS deployment {state.lower()}."}


def fake_rollout(session, world, steps):
    """Rewrite DescribeServices once the service points at a new revision: steps[i](new, old) per poll."""
    original = world.service()["taskDefinition"]
    polls: list[int] = []

    def after_call(parsed, **_):
        service = parsed["services"][0]
        if revision_name(service["taskDefinition"]) == revision_name(original):
            return  # still planning: the service has not been updated
        step = steps[min(len(polls), len(steps) - 1)]
        polls.append(1)
        service["deployments"] = step(service["taskDefinition"], original)
        service["events"] = [{"id": f"event-{len(polls)}", "message": f"(service {SERVICE}) poll {len(polls)}"}]

    session.events.register("after-call.ecs.DescribeServices", after_call)
    return polls


def test_deploy_waits_until_the_primary_deployment_is_completed(world, hooked_session, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    polls = fake_rollout(hooked_session, world, [
        lambda new, old: [deployment(new, "PRIMARY", "IN_PROGRESS", 0), deployment(old, "ACTIVE", "COMPLETED", 2)],
        lambda new, old: [deployment(new, "PRIMARY", "IN_PROGRESS", 1), deployment(old, "ACTIVE", "COMPLETED", 1)],
        lambda new, old: [deployment(new, "PRIMARY", "COMPLETED", 2)],
    ])
    result = run_paved(*DEPLOY, "--version", "1.0.0", "--timeout", "30", *FAST)
    assert result.code == 0, result.err
    assert len(polls) == 3
    assert "checkout:3: IN_PROGRESS, running 0/2" in result.out
    assert "checkout:3: IN_PROGRESS, running 1/2" in result.out
    assert "deploy complete: checkout runs 1.0.0 on checkout:3" in result.out
    text = summary.read_text()
    assert "1.2.0 → 1.0.0" in text and "`checkout:3`" in text and world.digests["1.0.0"] in text and "COMPLETED" in text


def test_circuit_breaker_rollback_fails_with_exit_4(world, hooked_session, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    fake_rollout(hooked_session, world, [
        lambda new, old: [deployment(new, "PRIMARY", "IN_PROGRESS", 0), deployment(old, "ACTIVE", "COMPLETED", 2)],
        # The circuit breaker gave up on the new revision and rolls back to the old one,
        # which ends "stable": the services_stable waiter would call this a success.
        lambda new, old: [deployment(old, "PRIMARY", "COMPLETED", 2),
                          deployment(new, "ACTIVE", "FAILED", 0, "ECS deployment circuit breaker: tasks failed to start.")],
    ])
    result = run_paved(*ROLLBACK, "--to", "1.1.0", "--timeout", "30", *FAST)
    assert result.code == 4
    assert "deployment of checkout:3 FAILED: ECS deployment circuit breaker: tasks failed to start." in result.err
    assert "PRIMARY deployment now runs checkout:2" in result.err
    assert "❌" in summary.read_text()


def test_primary_on_another_revision_fails_with_exit_4(world, hooked_session):
    fake_rollout(hooked_session, world, [
        lambda new, old: [deployment(new, "PRIMARY", "IN_PROGRESS", 0)],
        lambda new, old: [deployment(old, "PRIMARY", "IN_PROGRESS", 1)],
    ])
    result = run_paved(*ROLLBACK, "--previous", "--timeout", "30", *FAST)
    assert result.code == 4
    assert "the PRIMARY deployment runs checkout:2, not checkout:3" in result.err


def test_rollout_that_never_completes_times_out_with_exit_5(world, hooked_session):
    fake_rollout(hooked_session, world, [
        lambda new, old: [deployment(new, "PRIMARY", "IN_PROGRESS", 1), deployment(old, "ACTIVE", "COMPLETED", 1)],
    ])
    result = run_paved(*ROLLBACK, "--previous", "--timeout", "0.5", *FAST)
    assert result.code == 5
    assert "checkout:3 not COMPLETED after 0.5s" in result.err


def test_no_wait_against_plain_moto_does_not_verify(world):
    result = run_paved(*DEPLOY, "--version", "1.1.0", "--no-wait")
    assert result.code == 0, result.err
    assert "--no-wait: rollout not verified" in result.out
    assert revision_name(world.service()["taskDefinition"]) == "checkout:3"


def test_failed_update_service_leaves_no_new_revision_behind(world, hooked_session):
    def deny(request, **_):
        body = b'{"__type":"AccessDeniedException","message":"not authorized to perform ecs:UpdateService"}'
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))

    hooked_session.events.register("before-send.ecs.UpdateService", deny)
    active, service_td = world.revisions(), world.service()["taskDefinition"]
    result = run_paved(*ROLLBACK, "--previous")
    assert result.code == 1
    assert "AWS UpdateService failed: AccessDeniedException" in result.err
    assert world.revisions() == active  # checkout:3 was registered, then deregistered
    assert world.service()["taskDefinition"] == service_td


def test_previous_from_the_oldest_release_exits_3(world):
    oldest = world.register_revision(f"{world.repo_uri}@{world.digests['0.9.0']}")
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=oldest)
    result = run_paved(*ROLLBACK, "--previous")
    assert result.code == 3
    assert "no release older than the running 0.9.0" in result.err


def test_aws_region_alone_is_enough(world, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # botocore itself only reads AWS_DEFAULT_REGION
    result = run_paved(*ROLLBACK, "--previous", "--dry-run")
    assert result.code == 0, result.err


def test_without_runtime_platform_every_architecture_of_the_running_image_is_required(world):
    # No cpuArchitecture (e.g. EC2 capacity with both kinds of instances): the running
    # 1.2.0 index has amd64 and arm64, so the amd64-only 0.9.0 could not start everywhere.
    mixed = world.register_revision(f"{world.repo_uri}@{world.digests['1.2.0']}", cpu_architecture=None)
    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, taskDefinition=mixed)
    revisions = world.revisions()
    result = run_paved(*ROLLBACK, "--to", "0.9.0")
    assert result.code == 6
    assert "service runs on amd64, arm64: missing arm64" in result.err
    assert world.revisions() == revisions
    assert run_paved(*ROLLBACK, "--to", "1.0.0", "--no-wait").code == 0


# ---------------------------------------------------------------- Terraform-registered revisions


def _terraform_registers_a_new_shape(world) -> dict:
    """What `terraform apply` does after a memory change: a new revision with the seed image,
    which the service is never pointed at (the module ignores task_definition changes)."""
    arn = world.register_revision(f"{world.repo_uri}:seed")
    td = world.task_definition(arn)
    td = {k: v for k, v in td.items() if k not in READ_ONLY_KEYS}
    td["memory"] = "2048"
    arn = world.ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"]
    return world.task_definition(arn)


def test_deploy_carries_terraform_changes_live_on_the_latest_revision(world):
    running = world.task_definition()
    terraform = _terraform_registers_a_new_shape(world)
    assert world.service()["taskDefinition"] == running["taskDefinitionArn"]

    result = run_paved(*DEPLOY, "--version", "1.1.0", "--no-wait")
    assert result.code == 0, result.err
    deployed = world.task_definition()
    assert deployed["memory"] == "2048"  # Terraform's change went live with the deploy
    assert_only_app_image_changed(world, terraform, deployed, f"{world.repo_uri}@{world.digests['1.1.0']}")
    assert f"copy of {revision_name(terraform['taskDefinitionArn'])}" in result.out


def test_rollback_copies_the_running_revision_not_a_newer_terraform_one(world):
    running = world.task_definition()
    _terraform_registers_a_new_shape(world)
    result = run_paved(*ROLLBACK, "--previous", "--no-wait")
    assert result.code == 0, result.err
    rolled_back = world.task_definition()
    assert rolled_back["memory"] == running["memory"]
    assert_only_app_image_changed(world, running, rolled_back, f"{world.repo_uri}@{world.digests['1.1.0']}")
