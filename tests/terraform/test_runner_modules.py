"""The runner modules (github-runners-aks, github-runners-eks, arc-runner-scale-sets),
evaluated offline the way `terraform plan` would (tests/terraform/hcl_eval.py):
VM size vs OS disk type, IAM name lengths, where the controller may run and
where the cluster autoscaler's tags land."""

from __future__ import annotations

import pytest
import yaml

from hcl_eval import Module, module_call_arguments
from tfhelpers import MODULES_DIR

AKS = MODULES_DIR / "github-runners-aks"
EKS = MODULES_DIR / "github-runners-eks"
ARC = MODULES_DIR / "arc-runner-scale-sets"
CLUSTER_ID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ci/providers/Microsoft.ContainerService/managedClusters/ci"
EKS_KNOWN = {"data.aws_partition.current": {"partition": "aws"}}
# Required since the runner group became mandatory (a dedicated group, never `default`).
RUNNER_GROUP = {"name": "paved-release", "selected_repository_ids": [123456],
                "selected_workflows": ["acme/orders/.github/workflows/ci.yml@refs/tags/v1.0.0"]}


def aks(**inputs) -> Module:
    base = {"kubernetes_cluster_id": CLUSTER_ID, "github_config_url": "https://github.com/acme", "github_app_secret_name": "github-app",
            "runner_group": RUNNER_GROUP, "github_plan": "enterprise_cloud"}
    return Module(AKS, {**base, **inputs})


def eks(**inputs) -> Module:
    base = {"cluster_name": "ci", "subnet_ids": ["subnet-0a"], "github_config_url": "https://github.com/acme", "github_app_secret_name": "github-app",
            "runner_group": RUNNER_GROUP, "github_plan": "enterprise_cloud"}
    return Module(EKS, {**base, **inputs}, EKS_KNOWN)


def example(module_dir) -> dict:
    args = module_call_arguments(module_dir / "examples" / "basic" / "main.tf")
    return {k: v for k, v in args.items() if not (isinstance(v, str) and v.startswith("${"))}


# --- 1. AKS: Ephemeral OS disks need a "d" size; host encryption is a choice with a documented prerequisite

def test_default_pools_have_a_local_disk_for_the_ephemeral_os_disk():
    module = aks()
    assert module.validation_errors() == []
    for arch in module.instance_keys("azurerm_kubernetes_cluster_node_pool.this"):
        pool = module.resource_arguments("azurerm_kubernetes_cluster_node_pool.this", arch)
        assert pool["os_disk_type"] == "Ephemeral"
        assert pool["vm_size"] in ("Standard_D8ds_v5", "Standard_D8pds_v5")
        assert pool["host_encryption_enabled"] is True


@pytest.mark.parametrize(("pools", "ok"), [
    ({"amd64": {"vm_size": "Standard_D8s_v5"}}, False),            # no temp disk: VMCacheSizeTooSmall
    ({"arm64": {"vm_size": "Standard_D8ps_v5"}}, False),
    ({"amd64": {"vm_size": "Standard_D8s_v5", "os_disk_type": "Managed"}}, True),
    ({"amd64": {"vm_size": "Standard_D16ads_v5"}}, True),
    ({"amd64": {"vm_size": "Standard_E8-4ds_v5"}}, True),
    ({"arm64": {"vm_size": "Standard_D8pds_v6"}}, True),
    ({"arm64": {"vm_size": "Standard_D8ds_v5"}}, False),           # x86 size for arm64
    ({"amd64": {"vm_size": "Standard_D8pds_v5"}}, False),          # Arm size for amd64
    ({"amd64": {"vm_size": "Standard_D8ds_v5", "os_disk_type": "Premium"}}, False),
])
def test_vm_size_must_fit_the_disk_type_and_the_architecture(pools, ok):
    errors = aks(node_pools=pools).validation_errors()
    assert (errors == []) == ok, errors


def test_host_encryption_can_be_turned_off_where_the_feature_is_not_registered():
    module = aks(host_encryption_enabled=False)
    assert module.resource_arguments("azurerm_kubernetes_cluster_node_pool.this", "amd64")["host_encryption_enabled"] is False
    readme = (AKS / "README.md").read_text()
    assert "EncryptionAtHost" in readme and "az feature register" in readme


# --- 8. EKS: IAM name_prefix length, controller placement, autoscaler tags on the ASG -------------

@pytest.mark.parametrize("prefix", ["rx", "r" * 31, "r" * 32, "r" * 40, "a" * 30 + "-" + "b" * 9, "paved-runners"])
def test_node_role_name_prefix_fits_iam_for_every_allowed_runner_prefix(prefix):
    module = eks(runner_scale_set_prefix=prefix)
    assert module.validation_errors() == []
    assert module.child_module("runner_scale_sets").validation_errors() == []
    role = module.resource_arguments("aws_iam_role.nodes")
    # The AWS provider appends 26 characters to name_prefix; IAM role names hold 64.
    assert len(role["name_prefix"]) <= 38, role["name_prefix"]
    assert role["name_prefix"].endswith("-nodes-") and "--" not in role["name_prefix"]
    for arch in module.instance_keys("aws_eks_node_group.this"):
        assert len(module.resource_arguments("aws_eks_node_group.this", arch)["node_group_name"]) <= 63


def test_runner_prefix_longer_than_the_modules_allow_is_refused():
    module = eks(runner_scale_set_prefix="r" * 41)
    assert any("runner_scale_set_prefix must be 2-40" in e for e in module.child_module("runner_scale_sets").validation_errors())


def test_the_controller_stays_off_runner_nodes_and_waits_for_them():
    """Runner pods run a privileged dind container: the controller (which may
    create pods cluster-wide) must never share a node with one."""
    module = eks()
    arc = module.child_module("runner_scale_sets")
    controller = arc.resource_arguments("helm_release.controller")
    values = yaml.safe_load(controller["values"][0])
    assert values["tolerations"] == []
    taint_key = arc.var["node_taint_key"]
    for arch in module.instance_keys("aws_eks_node_group.this"):
        node_group = module.resource_arguments("aws_eks_node_group.this", arch)
        (taint,) = node_group["taint"]
        assert (taint["key"], taint["effect"]) == (taint_key, "NO_SCHEDULE")
        assert node_group["node_group_name"] in controller["description"]  # the reference that orders it


def test_each_scale_sets_listener_stays_off_runner_nodes():
    """The listener pod (it holds the GitHub App credentials) gets only
    listenerTemplate's tolerations (ARC's mergeListenerPodWithTemplate): none,
    so it runs on the untainted system nodes."""
    module = eks()
    arc = module.child_module("runner_scale_sets")
    arches = arc.instance_keys("helm_release.scale_set")
    assert sorted(arches) == ["amd64", "arm64"]
    for arch in arches:
        values = yaml.safe_load(arc.resource_arguments("helm_release.scale_set", arch)["values"][0])
        spec = values["listenerTemplate"]["spec"]
        assert "tolerations" not in spec
        assert [c["name"] for c in spec["containers"]] == ["listener"]
        # only the runners tolerate (exactly) their architecture's taint
        assert values["template"]["spec"]["tolerations"] == [
            {"key": arc.var["node_taint_key"], "operator": "Equal", "value": arch, "effect": "NoSchedule"}]


def test_an_untainted_system_node_group_is_created_by_default():
    module = eks()
    assert module.instance_keys("aws_eks_node_group.system") == [0]
    group = module.resource_arguments("aws_eks_node_group.system", 0)
    assert "taint" not in group and group["scaling_config"][0]["min_size"] >= 1
    assert eks(system_node_group=None).instance_keys("aws_eks_node_group.system") == []


def test_runner_nodes_keep_imds_out_of_reach_of_jobs():
    """IMDSv2 only with a PUT response hop limit of 1: a container (one hop
    further) gets no token, so no node-role credentials."""
    module = eks()
    for arch in module.instance_keys("aws_eks_node_group.this"):
        template = module.resource_arguments("aws_launch_template.runners", arch)
        assert template["metadata_options"] == [{"http_endpoint": "enabled", "http_tokens": "required",
                                                 "http_put_response_hop_limit": 1}]
        [volume] = template["block_device_mappings"]
        assert volume["ebs"][0]["volume_size"] == 100 and volume["ebs"][0]["encrypted"] is True
        group = module.resource_arguments("aws_eks_node_group.this", arch)
        assert "disk_size" not in group  # EKS refuses it with a launch template
        assert len(group["launch_template"]) == 1


@pytest.mark.parametrize("plan, ok", [("enterprise_cloud", True), ("enterprise_server", True), ("team", False),
                                      ("free", False), ("pro", False)])
def test_the_runner_modules_refuse_plans_without_workflow_restricted_groups(plan, ok):
    for module in (eks(github_plan=plan), aks(github_plan=plan)):
        errors = module.child_module("runner_scale_sets").validation_errors()
        if ok:
            assert errors == []
        else:
            assert len(errors) == 1 and errors[0].startswith(
                "var.github_plan: github_plan must be one of enterprise_cloud, enterprise_server"), errors


def test_autoscaler_tags_land_on_each_node_groups_auto_scaling_group():
    module = eks()
    keys = module.instance_keys("aws_autoscaling_group_tag.this")
    assert len(keys) == 10
    for key in keys:
        tag = module.resource_arguments("aws_autoscaling_group_tag.this", key)
        assert tag["tag"][0]["propagate_at_launch"] is False
    tags = {k.split(" ", 1)[1] + "@" + k.split(" ")[0]: module.resource_arguments("aws_autoscaling_group_tag.this", k)["tag"][0]["value"] for k in keys}
    assert tags["k8s.io/cluster-autoscaler/ci@amd64"] == "owned"
    assert tags["k8s.io/cluster-autoscaler/enabled@arm64"] == "true"
    assert tags["k8s.io/cluster-autoscaler/node-template/taint/paved-road/github-runners@arm64"] == "arm64:NoSchedule"
    assert tags["k8s.io/cluster-autoscaler/node-template/label/kubernetes.io/arch@amd64"] == "amd64"
    # and no longer (uselessly) on the node group
    assert not any(k.startswith("k8s.io/") for k in module.resource_arguments("aws_eks_node_group.this", "amd64")["tags"])


@pytest.mark.parametrize("module_dir", [AKS, EKS])
def test_examples_plan(module_dir):
    module = (aks if module_dir == AKS else eks)(**example(module_dir))
    assert module.validation_errors() == [] and module.precondition_errors() == []
    assert module.child_module("runner_scale_sets").validation_errors() == []
