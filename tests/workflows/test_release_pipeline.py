"""The release pipeline checked as data, for every runner mode x architecture
selection: which job runs for which event, on which runners, assuming which
IAM role, and whether that role's trust policy (the github-oidc-roles module
as the generated infra/ wires it) lets it; concurrency between deploys and
rollbacks; the environments' deployment policy the README documents.

The models (pipeline_model.py) are small executable statements of GitHub's and
IAM's documented behaviour; the workflows and the Terraform are the real files.
"""

from __future__ import annotations

import fnmatch
import re
import sys

import hcl2
import pytest

from pipeline_model import (
    CI_EVENTS, DISPATCH_BRANCH, DISPATCH_EVENTS, DISPATCH_MAIN, HOSTED_LABELS, PULL_REQUEST, PUSH_MAIN,
    PUSH_TAG, ConcurrencyGroups, Run, TrustPolicy, environment_admits, github_shell,
    jobs_that_may_run, oidc_subject, runner_labels,
)
from workflow_lint import COMBO_IDS, REPO_ROOT, load_workflow

MODULE = REPO_ROOT / "terraform-modules" / "github-oidc-roles"
sys.path.insert(0, str(REPO_ROOT / "tests" / "terraform"))
from hcl_eval import Module, load_tfvars  # noqa: E402
from iam_model import policy_json  # noqa: E402
HCL = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)

# Every shape of subject GitHub issues for this repository: what an attacker
# with write access can make a job present (any branch, any tag, any event,
# any environment whose deployment policy admits their ref), plus other
# repositories and the name-only form of this one. `{repo}` is the service's
# own repository claim (immutable: OWNER@ID/NAME@ID).
ALL_SUBJECT_SHAPES = [
    "repo:{repo}:pull_request",
    "repo:{repo}:ref:refs/heads/main",
    "repo:{repo}:ref:refs/heads/feature",
    "repo:{repo}:ref:refs/tags/v1.2.0",
    "repo:{repo}:ref:refs/tags/v9.9.9",
    "repo:{repo}:environment:release",
    "repo:{repo}:environment:staging",
    "repo:{repo}:environment:production",
    "repo:{repo}:environment:production-copy",
    "repo:acme/demo-service:environment:production",
    "repo:acme@0/demo-service-fork@1:environment:production",
    "repo:evil@7/demo-service@0:environment:production",
]


def _load(path):
    with path.open() as handle:
        return hcl2.load(handle, serialization_options=HCL)


def _blocks(doc: dict, kind: str, type_: str) -> dict[str, dict]:
    return {name: body for block in doc.get(kind, []) for t, named in block.items() if t == type_
            for name, body in named.items()}


def repo_claim(service) -> str:
    """What the service's tokens carry after `repo:` (copier answers: immutable subjects by default)."""
    answers = service.answers
    owner, name = answers["github_repository"].split("/")
    if answers["oidc_subject_form"] == "immutable":
        return f"{owner}@{answers['github_owner_id']}/{name}@{answers['github_repository_id']}"
    return answers["github_repository"]


def trust_policies(service) -> dict[str, TrustPolicy]:
    """Role ARN -> trust, for the roles the service's infra/ creates across its
    two states (staging owns the ECR repository and so the publish role): the
    module evaluated (hcl_eval) with the arguments infra/ci_roles.tf passes,
    from each state's tfvars."""
    ci_roles = (service.path / "infra" / "ci_roles.tf").read_text()
    account = service.answers["aws_account_id"]
    provider = f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"
    ecr = f"arn:aws:ecr:{service.answers['aws_region']}:{account}:repository/{service.answers['service_name']}"
    policies = {}
    for env in ("staging", "production"):
        tfvars = load_tfvars(service.path / "infra" / "environments" / f"{env}.tfvars")
        assert tfvars["environment"] == env
        # The root's variables map 1:1 onto the module's inputs (asserted on the file).
        for line in ("github_repository = var.github_repository", "subject_form            = var.oidc_subject_form",
                     "github_owner_id         = var.github_owner_id",
                     "github_repository_id    = var.github_repository_id",
                     "workflow_bound_subjects = var.oidc_workflow_bound", "(var.environment) = {"):
            assert line in ci_roles, line
        inputs = {
            "name_prefix": re.search(r'name_prefix\s*=\s*"([^"]+)"', ci_roles).group(1),
            "github_repository": tfvars["github_repository"], "oidc_provider_arn": provider,
            "subject_form": tfvars["oidc_subject_form"], "github_owner_id": tfvars["github_owner_id"],
            "github_repository_id": tfvars["github_repository_id"],
            "workflow_bound_subjects": tfvars["oidc_workflow_bound"],
            "publish": {"ecr_repository_arn": ecr} if tfvars["manage_ecr_repository"] else None,
            "deploy": {env: {"ecs_service_arn": f"arn:aws:ecs:{service.answers['aws_region']}:{account}:service/c/s",
                             "task_definition_family": "f", "pass_role_arns": [f"arn:aws:iam::{account}:role/t"],
                             "ecr_repository_arn": ecr}},
        }
        module = Module(MODULE, inputs)
        assert module.validation_errors() == [] and module.precondition_errors() == []
        made = [("deploy", "deploy_trust", env)] + ([("publish", "publish_trust", 0)] if tfvars["manage_ecr_repository"] else [])
        for role, document, key in made:
            name = module.resource_arguments(f"aws_iam_role.{role}", key)["name"]
            policies[f"arn:aws:iam::{account}:role/{name}"] = TrustPolicy(
                name, policy_json(module.resource_arguments(f"data.aws_iam_policy_document.{document}", key)), provider)
    return policies


def role_arn(service, stage: str) -> str:
    """The role names copier derives (copier.yml: publish_role_arn, staging_role_arn, production_role_arn)."""
    answers = service.answers
    return f"arn:aws:iam::{answers['aws_account_id']}:role/gha-{answers['service_name']}-{stage}"


def _aws_jobs(service):
    """(workflow file, job name, job, role ARN) for every job that assumes an AWS role."""
    for wf in service.workflows:
        data = load_workflow(wf)
        for name, job in data["jobs"].items():
            for step in job.get("steps", []):
                if "configure-aws-credentials" in step.get("uses", ""):
                    yield wf.name, name, job, step["with"]["role-to-assume"]


# ------------------------------------------------------------------ 1. separate identities


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_three_roles_each_trusting_exactly_one_environment(cid, services):
    service = services[cid]
    policies = trust_policies(service)
    assert set(policies) == {role_arn(service, s) for s in ("publish", "staging", "production")}
    expected = {"publish": "release", "staging": "staging", "production": "production"}
    for arn, policy in policies.items():
        environment = expected[arn.rsplit("-", 1)[1]]
        shapes = [s.format(repo=repo_claim(service)) for s in ALL_SUBJECT_SHAPES]
        accepted = [s for s in shapes if policy.allows(s)]
        assert accepted == [f"repo:{repo_claim(service)}:environment:{environment}"], (arn, accepted)
        assert not policy.allows(accepted[0], audience="sigstore")


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_each_job_assumes_the_role_of_its_stage_and_its_trust_admits_it(cid, services):
    """Which job assumes which role under which trigger and environment; the
    role's trust admits exactly those jobs (so the pipeline works) and nothing
    outside the production environment can assume the production role."""
    service = services[cid]
    policies = trust_policies(service)
    used = {}
    for wf, name, job, role in _aws_jobs(service):
        assert role in policies, f"{wf}:{name} assumes {role}, which infra/ does not create"
        used.setdefault(role, set()).add((wf, name, job.get("environment")))
        events = CI_EVENTS if wf == "ci.yml" else [PUSH_TAG, *DISPATCH_EVENTS]
        for event in events:
            if name in jobs_that_may_run(load_workflow(service.path / ".github" / "workflows" / wf), event):
                assert policies[role].allows(oidc_subject(job, event, repo_claim(service))), f"{wf}:{name} on {event.name} cannot assume {role}"
    assert used == {
        role_arn(service, "publish"): {("ci.yml", "build", "release"), ("ci.yml", "merge", "release")},
        role_arn(service, "staging"): {("deploy.yml", "staging", "staging"), ("rollback.yml", "staging", "staging")},
        role_arn(service, "production"): {("deploy.yml", "production", "production"),
                                         ("rollback.yml", "production", "production")},
    }
    production = policies[role_arn(service, "production")]
    for wf in service.workflows:
        data = load_workflow(wf)
        for event in [*CI_EVENTS, *DISPATCH_EVENTS]:
            for name, job in jobs_that_may_run(data, event).items():
                if job.get("environment") != "production":
                    assert not production.allows(oidc_subject(job, event, repo_claim(service))), f"{wf.name}:{name} on {event.name}"


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_no_pull_request_or_main_job_holds_credentials_or_secrets(cid, services):
    service = services[cid]
    ci = service.workflow("ci.yml")
    for event in (PULL_REQUEST, PUSH_MAIN):
        for name, job in jobs_that_may_run(ci, event).items():
            text = str(job)
            assert "environment" not in job and "configure-aws-credentials" not in text, (event.name, name)
            assert "secrets." not in text and "id-token" not in str(job.get("permissions")), (event.name, name)


# ------------------------------------------------------------------ 2. and 10. runners


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_no_pull_request_job_has_a_self_hosted_label_and_builds_follow_the_runner_mode(cid, services):
    service = services[cid]
    ci = service.workflow("ci.yml")
    pr_jobs = jobs_that_may_run(ci, PULL_REQUEST)
    assert {"test", "docker-check"} <= set(pr_jobs) and "build" not in pr_jobs
    for name, job in pr_jobs.items():
        assert runner_labels(job) <= HOSTED_LABELS, name
    check = pr_jobs["docker-check"]
    rows = {r["arch"]: r["runner"] for r in check["strategy"]["matrix"]["include"]}
    assert set(rows) == set(service.archs)
    uses = [s.get("uses", "").split("@")[0] for s in check["steps"]]
    if service.mode == "github-hosted":
        assert rows == {a: {"amd64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}[a] for a in service.archs}
        assert "docker/setup-qemu-action" not in uses
    else:
        # Modes that do not build on GitHub's arm64 runners don't need them for pull requests either.
        assert set(rows.values()) == {"ubuntu-24.04"}
        assert ("docker/setup-qemu-action" in uses) == ("arm64" in service.archs)
    # Self-hosted labels appear only in the release build, which needs the tag-only `release` environment.
    for name, job in ci["jobs"].items():
        if runner_labels(job) - HOSTED_LABELS:
            assert service.mode == "self-hosted" and name == "build" and job["environment"] == "release"


# ------------------------------------------------------------------ 3. protection rules


def _environment_policies(readme: str) -> dict[str, dict[str, list[str]]]:
    policies = {}
    for line in readme.splitlines():
        m = re.match(r"^\| `(release|staging|production)` \| ([^|]+) \|", line)
        if m:
            cell = m.group(2)
            tags = re.findall(r"tags ((?:`[^`]+`(?:, | and )?)+)", cell)
            branches = re.findall(r"branch(?:es)? ((?:`[^`]+`(?:, | and )?)+)", cell)
            policies[m.group(1)] = {"tags": re.findall(r"`([^`]+)`", " ".join(tags)),
                                    "branches": re.findall(r"`([^`]+)`", " ".join(branches))}
    return policies


@pytest.mark.parametrize("cid", ["github-hosted-amd64+arm64", "self-hosted-arm64", "build-cloud-amd64"])
def test_documented_manual_deploys_and_rollbacks_pass_the_documented_environment_policy(cid, services):
    service = services[cid]
    readme = (service.path / ".github" / "workflows" / "README.md").read_text()
    policies = _environment_policies(readme)
    assert set(policies) == {"release", "staging", "production"}
    assert policies["release"] == {"tags": ["v*.*.*"], "branches": []}
    manual = [line for line in readme.splitlines() if line.startswith("gh workflow run ")]
    assert len(manual) >= 3
    for line in manual:
        ref = re.search(r"--ref (\S+)", line)
        assert ref, f"a manual run must name the ref the environments admit: {line}"
        for env in ("staging", "production"):
            assert environment_admits(policies[env], f"refs/heads/{ref.group(1)}"), (env, line)
    for env in ("staging", "production"):
        # deploy.yml runs from main only: a tag's older deploy.yml (`--ref v1.0.0`) is refused.
        assert not environment_admits(policies[env], PUSH_TAG.ref)
        assert not environment_admits(policies[env], "refs/tags/v1.0.0")
        assert not environment_admits(policies[env], DISPATCH_BRANCH.ref)
    assert environment_admits(policies["release"], PUSH_TAG.ref)
    assert not environment_admits(policies["release"], DISPATCH_MAIN.ref)
    assert not environment_admits(policies["release"], PUSH_MAIN.ref)


# ------------------------------------------------------------------ 4. rollback vs deploy


def _groups(service) -> dict[tuple[str, str], dict]:
    found = {}
    for wf in ("deploy.yml", "rollback.yml"):
        for name, job in service.workflow(wf)["jobs"].items():
            if "concurrency" in job:
                found[(wf, name)] = job["concurrency"]
    return found


@pytest.mark.parametrize("cid", ["github-hosted-amd64+arm64", "emulated-arm64"])
def test_a_queued_rollback_is_never_cancelled_by_a_deploy(cid, services):
    groups = _groups(services[cid])
    for env in ("staging", "production"):
        deploy, rollback = groups[("deploy.yml", env)], groups[("rollback.yml", env)]

        def run(name, spec):
            return Run(name, spec["group"], spec["cancel-in-progress"] is True)

        world = ConcurrencyGroups()
        world.arrive(run("deploy 1.3.0", deploy))                   # a deploy is rolling out
        queued_rollback = world.arrive(run("rollback to 1.2.0", rollback))
        world.arrive(run("deploy 1.3.1", deploy))                   # someone deploys again meanwhile
        world.arrive(run("deploy 1.3.2", deploy))
        assert queued_rollback.state == "running", env
        # Two rollbacks queue behind each other: the newer intent replaces a pending older one.
        second = world.arrive(run("rollback to 1.1.0", rollback))
        assert second.state == "pending" and queued_rollback.state == "running"


def test_rollback_cancels_deploys_and_deploy_refuses_while_a_rollback_runs(services):
    service = services["github-hosted-amd64+arm64"]
    rollback = service.workflow("rollback.yml")
    deploy = service.workflow("deploy.yml")
    assert [s["name"] for s in rollback["jobs"]["cancel"]["steps"]] == ["Cancel release and deploy runs in flight"]
    for env in ("staging", "production"):
        assert "cancel" in rollback["jobs"][env]["needs"]  # cancelled before anything is resolved or registered
        assert "actions" not in rollback["jobs"][env]["permissions"]
        steps = [s["name"] for s in deploy["jobs"][env]["steps"]]
        assert steps.index(f"Refuse while a rollback of {env} is running") < steps.index("Deploy and verify")
        assert deploy["jobs"][env]["permissions"]["actions"] == "read"
    assert rollback["run-name"].startswith("rollback ${{ inputs.environment }} ")


# ------------------------------------------------------------------ 7. and 13. what production deploys


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_deploys_verify_the_attestation_and_production_deploys_the_digest_staging_verified(cid, services):
    service = services[cid]
    deploy = service.workflow("deploy.yml")
    staging, production = deploy["jobs"]["staging"], deploy["jobs"]["production"]
    assert staging["outputs"]["digest"] == "${{ steps.digest.outputs.digest }}"
    for env, job, digest in (("staging", staging, "${{ steps.digest.outputs.digest }}"),
                             ("production", production, "${{ needs.staging.outputs.digest }}")):
        names = [s.get("name") for s in job["steps"]]
        verify = names.index("Verify the release was published and signed by ci.yml at its tag")
        deploy_step = names.index("Deploy and verify")
        assert verify < deploy_step
        assert job["steps"][verify]["env"]["DIGEST"] == digest == job["steps"][deploy_step]["env"]["DIGEST"]
        assert job["steps"][verify]["run"] == 'bash .github/verify-release.sh "$VERSION" "$DIGEST"'
        assert '--digest "$DIGEST"' in job["steps"][deploy_step]["run"]
        assert job["permissions"]["attestations"] == "read"
    assert not any("paved releases" in s.get("run", "") for s in production["steps"])  # no second look-up
    ci = service.workflow("ci.yml")
    merge = ci["jobs"]["merge"]
    names = [s.get("name") for s in merge["steps"]]
    attest = merge["steps"][names.index("Attest the build provenance of the index and its images")]
    assert attest["uses"].startswith("actions/attest-build-provenance@")
    assert attest["with"] == {"subject-checksums": "${{ runner.temp }}/subjects.sha256"}
    assert merge["permissions"] == {"id-token": "write", "attestations": "write"}
    build = [s for s in ci["jobs"]["build"]["steps"] if s.get("id") == "build"][0]["with"]
    assert build["sbom"] is True and build["provenance"] == "mode=max"
    assert ci["jobs"]["deploy"]["steps"][0]["env"]["DIGEST"] == "${{ needs.merge.outputs.digest }}"


# ------------------------------------------------------------------ 8. Build Cloud


@pytest.mark.parametrize("cid", [c for c in COMBO_IDS if c.startswith("build-cloud")])
def test_build_cloud_driver_is_pinned_and_its_token_lives_in_the_release_environment(cid, services):
    service = services[cid]
    ci = service.workflow("ci.yml")
    [cloud] = [s for s in ci["jobs"]["build"]["steps"] if (s.get("with") or {}).get("driver") == "cloud"]
    assert re.fullmatch(r"cloud:v\d+\.\d+\.\d+-desktop\.\d+", cloud["with"]["version"])
    assert cloud["with"]["cache-binary"] is False
    assert cloud["with"]["version"] in (service.path / ".github" / "workflows" / "README.md").read_text()
    for wf in service.workflows:
        for name, job in load_workflow(wf)["jobs"].items():
            if "secrets.DOCKER_PAT" in str(job):
                assert (wf.name, name, job.get("environment")) == ("ci.yml", "build", "release")


# ------------------------------------------------------------------ 9. pipefail


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_every_run_step_runs_with_pipefail(cid, services):
    for wf in services[cid].workflows:
        data = load_workflow(wf)
        assert data["defaults"] == {"run": {"shell": "bash"}}, wf.name
        for name, job in data["jobs"].items():
            for step in job.get("steps", []):
                if "run" in step:
                    assert "pipefail" in github_shell(data, job, step), f"{wf.name}:{name}:{step.get('name')}"


# ------------------------------------------------------------------ 11. build cache


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_only_release_builds_touch_the_build_cache(cid, services):
    service = services[cid]
    ci = service.workflow("ci.yml")
    assert "type=gha" not in (service.path / ".github" / "workflows" / "ci.yml").read_text()
    for name, job in ci["jobs"].items():
        for step in job.get("steps", []):
            with_ = step.get("with") or {}
            if "cache-to" in with_ or "cache-from" in with_:
                assert name == "build" and job["environment"] == "release"
                ref = "${{ env.IMAGE }}:buildcache-${{ matrix.arch }}"
                assert with_["cache-from"] == f"type=registry,ref={ref}"
                assert with_["cache-to"].startswith(f"type=registry,ref={ref},mode=max")
    build = [s for s in ci["jobs"]["build"]["steps"] if s.get("id") == "build"][0]["with"]
    assert ("cache-to" in build) == (service.mode != "build-cloud")


def test_the_cache_tag_is_the_only_mutable_tag_and_no_release_tag_can_be():
    main = _load(REPO_ROOT / "terraform-modules" / "ecr-repository" / "main.tf")
    variables = {n: b for block in _load(REPO_ROOT / "terraform-modules" / "ecr-repository" / "variables.tf")["variable"]
                 for n, b in block.items()}
    [repo] = _blocks(main, "resource", "aws_ecr_repository").values()
    assert repo["image_tag_mutability"] == '${length(var.mutable_tag_filters) > 0 ? "IMMUTABLE_WITH_EXCLUSION" : "IMMUTABLE"}'
    assert variables["mutable_tag_filters"]["default"] == ["buildcache-*"]
    condition = variables["mutable_tag_filters"]["validation"][0]["condition"]
    pattern = re.search(r'regex\("(.+?)", f\)', condition).group(1).replace("\\\\", "\\")
    for filter_ in ["buildcache-*", "cache-*", "v*", "1.*", "*", "*-amd64", "latest"]:
        allowed = re.fullmatch(pattern, filter_) is not None
        matches_release = any(fnmatch.fnmatchcase(t, filter_) for t in ["1.2.3", "v1.2.3", "1.2.3-amd64", "1.2.3-arm64"])
        assert not (allowed and matches_release), filter_
    assert re.fullmatch(pattern, "buildcache-*")


# ------------------------------------------------------------------ 5. tags


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_a_release_publishes_only_immutable_x_y_z_tags(cid, services):
    ci = services[cid].workflow("ci.yml")
    text = str(ci["jobs"]["merge"])
    assert "{{major}}" not in text and "docker/metadata-action" not in text
    creates = [line.strip() for s in ci["jobs"]["merge"]["steps"] for line in s.get("run", "").splitlines()
               if "imagetools create" in line]
    assert creates == ['docker buildx imagetools create --tag "$ref" "${sources[@]}"']


# ------------------------------------------------------------------ least privilege of the roles


def test_each_role_may_do_only_its_stage():
    main = _load(MODULE / "main.tf")
    documents = _blocks(main, "data", "aws_iam_policy_document")
    publish = {a for st in documents["publish"]["statement"] for a in st["actions"]}
    deploy = {a for st in documents["deploy"]["statement"] for a in st["actions"]}
    assert publish == {"ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                       "ecr:CompleteLayerUpload", "ecr:DescribeImages", "ecr:GetDownloadUrlForLayer",
                       "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"}
    assert not {a for a in deploy if a.startswith("ecr:")} & {"ecr:PutImage", "ecr:InitiateLayerUpload",
                                                            "ecr:BatchDeleteImage", "ecr:DeleteRepository"}
    assert {a.split(":")[0] for a in deploy} == {"ecs", "ecr", "iam"}
    by_sid = {st["sid"]: st for st in documents["deploy"]["statement"]}
    assert by_sid["PassOnlyItsTaskRoles"]["actions"] == ["iam:PassRole"]
    assert by_sid["PassOnlyItsTaskRoles"]["condition"][0]["values"] == ["ecs-tasks.amazonaws.com"]
    assert by_sid["TagItsRevisionsOnCreate"]["condition"][0] == {
        "test": "StringEquals", "variable": "ecs:CreateAction", "values": ["RegisterTaskDefinition"]}
    assert by_sid["UpdateTheService"]["resources"] == ["${each.value.ecs_service_arn}"]
    assert "ecs:DeregisterTaskDefinition" not in deploy and "ecs:DeleteService" not in deploy


# ------------------------------------------------------------------ 2. the runner group


def test_self_hosted_runners_join_a_group_restricted_to_selected_workflows_and_private_repositories():
    """A pull request runs its own copy of ci.yml, so only the runner group can
    keep forks off the scale sets: the module creates it restricted to selected
    repositories and workflows, public repositories refused, never `default`."""
    arc = REPO_ROOT / "terraform-modules" / "arc-runner-scale-sets"
    main = _load(arc / "main.tf")
    [group] = _blocks(main, "resource", "github_actions_runner_group").values()
    assert group["restricted_to_workflows"] is True and group["allows_public_repositories"] is False
    assert group["visibility"] == "selected"
    assert group["selected_workflows"] == "${var.runner_group.selected_workflows}"
    assert group["selected_repository_ids"] == "${var.runner_group.selected_repository_ids}"
    scale_set = _blocks(main, "resource", "helm_release")["scale_set"]
    assert "runnerGroup = github_actions_runner_group.this.name" in str(scale_set["values"]).replace('"', "")
    for module in ("arc-runner-scale-sets", "github-runners-eks", "github-runners-aks"):
        variables = {n: b for block in _load(REPO_ROOT / "terraform-modules" / module / "variables.tf")["variable"]
                     for n, b in block.items()}
        plan = variables["github_plan"]
        assert "default" not in plan, f"{module}: the plan must be stated, not defaulted"
        runner_group = variables["runner_group"]
        assert "default" not in runner_group, f"{module}: the runner group must be chosen, not defaulted"
        conditions = " ".join(v["condition"] for v in runner_group["validation"])
        assert 'lower(var.runner_group.name) != "default"' in conditions
        workflow_pattern = re.search(r'regex\("(.+?)", w\)', conditions).group(1).replace("\\\\", "\\")
        assert re.fullmatch(workflow_pattern, "acme/demo-service/.github/workflows/ci.yml@refs/tags/v*")
        assert not re.fullmatch(workflow_pattern, "acme/demo-service/.github/workflows/ci.yml")  # a ref is required


# ------------------------------------------------------------------ workflow-bound subjects


@pytest.fixture(scope="module")
def bound_service(tmp_path_factory):
    """A service answering the recommended setting: real IDs, workflow-bound subjects."""
    import warnings

    import copier

    from workflow_lint import Service

    dst = tmp_path_factory.mktemp("bound") / "svc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(REPO_ROOT), dst, vcs_ref="HEAD", defaults=True, unsafe=True, quiet=True,
                        data={"github_repository": "shop/orders-api", "github_owner_id": "5101",
                              "github_repository_id": "880042", "oidc_workflow_bound": True})
    return Service("github-hosted", ("amd64", "arm64"), dst)


def _bound_subject(service, wf: str, job: dict, event) -> str:
    """The customised subject (claim keys repo, context, job_workflow_ref) of a job of `wf` run for `event`."""
    return (oidc_subject(job, event, repo_claim(service))
            + f":job_workflow_ref:{service.answers['github_repository']}/.github/workflows/{wf}@{event.ref}")


def test_with_workflow_bound_subjects_every_job_can_assume_its_role_and_production_only_from_main(bound_service):
    service = bound_service
    assert repo_claim(service) == "shop@5101/orders-api@880042"
    policies = trust_policies(service)
    production = policies[role_arn(service, "production")]
    assumed = set()
    for wf, name, job, role in _aws_jobs(service):
        # ci.yml runs on the release tag; deploy.yml and rollback.yml are dispatched on main.
        events = [PUSH_TAG] if wf == "ci.yml" else [DISPATCH_MAIN]
        for event in events:
            assert policies[role].allows(_bound_subject(service, wf, job, event)), (wf, name, event.name)
            assumed.add((wf, name))
        if wf != "ci.yml":
            # The same job from a tag (an older deploy.yml) or a branch: refused by its own role.
            for event in (PUSH_TAG, DISPATCH_BRANCH):
                assert not policies[role].allows(_bound_subject(service, wf, job, event)), (wf, name, event.name)
    assert {("ci.yml", "build"), ("ci.yml", "merge"), ("deploy.yml", "production"),
            ("rollback.yml", "production")} <= assumed
    # Any other workflow file, even in the production environment on main, is refused.
    for wf in ("ci.yml", "evil.yml", "deploy.yml-x.yml"):
        assert not production.allows(_bound_subject(service, wf, {"environment": "production"}, DISPATCH_MAIN)), wf
    readme = (service.path / ".github" / "workflows" / "README.md").read_text()
    assert ("`repo:shop@5101/orders-api@880042:environment:production:job_workflow_ref:"
            "shop/orders-api/.github/workflows/deploy.yml@refs/heads/main`") in readme


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_the_readme_says_truthfully_what_the_signature_covers(cid, services):
    """--deny-self-hosted-runners checks the signing (merge) job only; in
    self-hosted and Build Cloud modes the images were built elsewhere."""
    service = services[cid]
    readme = " ".join((service.path / ".github" / "workflows" / "README.md").read_text().split())
    assert "built and signed by this repository's `ci.yml` on a GitHub-hosted runner" not in readme
    assert "checks the signing job only" in readme or service.mode in ("github-hosted", "emulated")
    if service.mode == "self-hosted":
        assert "built on the self-hosted scale sets" in readme
    elif service.mode == "build-cloud":
        assert "built by Docker Build Cloud" in readme
    else:
        assert "built on GitHub-hosted runners" in readme
    assert "X.Y.Z-<arch>" not in readme


def test_the_release_docs_promise_no_moving_tags():
    readme = (REPO_ROOT / "docs" / "deploy-and-rollback.md").read_text()
    assert "(+ 1.3, 1)" not in readme and "no moving 1.3 / 1" in readme


def test_the_readme_says_what_concurrency_does_with_a_second_waiting_run(services):
    """A group holds one running and one pending run; a newer pending run
    replaces the older one (pipeline_model.ConcurrencyGroups): nothing queues."""
    readme = " ".join((services["github-hosted-amd64+arm64"].path / ".github" / "workflows" / "README.md")
                      .read_text().split())
    assert "Deploys of an environment queue" not in readme
    assert "a newer deploy (or rollback) replaces the one waiting in its group, it does not queue behind it" in readme
