"""The ecs-service module's alarms through the real Terraform CLI and the AWS provider.

Terraform and the provider mirror are found the way the rest of the suite
finds them (tfcli, over paved_road.sim.terraform: PAVED_TF_PLUGIN_MIRROR or
Terraform's implied mirror directories; skipped locally, failed in CI, when
missing). The module as a whole needs provider 6, the mirror holds 5.100.0,
so the root here is the module's alarms.tf and variables.tf with the two
locals they take from main.tf: `terraform validate`, then `plan` with the
variables' validations, and the planned alarms compared with what
tests/terraform/hcl_eval.py evaluates (the model the metric-existence test,
test_alarm_metrics.py, relies on).
"""

from __future__ import annotations

import json
import shutil

import pytest

from test_alarm_metrics import ALARMS, module, put_metric_alarm_request
from test_ecs_task_definition import MODULE, example_arguments

tfcli = pytest.importorskip("tfcli", reason="needs tests/terraform/tfcli.py (the suite's real-Terraform helper)")

STUB = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "%s" }
  }
}
provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "plan-only"
  secret_key                  = "plan-only"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}
# What alarms.tf takes from main.tf.
locals {
  full_name = "${var.name}-${var.environment}"
  tags      = merge(var.tags, { "paved-road/service" = var.name, "paved-road/environment" = var.environment })
}
"""


def _root(work, inputs: dict):
    work.mkdir(parents=True, exist_ok=True)
    for name in ("alarms.tf", "variables.tf"):
        shutil.copy(MODULE / name, work / name)
    (work / "stub.tf").write_text(STUB % tfcli.AWS_VERSION, encoding="utf-8")
    (work / "terraform.tfvars.json").write_text(json.dumps(inputs), encoding="utf-8")
    return work


def test_terraform_plans_the_alarms_the_model_evaluates(tmp_path):
    inputs = {**example_arguments("minimal"), "deployment_alarm_names": ["team-slo-burn"],
              "alarms": {"sns_topic_arn": "arn:aws:sns:eu-west-1:123456789012:oncall", "latency": {"percentile": "p95"}}}
    work = _root(tmp_path / "root", inputs)
    tfcli.init(work)
    tfcli.run(work, "validate", "-no-color")
    tfcli.run(work, "plan", "-input=false", "-lock=false", "-refresh=false", "-no-color", "-out=plan.bin")
    plan = json.loads(tfcli.run(work, "show", "-json", "plan.bin").stdout)
    planned = {}
    for change in plan["resource_changes"]:
        after = change["change"]["after"]
        for q in after["metric_query"]:
            q["metric"] = [{k: v for k, v in m.items() if k != "unit" or v} for m in q["metric"]]
        planned[change["address"].removesuffix("[0]")] = put_metric_alarm_request(after)
    model = module(**{k: v for k, v in inputs.items()})
    assert planned == {a: put_metric_alarm_request(model.resource_arguments(a, 0)) for a in ALARMS}
    assert planned["aws_cloudwatch_metric_alarm.latency"]["AlarmName"].endswith("-http-latency-p95")


def test_terraform_refuses_bad_alarm_settings_naming_the_field(tmp_path):
    inputs = {**example_arguments("minimal"), "alarms": {"latency": {"period_seconds": 30},
                                                          "error_rate": {"status_codes": [404]}}}
    work = _root(tmp_path / "root", inputs)
    tfcli.init(work)
    result = tfcli.run(work, "plan", "-input=false", "-lock=false", "-refresh=false", "-no-color", check=False)
    assert result.returncode == 1
    errors = " ".join(result.stderr.split())
    assert "alarms.*.period_seconds must be a multiple of 60" in errors
    assert "alarms.error_rate.status_codes must list 1 to 8" in errors


_SEEDED: set = set()


def _seed_once(sim_tf, endpoint: str, region: str, cluster: str) -> None:
    """The platform's prerequisites, once per moto server (its SSM refuses a second put)."""
    if (endpoint, region, cluster) not in _SEEDED:
        sim_tf.seed_platform(endpoint, region, cluster)
        _SEEDED.add((endpoint, region, cluster))


def test_a_generated_service_plans_the_alarms_and_wires_them_into_deployments(generated_service, moto_endpoint, tmp_path):
    """The generated infra/ (staging) planned by Terraform against moto, as the
    suite's apply cycle prepares it (paved_road.sim.terraform: provider 5
    copies, local modules, the platform's prerequisites)."""
    sim_tf = pytest.importorskip("paved_road.sim.terraform")
    tfcli.provider_mirror()
    infra = generated_service / "infra"
    tfvars = (infra / "environments" / "staging.tfvars").read_text()
    value = lambda key: next(ln.split('"')[1] for ln in tfvars.splitlines() if ln.startswith(key))  # noqa: E731
    region, service = value("aws_region"), value("service_name")
    _seed_once(sim_tf, moto_endpoint, region, f"{value('ecs_cluster_prefix')}-staging")
    work = sim_tf.prepare_infra(infra, MODULE.parent, tmp_path / "work", moto_endpoint)
    tfcli.run(work, "init", "-input=false", "-no-color")
    tfcli.run(work, "plan", "-input=false", "-no-color", "-var-file=environments/staging.tfvars",
              f"-var=aws_account_id={sim_tf.SIM_ACCOUNT}", "-out=plan.bin")
    changes = {c["address"]: c["change"]["after"]
               for c in json.loads(tfcli.run(work, "show", "-json", "plan.bin").stdout)["resource_changes"]}
    names = [changes[f"module.service.aws_cloudwatch_metric_alarm.{kind}[0]"]["alarm_name"] for kind in ("error_rate", "latency")]
    assert names == [f"{service}-staging-http-5xx-rate", f"{service}-staging-http-latency-p99"]
    assert changes["module.service.aws_ecs_service.this"]["alarms"] == [{"alarm_names": names, "enable": True, "rollback": True}]


def test_the_generated_readme_tuning_and_own_alarm_plan_as_written(generated_service, moto_endpoint, tmp_path):
    """infra/README.md's advice, applied as written: its tfvars example in
    environments/staging.tfvars, its alarm on a metric of your own in main.tf
    and its deployment_alarm_names line in module "service"; Terraform plans
    it and the service watches the tuned alarms and the new one."""
    import re

    sim_tf = pytest.importorskip("paved_road.sim.terraform")
    tfcli.provider_mirror()
    infra = tmp_path / "infra"
    shutil.copytree(generated_service / "infra", infra)
    readme = (infra / "README.md").read_text()
    tuning, own_alarm = re.findall(r"```hcl\n(.*?)```", readme, re.S)[:2]
    wiring = re.search(r"`(deployment_alarm_names = concat\(.*?\))`", readme).group(1)
    staging = infra / "environments" / "staging.tfvars"
    tfvars = staging.read_text()
    staging.write_text(tfvars + "\n" + tuning)
    main = (infra / "main.tf").read_text()
    main, n = re.subn(r"^(\s*)deployment_alarm_names\s*=\s*var\.deployment_alarm_names\s*$",
                      lambda m: m.group(1) + wiring, main, flags=re.M)
    assert n == 1, "main.tf has no deployment_alarm_names line in module \"service\" to change as the README says"
    (infra / "main.tf").write_text(main + "\n" + own_alarm)
    value = lambda key: next(ln.split('"')[1] for ln in tfvars.splitlines() if ln.startswith(key))  # noqa: E731
    region, service = value("aws_region"), value("service_name")
    _seed_once(sim_tf, moto_endpoint, region, f"{value('ecs_cluster_prefix')}-staging")
    work = sim_tf.prepare_infra(infra, MODULE.parent, tmp_path / "work", moto_endpoint)
    tfcli.run(work, "init", "-input=false", "-no-color")
    tfcli.run(work, "plan", "-input=false", "-no-color", "-var-file=environments/staging.tfvars",
              f"-var=aws_account_id={sim_tf.SIM_ACCOUNT}", "-out=plan.bin")
    changes = {c["address"]: c["change"]["after"]
               for c in json.loads(tfcli.run(work, "show", "-json", "plan.bin").stdout)["resource_changes"]}
    latency = changes["module.service.aws_cloudwatch_metric_alarm.latency[0]"]
    rate = changes["module.service.aws_cloudwatch_metric_alarm.error_rate[0]"]
    assert latency["alarm_name"] == f"{service}-staging-http-latency-p95" and latency["threshold"] == 0.5
    assert (rate["threshold"], rate["alarm_actions"][0].endswith(":oncall")) == (2, True)
    own = changes["aws_cloudwatch_metric_alarm.orders_failed"]["alarm_name"]
    assert changes["module.service.aws_ecs_service.this"]["alarms"][0]["alarm_names"] == [rate["alarm_name"], latency["alarm_name"], own]


def test_a_misspelt_alarm_setting_in_the_generated_tfvars_fails_the_plan(generated_service, moto_endpoint, tmp_path):
    """`error_rate = { threshold = 2 }` (for threshold_percent): the module's object
    type would drop it and plan the 5 % default; real Terraform refuses it in
    the generated root, naming the field and the allowed ones."""
    sim_tf = pytest.importorskip("paved_road.sim.terraform")
    tfcli.provider_mirror()
    infra = tmp_path / "infra"
    shutil.copytree(generated_service / "infra", infra)
    staging = infra / "environments" / "staging.tfvars"
    tfvars = staging.read_text()
    staging.write_text(tfvars + '\nalarms = { error_rate = { threshold = 2 } }\n')
    value = lambda key: next(ln.split('"')[1] for ln in tfvars.splitlines() if ln.startswith(key))  # noqa: E731
    _seed_once(sim_tf, moto_endpoint, value("aws_region"), f"{value('ecs_cluster_prefix')}-staging")
    work = sim_tf.prepare_infra(infra, MODULE.parent, tmp_path / "work", moto_endpoint)
    tfcli.run(work, "init", "-input=false", "-no-color")
    result = tfcli.run(work, "plan", "-input=false", "-no-color", "-var-file=environments/staging.tfvars",
                       f"-var=aws_account_id={sim_tf.SIM_ACCOUNT}", check=False)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "alarms.error_rate may set only enabled, threshold_percent" in " ".join(result.stderr.split())
