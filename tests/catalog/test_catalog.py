"""`paved catalog` over a directory of real generated services."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog_fleet import EXPECTED_DRIFT, LATEST, SERVICES
from paved_road.fleet import catalog as cat
from paved_road.cli import main

PAVED = str(Path(sys.executable).with_name("paved"))


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PAVED, "catalog", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def catalog_json(fleet_root):
    proc = _run(str(fleet_root), "--format", "json")
    return proc, json.loads(proc.stdout), None


def test_every_service_is_reported_with_its_drift(catalog_json):
    proc, data, _ = catalog_json
    by_name = {s["name"]: s for s in data["services"] if s["name"]}
    assert {n: by_name[n]["drift"] for n in SERVICES} == EXPECTED_DRIFT
    assert all(by_name[n]["latest_version"] == LATEST for n in SERVICES)
    assert {n: by_name[n]["current_version"] for n in SERVICES} == {n: v for n, (v, _) in SERVICES.items()}
    assert by_name["bravo"]["architectures"] == ["arm64"]
    assert by_name["charlie"]["node_major"] == 22 and by_name["charlie"]["system"] is None
    assert by_name["delta"]["runner_mode"] == "self-hosted" and by_name["delta"]["owner"] == "team-delta"


def test_exit_3_when_any_service_is_behind_and_all_are_readable(fleet_root):
    proc = _run(*(str(fleet_root / rel) for _, rel in SERVICES.values()), "--format", "json")
    assert proc.returncode == cat.EXIT_BEHIND == 3, proc.stderr
    assert json.loads(proc.stdout)["summary"]["behind"] == 3


def test_unreadable_answers_are_reported_per_service_exit_4(catalog_json, fleet_root):
    proc, data, _ = catalog_json
    errors = {s["path"]: s["error"] for s in data["services"] if s["error"]}
    assert list(errors) == [str(fleet_root / "broken")] and "not valid YAML" in errors[str(fleet_root / "broken")]
    assert data["summary"]["errors"] == 1 and data["summary"]["total"] == 5
    assert proc.returncode == cat.EXIT_UNREADABLE == 4
    assert f"{fleet_root / 'broken'}: .copier-answers.yml is not valid YAML" in proc.stderr


def test_a_missing_path_is_bad_input_exit_2_and_no_output(fleet_root, tmp_path):
    missing = tmp_path / "no-such-dir"
    proc = _run(str(fleet_root / "alpha"), str(missing), "--format", "json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"paved catalog: PATH {missing}: no such file or directory; pass a service checkout or a directory holding them"]


def test_an_empty_directory_is_an_empty_fleet(tmp_path):
    proc = _run(str(tmp_path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["summary"]["total"] == 0 and data["summary"]["errors"] == 0 and data["services"] == []
    text = _run(str(tmp_path))
    assert text.returncode == 0 and "0 services: 0 current, 0 behind, 0 unknown, 0 unreadable" in text.stdout


def test_two_services_with_the_same_name_are_flagged(fleet_root, tmp_path):
    import shutil

    shutil.copytree(fleet_root / "alpha", tmp_path / "alpha-copy", symlinks=True)
    proc = _run(str(fleet_root / "alpha"), str(tmp_path / "alpha-copy"), "--format", "json")
    data = json.loads(proc.stdout)
    assert data["summary"]["duplicates"] == ["alpha"]
    assert {s["path"]: s["duplicate_of"] for s in data["services"]} == {
        str(fleet_root / "alpha"): [str(tmp_path / "alpha-copy")],
        str(tmp_path / "alpha-copy"): [str(fleet_root / "alpha")]}
    assert proc.returncode == 4
    assert "service name 'alpha' is used by 2 checkouts" in proc.stderr


def test_latest_release_is_per_template_with_a_template_column(fleet_root, fleet_template, tmp_path):
    """Two templates with different latest releases: each service is compared with its own."""
    import shutil

    from template_releases import git as tgit

    other = tmp_path / "other-template"
    tgit(tmp_path, "clone", "-q", str(fleet_template), str(other))
    tgit(other, "tag", "-d", "v2.1.1")
    tgit(other, "tag", "-d", "v2.1.0")
    svc = tmp_path / "echo"
    shutil.copytree(fleet_root / "charlie", svc, symlinks=True)
    answers = svc / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(str(fleet_template), str(other))
                       .replace("service_name: charlie", "service_name: echo"))
    proc = _run(str(fleet_root / "charlie"), str(svc))  # a pipe: the plain-text table
    lines = proc.stdout.splitlines()
    assert lines[0].split() == list(cat.COLUMNS)
    by_path = {line.split()[-1]: " ".join(line.split()) for line in lines[1:-1]}
    assert f" {other} v2.0.0 v2.0.0 current " in by_path[str(svc)]
    assert f" {fleet_template} v2.0.0 {LATEST} minor " in by_path[str(fleet_root / 'charlie')]
    assert lines[-1].endswith(f"; latest {LATEST} ({fleet_template}), v2.0.0 ({other})")


def test_json_schema_is_stable(catalog_json):
    _, data, _ = catalog_json
    assert data["schema_version"] == cat.SCHEMA_VERSION == 1
    assert set(data) == {"schema_version", "generated_at", "templates", "summary", "services"}
    assert set(data["summary"]) == {"total", "behind", "errors", "placeholders", "drift", "versions", "duplicates"}
    assert list(data["summary"]["drift"]) == ["none", "patch", "minor", "major", "unknown"]
    assert set(data["services"][0]) == {
        "path", "name", "owner", "system", "template", "current_version", "latest_version", "drift",
        "architectures", "runner_mode", "node_major", "placeholders", "error", "behind", "duplicate_of",
    }
    (template,) = data["templates"].values()
    assert template["tags"] == ["v1.0.0", "v1.1.0", "v2.0.0", "v2.1.0", "v2.1.1"]


def test_template_tags_are_read_once_and_never_cloned(fleet_root, monkeypatch):
    calls = []
    real_run = cat._run

    def spy(cmd):
        calls.append(cmd)
        return real_run(cmd)

    monkeypatch.setattr(cat, "_run", spy)
    data = cat.build_catalog([fleet_root])
    assert [c[3:5] for c in calls] == [["ls-remote", "--tags"]]
    assert data["summary"]["behind"] == 3


def test_exit_0_when_everything_is_current(fleet_root, capsys):
    assert main(["catalog", str(fleet_root / "alpha"), "--format", "json"]) == 0


def test_repos_file_lists_paths_and_git_urls(fleet_root, tmp_path):
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [
        str(fleet_root / "alpha"),
        {"url": (fleet_root / "bravo").as_uri()},
        {"url": (tmp_path / "nowhere").as_uri()},
    ]}))
    proc = _run("--repos-file", str(repos), "--format", "json")
    data = json.loads(proc.stdout)
    drift = {s["name"]: s["drift"] for s in data["services"] if s["name"]}
    assert drift == {"alpha": "none", "bravo": "patch"}
    (error,) = [s["error"] for s in data["services"] if s["error"]]
    assert error.startswith("cannot fetch .copier-answers.yml")
    assert proc.returncode == 4


def test_bad_repos_file_is_one_clear_line(tmp_path):
    repos = tmp_path / "repos.yml"
    repos.write_text("repos: {a: 1}\n")
    proc = _run("--repos-file", str(repos))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"paved catalog: --repos-file {repos}: expected a list under 'repos:' of paths, URLs or {{path|url: ...}} entries"
    ]


def test_backstage_format_gives_one_component_per_service(fleet_root):
    proc = _run(str(fleet_root), "--format", "backstage")
    entities = list(yaml.safe_load_all(proc.stdout))
    assert {e["metadata"]["name"] for e in entities} == set(SERVICES)
    for e in entities:
        assert e["apiVersion"] == "backstage.io/v1alpha1" and e["kind"] == "Component"
        name = e["metadata"]["name"]
        assert e["metadata"]["annotations"]["paved-road.dev/template-version"] == SERVICES[name][0]
        assert e["spec"]["owner"] == f"team-{name}"
    assert "system" not in next(e for e in entities if e["metadata"]["name"] == "charlie")["spec"]


def test_table_format_lists_services_and_summary(fleet_root):
    proc = subprocess.run([PAVED, "catalog", str(fleet_root)], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 4
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:-1]}
    for name, (version, rel) in SERVICES.items():
        assert str(fleet_root / rel) in rows[name] and version in rows[name]  # full values, no ellipsis
    assert "…" not in proc.stdout
    # The numbers add up: 1 current + 3 behind + 0 unknown + 1 unreadable = 5 ("none" reads "current").
    assert "5 services: 1 current, 3 behind (1 patch, 1 minor, 1 major), 0 unknown, 1 unreadable" in proc.stdout


def test_generated_catalog_info_carries_the_template_version(fleet_root):
    for name, (version, rel) in SERVICES.items():
        info = yaml.safe_load((fleet_root / rel / "catalog-info.yaml").read_text())
        assert info["metadata"]["annotations"]["paved-road.dev/template-version"] == version
        assert info["metadata"]["annotations"]["github.com/project-slug"]
        assert info["spec"]["owner"] == f"team-{name}"
        assert info["spec"]["lifecycle"] and info["spec"]["type"] == "service"
        assert info["spec"].get("system") == ("shop" if name != "charlie" else None)
        urls = [link["url"] for link in info["metadata"]["links"]]
        assert any("/actions" in u for u in urls), urls  # CI
        assert len(urls) >= 2, urls  # and dashboards


@pytest.mark.parametrize("current,latest,expected", [
    ("v1.2.3", "v1.2.3", "none"), ("v1.2.3", "v1.2.4", "patch"), ("v1.2.3", "v1.3.0", "minor"),
    ("v1.2.3", "v2.0.0", "major"), ("v1.2.3-4-gabc1234", "v1.2.4", "patch"), ("0a1b2c3", "v1.0.0", "unknown"),
    ("v2.0.0", "v1.9.0", "none"),
])
def test_drift_levels(current, latest, expected):
    assert cat.drift(current, latest) == expected
