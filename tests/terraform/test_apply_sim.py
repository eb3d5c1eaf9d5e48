"""A generated service's infra/ applied for real: the Terraform CLI and the AWS
provider (5.100.0, from the mirror) against `paved sim`, through
init -> plan -> apply -> plan (no changes) -> destroy.

Test-only pieces, none in the service or the modules:
- `sim_override.tf` (a Terraform override file): a local backend instead of
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
from tfhelpers import MODULES_DIR, SERVICE_ANSWERS

REGION = SERVICE_ANSWERS["aws_region"]
CLUSTER = f"{SERVICE_ANSWERS['ecs_cluster_prefix']}-staging"
SIM_ACCOUNT = "123456789012"  # moto's account: allowed_account_ids must name it
ENDPOINT_SERVICES = ("applicationautoscaling", "cloudwatch", "ec2", "ecr", "ecs", "iam", "logs", "ssm", "sts")


def sim_override(endpoint: str) -> str:
    endpoints = "\n".join(f"    {name} = {json.dumps(endpoint)}" for name in ENDPOINT_SERVICES)
    modules = "\n".join(
        f'module "{label}" {{\n  source = "../terraform-modules/{module}"\n}}\n'
        for label, module in (("ecr_repository", "ecr-repository"), ("service", "ecs-service"),
                              ("ci_roles", "github-oidc-roles")))
    return f"""# Test only (tests/terraform/test_apply_sim.py): paved sim, local state, local modules.
terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "{tfcli.AWS_VERSION}"
    }}
  }}
  backend "local" {{}}
}}

provider "aws" {{
  access_key                  = "paved-sim"
  secret_key                  = "paved-sim"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {{
{endpoints}
  }}
}}

{modules}"""


def seed_platform(endpoint: str) -> None:
    """What the platform team provides before a service's first apply."""
    session = boto3.Session(aws_access_key_id="paved-sim", aws_secret_access_key="paved-sim", region_name=REGION)
    client = lambda name: session.client(name, endpoint_url=endpoint)  # noqa: E731
    client("ecs").create_cluster(clusterName=CLUSTER)
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for i, az in enumerate("ab")]
    ssm = client("ssm")
    ssm.put_parameter(Name=f"/paved-road/{CLUSTER}/vpc-id", Value=vpc, Type="String")
    ssm.put_parameter(Name=f"/paved-road/{CLUSTER}/private-subnet-ids", Value=",".join(subnets), Type="String")
    client("iam").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"])


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
    work = tmp_path_factory.mktemp("apply")
    tfcli.provider5_copy(MODULES_DIR, work / "terraform-modules")
    tfcli.provider5_copy(generated_service / "infra", work / "infra")
    (work / "infra" / "sim_override.tf").write_text(sim_override(sim), encoding="utf-8")
    seed_platform(sim)
    return work / "infra"


VARS = ["-var-file=environments/staging.tfvars", f"-var=aws_account_id={SIM_ACCOUNT}"]


def _client(endpoint: str, name: str):
    return boto3.Session(aws_access_key_id="paved-sim", aws_secret_access_key="paved-sim",
                         region_name=REGION).client(name, endpoint_url=endpoint)


def test_init_plan_apply_replan_destroy(infra, sim):
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

    # Nothing drifts: a second plan against what apply created is empty.
    second = step("replan", "plan", "-input=false", "-no-color", "-detailed-exitcode", *VARS, check=False)
    assert second.returncode == 0, f"the second plan is not empty:\n{second.stdout}\n{second.stderr}"
    assert "No changes." in second.stdout

    step("destroy", "destroy", "-input=false", "-no-color", "-auto-approve", *VARS)
    assert ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]["status"] == "INACTIVE"
    assert json.loads(tfcli.run(infra, "show", "-json").stdout).get("values") is None
    print(f"apply cycle against paved sim, seconds per step: {timings}, total {round(sum(timings.values()), 1)}")
