"""`paved releases` against moto: SemVer releases newest first, with digest and architectures."""

from __future__ import annotations

import json
import subprocess

from aws_world import REPO, paved_executable, run_paved


def test_releases_json_lists_semver_releases_newest_first_with_digests_and_architectures(world):
    result = subprocess.run([paved_executable(), "releases", "--repository", REPO, "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    releases = json.loads(result.stdout)
    # sha-only builds and the moving 1.2 / 1 tags are not releases.
    assert [r["version"] for r in releases] == ["1.2.0", "1.1.0", "1.0.0", "0.9.0"]
    assert {r["version"]: r["digest"] for r in releases} == {v: world.digests[v] for v in ("1.2.0", "1.1.0", "1.0.0", "0.9.0")}
    by_version = {r["version"]: r for r in releases}
    assert by_version["1.1.0"]["architectures"] == ["amd64", "arm64"]  # attestation manifests are not platforms
    assert by_version["0.9.0"]["architectures"] == ["amd64"]
    assert by_version["1.2.0"]["tags"] == ["1", "1.2", "1.2.0", "sha-3f1c2ab"]


def test_releases_table_shows_one_row_per_release(world):
    result = run_paved("releases", "--repository", REPO)
    assert result.code == 0, result.err
    rows = [line for line in result.out.splitlines() if "sha256:" in line]
    assert [row.split()[1] for row in rows] == ["1.2.0", "1.1.0", "1.0.0", "0.9.0"]
    assert world.digests["1.2.0"] in rows[0] and "amd64,arm64" in rows[0]
    assert "amd64" in rows[3] and "arm64" not in rows[3]
    assert "sha-9d8e7f6" not in result.out


def test_releases_of_a_missing_repository_is_bad_input(world):
    result = run_paved("releases", "--repository", "nope")
    assert result.code == 2
    assert "ECR repository 'nope' not found" in result.err
