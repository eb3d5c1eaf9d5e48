"""Ctrl-C (SIGINT to the real `paved` process) in the middle of `paved new`,
`paved update` and `paved fleet update`: exit 130, one line, no traceback,
nothing half-written, and the next run works."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from template_releases import commit_and_tag, git, init_template_repo, repo_state as _state


@pytest.fixture(scope="module", autouse=True)
def _canonical(canonical_release_template):
    """Before the module's other fixtures (autouse): they run paved update themselves."""


PAVED = str(Path(sys.executable).with_name("paved"))


def _start(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([PAVED, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            stdin=subprocess.DEVNULL)


def _wait_until(predicate, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"paved ended before the interruption point: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail("the interruption point was never reached")
        time.sleep(0.02)


def _interrupt(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err



@pytest.fixture(scope="module")
def slow_template(tmp_path_factory) -> Path:
    """This template with one extra task that sleeps: copier has written every
    file and is still running, the worst moment for a Ctrl-C."""
    repo = init_template_repo(tmp_path_factory.mktemp("slow") / "paved-road")
    copier_yml = repo / "copier.yml"
    text = copier_yml.read_text()
    assert "_tasks: []" in text
    copier_yml.write_text(text.replace("_tasks: []", '_tasks: ["sleep 30"]'))
    commit_and_tag(repo, "v1.0.1", "a slow task")
    return repo


@pytest.mark.parametrize("dest_exists", [False, True], ids=["new-dir", "empty-dir"])
def test_ctrl_c_in_paved_new_leaves_nothing_behind(slow_template, tmp_path, dest_exists):
    dest = tmp_path / "parent" / "orders"
    if dest_exists:
        dest.mkdir(parents=True)
    proc = _start("new", str(dest), "--template", str(slow_template), "--vcs-ref", "v1.0.1")
    _wait_until(lambda: (dest / ".copier-answers.yml").exists(), proc=proc)
    code, _, err = _interrupt(proc)
    assert code == 130, err
    assert err.strip().splitlines() == [f"paved new: interrupted; nothing was left in '{dest}'"]
    if dest_exists:  # the empty directory the user gave stays, empty
        assert dest.is_dir() and list(dest.iterdir()) == []
    else:  # what paved created (parent/orders) is gone, the rest is untouched
        assert not (tmp_path / "parent").exists() and tmp_path.is_dir()


def test_ctrl_c_in_paved_update_puts_the_checkout_back(service_v1, tmp_path):
    service = tmp_path / "orders"
    shutil.copytree(service_v1, service, symlinks=True)
    before = _state(service)
    proc = _start("update", "--to", "v2.0.0", cwd=service)
    # Wait for copier's first change to the checkout. --no-optional-locks: a
    # plain `git status` takes index.lock and would break the migration's `git mv`.
    _wait_until(lambda: git(service, "--no-optional-locks", "status", "--porcelain") != "", proc=proc)
    code, _, err = _interrupt(proc)
    assert code == 130, err
    assert err.strip().splitlines() == ["paved update: interrupted; . is back as it was (nothing changed)"]
    assert _state(service) == before
    rerun = subprocess.run([PAVED, "update", "--to", "v1.1.0"], cwd=service, capture_output=True, text=True)
    assert rerun.returncode in (0, 3), rerun.stderr


def test_ctrl_c_in_fleet_update_restores_the_service_in_progress_and_a_rerun_finishes(service_v1, tmp_path):
    fleet = tmp_path / "fleet"
    for name in ("a-orders", "b-orders"):
        shutil.copytree(service_v1, fleet / name, symlinks=True)
        answers = fleet / name / ".copier-answers.yml"
        answers.write_text(answers.read_text().replace("service_name: orders", f"service_name: {name}"))
        git(fleet / name, "commit", "-qam", "rename")
    before = {p.name: _state(p) for p in fleet.iterdir()}
    proc = _start("fleet", "update", str(fleet), "--jobs", "1", "--to", "v1.1.0")
    branch_ref = lambda p: (p / ".git/refs/heads/paved/template-v1.1.0").exists()  # noqa: E731
    _wait_until(lambda: any(branch_ref(p) for p in fleet.iterdir()), proc=proc)
    time.sleep(0.5)  # copier update is running in that checkout now
    code, out, err = _interrupt(proc)
    assert code == 130, out + err
    assert "Traceback" not in err
    assert [l for l in err.splitlines() if l.strip()] == [
        "paved fleet update: interrupted; services being updated were put back as they were (branch, HEAD, "
        "clean tree); finished ones keep their branches; run it again to continue"]
    for repo in fleet.iterdir():
        state = _state(repo)
        if branch_ref(repo):  # finished before the Ctrl-C: a complete branch, checkout untouched
            assert state["branches"] == sorted(before[repo.name]["branches"] + ["paved/template-v1.1.0"])
            assert {k: v for k, v in state.items() if k != "branches"} == \
                {k: v for k, v in before[repo.name].items() if k != "branches"}
        else:
            assert state == before[repo.name]
    rerun = subprocess.run([PAVED, "fleet", "update", str(fleet), "--to", "v1.1.0"], capture_output=True, text=True,
                           env={**os.environ})
    assert rerun.returncode in (0, 3), rerun.stdout + rerun.stderr
    assert all(branch_ref(p) for p in fleet.iterdir())
    assert "Since the last run:" in rerun.stdout.splitlines()[-1]
