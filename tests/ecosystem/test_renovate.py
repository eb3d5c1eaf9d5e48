"""Renovate carries template releases to a service, end to end, with the real CLI.

The service was generated from the template's URL (served on 127.0.0.1) at
v1.0.0; the template has v1.1.0 and v2.0.0 (an answer rename and a file move,
carried by a migration). Renovate 44 runs on the pinned Node 24 with the
service's own .github/renovate.json and the one admin setting docs/upgrades.md
gives (allowScripts: true).
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from conftest import NEWER_NODE_DIGEST, NEWER_NODE_TAG, package_files

pytestmark = pytest.mark.slow


def _branches(renovate_lookup, renovate_branch) -> dict[str, list[tuple[str, str, str]]]:
    """{branch Renovate would open: [(manager, package file, "dependency -> new value")]}.

    Renovate's own branchify on the CLI's lookup results; the count must match the CLI's log.
    """
    _, lookup_log = renovate_lookup
    result, _, _ = renovate_branch
    branches = {b["branchName"]: sorted((u["manager"], u["packageFile"], f"{u['depName']} -> {u['newValue']}")
                                        for u in b["upgrades"]) for b in result["branches"]}
    [returned] = [r["msg"] for r in lookup_log if re.fullmatch(r"Returning \d+ branch\(es\)", r.get("msg", ""))]
    assert returned == f"Returning {len(branches)} branch(es)", (returned, sorted(branches))
    return branches


def _resolved(result: dict, manager: str, package_file: str | None = None) -> list[dict]:
    return [r for r in result["resolved"]
            if r["manager"] == manager and (package_file is None or r["packageFile"] == package_file)]


def test_renovate_proposes_exactly_one_template_update(renovate_lookup, renovate_branch, template_url):
    """One pull request for the template, straight to the newest release (not one per major)."""
    report, _ = renovate_lookup
    [(answers_file, [template])] = package_files(report, "copier").items()
    assert answers_file == ".copier-answers.yml"
    assert (template["depName"], template["currentValue"]) == (template_url, "v1.0.0")
    copier_branches = {name: ups for name, ups in _branches(renovate_lookup, renovate_branch).items()
                       if any(m == "copier" for m, _, _ in ups)}
    assert copier_branches == {
        "renovate/paved-road-template": [("copier", ".copier-answers.yml", f"{template_url} -> v2.0.0")]
    }


def test_template_module_refs_are_not_a_second_pull_request(renovate_lookup, renovate_branch):
    """Renovate finds the template's two modules (served on 127.0.0.1, so their lookup would succeed)
    and leaves their ?ref= to the copier update, which moves it with _commit."""
    report, _ = renovate_lookup
    modules = [d for d in package_files(report, "terraform")["infra/main.tf"] if d.get("depType") == "module"]
    assert len(modules) == 2 and all(d["currentValue"] == "v1.0.0" for d in modules)
    proposed = {name: ups for name, ups in _branches(renovate_lookup, renovate_branch).items()
                if any(m == "terraform" for m, _, _ in ups)}
    assert proposed == {}
    assert all(d.get("skipReason") == "disabled" for d in modules), modules


def test_renovates_copier_update_applies_cleanly(renovate_branch, renovate_lookup):
    """Renovate's own copier invocation: --trust (allowScripts + the repository's ignoreScripts: false),
    the migration runs, answers and the module refs move to v2.0.0, no conflicts."""
    result, log, clone = renovate_branch
    commands = [r["command"] for r in log if r.get("msg") == "Executing command"]
    assert commands == [
        "copier update --skip-answered --defaults --trust --answers-file .copier-answers.yml --vcs-ref v2.0.0"]
    errors = [r["artifactError"] for r in result["copier"] or [] if r.get("artifactError")]
    assert not errors, errors
    notices = [r["notice"] for r in result["copier"] if r.get("notice")]
    assert not notices, f"merge conflicts in {notices}"
    changed = {r["file"]["path"]: r["file"] for r in result["copier"]}
    # What Renovate would commit: the files copier changed, read back by Renovate (a Node Buffer).
    answers = yaml.safe_load(bytes(changed[".copier-answers.yml"]["contents"]["data"]).decode())
    assert answers["_commit"] == "v2.0.0"
    assert answers["container_port"] == 8080 and "http_port" not in answers  # the v2.0.0 migration ran
    main_tf = (clone / "infra" / "main.tf").read_text()
    assert re.findall(r"\?ref=(\S+?)\"", main_tf) == ["v2.0.0", "v2.0.0"]
    assert (clone / "otel" / "collector-local.yaml").is_file()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
    assert not re.search(r"^(UU|AA|DD) ", status, re.M), status


def test_renovate_bumps_and_pins_the_node_base_image(renovate_lookup, renovate_branch):
    """The dockerfile manager extracts both FROM lines literally and its autoReplace moves them (tag and
    digest); .nvmrc goes in the same 'Node.js' group."""
    report, _ = renovate_lookup
    result, _, _ = renovate_branch
    nodes = [d for d in package_files(report, "dockerfile")["Dockerfile"] if d["depName"] == "node"]
    assert [d["replaceString"] for d in nodes] == ["node:24.21.0-bookworm-slim"] * 2
    assert "dockerfile" in result, "the lookup proposed no Node base-image update to apply"
    assert "error" not in result["dockerfile"], result["dockerfile"]
    bumped = [l for l in result["dockerfile"]["content"].splitlines() if l.startswith("FROM node")]
    assert bumped[0] == f"FROM node:{NEWER_NODE_TAG}@{NEWER_NODE_DIGEST} AS deps"
    docker = _resolved(result, "dockerfile", "Dockerfile")
    nvm = _resolved(result, "nvm", ".nvmrc")
    node_docker = [r for r in docker if r["depName"] == "node"]
    assert node_docker and all(r["groupName"] == "Node.js" and r["pinDigests"] for r in node_docker), node_docker
    assert [r["groupName"] for r in nvm] == ["Node.js"]
    engines = [r for r in _resolved(result, "npm", "package.json") if r["depType"] == "engines"]
    assert engines and all(r["rangeStrategy"] != "pin" for r in engines)


def test_one_node_pull_request_moves_nvmrc_and_both_from_lines(renovate_lookup, renovate_branch):
    """Single-sourced Node: the real lookup (release index and image registry on 127.0.0.1) proposes
    one "Node.js" branch with .nvmrc and both FROM lines at the new patch, digest-pinned."""
    report, _ = renovate_lookup
    node_branches = {name: ups for name, ups in _branches(renovate_lookup, renovate_branch).items()
                     if any(dep.startswith("node ->") for _, _, dep in ups)}
    assert set(node_branches) == {"renovate/node.js"}, node_branches
    assert node_branches["renovate/node.js"] == sorted(
        [("dockerfile", "Dockerfile", f"node -> {NEWER_NODE_TAG}")] * 2 + [("nvm", ".nvmrc", "node -> 24.21.1")])
    for dep in (d for d in package_files(report, "dockerfile")["Dockerfile"] if d["depName"] == "node"):
        [bump] = [u for u in dep["updates"] if u["newValue"] == NEWER_NODE_TAG]
        assert bump["newDigest"] == NEWER_NODE_DIGEST and bump["branchName"] == "renovate/node.js"
    # The new LTS major the registries offer is the template's decision (node_major), not a Renovate branch.
    offered = {u["newValue"] for m in ("nvm", "dockerfile") for pf in report["packageFiles"][m]
               for d in pf["deps"] if d["depName"] == "node" for u in d.get("updates", [])}
    assert {"26.1.0", "26.1.0-bookworm-slim"} <= offered  # the lookup saw it ...
    proposed = [dep for ups in _branches(renovate_lookup, renovate_branch).values() for _, _, dep in ups]
    assert not [dep for dep in proposed if dep.startswith("node -> ") and "26." in dep], proposed  # ... and left it


def test_renovate_manages_the_compose_images(renovate_lookup, renovate_branch, url_service, repo_root):
    """Every image in docker-compose.yml is a Renovate dependency, pinned by digest; the local
    collector, which is the ECS sidecar's image, moves only with the template."""
    report, _ = renovate_lookup
    result, _, _ = renovate_branch
    compose = package_files(report, "docker-compose").get("docker-compose.yml", [])
    images = yaml.safe_load((url_service / "docker-compose.yml").read_text())["services"]
    expected = {s["image"] for s in images.values() if "image" in s}
    assert {d["replaceString"] for d in compose} == expected and expected
    sidecar = re.search(r'"(\S+/aws-otel-collector:\S+)"',
                        (repo_root / "terraform-modules/ecs-service/main.tf").read_text())[1]
    assert images["otel-collector"]["image"] == sidecar
    resolved = {r["depName"]: r for r in _resolved(result, "docker-compose", "docker-compose.yml")}
    assert resolved.pop(sidecar.split(":")[0])["enabled"] is False
    assert resolved and all(r["pinDigests"] and r["enabled"] is not False for r in resolved.values()), resolved


def test_template_update_settings_resolve_for_copier_only(renovate_branch):
    """Scripts are allowed for the copier update only: npm lock-file updates keep ignoring them."""
    result, _, _ = renovate_branch
    [copier] = _resolved(result, "copier")
    assert copier["ignoreScripts"] is False and copier["separateMajorMinor"] is False
    assert copier["groupName"] == "Paved Road template"
    npm = _resolved(result, "npm", "package.json")
    assert npm and all(r["ignoreScripts"] is True for r in npm)


def test_the_generated_config_passes_renovates_own_validator(url_service, renovate_root, renovate_env):
    """`renovate-config-validator --strict` in the service: it finds .github/renovate.json as a repository
    config and rejects unknown options or options in the wrong place."""
    proc = subprocess.run(["node", str(renovate_root / "dist" / "config-validator.js"), "--strict"],
                          cwd=url_service, env={**renovate_env, "LOG_FORMAT": "pretty", "LOG_LEVEL": "info"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Validating .github/renovate.json" in proc.stdout + proc.stderr
