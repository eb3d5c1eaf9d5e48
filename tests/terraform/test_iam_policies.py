"""Every IAM policy document in the modules: no "*" action, and a "*"
resource only for actions AWS offers no resource-level permission for."""

from __future__ import annotations

import pytest

from tfhelpers import MODULES_DIR, blocks, load_hcl

# Actions without resource-level permissions (Service Authorization Reference):
# AWS requires "Resource": "*" for them.
STAR_RESOURCE_ALLOWED = {
    "xray:GetSamplingRules", "xray:GetSamplingStatisticSummaries", "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords", "xray:PutTraceSegments",
    "ecr:GetAuthorizationToken",
    "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions", "ecs:RegisterTaskDefinition",
    "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
}


def policy_documents():
    for tf in sorted(MODULES_DIR.glob("*/**/*.tf")):
        for block in load_hcl(tf).get("data", []):
            for name, body in block.get("aws_iam_policy_document", {}).items():
                yield f"{tf.relative_to(MODULES_DIR)}:{name}", body


def statements(body: dict):
    for statement in body.get("statement", []):
        yield statement
    for dynamic in body.get("dynamic", []):
        for label, dyn in dynamic.items():
            if label == "statement":
                yield from dyn.get("content", [])


DOCUMENTS = dict(policy_documents())


def test_the_modules_have_policy_documents():
    assert {"ecs-service/main.tf:execution", "ecs-service/main.tf:task", "ecr-repository/main.tf:push"} <= set(DOCUMENTS)


@pytest.mark.parametrize("doc", sorted(DOCUMENTS))
def test_no_wildcard_actions(doc):
    for statement in statements(DOCUMENTS[doc]):
        actions = statement.get("actions", [])
        if isinstance(actions, str):  # an expression such as statement.value.actions
            continue
        for action in actions:
            assert action != "*" and not action.endswith(":*"), f"{doc}: {action}"
        assert "not_actions" not in statement, doc


@pytest.mark.parametrize("doc", sorted(DOCUMENTS))
def test_star_resources_only_where_aws_requires_them(doc):
    for statement in statements(DOCUMENTS[doc]):
        resources = statement.get("resources", [])
        if isinstance(resources, str):
            continue
        if "*" in resources:
            assert resources == ["*"], doc
            assert set(statement["actions"]) <= STAR_RESOURCE_ALLOWED, f"{doc} {statement.get('sid')}: {statement['actions']}"
        for resource in resources:
            assert resource == "*" or not resource.endswith(":*:*"), f"{doc}: {resource}"


def test_execution_role_reads_only_its_own_parameters_and_pulls_only_its_repository():
    by_sid = {s.get("sid"): s for s in statements(DOCUMENTS["ecs-service/main.tf:execution"])}
    # Only the app's own SSM secrets (the collector config is in the task definition, not in SSM).
    ssm = [s for s in statements(DOCUMENTS["ecs-service/main.tf:execution"]) if "ssm:GetParameters" in str(s)]
    assert len(ssm) == 1 and "local.ssm_secret_arns" in str(ssm[0]) and "collector_config" not in str(ssm[0])
    assert by_sid["EcrPullServiceImage"]["resources"] == ["${var.ecr_repository_arn}"]
    assert "aws_cloudwatch_log_group.this" in str(by_sid["WriteContainerLogs"]["resources"])


def test_app_statements_reject_wildcards_in_the_variable():
    variables = dict(blocks(load_hcl(MODULES_DIR / "ecs-service" / "variables.tf"), "variable"))
    condition = variables["task_role_statements"]["validation"][0]["condition"]
    assert 'contains(s.actions, "*")' in condition and 'contains(s.resources, "*")' in condition
