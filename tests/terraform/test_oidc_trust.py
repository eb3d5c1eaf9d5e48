"""github-oidc-roles' trust policies, rendered by the Terraform model (hcl_eval)
from the module's real files and evaluated by IAM's condition semantics
(iam_model) against the tokens GitHub issues: new repositories (immutable
subjects), old ones (name-only), renamed and recycled names, forks, pull
requests, other workflow files, reusable workflows, old tags."""

from __future__ import annotations

import pytest

from hcl_eval import Module
from iam_model import WORKFLOW_BOUND_CLAIM_KEYS, Job, Repository, allows, policy_json
from tfhelpers import MODULES_DIR

MODULE = MODULES_DIR / "github-oidc-roles"
ACCOUNT = "210987654321"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ECR = f"arn:aws:ecr:eu-central-1:{ACCOUNT}:repository/orders-api"

# The service's repository, created after 2026-06-18: its tokens carry IDs.
NEW = Repository("shop", "orders-api", 5101, 880042, immutable_subjects=True)
# The same repository before immutable subjects (created earlier, not opted in).
OLD = Repository("shop", "orders-api", 5101, 880042, immutable_subjects=False)
# Renamed to orders: GitHub switches it to immutable subjects under the new name.
RENAMED = Repository("shop", "orders", 5101, 880042, immutable_subjects=True)
# Someone creates a new repository under the freed name (new repository ID).
RECYCLED = Repository("shop", "orders-api", 5101, 990077, immutable_subjects=True)
# The owner name freed and registered by someone else (new owner ID).
RECYCLED_OWNER = Repository("shop", "orders-api", 7702, 990078, immutable_subjects=True)
FORK = Repository("mallory", "orders-api", 6606, 990079, immutable_subjects=True)


def inputs(**extra) -> dict:
    return {
        "name_prefix": "gha-orders-api",
        "github_repository": "shop/orders-api",
        "oidc_provider_arn": PROVIDER,
        "github_owner_id": "5101",
        "github_repository_id": "880042",
        "publish": {"ecr_repository_arn": ECR},
        "deploy": {env: {
            "ecs_service_arn": f"arn:aws:ecs:eu-central-1:{ACCOUNT}:service/shop-{env}/orders-api",
            "task_definition_family": f"orders-api-{env}",
            "pass_role_arns": [f"arn:aws:iam::{ACCOUNT}:role/orders-api-{env}-task"],
            "ecr_repository_arn": ECR,
        } for env in ("staging", "production")},
        **extra,
    }


def trust(module: Module, role: str) -> dict:
    if role == "publish":
        return policy_json(module.resource_arguments("data.aws_iam_policy_document.publish_trust", 0))
    return policy_json(module.resource_arguments("data.aws_iam_policy_document.deploy_trust", role))


def admitted(module: Module, role: str, job: Job, claim_keys=None) -> bool:
    return allows(trust(module, role), job.request_context(claim_keys), PROVIDER)


def deploy(repository=NEW, **kw) -> Job:
    base = {"event": "workflow_dispatch", "ref": "refs/heads/main", "workflow_file": "deploy.yml",
            "environment": "production"}
    return Job(repository, **{**base, **kw})


# Every claim set a writer, a fork or a name squatter can make GitHub issue,
# with the environment production (what the environment's own policy would
# have to stop when the subject does not).
CLAIM_SETS = {
    "deploy.yml on main": deploy(),
    "rollback.yml on main": deploy(workflow_file="rollback.yml"),
    "old repository (name-only subject)": deploy(OLD),
    "renamed repository": deploy(RENAMED),
    "recycled repository name": deploy(RECYCLED),
    "recycled owner name": deploy(RECYCLED_OWNER),
    "fork": deploy(FORK),
    "pull request merge ref, no environment": deploy(event="pull_request", ref="refs/pull/7/merge", environment=None),
    "pull request merge ref in production": deploy(event="pull_request", ref="refs/pull/7/merge"),
    "deploy.yml on a feature branch": deploy(ref="refs/heads/feature"),
    "deploy.yml of an old tag (gh workflow run --ref v1.0.0)": deploy(ref="refs/tags/v1.0.0"),
    "deploy.yml called by ci.yml on a tag": deploy(event="push", ref="refs/tags/v1.2.0"),
    "another workflow file on main": deploy(workflow_file="evil.yml"),
    "a look-alike file ci.yml-x.yml": deploy(workflow_file="deploy.yml-x.yml"),
    "another repository's reusable deploy.yml": deploy(workflow_repository="mallory/tools"),
    "deploy.yml on main in staging": deploy(environment="staging"),
    "deploy.yml on main without environment": deploy(environment=None),
    "wrong audience": deploy(audience="sigstore"),
}


def test_a_new_repository_can_assume_its_roles_by_default():
    """The blocker: a repository created today presents the immutable subject."""
    module = Module(MODULE, inputs())
    assert module.validation_errors() == [] and module.precondition_errors() == []
    assert admitted(module, "production", deploy())
    assert admitted(module, "staging", deploy(environment="staging"))
    assert admitted(module, "publish", deploy(event="push", ref="refs/tags/v1.2.0", workflow_file="ci.yml",
                                              environment="release"))
    assert module.output("warnings") == []
    subject = module.output("trusted_subjects")["gha-orders-api-production"]
    assert subject == ["repo:shop@5101/orders-api@880042:environment:production"]


def test_the_default_form_refuses_name_only_tokens_recycled_names_and_forks():
    module = Module(MODULE, inputs())
    refused = {name: job for name, job in CLAIM_SETS.items()
               if not admitted(module, "production", job)}
    for name in ("old repository (name-only subject)", "renamed repository", "recycled repository name",
                 "recycled owner name", "fork", "pull request merge ref, no environment",
                 "deploy.yml on main in staging", "deploy.yml on main without environment", "wrong audience"):
        assert name in refused, name
    # What the default subject cannot tell apart (everything in the production
    # environment of this repository): the environment's deployment policy is
    # the only gate for these; workflow_bound_subjects closes them.
    assert set(CLAIM_SETS) - set(refused) == {
        "deploy.yml on main", "rollback.yml on main", "pull request merge ref in production",
        "deploy.yml on a feature branch", "deploy.yml of an old tag (gh workflow run --ref v1.0.0)",
        "deploy.yml called by ci.yml on a tag", "another workflow file on main", "a look-alike file ci.yml-x.yml",
        "another repository's reusable deploy.yml",
    }


def test_with_workflow_bound_subjects_production_admits_only_deploy_and_rollback_from_the_default_branch():
    module = Module(MODULE, inputs(workflow_bound_subjects=True))
    accepted = [name for name, job in CLAIM_SETS.items()
                if admitted(module, "production", job, WORKFLOW_BOUND_CLAIM_KEYS)]
    assert accepted == ["deploy.yml on main", "rollback.yml on main"]
    # The same repository with the default template: refused (fails closed until infra/github sets it).
    assert not admitted(module, "production", deploy())


def test_with_workflow_bound_subjects_publish_admits_only_ci_yml_on_a_v_tag_in_release():
    module = Module(MODULE, inputs(workflow_bound_subjects=True))

    def ci(**kw) -> Job:
        return Job(NEW, **{"event": "push", "ref": "refs/tags/v1.2.0", "workflow_file": "ci.yml",
                           "environment": "release", **kw})

    cases = {
        "ci.yml on v1.2.0": (ci(), True),
        "ci.yml on a pre-release tag": (ci(ref="refs/tags/v1.2.0-rc.1"), True),
        "ci.yml on main": (ci(ref="refs/heads/main"), False),
        "ci.yml on a pull request": (ci(event="pull_request", ref="refs/pull/7/merge"), False),
        "ci.yml on a tag not v*": (ci(ref="refs/tags/release-1"), False),
        "ci.yml-x.yml on a v tag": (ci(workflow_file="ci.yml-x.yml"), False),
        "deploy.yml on a v tag": (ci(workflow_file="deploy.yml"), False),
        "ci.yml of a fork": (Job(FORK, "push", "refs/tags/v1.2.0", "ci.yml", "release"), False),
        "a reusable ci.yml of another repository": (ci(workflow_repository="mallory/tools"), False),
        "ci.yml on a v tag outside release": (ci(environment=None), False),
    }
    for name, (job, expected) in cases.items():
        assert admitted(module, "publish", job, WORKFLOW_BOUND_CLAIM_KEYS) is expected, name


def test_name_only_is_only_by_request_and_warns():
    module = Module(MODULE, inputs(subject_form="name-only", github_owner_id=None, github_repository_id=None))
    assert module.precondition_errors() == []
    assert admitted(module, "production", deploy(OLD))
    assert not admitted(module, "production", deploy(NEW))  # a repository on immutable subjects
    [warning] = module.output("warnings")
    assert "name-only subject repo:shop/orders-api" in warning and 'subject_form = "immutable"' in warning


def test_immutable_without_ids_fails_plan_naming_the_inputs_and_how_to_get_them():
    module = Module(MODULE, inputs(github_owner_id=None, github_repository_id=None))
    errors = module.precondition_errors()
    assert errors and all("github_owner_id and github_repository_id" in e for e in errors)
    assert "gh api repos/shop/orders-api --jq '.owner.id, .id'" in errors[0]


@pytest.mark.parametrize("field, value", [
    ("github_owner_id", "acme"), ("github_owner_id", "12 34"), ("github_repository_id", "-5"),
    ("subject_form", "immutable-ish"), ("default_branch", "../main"),
])
def test_bad_ids_and_forms_are_refused_with_the_field_named(field, value):
    errors = Module(MODULE, inputs(**{field: value})).validation_errors()
    assert len(errors) == 1 and errors[0].startswith(f"var.{field}: {field} must"), errors


def test_the_repository_name_may_now_carry_no_ids_and_ids_never_go_into_github_repository():
    errors = Module(MODULE, inputs(github_repository="shop@5101/orders-api@880042")).validation_errors()
    assert errors == ["var.github_repository: github_repository must look like OWNER/NAME."]


def test_the_example_plans_with_immutable_workflow_bound_subjects():
    from hcl_eval import module_call_arguments

    args = module_call_arguments(MODULE / "examples" / "basic" / "main.tf")
    args = {k: v for k, v in args.items() if not (isinstance(v, str) and v.startswith("${"))}
    module = Module(MODULE, {**args, "oidc_provider_arn": PROVIDER, "publish": {"ecr_repository_arn": ECR}})
    assert module.validation_errors() == [] and module.precondition_errors() == []
    assert module.output("trusted_subjects")["gha-demo-service-publish"] == [
        "repo:acme@1234567/demo-service@765432109:environment:release:job_workflow_ref:"
        "acme/demo-service/.github/workflows/ci.yml@refs/tags/v*"]
