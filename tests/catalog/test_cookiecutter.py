"""cookiecutter/ is produced from the copier template, and both tools render the same service."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
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
    """v1.0.0 and v1.1.0 of the template, each with cookiecutter/ built from it and tagged again.

    Built here rather than taken from the committed cookiecutter/, so these
    tests check the generator even while cookiecutter/ is stale (the test
    above says so on its own)."""
    from template_releases import commit_and_tag, git

    repo = tmp_path_factory.mktemp("both") / "paved-road"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for tag in ("v1.0.0", "v1.1.0"):
        for child in repo.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        archive = subprocess.run(["git", "archive", tag], cwd=fleet_template, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive, check=True)
        _builder().build(repo, repo / "cookiecutter")
        commit_and_tag(repo, tag, f"{tag} with cookiecutter/")
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
    # What a command line gives: strings (node_major=22), lists as comma-separated values.
    context = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in answers.items()}
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


# ---------------------------------------------------------------------------
# The real command lines: cookiecutter and cruft as subprocesses
# ---------------------------------------------------------------------------
BIN = Path(sys.executable).parent


def _isolated(tmp_path: Path) -> dict[str, str]:
    """An environment whose cookiecutter config (clone cache, replay files) lives under tmp_path."""
    config = tmp_path / "cookiecutter-config.yaml"
    config.write_text(f"cookiecutters_dir: {tmp_path / 'cc-cache'}\nreplay_dir: {tmp_path / 'cc-replay'}\n")
    return {**os.environ, "COOKIECUTTER_CONFIG": str(config), "HOME": str(tmp_path)}


def _cli(tmp_path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                          env=_isolated(tmp_path), cwd=cwd, timeout=300)


def _choice_rounds() -> list[dict[str, str]]:
    """Every value of every choice question, spread over as few renders as possible."""
    import yaml

    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    choices = {}
    for name, q in config.items():
        if isinstance(q, dict) and q.get("choices") and not q.get("multiselect"):
            values = q["choices"]
            choices[name] = list(values.values()) if isinstance(values, dict) else list(values)
    assert {"node_major", "runner_mode"} <= set(choices)
    rounds = max(len(v) for v in choices.values())
    return [{name: str(values[i % len(values)]) for name, values in choices.items()} for i in range(rounds)]


@pytest.mark.parametrize("answers", _choice_rounds(), ids=lambda a: "-".join(a.values()))
def test_cookiecutter_cli_takes_every_choice_from_the_command_line(both_templates, tmp_path, answers):
    """`cookiecutter URL --no-input node_major=22` passes the value as a string; every choice must accept it."""
    out = tmp_path / "out"
    proc = _cli(tmp_path, "cookiecutter", "git+" + both_templates.as_uri(), "--checkout", "v1.0.0",
                "--directory", "cookiecutter", "--no-input", "-o", str(out),
                "service_name=orders", "aws_account_id=012345670123", "github_repository=shop/orders", "github_owner_id=5101", "github_repository_id=880042",
                "paved_road_git_url=https://git.example.com/platform/paved-road.git",
                *(f"{k}={v}" for k, v in answers.items()))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "demo values" not in proc.stderr, proc.stderr  # real answers: no warning
    assert 'aws_account_id        = "012345670123"' in (out / "orders/infra/environments/staging.tfvars").read_text()
    service = out / "orders"
    assert (service / ".nvmrc").read_text().startswith(f"{answers['node_major']}.")
    assert f'paved-road.dev/node-major: "{answers["node_major"]}"' in (service / "catalog-info.yaml").read_text()
    assert f"({answers['runner_mode']})" in (service / ".github/workflows/ci.yml").read_text()
    assert (service / ".github/actionlint.yaml").exists() == (answers["runner_mode"] == "self-hosted")


def test_cookiecutter_without_a_release_ref_fails_with_one_clear_line(both_templates, tmp_path):
    """A plain directory (no --checkout) cannot say which release it is: stop, write nothing."""
    checkout = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(both_templates), str(checkout)], check=True)
    out = tmp_path / "out"
    proc = _cli(tmp_path, "cookiecutter", str(checkout), "--directory", "cookiecutter", "--no-input",
                "-o", str(out), "service_name=orders")
    assert proc.returncode != 0
    ours = [line for line in proc.stderr.splitlines() if line.startswith("paved-road:")]
    assert ours == ["paved-road: the template must be rendered at a release tag, which the service records as its "
                    "template version: cookiecutter <template git URL> --directory cookiecutter --checkout vX.Y.Z "
                    "(or cruft create ... --checkout vX.Y.Z)"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "orders").exists()


def test_cruft_create_check_update_across_two_template_tags(both_templates, tmp_path):
    """cruft is the cookiecutter world's `copier update`: create at v1.0.0, see v1.1.0 is newer, update to it."""
    from template_releases import NEW_DOC, git

    url = both_templates.as_uri()
    v1 = git(both_templates, "rev-parse", "v1.0.0^{commit}").strip()
    v11 = git(both_templates, "rev-parse", "v1.1.0^{commit}").strip()

    proc = _cli(tmp_path, "cruft", "create", url, "--directory", "cookiecutter", "--checkout", "v1.0.0",
                "--no-input", "--output-dir", str(tmp_path), "--extra-context",
                json.dumps({"service_name": "orders", "node_major": "22", "runner_mode": "self-hosted"}))
    assert proc.returncode == 0, proc.stderr[-2000:]
    # The defaults' demo values: generated, but said loudly (cookiecutter and cruft have no --demo).
    assert "paved-road: WARNING: aws_account_id, github_repository, github_owner_id, github_repository_id, paved_road_git_url still carry the " \
           "template's demo values: this service cannot deploy" in proc.stderr, proc.stderr
    service = tmp_path / "orders"
    state = json.loads((service / ".cruft.json").read_text())
    assert state["commit"] == v1 and state["context"]["cookiecutter"]["node_major"] == "22"
    # cruft renders at a commit; the service records it where copier records the tag.
    assert f'template-version: "{v1}"' in (service / "catalog-info.yaml").read_text()
    assert not (service / NEW_DOC).exists()
    git(service, "init", "-q", "-b", "main")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "generated with cruft")

    check = _cli(tmp_path, "cruft", "check", "--checkout", "v1.1.0", cwd=service)
    assert check.returncode == 1, check.stdout + check.stderr
    diff = _cli(tmp_path, "cruft", "diff", "--checkout", "v1.1.0", "--exit-code", cwd=service)
    assert diff.returncode == 1 and "Paved Road template v1.1" in diff.stdout, diff.stdout + diff.stderr

    update = _cli(tmp_path, "cruft", "update", "--checkout", "v1.1.0", "--skip-apply-ask", "--allow-untracked-files",
                  cwd=service)
    assert update.returncode == 0, update.stdout + update.stderr
    assert json.loads((service / ".cruft.json").read_text())["commit"] == v11
    assert (service / NEW_DOC).read_text().startswith("# orders on call")
    assert f'template-version: "{v11}"' in (service / "catalog-info.yaml").read_text()
    assert (service / ".nvmrc").read_text().startswith("22.")
    assert not list(service.rglob("*.rej"))
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "cruft update to v1.1.0")
    check = _cli(tmp_path, "cruft", "check", "--checkout", "v1.1.0", cwd=service)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("field", ["service_name", "description"])
def test_an_answer_that_closes_the_hooks_string_runs_no_code(both_templates, tmp_path, field):
    """Issue 27: the hooks rendered answers inside a Python raw string, so an answer with \"\"\" ran code.
    Now they read the answers as data (json.loads of the context): the canary is never written and the
    validators still answer as copier would."""
    canary = tmp_path / "CANARY"
    payload = "\n".join(f'x{quote}\nimport os; os.system("touch {canary}")\nr{quote}' for quote in ('"""', "'''"))
    proc = _cli(tmp_path, "cookiecutter", "--no-input", "--checkout", "v1.0.0", "--directory", "cookiecutter",
                "--output-dir", str(tmp_path / "out"), "git+" + both_templates.as_uri(), f"{field}={payload}")
    assert not canary.exists(), proc.stderr
    assert proc.returncode != 0
    expected = "service_name must be 2-32 characters" if field == "service_name" else \
        "description must be one line of 1-200 characters"
    assert f"paved-road: {expected}" in proc.stderr


def test_a_tampered_cruft_json_runs_no_code_on_cruft_update(both_templates, tmp_path):
    """The review's second route: `.cruft.json` is a file in the service repository, and `cruft update`
    renders the hooks with its context. A description closing the hooks' string ran code there."""
    from template_releases import git

    canary = tmp_path / "CANARY"
    proc = _cli(tmp_path, "cruft", "create", both_templates.as_uri(), "--directory", "cookiecutter",
                "--checkout", "v1.0.0", "--no-input", "--output-dir", str(tmp_path), "--extra-context",
                json.dumps({"service_name": "orders"}))
    assert proc.returncode == 0, proc.stderr[-2000:]
    service = tmp_path / "orders"
    state = json.loads((service / ".cruft.json").read_text())
    state["context"]["cookiecutter"]["system"] = f'x"""\nimport os; os.system("touch {canary}")\nr"""'
    (service / ".cruft.json").write_text(json.dumps(state))
    git(service, "init", "-q", "-b", "main")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "generated, then .cruft.json tampered")
    update = _cli(tmp_path, "cruft", "update", "--checkout", "v1.1.0", "--skip-apply-ask", "--allow-untracked-files",
                  cwd=service)
    assert not canary.exists(), update.stdout + update.stderr
    assert "paved-road: system must be empty or 2-63 lowercase letters" in update.stdout + update.stderr
