"""The merge job's shell steps, run with real bash and jq as on the runner.

There is no registry or buildx here, so `docker` is a stand-in that answers
`buildx imagetools inspect --format '{{json .Manifest}}'` with an index shaped
like buildx prints it (util/imagetools/printers.go: schemaVersion, mediaType,
digest, size, manifests; provenance attestations as unknown/unknown), and
records `imagetools create` calls, refusing to overwrite a tag that exists as
ECR does for a repository with immutable tags. What is under test is the
workflow's own logic: the architecture check, the outputs, the tag handling.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo-service"
INDEX_DIGEST = "sha256:" + "a" * 64

DOCKER_STAND_IN = r'''#!PYTHON
import json, os, sys
args = sys.argv[1:]
log = os.environ["DOCKER_LOG"]
with open(log, "a") as f:
    f.write(json.dumps(args) + "\n")
if args[:3] == ["buildx", "imagetools", "inspect"]:
    if "--format" in args:
        print(open(os.environ["INDEX_JSON"]).read())
    else:
        print("Name: " + args[3])
    sys.exit(0)
if args[:3] == ["buildx", "imagetools", "create"]:
    tag = args[args.index("--tag") + 1]
    if tag.rsplit(":", 1)[1] in os.environ.get("EXISTING_TAGS", "").split():
        print(f"ERROR: tag invalid: The image tag '{tag.rsplit(':', 1)[1]}' already exists in the "
              "'demo-service' repository and cannot be overwritten because the repository is immutable.",
              file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
sys.exit(f"unexpected docker call: {args}")
'''


def _index(platforms: list[str]) -> dict:
    manifests = []
    for n, platform in enumerate(platforms):
        os_, arch = platform.split("/")
        digest = f"sha256:{n + 1:064x}"
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                          "size": 1234, "platform": {"architecture": arch, "os": os_}})
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": f"sha256:{n + 101:064x}", "size": 566,
                          "annotations": {"vnd.docker.reference.digest": digest,
                                          "vnd.docker.reference.type": "attestation-manifest"},
                          "platform": {"architecture": "unknown", "os": "unknown"}})
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": INDEX_DIGEST, "size": 1609, "manifests": manifests}


@pytest.fixture
def runner(tmp_path):
    """Run one merge-job step like the runner does; returns (code, output, outputs, summary, docker calls)."""
    assert shutil.which("jq"), "jq is on every GitHub-hosted Ubuntu runner; install it here (apt-get install jq)"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(DOCKER_STAND_IN.replace("PYTHON", sys.executable))
    docker.chmod(0o755)

    def run(script: str, *, platforms: list[str], ref: str, existing_tags: str = "", **env) -> tuple:
        (tmp_path / "index.json").write_text(json.dumps(_index(platforms)))
        for name in ("out", "summary", "docker.log"):
            (tmp_path / name).write_text("")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            capture_output=True, text=True, cwd=tmp_path,
            env={"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "IMAGE": IMAGE, "GITHUB_REF": ref,
                 "GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
                 "INDEX_JSON": str(tmp_path / "index.json"), "DOCKER_LOG": str(tmp_path / "docker.log"),
                 "EXISTING_TAGS": existing_tags, **env})
        outputs = dict(line.split("=", 1) for line in (tmp_path / "out").read_text().splitlines())
        calls = [json.loads(line) for line in (tmp_path / "docker.log").read_text().splitlines()]
        return proc.returncode, proc.stdout + proc.stderr, outputs, (tmp_path / "summary").read_text(), calls

    return run


def _merge_step(service, name: str) -> str:
    [step] = [s for s in service.workflow("ci.yml")["jobs"]["merge"]["steps"] if s.get("name") == name]
    return step["run"]


def test_a_complete_release_exposes_its_index_digest(services, runner):
    script = _merge_step(services["github-hosted-amd64+arm64"], "Inspect the manifest list")
    code, output, outputs, summary, _ = runner(
        script, platforms=["linux/amd64", "linux/arm64"], ref="refs/tags/v1.2.0", VERSION="1.2.0")
    assert code == 0, output
    assert outputs == {"digest": INDEX_DIGEST, "release": "true"}
    assert f"| index digest | `{INDEX_DIGEST}` |" in summary
    assert "| platforms | linux/amd64 linux/arm64 |" in summary


@pytest.mark.parametrize("ref, release", [
    ("refs/heads/main", "false"),
    ("refs/tags/v1.2.0-rc.1", "false"),
    ("refs/tags/v1.2", "false"),
    ("refs/tags/v10.20.30", "true"),
])
def test_only_x_y_z_tags_are_releases_that_deploy(services, runner, ref, release):
    script = _merge_step(services["github-hosted-amd64"], "Inspect the manifest list")
    code, output, outputs, _, _ = runner(script, platforms=["linux/amd64"], ref=ref, VERSION="sha-0123abc")
    assert code == 0, output
    assert outputs["release"] == release


def test_a_manifest_missing_a_selected_architecture_fails_the_job(services, runner):
    script = _merge_step(services["self-hosted-amd64+arm64"], "Inspect the manifest list")
    code, output, outputs, _, _ = runner(
        script, platforms=["linux/amd64"], ref="refs/tags/v1.2.0", VERSION="1.2.0")
    assert code == 1
    assert (f"::error title=missing architecture::{IMAGE}:1.2.0 has no linux/arm64 image "
            "(found: linux/amd64)") in output
    assert "digest" not in outputs and "release" not in outputs


def test_the_manifest_list_is_created_with_only_the_release_tag(services, runner, tmp_path):
    (tmp_path / "digests").mkdir()
    for arch_digest in ("1" * 64, "2" * 64):
        (tmp_path / "digests" / arch_digest).touch()
    script = "cd digests\n" + _merge_step(services["github-hosted-amd64+arm64"], "Create the manifest list")
    code, output, _, _, calls = runner(script, platforms=[], ref="refs/tags/v1.2.0", VERSION="1.2.0")
    assert code == 0, output
    assert calls == [["buildx", "imagetools", "create", "--tag", f"{IMAGE}:1.2.0",
                      f"{IMAGE}@sha256:{'1' * 64}", f"{IMAGE}@sha256:{'2' * 64}"]]


def test_moving_tags_that_cannot_move_warn_without_failing_the_release(services, runner):
    script = _merge_step(services["github-hosted-amd64+arm64"], "Move the X.Y and X tags")
    tags = f"{IMAGE}:1.2.1\n{IMAGE}:1.2\n{IMAGE}:1\n"
    code, output, _, summary, calls = runner(
        script, platforms=[], ref="refs/tags/v1.2.1", existing_tags="1.2",
        VERSION="1.2.1", TAGS=tags, DIGEST=INDEX_DIGEST)
    assert code == 0, output
    assert [c[4] for c in calls] == [f"{IMAGE}:1.2", f"{IMAGE}:1"]  # never the release tag itself
    assert all(c[5] == f"{IMAGE}@{INDEX_DIGEST}" for c in calls)
    assert "::warning title=tag not moved::1.2 was not moved to 1.2.1" in output
    assert summary == "moved `1` to 1.2.1\n"
