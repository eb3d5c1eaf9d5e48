"""The release pipeline's shell steps, run with real bash, git and jq, each with
the shell GitHub would use for it (pipeline_model.github_shell).

There is no registry, buildx, gh or AWS here, so `docker` and `gh` are
stand-ins on PATH:

- `docker buildx imagetools` models a registry with immutable tags (ECR's
  IMMUTABLE setting refuses to overwrite a tag: "The image tag ... already
  exists ... and cannot be overwritten because the repository is immutable");
  `inspect --format '{{json .Manifest}}'` prints the manifest or index the way
  buildx does (schemaVersion, mediaType, digest, size, manifests; attestation
  manifests as platform unknown/unknown) and fails with "<ref>: not found" for
  a missing tag; `create --tag` merges the sources' manifests into an index
  (one source: the tag points at it); REGISTRY_DOWN=1 makes every call fail
  like an expired ECR login does.
- `gh run list --json` prints the runs the test set up; `gh run cancel` records;
  `gh api PATH --jq F` prints the REST response the test set up, filtered.

What is under test is the workflows' own logic: default-branch check,
re-run detection, digest hand-off, architecture check, cancellation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gh_attestation_model as gh_model
from pipeline_model import github_shell

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo-service"
COMMIT = "c0ffee" + "0" * 34  # GITHUB_SHA of the release tag's commit

REGISTRY = r'''#!PYTHON
import hashlib, json, os, sys
args = sys.argv[1:]
state_path = os.environ["REGISTRY"]
state = json.load(open(state_path))
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps(args) + "\n")
if os.environ.get("REGISTRY_DOWN"):
    sys.exit("ERROR: failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized")
def resolve(ref):
    if "@sha256:" in ref:
        digest = ref.split("@", 1)[1]
        return digest if digest in state["manifests"] else None
    return state["tags"].get(ref.rsplit(":", 1)[1])
if args[:3] == ["buildx", "imagetools", "inspect"]:
    ref = args[3]
    digest = resolve(ref)
    if digest is None:
        sys.exit(f"ERROR: {ref}: not found")
    if "--format" in args and ".Image" in args[args.index("--format") + 1]:
        # buildx prints the image config of each platform (attestation manifests,
        # unknown/unknown, are no platform): one platform -> its config, several -> a map.
        manifest = state["manifests"][digest]
        entries = manifest.get("manifests") or [dict(manifest, digest=digest)]
        configs = {f"{e['platform']['os']}/{e['platform']['architecture']}": state["configs"][e["digest"]]
                   for e in entries if e.get("platform", {}).get("os") != "unknown"}
        print(json.dumps(next(iter(configs.values())) if len(configs) == 1 else configs))
        sys.exit(0)
    if "--format" in args:
        print(json.dumps(state["manifests"][digest]))
    else:
        print(f"Name:      {ref}\nDigest:    {digest}")
    sys.exit(0)
if args[:3] == ["buildx", "imagetools", "create"]:
    tag = args[args.index("--tag") + 1].rsplit(":", 1)[1]
    sources = [a for a in args[3:] if a.startswith(os.environ["IMAGE"] + "@")]
    if tag in state["tags"]:
        sys.exit(f"ERROR: failed commit on ref \"index-sha256\": tag invalid: The image tag '{tag}' already exists "
                 "in the 'demo-service' repository and cannot be overwritten because the repository is immutable.")
    digests = [resolve(s) for s in sources]
    if None in digests:
        sys.exit("ERROR: a source is not found")
    if len(digests) == 1:
        state["tags"][tag] = digests[0]
    else:
        manifests = []
        for d in digests:
            m = state["manifests"][d]
            manifests += m["manifests"] if "manifests" in m else [{"mediaType": m["mediaType"], "digest": d, "size": 1}]
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
        digest = "sha256:" + hashlib.sha256(json.dumps(index, sort_keys=True).encode()).hexdigest()
        state["manifests"][digest] = dict(index, digest=digest, size=len(json.dumps(index)))
        state["tags"][tag] = digest
    json.dump(state, open(state_path, "w"))
    sys.exit(0)
sys.exit(f"unexpected docker call: {args}")
'''

GH = r'''#!PYTHON
import json, os, sys
sys.path.insert(0, os.environ["MODELS"])
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps(["gh", *args]) + "\n")
runs = json.loads(os.environ.get("GH_RUNS", "{}"))
if args[:2] == ["run", "list"]:
    # GitHub's list-workflow-runs API: newest first, filtered server-side by
    # event and status, then cut at --limit (gh's default 20).
    workflow = args[args.index("--workflow") + 1]
    listed = runs.get(workflow, [])
    if "--event" in args:
        listed = [r for r in listed if r["event"] == args[args.index("--event") + 1]]
    if "--status" in args:
        listed = [r for r in listed if r["status"] == args[args.index("--status") + 1]]
    limit = int(args[args.index("--limit") + 1]) if "--limit" in args else 20
    print(json.dumps(listed[:limit]))
    sys.exit(0)
if args[:2] == ["run", "cancel"]:
    if args[2] in os.environ.get("GH_CANCEL_FAILS", "").split():
        sys.exit(f"run {args[2]} has already completed")
    sys.exit(0)
if args[:2] == ["workflow", "run"]:
    sys.exit(0)
if args[0] == "api":
    # GH_API: the REST responses by path (query included); --jq filters them
    # as gh does (gojq; the real jq here), one page per path.
    import subprocess
    path = next(a for a in args[1:] if not a.startswith("-") and args[args.index(a) - 1] != "--jq")
    body = json.loads(os.environ.get("GH_API", "{}")).get(path)
    if body is None:
        sys.exit(f"gh: Not Found (HTTP 404) {path}")
    if "--jq" in args:
        sys.exit(subprocess.run(["jq", "-r", args[args.index("--jq") + 1]], input=json.dumps(body), text=True).returncode)
    print(json.dumps(body))
    sys.exit(0)
if args[:2] == ["attestation", "verify"]:
    import gh_attestation_model as model
    options = model.parse(args)
    digest = options["subject"].rsplit("@", 1)[1]
    certificates = json.loads(os.environ.get("GH_ATTESTATIONS", "{}")).get(digest, [])
    good = [c for c in certificates if model.verified(options, c)]
    if not good:
        sys.exit("✗ Verification failed")
    print(json.dumps([{"attestation": {}, "verificationResult": {"signature": {"certificate": c}}} for c in good]))
    sys.exit(0)
sys.exit(f"unexpected gh call: {args}")
'''


def _digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


class Registry:
    """The stand-in's state, and what build-push-action would push."""

    def __init__(self, path: Path):
        self.path = path
        self.path.write_text(json.dumps({"tags": {}, "manifests": {}, "configs": {}}))

    @property
    def state(self) -> dict:
        return json.loads(self.path.read_text())

    def push_by_digest(self, arch: str, build: str, revision: str = COMMIT) -> str:
        """A per-architecture push with SBOM and provenance: an index of the
        image and its attestation manifest. `build` differs between two builds
        of the same source (timestamps in the provenance); `revision` is the
        org.opencontainers.image.revision label metadata-action sets (github.sha)."""
        state = self.state
        image = _digest(f"{arch}-image-{build}-{revision}")
        state["configs"][image] = {"architecture": arch, "os": "linux",
                                   "config": {"Labels": {"org.opencontainers.image.revision": revision}}}
        attestation = _digest(f"{arch}-attestation-{build}")
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image, "size": 1000,
             "platform": {"architecture": arch, "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": attestation, "size": 500,
             "annotations": {"vnd.docker.reference.digest": image,
                             "vnd.docker.reference.type": "attestation-manifest"},
             "platform": {"architecture": "unknown", "os": "unknown"}}]}
        digest = _digest(json.dumps(index, sort_keys=True))
        state["manifests"][digest] = dict(index, digest=digest, size=1609)
        self.path.write_text(json.dumps(state))
        return digest


@pytest.fixture
def world(tmp_path):
    assert shutil.which("jq"), "jq is on every GitHub-hosted Ubuntu runner; install it here (apt-get install jq)"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("docker", REGISTRY), ("gh", GH)):
        (bin_dir / name).write_text(body.replace("PYTHON", sys.executable))
        (bin_dir / name).chmod(0o755)
    registry = Registry(tmp_path / "registry.json")

    def run(workflow: dict, job: str, step: str, *, cwd: Path | None = None, **env) -> dict:
        job_ = workflow["jobs"][job]
        [step_] = [s for s in job_["steps"] if s.get("name") == step]
        for name in ("out", "summary", "calls"):
            (tmp_path / name).write_text("")
        runner_temp = tmp_path / "runner_temp"
        runner_temp.mkdir(exist_ok=True)
        proc = subprocess.run(
            [*github_shell(workflow, job_, step_), "-c", step_["run"]], capture_output=True, text=True,
            cwd=cwd or tmp_path,
            env={"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "IMAGE": IMAGE, "HOME": str(tmp_path),
                 "RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(tmp_path / "out"),
                 "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "REGISTRY": str(registry.path),
                 "CALLS": str(tmp_path / "calls"), "MODELS": str(Path(__file__).resolve().parent), **env})
        return {"code": proc.returncode, "output": proc.stdout + proc.stderr,
                "outputs": dict(line.split("=", 1) for line in (tmp_path / "out").read_text().splitlines()),
                "summary": (tmp_path / "summary").read_text(),
                "calls": [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]}

    run.registry = registry
    run.tmp = tmp_path
    return run


def ci(services, cid="github-hosted-amd64+arm64"):
    return services[cid].workflow("ci.yml")


# ------------------------------------------------------------------ releases only from the default branch

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A clone as actions/checkout leaves it with fetch-depth 0 on a tag push:
    every branch as refs/remotes/origin/*, HEAD at the tagged commit."""
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "commit", "-q", "--allow-empty", "-m", "reviewed")
    reviewed = _git(origin, "rev-parse", "HEAD")
    _git(origin, "switch", "-q", "-c", "unreviewed")
    _git(origin, "commit", "-q", "--allow-empty", "-m", "pushed straight to a branch")
    unreviewed = _git(origin, "rev-parse", "HEAD")
    _git(origin, "switch", "-q", "main")
    _git(origin, "commit", "-q", "--allow-empty", "-m", "later on main")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(origin), str(clone))
    return clone, reviewed, unreviewed


@pytest.mark.parametrize("tag, commit, ok", [
    ("v1.2.0", "reviewed", True),
    ("v1.3.0-rc.1", "reviewed", True),
    ("v9.9.9", "unreviewed", False),
    ("v1.2", "reviewed", False),
    ("v01.2.3", "reviewed", False),
])
def test_a_release_tag_must_point_at_a_commit_of_the_default_branch(services, world, checkout, tag, commit, ok):
    clone, reviewed, unreviewed = checkout
    sha = {"reviewed": reviewed, "unreviewed": unreviewed}[commit]
    _git(clone, "checkout", "-q", sha)
    result = world(ci(services), "release-check", "Check the tag is SemVer and its commit is on the default branch",
                   cwd=clone, TAG=tag, DEFAULT_BRANCH="main", GITHUB_SHA=sha)
    if ok:
        assert result["code"] == 0, result["output"]
        assert result["outputs"] == {"version": tag[1:]}
    else:
        assert result["code"] == 1 and result["outputs"] == {}
        if commit == "unreviewed":
            assert f"::error title=unreviewed commit::{tag} points at {sha}, which is not on main" in result["output"]
        else:
            assert "::error title=not a release tag::" in result["output"]


def test_the_default_branch_check_fails_closed_without_the_branch(services, world, checkout):
    clone, reviewed, _ = checkout
    result = world(ci(services), "release-check", "Check the tag is SemVer and its commit is on the default branch",
                   cwd=clone, TAG="v1.2.0", DEFAULT_BRANCH="trunk", GITHUB_SHA=reviewed)
    assert result["code"] == 1 and "::error title=no default branch::origin/trunk was not fetched" in result["output"]


# ------------------------------------------------------------------ re-runnable releases


def _build_arch(world, workflow, arch: str, build: str, *, fail_after_push: bool = False, version: str = "1.2.0",
                commit: str = COMMIT) -> str | None:
    """One matrix leg of the build job: look up, (build, push, tag), export."""
    env = {"VERSION": version, "ARCH": arch, "GITHUB_SHA": commit}
    look = world(workflow, "build", "Look for this architecture's image from an earlier attempt", **env)
    assert look["code"] == 0, look["output"]
    existing = look["outputs"]["digest"]
    digest = existing
    if not existing:
        digest = world.registry.push_by_digest(arch, build, commit)  # what build-push-action does
        if fail_after_push:
            return None  # the runner died before tagging
        tag = world(workflow, "build", "Tag the architecture image", DIGEST=digest, **env)
        assert tag["code"] == 0, tag["output"]
    export = world(workflow, "build", "Export the digest", DIGEST=digest)
    assert export["code"] == 0, export["output"]
    exported = {p.name for p in (world.tmp / "runner_temp" / "digests").iterdir()}
    assert digest.removeprefix("sha256:") in exported
    return digest


def _merge(world, workflow, digests: list[str], version: str = "1.2.0") -> dict:
    folder = world.tmp / "merge-digests"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for d in digests:
        (folder / d.removeprefix("sha256:")).touch()
    publish = world(workflow, "merge", "Publish the release index", cwd=folder, VERSION=version)
    if publish["code"] != 0:
        return publish
    inspect = world(workflow, "merge", "Inspect the release index", VERSION=version)
    return inspect | {"publish": publish}


def test_re_running_all_jobs_of_a_release_reuses_what_an_earlier_attempt_pushed(services, world):
    workflow = ci(services)
    # Attempt 1: amd64 pushed and tagged; arm64 pushed, then its runner died.
    first_amd64 = _build_arch(world, workflow, "amd64", build="attempt-1")
    assert _build_arch(world, workflow, "arm64", build="attempt-1", fail_after_push=True) is None
    # "Re-run all jobs": builds are not reproducible (provenance timestamps), so a
    # new build of amd64 would have another digest; the re-run must not need one.
    shutil.rmtree(world.tmp / "runner_temp" / "digests")
    amd64 = _build_arch(world, workflow, "amd64", build="attempt-2")
    arm64 = _build_arch(world, workflow, "arm64", build="attempt-2")
    assert amd64 == first_amd64
    assert world.registry.state["tags"][f"1.2.0_arm64_{COMMIT}"] == arm64
    published = _merge(world, workflow, [amd64, arm64])
    assert published["code"] == 0, published["output"]
    index = published["outputs"]["digest"]
    assert published["outputs"]["release"] == "true"
    # Attempt 3, after the index was published (say the deploy failed): nothing is rebuilt or re-tagged.
    shutil.rmtree(world.tmp / "runner_temp" / "digests")
    again = [_build_arch(world, workflow, a, build="attempt-3") for a in ("amd64", "arm64")]
    assert again == [amd64, arm64]
    republished = _merge(world, workflow, again)
    assert republished["code"] == 0, republished["output"]
    assert republished["outputs"]["digest"] == index
    assert "::notice title=re-run::" in republished["publish"]["output"]
    assert not any(c[:3] == ["buildx", "imagetools", "create"] for c in republished["publish"]["calls"])
    assert sorted(world.registry.state["tags"]) == ["1.2.0", f"1.2.0_amd64_{COMMIT}", f"1.2.0_arm64_{COMMIT}"]


def test_a_published_release_never_changes(services, world):
    workflow = ci(services)
    first = [world.registry.push_by_digest(a, "one") for a in ("amd64", "arm64")]
    assert _merge(world, workflow, first)["code"] == 0
    other = [world.registry.push_by_digest(a, "two") for a in ("amd64", "arm64")]
    result = _merge(world, workflow, other)
    assert result["code"] == 1
    assert f"::error title=release exists::{IMAGE}:1.2.0 was already published with other images" in result["output"]


@pytest.mark.parametrize("job, step, env", [
    ("build", "Look for this architecture's image from an earlier attempt", {"VERSION": "1.2.0", "ARCH": "amd64"}),
    ("merge", "Publish the release index", {"VERSION": "1.2.0"}),
])
def test_registry_errors_fail_the_job_instead_of_passing_for_a_missing_image(services, world, job, step, env):
    """An expired login or a network error is not 'not found': no blind build, no new tag."""
    folder = world.tmp / "d"
    folder.mkdir()
    (folder / ("1" * 64)).touch()
    result = world(ci(services), job, step, cwd=folder, REGISTRY_DOWN="1", **env)
    assert result["code"] == 1 and "401 Unauthorized" in result["output"]
    assert result["outputs"] == {}
    assert not any(c[:3] == ["buildx", "imagetools", "create"] for c in result["calls"])


def test_a_release_index_missing_a_selected_architecture_fails(services, world):
    workflow = ci(services, "self-hosted-amd64+arm64")
    amd64 = world.registry.push_by_digest("amd64", "one")
    result = _merge(world, workflow, [amd64])
    assert result["code"] == 1
    assert f"::error title=missing architecture::{IMAGE}:1.2.0 has no linux/arm64 image (found: linux/amd64)" in result["output"]
    assert "digest" not in result["outputs"]


def test_a_complete_release_summarises_its_index(services, world):
    workflow = ci(services)
    digests = [world.registry.push_by_digest(a, "one") for a in ("amd64", "arm64")]
    result = _merge(world, workflow, digests)
    assert result["code"] == 0, result["output"]
    index = world.registry.state["tags"]["1.2.0"]
    assert result["outputs"] == {"digest": index, "release": "true"}
    assert f"| index digest | `{index}` |" in result["summary"]
    [platforms] = [line for line in result["summary"].splitlines() if line.startswith("| platforms |")]
    assert sorted(platforms.strip("| ").split(" | ")[1].split()) == ["linux/amd64", "linux/arm64"]


@pytest.mark.parametrize("version, release", [("1.2.0", "true"), ("1.3.0-rc.1", "false"), ("10.20.30", "true")])
def test_only_x_y_z_releases_deploy(services, world, version, release):
    workflow = ci(services, "github-hosted-amd64")
    digest = world.registry.push_by_digest("amd64", "one")
    state = world.registry.state
    state["tags"][version] = digest
    world.registry.path.write_text(json.dumps(state))
    result = world(workflow, "merge", "Inspect the release index", VERSION=version)
    assert result["code"] == 0, result["output"]
    assert result["outputs"]["release"] == release


# ------------------------------------------------------------------ digest hand-off and pipefail

PAVED = r'''#!/bin/sh
if [ -n "$PAVED_FAILS" ]; then echo "paved: error: ExpiredTokenException: the security token included in the request is expired" >&2; exit 1; fi
cat <<'EOF'
[{"version": "1.2.0", "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "pushed_at": "2026-11-30T10:00:00+00:00"},
 {"version": "1.1.0", "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222", "pushed_at": "2026-11-01T10:00:00+00:00"}]
EOF
'''


@pytest.fixture
def paved(world):
    path = world.tmp / "bin" / "paved"
    path.write_text(PAVED)
    path.chmod(0o755)


def _deploy(services):
    return services["github-hosted-amd64+arm64"].workflow("deploy.yml")


def test_the_digest_ci_published_is_handed_to_staging_as_is(services, world, paved):
    published = "sha256:" + "9" * 64
    result = world(_deploy(services), "staging", "Resolve the release to its index digest",
                   VERSION="1.2.0", PUBLISHED=published)
    assert result["code"] == 0 and result["outputs"] == {"digest": published}


def test_a_manual_deploy_resolves_the_release_to_its_digest(services, world, paved):
    result = world(_deploy(services), "staging", "Resolve the release to its index digest", VERSION="1.1.0", PUBLISHED="")
    assert result["code"] == 0, result["output"]
    assert result["outputs"] == {"digest": "sha256:" + "2" * 64}
    missing = world(_deploy(services), "staging", "Resolve the release to its index digest", VERSION="3.0.0", PUBLISHED="")
    assert missing["code"] == 3 and "::error title=release not found::ECR has no release 3.0.0" in missing["output"]


def test_a_failing_cli_is_reported_as_itself_not_as_a_missing_release(services, world, paved):
    """With GitHub's default `bash -e` the pipeline's status is jq's, and an
    expired token reads as "ECR has no release"; with `shell: bash` it fails
    with the CLI's own error."""
    deploy = _deploy(services)
    result = world(deploy, "staging", "Resolve the release to its index digest",
                   VERSION="1.2.0", PUBLISHED="", PAVED_FAILS="1")
    assert result["code"] == 1
    assert "ExpiredTokenException" in result["output"] and "release not found" not in result["output"]
    # The same step as GitHub runs it when a workflow does not set the shell:
    without = dict(deploy, defaults={})
    misleading = world(without, "staging", "Resolve the release to its index digest",
                       VERSION="1.2.0", PUBLISHED="", PAVED_FAILS="1")
    assert misleading["code"] == 3 and "ECR has no release 1.2.0" in misleading["output"]


# ------------------------------------------------------------------ rollback wins over deploy


def _runs(**by_workflow) -> str:
    return json.dumps(by_workflow)


def test_a_rollback_cancels_release_and_deploy_runs_in_flight_however_old(services, world):
    """Queried by status: a deploy waiting for production's approval behind 60
    newer finished runs is cancelled too (a window of the last 50 runs missed it,
    and approved later it would redeploy the bad release)."""
    rollback = services["github-hosted-amd64+arm64"].workflow("rollback.yml")
    finished = [{"databaseId": 100 + i, "status": "completed", "event": "workflow_dispatch", "headBranch": "main"}
                for i in range(60)]
    runs = {
        "deploy.yml": [{"databaseId": 11, "status": "in_progress", "event": "workflow_dispatch", "headBranch": "main"},
                       {"databaseId": 12, "status": "completed", "event": "workflow_dispatch", "headBranch": "main"},
                       *finished,
                       {"databaseId": 13, "status": "waiting", "event": "workflow_dispatch", "headBranch": "main"}],
        "ci.yml": [{"databaseId": 21, "status": "waiting", "event": "push", "headBranch": "v1.3.0"},
                   {"databaseId": 22, "status": "in_progress", "event": "push", "headBranch": "main"},
                   {"databaseId": 23, "status": "completed", "event": "push", "headBranch": "v1.2.0"},
                   {"databaseId": 24, "status": "queued", "event": "pull_request", "headBranch": "feature"},
                   {"databaseId": 25, "status": "queued", "event": "push", "headBranch": "v1.3.1"}],
    }
    result = world(rollback, "cancel", "Cancel release and deploy runs in flight",
                   GH_RUNS=json.dumps(runs), GH_CANCEL_FAILS="11")
    assert result["code"] == 0, result["output"]
    cancelled = sorted(int(c[3]) for c in result["calls"] if c[1:3] == ["run", "cancel"])
    assert cancelled == [11, 13, 21, 25]  # never main's CI, pull requests or finished runs
    assert "::warning title=not cancelled::run 11 could not be cancelled" in result["output"]
    # Only the cancel job may write to Actions; the jobs that deploy cannot.
    jobs = rollback["jobs"]
    assert jobs["cancel"]["permissions"] == {"actions": "write"}
    assert all("actions" not in jobs[env]["permissions"] for env in ("staging", "production"))


@pytest.mark.parametrize("environment, blocked", [("production", True), ("staging", False)])
def test_a_deploy_refuses_to_start_while_a_rollback_of_its_environment_runs(services, world, environment, blocked):
    runs = {"rollback.yml": [
        {"databaseId": 31, "status": "in_progress", "displayTitle": "rollback production to previous"},
        {"databaseId": 32, "status": "completed", "displayTitle": "rollback staging to 1.1.0"}]}
    result = world(_deploy(services), environment, f"Refuse while a rollback of {environment} is running",
                   GH_RUNS=json.dumps(runs), ENVIRONMENT=environment)
    if blocked:
        assert result["code"] == 1
        assert "::error title=rollback running::a rollback of production is running (run 31)" in result["output"]
    else:
        assert result["code"] == 0, result["output"]


VERIFIED = "sha256:" + "ab" * 32


@pytest.mark.parametrize("target, version, expected", [("previous", "1.1.0", ["--to", "1.1.0", "--digest", VERIFIED]),
                                                       ("in-flight", "", ["--in-flight"]),
                                                       ("1.1.0", "1.1.0", ["--to", "1.1.0", "--digest", VERIFIED])])
def test_rollback_runs_the_release_it_verified(services, world, target, version, expected):
    """`previous` is resolved (dry run) and verified first; the rollback then names that release."""
    rollback = services["github-hosted-amd64+arm64"].workflow("rollback.yml")
    path = world.tmp / "bin" / "paved"
    path.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$PAVED_ARGS"\n')
    path.chmod(0o755)
    result = world(rollback, "staging", "Roll back and verify", TARGET=target, VERSION=version,
                   DIGEST=VERIFIED if version else "", PAVED_ARGS=str(world.tmp / "argv"))
    assert result["code"] == 0, result["output"]
    argv = (world.tmp / "argv").read_text().split("\n")[:-1]
    assert argv == ["rollback", "--cluster", "apps-staging", "--service", "demo-service", *expected, "--timeout", "1200"]
    job = rollback["jobs"]["staging"]
    names = [st["name"] for st in job["steps"]]
    resolve, verify, act = (names.index(n) for n in ("Resolve the target release",
                                                     "Verify the target was published and signed by ci.yml at its tag",
                                                     "Roll back and verify"))
    assert resolve < verify < act
    assert "--dry-run" in job["steps"][resolve]["run"]
    assert job["steps"][verify]["env"]["VERSION"] == "${{ steps.target.outputs.to }}"
    assert job["steps"][verify]["env"]["DIGEST"] == "${{ steps.target.outputs.digest }}"
    assert job["steps"][act]["env"]["DIGEST"] == "${{ steps.target.outputs.digest }}"  # what it verified


# ------------------------------------------------------------------ two people for production

RELEASE_PUSHERS = {"workflow_runs": [
    {"actor": {"login": "alice"}, "triggering_actor": {"login": "alice"}},  # pushed v1.2.0
    {"actor": {"login": "alice"}, "triggering_actor": {"login": "dave"}},  # dave re-ran it
]}


def _approval(login: str, *environments: str, state: str = "approved") -> dict:
    return {"state": state, "user": {"login": login}, "comment": "",
            "environments": [{"id": i, "name": e} for i, e in enumerate(environments)]}


@pytest.mark.parametrize("actor, approvals, refused", [
    # ci.yml starts deploy.yml with GITHUB_TOKEN: GitHub's "prevent self-review"
    # sees github-actions[bot] as the one who triggered it, so alone it would let
    # the tag's pusher approve their own release.
    ("github-actions[bot]", [_approval("alice", "production")], "alice"),
    ("github-actions[bot]", [_approval("Dave", "production")], "dave"),  # logins are case-insensitive
    ("github-actions[bot]", [_approval("bob", "production")], None),
    ("carol", [_approval("carol", "production")], "carol"),
    ("carol", [_approval("bob", "production")], None),
    ("github-actions[bot]", [_approval("bob", "staging"), _approval("erin", "production", state="rejected")], "none"),
    ("github-actions[bot]", [], "none"),
])
def test_production_refuses_an_approval_by_whoever_released_or_started_the_deploy(services, world, actor, approvals,
                                                                                  refused):
    api = {f"repos/{REPO}/actions/runs/4242/approvals": approvals,
           f"repos/{REPO}/actions/workflows/ci.yml/runs?event=push&branch=v1.2.0": RELEASE_PUSHERS}
    result = world(_deploy(services), "production", "Refuse an approval of production by whoever released or started it",
                   GH_API=json.dumps(api), GH_REPO=REPO, GITHUB_RUN_ID="4242", VERSION="1.2.0",
                   ACTOR=actor, TRIGGERING_ACTOR=actor)
    if refused is None:
        assert result["code"] == 0, result["output"]
        assert "production approved by bob" in result["output"]
    elif refused == "none":
        assert result["code"] == 1
        assert "::error title=not approved::" in result["output"]
    else:
        assert result["code"] == 1
        assert f"::error title=self-approval::{refused} released v1.2.0 or started this run" in result["output"]
    names = [s["name"] for s in _deploy(services)["jobs"]["production"]["steps"]]
    assert names[0] == "Refuse an approval of production by whoever released or started it"
    assert _deploy(services)["jobs"]["production"]["permissions"]["actions"] == "read"


# ------------------------------------------------------------------ verification bound to the release

REPO = "acme/demo-service"
CI_AT_TAG = ".github/workflows/ci.yml@refs/tags/v1.2.0"


@pytest.fixture
def release(services, world):
    """Release 1.2.0 published by the merge job: its index digest and the per-architecture images it lists."""
    digests = [world.registry.push_by_digest(a, "one") for a in ("amd64", "arm64")]
    published = _merge(world, ci(services), digests)
    assert published["code"] == 0, published["output"]
    index = published["outputs"]["digest"]
    images = [m["digest"] for m in world.registry.state["manifests"][index]["manifests"]
              if m["platform"]["os"] != "unknown"]
    assert len(images) == 2
    return index, images


def _verify(services, world, workflow, job, step, version, digest, attestations, **env):
    service = services["github-hosted-amd64+arm64"]
    return world(service.workflow(workflow), job, step, cwd=service.path, VERSION=version, DIGEST=digest,
                 GITHUB_REPOSITORY=REPO, GITHUB_SERVER_URL="https://github.com",
                 GH_ATTESTATIONS=json.dumps(attestations), **env)


def _deploy_verify(services, world, version, digest, attestations):
    return _verify(services, world, "deploy.yml", "staging",
                   "Verify the release was published and signed by ci.yml at its tag", version, digest, attestations)


def test_the_merge_job_attests_the_index_and_every_image_it_lists(services, world, release):
    index, images = release
    result = world(ci(services), "merge", "List the attestation subjects (the index and its images)", DIGEST=index)
    assert result["code"] == 0, result["output"]
    lines = (world.tmp / "runner_temp" / "subjects.sha256").read_text().splitlines()
    assert lines == [f"{d.removeprefix('sha256:')}  {IMAGE}" for d in [index, *images]]
    merge = ci(services)["jobs"]["merge"]
    [attest] = [st for st in merge["steps"] if "attest-build-provenance" in st.get("uses", "")]
    assert attest["with"] == {"subject-checksums": "${{ runner.temp }}/subjects.sha256"}


def test_a_release_signed_by_ci_yml_at_its_tag_verifies_index_and_every_image(services, world, release):
    index, images = release
    good = {d: [gh_model.certificate(REPO, CI_AT_TAG)] for d in [index, *images]}
    result = _deploy_verify(services, world, "1.2.0", index, good)
    assert result["code"] == 0, result["output"]
    verifies = [c for c in result["calls"] if c[1:3] == ["attestation", "verify"]]
    assert [c[3] for c in verifies] == [f"oci://{IMAGE}@{d}" for d in [index, *images]]
    for call in verifies:
        options = gh_model.parse(call[1:])
        assert options["--cert-identity"] == f"https://github.com/{REPO}/{CI_AT_TAG}"
        assert options["--repo"] == REPO and options["--deny-self-hosted-runners"] is True
        assert options["--cert-oidc-issuer"] == "https://token.actions.githubusercontent.com"


@pytest.mark.parametrize("case, signer, kw", [
    ("ci.yml on a pull request merge ref", ".github/workflows/ci.yml@refs/pull/7/merge", {}),
    ("a look-alike file ci.yml-x.yml on the tag", ".github/workflows/ci.yml-x.yml@refs/tags/v1.2.0", {}),
    ("ci.yml on main", ".github/workflows/ci.yml@refs/heads/main", {}),
    ("ci.yml of another release tag", ".github/workflows/ci.yml@refs/tags/v1.1.0", {}),
    ("ci.yml at the tag, checked out from another ref", CI_AT_TAG, {"source_ref": "refs/heads/evil"}),
    ("signed on a self-hosted runner", CI_AT_TAG, {"runner": "self-hosted"}),
    ("another workflow at the tag", ".github/workflows/deploy.yml@refs/tags/v1.2.0", {}),
])
def test_attestations_not_bound_to_the_release_are_refused(services, world, release, case, signer, kw):
    index, images = release
    bad = {d: [gh_model.certificate(REPO, signer, **kw)] for d in [index, *images]}
    result = _deploy_verify(services, world, "1.2.0", index, bad)
    assert result["code"] == 7, (case, result["output"])
    assert "::error title=not attested::" in result["output"]


def test_the_old_signer_workflow_flag_accepted_what_the_new_identity_refuses():
    """cli/cli's --signer-workflow is an unanchored prefix with no ref (policy.go): the defect."""
    old = gh_model.parse(["attestation", "verify", "oci://x@sha256:1", "--repo", REPO,
                          "--signer-workflow", f"{REPO}/.github/workflows/ci.yml", "--deny-self-hosted-runners"])
    new = gh_model.parse(["attestation", "verify", "oci://x@sha256:1", "--repo", REPO,
                          "--cert-identity", f"https://github.com/{REPO}/{CI_AT_TAG}", "--deny-self-hosted-runners"])
    for signer in (".github/workflows/ci.yml@refs/pull/7/merge", ".github/workflows/ci.yml-x.yml@refs/tags/v1.2.0",
                   ".github/workflows/ci.yml@refs/heads/feature"):
        cert = gh_model.certificate(REPO, signer)
        assert gh_model.verified(old, cert) and not gh_model.verified(new, cert), signer
    assert gh_model.verified(new, gh_model.certificate(REPO, CI_AT_TAG))
    with pytest.raises(ValueError):  # cli/cli refuses mixing the identity flags
        gh_model.parse(["attestation", "verify", "oci://x@sha256:1", "--cert-identity", "a", "--signer-repo", REPO])


def test_an_image_of_the_release_without_attestation_is_refused(services, world, release):
    index, images = release
    partial = {d: [gh_model.certificate(REPO, CI_AT_TAG)] for d in [index, images[0]]}
    result = _deploy_verify(services, world, "1.2.0", index, partial)
    assert result["code"] == 7 and f"{IMAGE}@{images[1]} has no attestation" in result["output"]


def test_a_rollback_refuses_an_unattested_version_before_registering_anything(services, world, release):
    index, _ = release
    result = _verify(services, world, "rollback.yml", "production",
                     "Verify the target was published and signed by ci.yml at its tag", "1.2.0", index, {})
    assert result["code"] == 7 and "::error title=not attested::" in result["output"]
    assert not any(c and c[0] == "paved" for c in result["calls"])


@pytest.mark.parametrize("version, digest", [("1.2", "sha256:" + "a" * 64), ("1.2.0", "sha256:xyz"), ("", "")])
def test_verify_release_refuses_bad_input(services, world, version, digest):
    result = _deploy_verify(services, world, version, digest, {})
    assert result["code"] == 2 and "::error title=bad input::" in result["output"]
    assert not any(c[1:3] == ["attestation", "verify"] for c in result["calls"] if c[0] == "gh")


def test_verify_release_passes_shellcheck(services):
    script = services["github-hosted-amd64+arm64"].path / ".github" / "verify-release.sh"
    proc = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# ------------------------------------------------------------------ per-architecture tags and reuse


def _platforms(world, digest: str) -> list[str]:
    manifest = world.registry.state["manifests"][digest]
    return sorted(f"{m['platform']['os']}/{m['platform']['architecture']}" for m in manifest["manifests"]
                  if m["platform"]["os"] != "unknown")


def test_a_pre_release_named_like_a_per_arch_tag_cannot_be_reused_by_the_release(services, world):
    """v2.0.0-arm64 publishes the index 2.0.0-arm64; release v2.0.0's arm64 leg
    used to find that tag and "reuse" it (an index with two linux entries).
    Per-architecture tags use `_`, which no SemVer tag has."""
    workflow = ci(services)
    pre = [_build_arch(world, workflow, a, build="pre", version="2.0.0-arm64") for a in ("amd64", "arm64")]
    pre_index = _merge(world, workflow, pre, version="2.0.0-arm64")
    assert pre_index["code"] == 0, pre_index["output"]
    assert "2.0.0-arm64" in world.registry.state["tags"]
    shutil.rmtree(world.tmp / "runner_temp" / "digests")
    release = [_build_arch(world, workflow, a, build="release", version="2.0.0") for a in ("amd64", "arm64")]
    assert release[1] != world.registry.state["tags"]["2.0.0-arm64"]
    published = _merge(world, workflow, release, version="2.0.0")
    assert published["code"] == 0, published["output"]
    assert _platforms(world, published["outputs"]["digest"]) == ["linux/amd64", "linux/arm64"]


def test_a_moved_tag_never_reuses_the_old_commits_image(services, world):
    workflow = ci(services)
    old = _build_arch(world, workflow, "amd64", build="one", commit="a" * 40)
    shutil.rmtree(world.tmp / "runner_temp" / "digests")
    moved = _build_arch(world, workflow, "amd64", build="two", commit="b" * 40)
    assert moved != old
    assert world.registry.state["configs"][_platform_image(world, moved)]["config"]["Labels"] == {
        "org.opencontainers.image.revision": "b" * 40}


def _platform_image(world, digest: str) -> str:
    [image] = [m["digest"] for m in world.registry.state["manifests"][digest]["manifests"]
               if m["platform"]["os"] != "unknown"]
    return image


@pytest.mark.parametrize("revision, arch, reused", [(COMMIT, "amd64", True), ("d" * 40, "amd64", False),
                                                    (COMMIT, "arm64", False)])
def test_reuse_only_when_the_image_revision_is_this_commit_and_the_arch_matches(services, world, revision, arch, reused):
    workflow = ci(services)
    # What sits under this commit's amd64 tag (pushed by an earlier attempt, or by someone else).
    digest = world.registry.push_by_digest(arch, "earlier", revision)
    state = world.registry.state
    state["tags"][f"1.2.0_amd64_{COMMIT}"] = digest
    world.registry.path.write_text(json.dumps(state))
    look = world(workflow, "build", "Look for this architecture's image from an earlier attempt",
                 VERSION="1.2.0", ARCH="amd64", GITHUB_SHA=COMMIT)
    if reused:
        assert look["code"] == 0 and look["outputs"]["digest"] == digest, look["output"]
    else:
        assert look["code"] == 1 and "::error title=not reusable::" in look["output"], look["output"]
