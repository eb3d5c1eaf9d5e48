"""cookiecutter/ is produced from the copier template, and both tools render the same service."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _builder():
    spec = importlib.util.spec_from_file_location("cookiecutter_build", REPO_ROOT / "cookiecutter" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path) -> dict[str, tuple[bytes, bool]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), bool(p.stat().st_mode & 0o111))
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_cookiecutter_template_is_generated_from_the_copier_template():
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "cookiecutter" / "build.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def both_templates(fleet_template, tmp_path_factory):
    """v1.0.0 of the template with cookiecutter/ built from it, tagged again.

    Built here rather than taken from the committed cookiecutter/, so these
    tests check the generator even while cookiecutter/ is stale (the test
    above says so on its own)."""
    from template_releases import commit_and_tag, git

    repo = tmp_path_factory.mktemp("both") / "paved-road"
    repo.mkdir()
    archive = subprocess.run(["git", "archive", "v1.0.0"], cwd=fleet_template, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
    _builder().build(repo, repo / "cookiecutter")
    git(repo, "init", "-q", "-b", "main")
    commit_and_tag(repo, "v1.0.0", "v1.0.0 with cookiecutter/")
    return repo


ANSWERS = {
    "self-hosted": {
        "service_name": "orders", "description": "Takes orders.", "owner": "team-orders", "system": "shop",
        "node_major": 22, "http_port": 8080, "architectures": ["arm64"], "runner_mode": "self-hosted",
        "runner_scale_set_prefix": "ci-runners", "aws_region": "eu-central-1", "aws_account_id": "210987654321",
        "trace_sample_ratio": 0.25,
    },
    "defaults": {"service_name": "billing"},
}


@pytest.mark.parametrize("case", sorted(ANSWERS))
def test_copier_and_cookiecutter_render_identical_trees(both_templates, tmp_path, case):
    import copier
    from cookiecutter.main import cookiecutter

    answers = ANSWERS[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(both_templates), str(tmp_path / "copier"), data=answers, vcs_ref="v1.0.0",
                        defaults=True, unsafe=True, quiet=True)
    context = {k: ",".join(v) if isinstance(v, list) else v for k, v in answers.items()}
    out = cookiecutter(
        "git+" + both_templates.as_uri(), checkout="v1.0.0", directory="cookiecutter", no_input=True,
        extra_context=context, output_dir=str(tmp_path / "cc"),
        default_config={"cookiecutters_dir": str(tmp_path / "cc-cache"), "replay_dir": str(tmp_path / "cc-replay")},
    )
    copier_tree = _tree(tmp_path / "copier")
    assert copier_tree.pop(".copier-answers.yml")  # each tool's own record of the answers
    # Copier pins the paved CLI to the template's full commit SHA; cookiecutter
    # only knows the checkout it was given (here the tag of that commit).
    sha = subprocess.run(["git", "rev-parse", "v1.0.0^{commit}"], cwd=both_templates, capture_output=True,
                         text=True, check=True).stdout.strip().encode()
    copier_tree = {rel: (body.replace(b"@" + sha, b"@v1.0.0").replace(b"(`" + sha + b"`)", b"(`v1.0.0`)"), mode)
                   for rel, (body, mode) in copier_tree.items()}
    cc_tree = _tree(Path(out))
    assert sorted(cc_tree) == sorted(copier_tree)
    different = [rel for rel in copier_tree if copier_tree[rel] != cc_tree[rel]]
    assert different == []
    assert Path(out).name == answers["service_name"]


def test_cookiecutter_rejects_what_copier_rejects(both_templates, tmp_path):
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.main import cookiecutter

    with pytest.raises(FailedHookException):
        cookiecutter(
            "git+" + both_templates.as_uri(), checkout="v1.0.0", directory="cookiecutter", no_input=True,
            extra_context={"aws_account_id": "12345"}, output_dir=str(tmp_path / "cc"),
            default_config={"cookiecutters_dir": str(tmp_path / "cache"), "replay_dir": str(tmp_path / "replay")},
        )
    assert not (tmp_path / "cc" / "demo-service").exists()
