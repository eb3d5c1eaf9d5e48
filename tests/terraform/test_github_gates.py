"""infra/github in a generated service: GitHub's gates as Terraform
(integrations/github, pinned), formatted by the real `terraform fmt`,
evaluated by the Terraform model (hcl_eval) for what each environment admits,
every argument checked against the provider's documentation for the pinned
version, and kept apart from the AWS root (which needs only the aws provider)."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from hcl_eval import Module, load_tfvars, parse_file
from iam_model import WORKFLOW_BOUND_CLAIM_KEYS
from tfhelpers import REPO_ROOT

PINNED = "6.13.0"

# integrations/terraform-provider-github v6.13.0, docs/resources/<name>.md,
# "Argument Reference" (and the nested blocks' sections): name -> None for an
# argument, a dict for a block.
DOCUMENTED = {
    "github_repository_environment": {
        "environment": None, "repository": None, "wait_timer": None, "can_admins_bypass": None,
        "prevent_self_review": None, "reviewers": {"teams": None, "users": None},
        "deployment_branch_policy": {"protected_branches": None, "custom_branch_policies": None},
    },
    "github_repository_environment_deployment_policy": {
        "environment": None, "repository": None, "branch_pattern": None, "tag_pattern": None,
    },
    "github_repository_ruleset": {
        "enforcement": None, "name": None, "target": None, "repository": None,
        "rules": {"creation": None, "update": None, "deletion": None, "non_fast_forward": None,
                  "pull_request": {"allowed_merge_methods": None, "dismiss_stale_reviews_on_push": None,
                                   "require_code_owner_review": None, "require_last_push_approval": None,
                                   "required_approving_review_count": None,
                                   "required_review_thread_resolution": None}},
        "bypass_actors": {"actor_id": None, "actor_type": None, "bypass_mode": None},
        "conditions": {"ref_name": {"include": None, "exclude": None}},
    },
    "github_actions_repository_oidc_subject_claim_customization_template": {
        "repository": None, "use_default": None, "include_claim_keys": None,
    },
}
ACTOR_TYPES = {"RepositoryRole", "Team", "Integration", "OrganizationAdmin", "DeployKey", "EnterpriseOwner", "User"}


def _render(root: Path, **answers) -> Path:
    import copier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(REPO_ROOT), root, vcs_ref="HEAD", defaults=True, unsafe=True, quiet=True,
                        data={"github_repository": "shop/orders-api", "github_owner_id": "5101",
                              "github_repository_id": "880042", **answers})
    return root


@pytest.fixture(scope="module", params=[False, True], ids=["default-subjects", "workflow-bound"])
def service(request, tmp_path_factory):
    return _render(tmp_path_factory.mktemp("gates") / "svc", oidc_workflow_bound=request.param)


def _module(service: Path, **inputs) -> Module:
    root = service / "infra" / "github"
    values = {**load_tfvars(root / "github.auto.tfvars"),
              "production_reviewers": {"teams": [4242]}, "release_managers": {"teams": [4343], "users": [77]},
              **inputs}
    return Module(root, values)


def _terraform() -> str:
    path = shutil.which("terraform")
    if not path:
        pytest.fail("the Terraform CLI is not on PATH (REFERENCE.md: 1.11.4 on these machines)")
    return path


def test_terraform_fmt_accepts_the_generated_github_and_aws_roots(service):
    for root in (service / "infra" / "github", service / "infra"):
        proc = subprocess.run([_terraform(), "fmt", "-check", "-diff", "-recursive", str(root)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_aws_root_needs_only_aws_and_the_github_root_only_github_pinned(service):
    def providers(directory: Path) -> dict:
        found = {}
        for tf in directory.glob("*.tf"):
            for kind, _, block in parse_file(tf).blocks:
                if kind == "terraform":
                    for inner_kind, _, inner in block.blocks:
                        if inner_kind == "required_providers":
                            found.update(inner.attrs)
        return found

    assert set(providers(service / "infra")) == {"aws"}
    assert set(providers(service / "infra" / "github")) == {"github"}
    text = (service / "infra" / "github" / "versions.tf").read_text()
    assert 'source  = "integrations/github"' in text and f'version = "{PINNED}"' in text
    # The AWS root's *.tf never refers to the GitHub root (Terraform loads one directory).
    assert not any("github_repository_environment" in tf.read_text() for tf in (service / "infra").glob("*.tf"))


def _arguments(module: Module) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for address in module.resources:
        if address.startswith("data."):
            continue
        rtype = address.split(".")[0]
        out.setdefault(rtype, []).extend(module.resource_arguments(address, key) for key in module.instance_keys(address))
    return out


def _undocumented(args: dict, schema: dict, where: str) -> list[str]:
    bad = []
    for name, value in args.items():
        if name not in schema:
            bad.append(f"{where}.{name}")
        elif isinstance(schema[name], dict):
            for block in value:
                bad += _undocumented(block, schema[name], f"{where}.{name}")
    return bad


def test_every_argument_is_documented_for_the_pinned_provider(service):
    module = _module(service)
    assert module.validation_errors() == []
    arguments = _arguments(module)
    assert set(arguments) == set(DOCUMENTED)
    for rtype, instances in arguments.items():
        for args in instances:
            assert _undocumented(args, DOCUMENTED[rtype], rtype) == []
    for ruleset in arguments["github_repository_ruleset"]:
        assert ruleset["target"] in ("tag", "branch") and ruleset["enforcement"] == "active"
        assert all(b["actor_type"] in ACTOR_TYPES and b["bypass_mode"] == "always" for b in ruleset.get("bypass_actors", []))


def _admits(module: Module, environment: str, ref: str) -> bool:
    """GitHub's deployment branch and tag policy: custom patterns (fnmatch-style) per kind."""
    env = module.resource_arguments("github_repository_environment.this", environment)
    [policy] = env["deployment_branch_policy"]
    assert policy == {"protected_branches": False, "custom_branch_policies": True}
    kind, name = ("tag_pattern", ref.removeprefix("refs/tags/")) if ref.startswith("refs/tags/") else (
        "branch_pattern", ref.removeprefix("refs/heads/"))
    patterns = [module.resource_arguments("github_repository_environment_deployment_policy.this", key)
                for key in module.instance_keys("github_repository_environment_deployment_policy.this")]
    return any(p["environment"] == environment and p[kind] is not None and fnmatch.fnmatchcase(name, p[kind])
               for p in patterns)


def test_environments_admit_what_the_workflows_need_and_nothing_else(service):
    module = _module(service)
    for ref, admitted in {"refs/tags/v1.2.0": {"release"}, "refs/tags/v1.2.0-rc.1": {"release"},
                          "refs/heads/main": {"staging", "production"}, "refs/heads/feature": set(),
                          "refs/tags/v1.0.0": {"release"}, "refs/pull/7/merge": set(),
                          "refs/tags/release-1": set()}.items():
        assert {e for e in ("release", "staging", "production") if _admits(module, e, ref)} == admitted, ref
    production = module.resource_arguments("github_repository_environment.this", "production")
    assert production["reviewers"] == [{"teams": [4242], "users": []}]
    assert production["prevent_self_review"] is True and production["can_admins_bypass"] is False
    assert "reviewers" not in module.resource_arguments("github_repository_environment.this", "staging")


def test_tag_rulesets_only_release_managers_create_and_nobody_moves_a_release(service):
    module = _module(service)
    create = module.resource_arguments("github_repository_ruleset.release_tags_create")
    immutable = module.resource_arguments("github_repository_ruleset.release_tags_immutable")
    for ruleset in (create, immutable):
        assert ruleset["conditions"] == [{"ref_name": [{"include": ["refs/tags/v*"], "exclude": []}]}]
    assert create["rules"] == [{"creation": True}]
    assert sorted((b["actor_type"], b["actor_id"]) for b in create["bypass_actors"]) == [("Team", 4343), ("User", 77)]
    assert immutable["rules"] == [{"update": True, "deletion": True}] and "bypass_actors" not in immutable


def test_the_default_branch_changes_only_through_approved_pull_requests(service):
    """Every gate trusts "on the default branch" (ci.yml's tag check, the staging
    and production environments, deploy.yml@refs/heads/main in the roles): with
    no rule on it, any writer pushes an edited deploy.yml to main and it is trusted."""
    module = _module(service)
    ruleset = module.resource_arguments("github_repository_ruleset.default_branch")
    assert ruleset["target"] == "branch" and ruleset["enforcement"] == "active"
    assert ruleset["conditions"] == [{"ref_name": [{"include": ["refs/heads/main"], "exclude": []}]}]
    [rules] = ruleset["rules"]
    assert rules["deletion"] is True and rules["non_fast_forward"] is True
    assert rules["pull_request"] == [{"required_approving_review_count": 1, "dismiss_stale_reviews_on_push": True,
                                      "require_last_push_approval": True}]
    assert "bypass_actors" not in ruleset
    errors = _module(service, default_branch_approvals=0).validation_errors()
    assert len(errors) == 1 and errors[0].startswith("var.default_branch_approvals: "
                                                     "default_branch_approvals must be a whole number from 1 to 10"), errors


def test_the_subject_template_is_what_the_roles_trust(service):
    module = _module(service)
    bound = load_tfvars(service / "infra" / "environments" / "production.tfvars")["oidc_workflow_bound"]
    assert load_tfvars(service / "infra" / "github" / "github.auto.tfvars")["oidc_workflow_bound"] is bound
    template = module.resource_arguments(
        "github_actions_repository_oidc_subject_claim_customization_template.this")
    if bound:
        assert template == {"repository": "orders-api", "use_default": False,
                            "include_claim_keys": list(WORKFLOW_BOUND_CLAIM_KEYS)}
    else:
        assert template["use_default"] is True and template.get("include_claim_keys") is None


@pytest.mark.parametrize("field, value, message", [
    ("production_reviewers", {}, "production_reviewers must name 1 to 6 teams and users"),
    ("production_reviewers", {"users": list(range(1, 8))}, "production_reviewers must name 1 to 6 teams and users"),
    ("release_managers", {}, "release_managers must name at least one team or user ID"),
])
def test_gates_without_people_are_refused(service, field, value, message):
    errors = _module(service, **{field: value}).validation_errors()
    assert len(errors) == 1 and errors[0].startswith(f"var.{field}: {message}"), errors
