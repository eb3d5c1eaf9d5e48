"""Issue 27: the template URL answer is a value in the generated workflows and HCL, never code.

`paved_road_git_url` is rendered into the production deploy job (which holds `id-token: write`) and into
Terraform `source` strings. The validator allows a strict character class (no quote, `$`, backtick,
brace, backslash, space), and the workflows hand the URL to the shell only through `env:` and a quoted
variable. The install step runs here as Actions runs it (`bash -e`), with a stand-in `python` that
records its arguments."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml

HOSTILE = [
    "https://git.example.com/p.git$(touch${IFS}CANARY)",  # accepted by the former `\S+`
    "https://git.example.com/p.git`touch${IFS}CANARY`",
    'https://git.example.com/p.git";touch${IFS}CANARY;"',
    "https://git.example.com/${{github.token}}/p.git",
    "https://git.example.com/p.git'+x",
    "https://git.example.com/p.git\\",
]
SPECIALS = "https://git.example.com/~team/a_b%2Bc+d-e.f/paved-road.git"  # every punctuation the class allows


def _install_step(service: Path, workflow: str, job: str) -> dict:
    doc = yaml.safe_load((service / ".github" / "workflows" / workflow).read_text())
    [step] = [s for s in doc["jobs"][job]["steps"] if "pip install" in s.get("run", "")]
    return step


def _run_step(step: dict, cwd: Path) -> list[str]:
    """The step's script under `bash -e` with its env, `python` recording its argv (one file per call)."""
    bindir = cwd / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    fake = bindir / "python"
    fake.write_text('#!/bin/sh\nn=$(ls "$CALLS" | wc -l)\nprintf "%s\\n" "$@" > "$CALLS/$n"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    calls = cwd / "calls"
    calls.mkdir(exist_ok=True)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "CALLS": str(calls), **(step.get("env") or {})}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, check=True, capture_output=True)
    return [(calls / name).read_text().splitlines()[-1] for name in sorted(os.listdir(calls), key=int)]


@pytest.mark.parametrize("url", HOSTILE)
def test_a_url_with_shell_or_expression_characters_is_refused_and_runs_nothing(copie, tmp_path, url):
    result = copie.copy(extra_answers={"paved_road_git_url": url})
    if result.exit_code == 0:  # the former validator: the production job's install step ran the URL
        step = _install_step(result.project_dir, "deploy.yml", "production")
        try:
            _run_step(step, tmp_path)
        except subprocess.CalledProcessError:
            pass
    assert not (tmp_path / "CANARY").exists(), "the install step ran a command from the URL"
    assert result.exit_code != 0
    assert "paved_road_git_url must be an https, ssh or file git URL" in str(result.exception)


def test_the_url_reaches_the_shell_as_one_quoted_value_and_hcl_as_a_string(copie, tmp_path):
    result = copie.copy(extra_answers={"paved_road_git_url": SPECIALS, "aws_account_id": "210987654321",
                                       "github_repository": "shop/orders"})
    assert result.exit_code == 0, result.exception
    service = result.project_dir
    commit = yaml.safe_load((service / ".copier-answers.yml").read_text())["_commit"]
    for workflow, job in (("deploy.yml", "staging"), ("deploy.yml", "production"), ("rollback.yml", "production")):
        step = _install_step(service, workflow, job)
        assert SPECIALS not in step["run"], "the URL is in the script itself"
        spec = _run_step(step, tmp_path / f"{workflow}-{job}")[-1]
        assert spec.startswith(f"paved-road @ git+{SPECIALS}@") and len(spec.rsplit("@", 1)[1]) == 40
    sources = []
    for tf in sorted((service / "infra").glob("*.tf")):
        doc = hcl2.loads(tf.read_text())
        sources += [body["source"] for block in doc.get("module", []) for body in block.values()]
    assert all(s[0] == s[-1] == '"' for s in sources), sources  # python-hcl2 keeps a string's quotes
    sources = [s[1:-1] for s in sources]
    assert sources and all(s.startswith(f"git::{SPECIALS}//terraform-modules/") and s.endswith(f"?ref={commit}")
                           for s in sources), sources


def test_the_hcl_escape_gives_terraform_back_the_exact_url(tmp_path, repo_root):
    """template_git_url_hcl (copier.yml) is what the module sources render. Whatever the URL, Terraform
    reads back exactly that URL: quotes, backslashes and template sequences are escaped. (The validator
    lets none of them through today; this keeps the HCL right if the class is ever widened.)"""
    import base64

    import jinja2

    expression = yaml.safe_load((repo_root / "copier.yml").read_text())["template_git_url_hcl"]["default"]
    values = [SPECIALS, 'https://x/a"b', "https://x/a\\b\\", "https://x/${var.x}", "https://x/%{if true}y%{endif}",
              "https://x/$${z}", 'https://x/"} evil = "1']
    rendered = [jinja2.Environment().from_string(expression).render(template_git_url=v) for v in values]
    (tmp_path / "main.tf").write_text("locals {\n" + "".join(
        f'  u{i} = "git::{r}//terraform-modules/ecs-service?ref=v1.0.0"\n' for i, r in enumerate(rendered)) + "}\n")
    proc = subprocess.run(["terraform", "console"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          input=f"base64encode(jsonencode([{', '.join(f'local.u{i}' for i in range(len(values)))}]))\n",
                          env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull})
    assert proc.returncode == 0, proc.stderr
    back = json.loads(base64.b64decode(proc.stdout.strip().strip('"')))
    assert back == [f"git::{v}//terraform-modules/ecs-service?ref=v1.0.0" for v in values]
