"""A generated service's infra/ applied for real: the Terraform CLI and the AWS
provider (5.100.0, from the mirror) against `paved sim`, through
init -> plan -> apply -> plan (no changes) -> destroy.

Test-only pieces, none in the service or the modules:
- `sim_override.tf` (a Terraform override file, paved_road.sim.terraform): a local backend instead of
  S3, the provider pointed at the simulator (`endpoints`, fake keys,
  skip_credentials_validation, skip_metadata_api_check), the module sources
  pointed at a local copy of terraform-modules;
- that copy is `tfcli.provider5_copy`: the provider 6-only arguments
  (tfcli.PROVIDER6_ONLY) stripped, since 5.100.0 cannot send them;
- the platform's prerequisites (cluster, VPC and subnets published in SSM,
  the account's GitHub OIDC provider) created in the simulator first.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

import tfcli
from paved_road.sim.terraform import SIM_ACCOUNT, prepare_infra, seed_platform
from tfhelpers import MODULES_DIR, SERVICE_ANSWERS

REGION = SERVICE_ANSWERS["aws_region"]
CLUSTER = f"{SERVICE_ANSWERS['ecs_cluster_prefix']}-staging"


@pytest.fixture(scope="module")
def sim():
    from paved_road.sim.server import SimServer

    server = SimServer().start()
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture(scope="module")
def infra(generated_service, sim, tmp_path_factory):

    tfcli.provider_mirror()
    infra = prepare_infra(generated_service / "infra", MODULES_DIR, tmp_path_factory.mktemp("apply"), sim)
    seed_platform(sim, REGION, CLUSTER)
    return infra


VARS = ["-var-file=environments/staging.tfvars", f"-var=aws_account_id={SIM_ACCOUNT}"]


# The bootstrap rule (docs/terraform.md, "Bootstrap order of a new service"),
# planned by real Terraform: the tags in the repository -> the task range.
BOOTSTRAP = [
    ([], (0, 0)),                                                 # empty repository: parked
    (["0.1.0-amd64", "sha-0123abc", "buildcache-arm64"], (0, 0)),  # no seed image, no release: parked
    (["1.0.0"], (1, 3)),                                          # a release, seed never pushed: never parked
    # (the seed image alone, initial_image_tag: test_generated_infra.py, evaluator)
]


def test_the_bootstrap_rule_as_terraform_plans_it(infra):
    from concurrent.futures import ThreadPoolExecutor

    from paved_road.sim.terraform import IMAGE_TAGS_VARIABLE

    tfcli.run(infra, "init", "-input=false", "-no-color")

    def planned(i_tags):
        i, tags = i_tags
        tfcli.run(infra, "plan", "-input=false", "-no-color", "-lock=false", f"-out=boot{i}.tfplan", *VARS,
                  f"-var={IMAGE_TAGS_VARIABLE}={json.dumps(tags)}")
        plan = json.loads(tfcli.run(infra, "show", "-json", f"boot{i}.tfplan").stdout)
        after = {c["address"]: c["change"]["after"] for c in plan["resource_changes"]}
        target = after["module.service.aws_appautoscaling_target.this"]
        assert after["module.service.aws_ecs_service.this"]["desired_count"] == target["min_capacity"]
        return target["min_capacity"], target["max_capacity"]

    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(planned, enumerate(tags for tags, _ in BOOTSTRAP)))
    assert got == [expected for _, expected in BOOTSTRAP]


def _client(endpoint: str, name: str):
    return boto3.Session(aws_access_key_id="paved-sim", aws_secret_access_key="paved-sim",
                         region_name=REGION).client(name, endpoint_url=endpoint)


def _evaluator_collector_config(generated_service, endpoint: str) -> str:
    """hcl_eval's rendering of the service module's collector config, for the
    inputs the generated root passes it in this run."""
    from hcl_eval import Module, load_tfvars

    inputs = {**load_tfvars(generated_service / "infra" / "environments" / "staging.tfvars"), "aws_account_id": SIM_ACCOUNT}
    ssm = _client(endpoint, "ssm")
    repo_url = f"{SIM_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{inputs['ecr_repository']}"
    repo_arn = f"arn:aws:ecr:{REGION}:{SIM_ACCOUNT}:repository/{inputs['ecr_repository']}"
    root = Module(generated_service / "infra", inputs, {
        "data.aws_ssm_parameter.vpc_id": {"value": ssm.get_parameter(Name=f"/paved-road/{CLUSTER}/vpc-id")["Parameter"]["Value"]},
        "data.aws_ssm_parameter.private_subnet_ids": {
            "value": ssm.get_parameter(Name=f"/paved-road/{CLUSTER}/private-subnet-ids")["Parameter"]["Value"]},
        "data.aws_ecr_images.this": {"image_ids": []},
        "module.ecr_repository": [{"repository_arn": repo_arn, "repository_url": repo_url}],
    })
    known = {"data.aws_region.current": {"region": REGION}, "data.aws_caller_identity.current": {"account_id": SIM_ACCOUNT},
             "data.aws_partition.current": {"partition": "aws"}}
    return Module(MODULES_DIR / "ecs-service", root.module_arguments("service"), known).local["collector_config"]


def test_init_plan_apply_replan_destroy(infra, sim, generated_service):
    timings = {}

    def step(name, *args, **kw):
        started = time.monotonic()
        result = tfcli.run(infra, *args, **kw)
        timings[name] = round(time.monotonic() - started, 1)
        return result

    step("init", "init", "-input=false", "-no-color")
    step("plan", "plan", "-input=false", "-no-color", "-out=first.tfplan", *VARS)
    step("apply", "apply", "-input=false", "-no-color", "-auto-approve", "first.tfplan")

    # What Terraform created is in the simulated account.
    name = SERVICE_ANSWERS["service_name"]
    ecs = _client(sim, "ecs")
    (service,) = ecs.describe_services(cluster=CLUSTER, services=[name])["services"]
    assert service["status"] == "ACTIVE" and service["desiredCount"] == 0  # parked: no image pushed yet
    assert service["enableECSManagedTags"] is True and service["propagateTags"] == "SERVICE"
    task_definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    containers = {c["name"]: c for c in task_definition["containerDefinitions"]}
    assert set(containers) == {"app", "otel-collector"}
    assert containers["app"]["image"].endswith(f"/{name}:0.1.0")
    assert task_definition["runtimePlatform"]["cpuArchitecture"] == "ARM64"
    ecr = _client(sim, "ecr").describe_repositories(repositoryNames=[name])["repositories"][0]
    assert ecr["imageScanningConfiguration"]["scanOnPush"] is True
    roles = {r["RoleName"] for r in _client(sim, "iam").list_roles()["Roles"]}
    assert {f"{name}-staging-execution", f"{name}-staging-task"} <= roles
    targets = _client(sim, "application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")
    assert [t["ResourceId"] for t in targets["ScalableTargets"]] == [f"service/{CLUSTER}/{name}"]
    outputs = json.loads(tfcli.run(infra, "output", "-json").stdout)
    assert outputs["service_arn"]["value"] == service["serviceArn"]
    # The evaluator renders the collector configuration exactly as Terraform did.
    collector_env = {e["name"]: e["value"] for e in containers["otel-collector"]["environment"]}
    (config,) = [v for k, v in collector_env.items() if k in ("AOT_CONFIG_CONTENT", "OTEL_COLLECTOR_CONFIG")]
    assert config == _evaluator_collector_config(generated_service, sim)

    # Nothing drifts: a second plan against what apply created is empty.
    second = step("replan", "plan", "-input=false", "-no-color", "-detailed-exitcode", *VARS, check=False)
    assert second.returncode == 0, f"the second plan is not empty:\n{second.stdout}\n{second.stderr}"
    assert "No changes." in second.stdout

    step("destroy", "destroy", "-input=false", "-no-color", "-auto-approve", *VARS)
    assert ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]["status"] == "INACTIVE"
    assert json.loads(tfcli.run(infra, "show", "-json").stdout).get("values") is None
    print(f"apply cycle against paved sim, seconds per step: {timings}, total {round(sum(timings.values()), 1)}")
