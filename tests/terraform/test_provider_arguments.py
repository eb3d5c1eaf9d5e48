"""Argument and block names the ecs-service module sends to the AWS provider,
checked against the provider's documented schema (hashicorp/aws >= 6.34,
website/docs/r/<resource>.html.markdown, "Argument Reference").

No `terraform validate` runs here, and hcl_eval evaluates whatever names the
module uses: a misspelt argument (`production_listener_rule_arn` for
`production_listener_rule`, `bake_time` for `bake_time_in_minutes`) would
evaluate fine and only fail at `terraform validate`. The resolved arguments of
every example (dynamic blocks expanded) must use documented names only."""

from __future__ import annotations

import pytest

from test_ecs_task_definition import EXAMPLES, module_for

# name -> None (an argument) or a nested schema (a block, same shape).
_SG_RULE = {k: None for k in (
    "region", "security_group_id", "cidr_ipv4", "cidr_ipv6", "description", "from_port", "ip_protocol",
    "prefix_list_id", "referenced_security_group_id", "tags", "to_port")}

DOCUMENTED = {
    # website/docs/r/ecs_service.html.markdown
    "aws_ecs_service": {
        **{k: None for k in (
            "name", "region", "availability_zone_rebalancing", "cluster", "deployment_maximum_percent",
            "deployment_minimum_healthy_percent", "desired_count", "enable_ecs_managed_tags", "enable_execute_command",
            "force_delete", "force_new_deployment", "health_check_grace_period_seconds", "iam_role", "launch_type",
            "platform_version", "propagate_tags", "scheduling_strategy", "sigint_rollback", "tags", "task_definition",
            "triggers", "wait_for_steady_state")},
        "alarms": {"alarm_names": None, "enable": None, "rollback": None},
        "capacity_provider_strategy": {"base": None, "capacity_provider": None, "weight": None},
        "deployment_circuit_breaker": {"enable": None, "rollback": None},
        "deployment_configuration": {"strategy": None, "bake_time_in_minutes": None, "lifecycle_hook": {
            "hook_target_arn": None, "role_arn": None, "lifecycle_stages": None, "hook_details": None},
            "linear_configuration": {}, "canary_configuration": {}},
        "deployment_controller": {"type": None},
        "load_balancer": {"elb_name": None, "target_group_arn": None, "container_name": None, "container_port": None,
                          "advanced_configuration": {"alternate_target_group_arn": None, "production_listener_rule": None,
                                                     "role_arn": None, "test_listener_rule": None}},
        "network_configuration": {"subnets": None, "security_groups": None, "assign_public_ip": None},
        "ordered_placement_strategy": {"type": None, "field": None},
        "placement_constraints": {"type": None, "expression": None},
        "service_registries": {"registry_arn": None, "port": None, "container_port": None, "container_name": None},
        "service_connect_configuration": {},
        "volume_configuration": {},
        "vpc_lattice_configurations": {"role_arn": None, "target_group_arn": None, "port_name": None},
    },
    # website/docs/r/ecs_task_definition.html.markdown
    "aws_ecs_task_definition": {
        **{k: None for k in (
            "family", "container_definitions", "region", "cpu", "enable_fault_injection", "execution_role_arn",
            "ipc_mode", "memory", "network_mode", "pid_mode", "requires_compatibilities", "skip_destroy", "tags",
            "task_role_arn", "track_latest")},
        "runtime_platform": {"operating_system_family": None, "cpu_architecture": None},
        "volume": {"name": None, "host_path": None, "configure_at_launch": None, "docker_volume_configuration": {},
                   "efs_volume_configuration": {}, "fsx_windows_file_server_volume_configuration": {}},
        "ephemeral_storage": {"size_in_gib": None},
        "placement_constraints": {"type": None, "expression": None},
        "proxy_configuration": {},
        "inference_accelerator": {},
    },
    # website/docs/r/vpc_security_group_{ingress,egress}_rule.html.markdown
    "aws_vpc_security_group_ingress_rule": _SG_RULE,
    "aws_vpc_security_group_egress_rule": _SG_RULE,
    # website/docs/r/appautoscaling_target.html.markdown
    "aws_appautoscaling_target": {k: None for k in (
        "region", "max_capacity", "min_capacity", "resource_id", "role_arn", "scalable_dimension",
        "service_namespace", "suspended_state", "tags")},
    # website/docs/r/appautoscaling_policy.html.markdown
    "aws_appautoscaling_policy": {
        **{k: None for k in ("name", "region", "policy_type", "resource_id", "scalable_dimension", "service_namespace")},
        "step_scaling_policy_configuration": {},
        "predictive_scaling_policy_configuration": {},
        "target_tracking_scaling_policy_configuration": {
            "target_value": None, "disable_scale_in": None, "scale_in_cooldown": None, "scale_out_cooldown": None,
            "customized_metric_specification": {},
            "predefined_metric_specification": {"predefined_metric_type": None, "resource_label": None}},
    },
}


def undocumented(arguments: dict, schema: dict, path: str = "") -> list[str]:
    found = []
    for name, value in arguments.items():
        where = f"{path}{name}"
        if name not in schema:
            found.append(where)
        elif isinstance(schema[name], dict) and schema[name] and isinstance(value, list):
            for block in value:
                found += undocumented(block, schema[name], f"{where}.")
    return found


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_argument_the_module_sets_is_in_the_provider_schema(example):
    module = module_for(example)
    checked = 0
    for address in module.resources:
        kind = address.split(".")[0]
        if kind not in DOCUMENTED:
            continue
        for key in module.instance_keys(address):
            args = module.resource_arguments(address, key)
            assert undocumented(args, DOCUMENTED[kind]) == [], f"{example}: {address}[{key!r}]"
            checked += 1
    assert checked >= 5, checked


def test_a_misspelt_argument_is_reported():
    args = module_for("blue-green").resource_arguments("aws_ecs_service.this")
    args["load_balancer"][0]["advanced_configuration"][0]["production_listener_rule_arn"] = "x"
    args["deployment_configuration"][0]["bake_time"] = 5
    assert sorted(undocumented(args, DOCUMENTED["aws_ecs_service"])) == [
        "deployment_configuration.bake_time", "load_balancer.advanced_configuration.production_listener_rule_arn"]
