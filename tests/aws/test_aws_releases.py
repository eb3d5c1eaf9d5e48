"""`paved releases` against `paved sim`: SemVer releases newest first, with digest, architectures, push time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sim_world import aws_env, make_world

SEED = {"repositories": {"checkout": {"releases": [
    {"version": "0.9.0", "architectures": ["amd64"], "pushed_at": "2026-10-01T09:00:00Z"},
    {"version": "1.0.0", "pushed_at": "-9d"},
    {"version": "1.1.0", "pushed_at": "-5d"},
    {"version": "1.2.0", "tags": ["1.2", "1", "sha-3f1c2ab"], "pushed_at": "-1d"},
]}}}


def test_releases_json_lists_semver_releases_newest_first_with_digests_and_architectures(sim_endpoint):
    world = make_world(sim_endpoint, SEED)
    result = world.paved("releases", "--repository", "checkout", "--format", "json")
    assert result.code == 0, result.err
    releases = json.loads(result.out)
    # the moving 1.2 / 1 tags and sha tags are not releases
    assert [r["version"] for r in releases] == ["1.2.0", "1.1.0", "1.0.0", "0.9.0"]
    by_version = {r["version"]: r for r in releases}
    assert by_version["1.2.0"]["digest"] == world.digest("1.2.0", "checkout")
    assert by_version["1.1.0"]["architectures"] == ["amd64", "arm64"]  # attestation manifests are not platforms
    assert by_version["0.9.0"]["architectures"] == ["amd64"]
    assert by_version["1.2.0"]["tags"] == ["1", "1.2", "1.2.0", "sha-3f1c2ab"]
    # the seed's pushed_at is what ECR reports (paved dora reads it for lead time)
    assert datetime.fromisoformat(by_version["0.9.0"]["pushed_at"]) == datetime(2026, 10, 1, 9, tzinfo=timezone.utc)
    pushed = datetime.fromisoformat(by_version["1.0.0"]["pushed_at"])
    assert abs(datetime.now(timezone.utc) - timedelta(days=9) - pushed) < timedelta(minutes=5)


def test_releases_in_a_pipe_are_plain_rows_with_full_digests(sim_endpoint):
    world = make_world(sim_endpoint, SEED)
    result = world.paved("releases", "--repository", "checkout")
    assert result.code == 0, result.err
    header, *rows = result.out.splitlines()
    assert header.split() == ["version", "digest", "architectures", "pushed", "(UTC)"]   # its zone, as history
    assert [row.split()[0] for row in rows] == ["1.2.0", "1.1.0", "1.0.0", "0.9.0"]
    assert all(len(row.split()[1]) == len("sha256:") + 64 for row in rows)  # never cut
    assert "amd64,arm64" in rows[0] and "arm64" not in rows[3]
    assert not set("│┃━─…") & set(result.out)  # no box drawing in a pipe (docs/cli.md)


def test_push_times_are_utc_whatever_the_machine_s_time_zone(sim_endpoint):
    """0.9.0 was pushed 2026-10-01 09:00 UTC: in Tokyo (UTC+9) it is 18:00 that day, and at UTC-10 the day
    before; `paved releases` shows and writes it as UTC, like `paved history`, on any machine."""
    world = make_world(sim_endpoint, SEED)
    for tz in ("Asia/Tokyo", "Pacific/Honolulu"):
        env = aws_env(world.endpoint, TZ=tz)
        table = world.paved("releases", "--repository", "checkout", env=env)
        assert table.code == 0, table.err
        assert table.out.splitlines()[-1].split()[-2:] == ["2026-10-01", "09:00"], (tz, table.out)
        as_json = world.paved("releases", "--repository", "checkout", "--format", "json", env=env)
        pushed = {r["version"]: r["pushed_at"] for r in json.loads(as_json.out)}
        assert pushed["0.9.0"] == "2026-10-01T09:00:00+00:00", tz


def test_releases_of_a_missing_repository_is_bad_input(world):
    result = world.paved("releases", "--repository", "nope")
    assert result.code == 2
    assert "ECR repository 'nope' not found" in result.err
