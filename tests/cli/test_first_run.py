"""A new user's first steps: visible
bootstrap progress, one exit-code table for every command, safe defaults in
what `paved new` generates."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from paved_road.cli import COMMANDS, build_parser


def _sh_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_a_cold_bootstrap_shows_progress(repo_root):
    """Every recipe line of the bootstrap, as make would run it on a fresh clone."""
    recipe = subprocess.run(["make", "-n", "-B", ".venv/.installed-test"], cwd=repo_root, capture_output=True,
                            text=True).stdout
    assert "==> bootstrapping .venv" in recipe and "about a minute" in recipe
    pip_lines = [line for line in recipe.splitlines() if "pip install" in line]
    assert pip_lines and all(" -q" not in line for line in pip_lines), pip_lines


def _make_plan(repo_root, target: str) -> list[str]:
    """The pip installs `make TARGET` would run in a fresh clone (no .venv yet)."""
    recipe = subprocess.run(["make", "-n", "-B", target], cwd=repo_root, capture_output=True, text=True,
                            check=True).stdout
    return [line.split("pip install", 1)[1].split()[-1] for line in recipe.splitlines()
            if "pip install" in line and "--upgrade pip" not in line]


def test_make_demo_installs_only_what_the_demo_needs(repo_root):
    """Issue 22: `make demo` and the quick start's `make bootstrap` install paved alone (its runtime
    dependencies); moto joins for the simulator's demos, the test tools only for `make test` and CI."""
    assert _make_plan(repo_root, "demo") == ["."]
    assert _make_plan(repo_root, "bootstrap") == ["."]
    assert _make_plan(repo_root, "demo-rollback") == [".", "'.[sim]'"]
    assert _make_plan(repo_root, "bootstrap-test")[-1] == "'.[test,sim]'"
    ci = (repo_root / ".ci" / "run").read_text()
    assert "make bootstrap-test" in ci and ci.index("make bootstrap-test") < ci.index("paved_road.sim.terraform")


def _exit_table(doc: str) -> str:
    return doc.split("## Exit codes", 1)[1].split("\n## ", 1)[0]


def test_one_exit_code_table_covers_every_command(repo_root):
    table = _exit_table((repo_root / "docs" / "cli.md").read_text())
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {name.strip() for row in rows for name in re.findall(r"`([a-z -]+)`", row.split("|")[1])}
    commands = (set(COMMANDS) - {"fleet"}) | {"fleet update", "fleet conflicts"}
    assert commands <= documented, commands - documented
    assert "130" in table and "PAVED_DEBUG" in table
    catalog_row = next(r for r in rows if r.startswith("| `catalog`"))
    assert "**3** some services behind" in catalog_row  # distinct from 2, bad input


def test_readme_command_table_has_every_command_with_an_example(repo_root):
    """The README's table: one row per command, its example a real invocation of that command."""
    readme = (repo_root / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = {m[0]: m[1] for m in re.findall(r"^\| `([a-z-]+)` \| `([^`]+)` \|$", table, re.M)}
    assert set(rows) == set(COMMANDS)
    for name, example in rows.items():
        assert example.startswith(f"paved {name} ") or example == f"paved {name}", example
        parser = build_parser(example.split()[1:])
        parser.parse_args(example.split()[1:])  # a usage error exits 2 here


def test_the_full_command_table_lists_every_command(repo_root):
    doc = (repo_root / "docs" / "cli.md").read_text()
    commands = doc.split("## Every command", 1)[1]
    assert "`paved fleet conflicts [PATH ...]`" in commands and "`paved update [PATH]`" in commands
    assert "`paved dev [PATH]" in commands


@pytest.mark.parametrize("port", [8080, 3000])
def test_downstream_url_never_defaults_to_the_service_itself(port, tmp_path, node24_env):
    dest = tmp_path / f"svc-{port}"
    subprocess.run(["paved", "new", str(dest), "--demo", "-a", f"http_port={port}"], check=True, capture_output=True)
    code = "const c = require('./src/config').loadConfig({}); console.log(c.port, new URL(c.downstreamUrl).port)"
    out = subprocess.run(["node", "-e", code], cwd=dest, env=node24_env, capture_output=True, text=True, check=True)
    own, downstream = out.stdout.split()
    assert int(own) == port and downstream != own
    readme = (dest / "README.md").read_text()
    assert f"`http://127.0.0.1:{downstream}/`" in readme
