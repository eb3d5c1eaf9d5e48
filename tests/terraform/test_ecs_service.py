"""The ecs-service module's service, security group, autoscaling and IAM roles,
evaluated offline the way `terraform plan` would (tests/terraform/hcl_eval.py)
for each example and for the inputs where the logic matters."""

from __future__ import annotations

import pytest

from hcl_eval import UNKNOWN, EvalError
from test_ecs_task_definition import ACCOUNT, EXAMPLES, REGION, module_for, register_request

ALB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/public/50dc6c495c0c9188"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/svc/73e2d6bc24d8a067"


def service(module) -> dict:
    return module.resource_arguments("aws_ecs_service.this")


# --- 3. ECS Exec with a read-only root filesystem -------------------------------------------

def test_ecs_exec_gets_writable_ssm_agent_paths_and_keeps_the_root_read_only():
    td = register_request(module_for("complete"))
    app = td["containerDefinitions"][0]
    assert service(module_for("complete"))["enable_execute_command"] is True
    assert app["readonlyRootFilesystem"] is True
    mounts = {m["containerPath"]: m for m in app["mountPoints"]}
    for path in ("/managed-agents", "/var/lib/amazon/ssm", "/var/log/amazon/ssm", "/tmp"):
        assert mounts[path]["readOnly"] is False, path
        assert {"name": mounts[path]["sourceVolume"]} in td["volumes"], path


def test_without_ecs_exec_only_tmp_is_writable():
    app = register_request(module_for("minimal"))["containerDefinitions"][0]
    assert [m["containerPath"] for m in app["mountPoints"]] == ["/tmp"]


# --- 5. Security groups ----------------------------------------------------------------------

def test_rules_keys_are_known_when_the_group_ids_are_not():
    """A load balancer's group created in the same apply: IDs unknown at plan, keys still known."""
    module = module_for("complete", ingress_security_groups={"alb": UNKNOWN, "workers": "sg-0aaaaaaaaaaaaaaaa"},
                        egress_rules={"s3": {"from_port": 443, "to_port": 443, "prefix_list_id": UNKNOWN}},
                        load_balancers={"web": {"target_group_arn": UNKNOWN, "scale_on_requests": True, "load_balancer_arn": UNKNOWN}})
    assert module.instance_keys("aws_vpc_security_group_ingress_rule.this") == ["rule-vpn-metrics", "sg-alb", "sg-workers"]
    assert module.instance_keys("aws_vpc_security_group_egress_rule.this") == ["s3"]
    assert module.instance_keys("aws_appautoscaling_policy.this") == ["cpu", "memory", "requests-web"]
    assert module.validation_errors() == []


def test_the_model_reports_what_the_old_for_each_over_ids_did():
    """Sanity check of the evaluator: for_each over a set of possibly unknown IDs fails at plan."""
    module = module_for("minimal")
    module.locals["ingress_rules"] = __import__("hcl_eval").parse_expression("toset([var.vpc_id])")
    module.inputs["vpc_id"] = UNKNOWN
    module.var.clear()
    module.local.clear()
    with pytest.raises(EvalError, match="Invalid for_each"):
        module.instance_keys("aws_vpc_security_group_ingress_rule.this")


def test_prefix_lists_and_arbitrary_ports_reach_the_rules():
    module = module_for("complete")
    egress = {k: module.resource_arguments("aws_vpc_security_group_egress_rule.this", k)
              for k in module.instance_keys("aws_vpc_security_group_egress_rule.this")}
    assert egress["s3-gateway"]["prefix_list_id"] == "pl-6da54004" and egress["s3-gateway"]["cidr_ipv4"] is None
    assert (egress["postgres"]["from_port"], egress["postgres"]["referenced_security_group_id"]) == (5432, "sg-0cccccccccccccccc")
    ingress = module.resource_arguments("aws_vpc_security_group_ingress_rule.this", "rule-vpn-metrics")
    assert (ingress["cidr_ipv4"], ingress["from_port"], ingress["to_port"]) == ("10.8.0.0/16", 9464, 9464)
    alb = module.resource_arguments("aws_vpc_security_group_ingress_rule.this", "sg-public-alb")
    assert alb["from_port"] == alb["to_port"] == module.var["container_port"]


@pytest.mark.parametrize("rule", [
    {"from_port": 443, "to_port": 443},
    {"from_port": 443, "to_port": 443, "cidr_ipv4": "0.0.0.0/0", "prefix_list_id": "pl-1"},
    {"cidr_ipv4": "10.0.0.0/8"},
    {"ip_protocol": "sctp", "from_port": 1, "to_port": 1, "cidr_ipv4": "10.0.0.0/8"},
])
def test_a_rule_must_name_one_peer_a_protocol_and_ports(rule):
    errors = module_for("minimal", egress_rules={"bad": rule}).validation_errors()
    assert any("egress_rules: each rule needs exactly one of" in e for e in errors)


def test_the_group_is_named_by_prefix_so_a_replacement_can_be_created_first():
    sg = module_for("minimal").resource_arguments("aws_security_group.this")
    assert sg["name_prefix"] == "demo-service-production-" and "name" not in sg
    assert "create_before_destroy = true" in (module_for("minimal").dir / "main.tf").read_text()


# --- 6. Ordering -----------------------------------------------------------------------------

def test_tasks_wait_for_log_groups_policies_and_network_rules():
    module = module_for("minimal")
    assert set(module.depends_on("aws_ecs_task_definition.this")) >= {
        "aws_cloudwatch_log_group.this", "aws_iam_role_policy.execution", "aws_iam_role_policy.task"}
    assert set(module.depends_on("aws_ecs_service.this")) >= {
        "aws_cloudwatch_log_group.this", "aws_iam_role_policy.execution", "aws_iam_role_policy.task",
        "aws_vpc_security_group_egress_rule.this"}


# --- 7. Desired count with autoscaling off -----------------------------------------------------

@pytest.mark.parametrize("count", [0, 4, 7])
def test_without_autoscaling_terraform_sets_the_task_count(count):
    module = module_for("minimal", autoscaling=None, desired_count=count)
    target = module.resource_arguments("aws_appautoscaling_target.this")
    assert target["min_capacity"] == target["max_capacity"] == count
    assert module.instance_keys("aws_appautoscaling_policy.this") == []
    assert service(module)["desired_count"] == count


def test_with_autoscaling_the_bounds_come_from_it():
    module = module_for("complete")
    target = module.resource_arguments("aws_appautoscaling_target.this")
    assert (target["min_capacity"], target["max_capacity"]) == (3, 12)
    assert target["resource_id"] == "service/apps-staging/orders"
    policy = module.resource_arguments("aws_appautoscaling_policy.this", "requests-public")
    spec = policy["target_tracking_scaling_policy_configuration"][0]["predefined_metric_specification"][0]
    assert spec["resource_label"] == "app/public/50dc6c495c0c9188/targetgroup/orders-staging/73e2d6bc24d8a067"




# --- New inputs ----------------------------------------------------------------------------------

def test_defaults_are_secure_and_conventional():
    module = module_for("minimal")
    svc = service(module)
    assert svc["launch_type"] == "FARGATE" and "capacity_provider_strategy" not in svc
    assert svc["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    assert svc["deployment_configuration"] == [{"strategy": "ROLLING", "bake_time_in_minutes": None}]
    assert svc["network_configuration"][0]["assign_public_ip"] is False
    # The collector configuration is in the task definition: no trigger
    # redeploys the running revision (with its old configuration) for it.
    assert svc["force_new_deployment"] is True and "triggers" not in svc
    for role in ("execution", "task"):
        args = module.resource_arguments(f"aws_iam_role.{role}")
        assert (args["path"], args["permissions_boundary"]) == ("/", None)
    assert "ephemeralStorage" not in register_request(module)


def test_complete_example_uses_spot_two_target_groups_storage_and_a_boundary():
    module = module_for("complete")
    svc = service(module)
    assert svc["launch_type"] is None
    assert svc["capacity_provider_strategy"] == [
        {"capacity_provider": "FARGATE", "weight": 1, "base": 1},
        {"capacity_provider": "FARGATE_SPOT", "weight": 3, "base": 0},
    ]
    assert sorted(lb["target_group_arn"].split("/")[1] for lb in svc["load_balancer"]) == ["orders-staging", "orders-staging-int"]
    assert all(lb["container_name"] == "app" and "advanced_configuration" not in lb for lb in svc["load_balancer"])
    assert register_request(module)["ephemeralStorage"] == {"sizeInGiB": 40}
    for role in ("execution", "task"):
        args = module.resource_arguments(f"aws_iam_role.{role}")
        assert args["path"] == "/services/"
        assert args["permissions_boundary"] == f"arn:aws:iam::{ACCOUNT}:policy/service-boundary"


def test_blue_green_example_wires_the_alternate_target_group_and_listener_rules():
    module = module_for("blue-green")
    assert module.validation_errors() == [] and module.precondition_errors() == []
    svc = service(module)
    assert svc["deployment_configuration"] == [{"strategy": "BLUE_GREEN", "bake_time_in_minutes": 10}]
    (lb,) = svc["load_balancer"]
    (advanced,) = lb["advanced_configuration"]
    assert advanced["alternate_target_group_arn"].endswith("payments-green/93e2d6bc24d8a069")
    assert advanced["production_listener_rule"] and advanced["test_listener_rule"] and advanced["role_arn"]


def test_blue_green_without_its_listener_wiring_fails_the_plan():
    module = module_for("minimal", deployment_strategy="BLUE_GREEN", load_balancers={"web": {"target_group_arn": TG_ARN}})
    assert any("BLUE_GREEN needs load_balancers" in e for e in module.precondition_errors())
    assert any("deployment_strategy must be one of" in e for e in module_for("minimal", deployment_strategy="CANARY").validation_errors())


def test_blue_green_refuses_a_requests_per_target_policy_on_one_of_its_alternating_groups():
    """ECS registers each blue/green revision in the other group of the pair:
    a policy on one group would read an idle group after every other deploy."""
    from test_ecs_task_definition import example_arguments

    wiring = example_arguments("blue-green")["load_balancers"]
    with_requests = {k: {**lb, "scale_on_requests": True} for k, lb in wiring.items()}
    module = module_for("blue-green", load_balancers=with_requests, autoscaling={})
    assert module.validation_errors() == []
    assert any("scale_on_requests needs deployment_strategy ROLLING" in e for e in module.precondition_errors())
    # The same wiring without the request policy, or under ROLLING, plans.
    assert module_for("blue-green", autoscaling={}).precondition_errors() == []
    rolling = module_for("blue-green", load_balancers=with_requests, autoscaling={}, deployment_strategy="ROLLING")
    assert not any("scale_on_requests" in e for e in rolling.precondition_errors())


# Checked by real Terraform: one `terraform plan` for the whole table (tfcli.validation_errors).
BAD_INPUTS = [
    ({"capacity_provider_strategy": [{"capacity_provider": "EC2"}]}, "must be FARGATE or FARGATE_SPOT"),
    ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE", "base": 1}, {"capacity_provider": "FARGATE_SPOT", "base": 1}]}, "a base on at most one provider"),
    ({"capacity_provider_strategy": [{"capacity_provider": "FARGATE_SPOT", "weight": 0}]}, "weight > 0"),
    ({"ephemeral_storage_gib": 20}, "from 21 to 200"),
    ({"ephemeral_storage_gib": 201}, "from 21 to 200"),
    ({"deployment_circuit_breaker": {"enable": False}}, "rollback needs enable = true"),
    ({"iam_role_path": "services"}, "must start and end with /"),
    ({"iam_permissions_boundary_arn": "service-boundary"}, "must be an IAM policy ARN"),
    ({"load_balancers": {"web": {"target_group_arn": TG_ARN, "scale_on_requests": True}}}, "scale_on_requests needs load_balancer_arn"),
    ({"load_balancers": {"web": {"target_group_arn": "tg-1"}}}, "must be a target group ARN"),
    ({"desired_count": -1}, "desired_count"),
    ({"desired_count": 1.5}, "desired_count"),
]


@pytest.fixture(scope="module")
def terraform_verdicts(tmp_path_factory):
    import tfcli
    from test_ecs_task_definition import MODULE, example_arguments

    base = example_arguments("minimal")
    cases = {repr(inputs): {**base, **inputs} for inputs, _ in BAD_INPUTS}
    return tfcli.validation_errors(MODULE, cases, tmp_path_factory.mktemp("tf-validations"))


@pytest.mark.parametrize(("inputs", "message"), BAD_INPUTS)
def test_bad_inputs_are_refused_with_a_clear_message(terraform_verdicts, inputs, message):
    assert any(message in e for e in terraform_verdicts[repr(inputs)]), terraform_verdicts[repr(inputs)]


def test_spot_only_and_circuit_breaker_off_are_accepted_when_asked_for():
    module = module_for("minimal", capacity_provider_strategy=[{"capacity_provider": "FARGATE_SPOT"}],
                        deployment_circuit_breaker={"enable": False, "rollback": False}, force_new_deployment=False)
    assert module.validation_errors() == []
    svc = service(module)
    assert svc["deployment_circuit_breaker"] == [{"enable": False, "rollback": False}]
    assert svc["force_new_deployment"] is False and "triggers" not in svc


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_plans(example):
    module = module_for(example)
    assert module.validation_errors() == []
    assert module.precondition_errors() == []
    for address in module.resources:
        if address.startswith("data."):
            continue
        for key in module.instance_keys(address):
            module.resource_arguments(address, key)


# --- The service as the AWS provider would send it: CreateService against botocore's model ---

def _known(value, placeholder):
    return placeholder if isinstance(value, __import__("hcl_eval").Unknown) else value


def create_service_request(module) -> dict:
    """aws_ecs_service.this mapped onto the CreateService request (the provider's field names)."""
    svc = service(module)
    (breaker,) = svc["deployment_circuit_breaker"]
    (deployment,) = svc["deployment_configuration"]
    (network,) = svc["network_configuration"]
    configuration = {
        "maximumPercent": svc["deployment_maximum_percent"],
        "minimumHealthyPercent": svc["deployment_minimum_healthy_percent"],
        "deploymentCircuitBreaker": {"enable": breaker["enable"], "rollback": breaker["rollback"]},
        "strategy": deployment["strategy"],
    }
    if deployment["bake_time_in_minutes"] is not None:
        configuration["bakeTimeInMinutes"] = int(deployment["bake_time_in_minutes"])
    for alarms in svc.get("alarms", []):
        configuration["alarms"] = {"alarmNames": alarms["alarm_names"], "enable": alarms["enable"], "rollback": alarms["rollback"]}
    request = {
        "cluster": svc["cluster"],
        "serviceName": svc["name"],
        "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{svc['name']}:1",
        "desiredCount": svc["desired_count"],
        "platformVersion": svc["platform_version"],
        "deploymentConfiguration": configuration,
        "deploymentController": {"type": svc["deployment_controller"][0]["type"]},
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": network["subnets"],
            "securityGroups": [_known(g, "sg-0123456789abcdef0") for g in network["security_groups"]],
            "assignPublicIp": "ENABLED" if network["assign_public_ip"] else "DISABLED",
        }},
        "enableExecuteCommand": svc["enable_execute_command"],
        "enableECSManagedTags": svc["enable_ecs_managed_tags"],
        "propagateTags": svc["propagate_tags"],
        "tags": [{"key": k, "value": v} for k, v in sorted(svc["tags"].items())],
    }
    if svc["launch_type"] is not None:
        request["launchType"] = svc["launch_type"]
    if svc.get("capacity_provider_strategy"):
        request["capacityProviderStrategy"] = [
            {"capacityProvider": s["capacity_provider"], "weight": s["weight"], "base": s["base"]} for s in svc["capacity_provider_strategy"]]
    if svc["health_check_grace_period_seconds"] is not None:
        request["healthCheckGracePeriodSeconds"] = svc["health_check_grace_period_seconds"]
    balancers = []
    for lb in svc.get("load_balancer", []):
        entry = {"targetGroupArn": lb["target_group_arn"], "containerName": lb["container_name"], "containerPort": lb["container_port"]}
        for advanced in lb.get("advanced_configuration", []):
            entry["advancedConfiguration"] = {k: v for k, v in {
                "alternateTargetGroupArn": advanced["alternate_target_group_arn"],
                "productionListenerRule": advanced["production_listener_rule"],
                "testListenerRule": advanced["test_listener_rule"],
                "roleArn": advanced["role_arn"],
            }.items() if v is not None}
        balancers.append(entry)
    if balancers:
        request["loadBalancers"] = balancers
    return request


@pytest.mark.parametrize("example", EXAMPLES)
def test_service_matches_the_create_service_model_including_enums(example):
    import botocore.session
    from botocore.validate import validate_parameters

    from test_ecs_task_definition import enum_violations

    shape = botocore.session.get_session().get_service_model("ecs").operation_model("CreateService").input_shape
    request = create_service_request(module_for(example))
    validate_parameters(request, shape)
    assert enum_violations(request, shape) == []
    # and the scalable target that owns the count, against RegisterScalableTarget
    target = module_for(example).resource_arguments("aws_appautoscaling_target.this")
    aas = botocore.session.get_session().get_service_model("application-autoscaling").operation_model("RegisterScalableTarget").input_shape
    params = {"ServiceNamespace": target["service_namespace"], "ResourceId": _known(target["resource_id"], "service/c/s"),
              "ScalableDimension": target["scalable_dimension"], "MinCapacity": target["min_capacity"], "MaxCapacity": target["max_capacity"]}
    validate_parameters(params, aas)
    assert enum_violations(params, aas) == []
