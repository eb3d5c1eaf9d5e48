"""The walkthrough of docs/fleet.md, run as written: the lines of its `<!-- walkthrough -->` block, from the
repository root, in bash with -e and pipefail. Its last word is the report of both paths being the same."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    doc = (ROOT / "docs" / "fleet.md").read_text()
    match = re.search(r"<!-- walkthrough -->\n```sh\n(.*?)```", doc, re.S)
    assert match, "docs/fleet.md lost its walkthrough block"
    return match.group(1)


def test_the_walkthrough_block_is_there_and_names_both_paths():
    script = walkthrough()
    assert "paved catalog acme" in script and "paved catalog --github-org acme" in script
    assert 'diff local.txt org.txt && echo "the same report"' in script
    # the fixture's token goes to the one command, never into the reader's shell (their own GHE token)
    assert not re.search(r"^\s*export\s+GH_(ENTERPRISE_)?TOKEN", script, re.M)
    assert "GH_ENTERPRISE_TOKEN=walkthrough-token \\\n  paved catalog --github-org" in script


def test_the_wait_for_the_server_ends_when_the_server_does(tmp_path):
    """The walkthrough's wait for api.url, as written, after the fixture server failed to start (no schema from
    npm, a mistyped directory): it must end, not spin forever in the reader's shell."""
    (wait,) = [line for line in walkthrough().splitlines() if line.startswith("until ")]
    script = f"python3 -c 'raise SystemExit(2)' &\nserver=$!\n{wait}\necho waited"
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert "waited" in proc.stdout and not (tmp_path / "api.url").exists()


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "activate").is_file(), reason="needs `make bootstrap` (.venv)")
def test_the_walkthrough_runs_as_written_and_both_reports_are_the_same(tmp_path, node24_env):
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN",
                                                          "GITHUB_ENTERPRISE_TOKEN", "VIRTUAL_ENV")}
    env["TMPDIR"] = str(tmp_path)  # mktemp -d lands under the test's own directory
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", walkthrough()], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "the same report" in proc.stdout.splitlines(), proc.stdout  # diff found none
    lines = proc.stdout.split("the same report\n", 1)[1].splitlines()  # then `cat org.txt`
    assert lines[0].split()[:3] == ["Service", "Owner", "System"], proc.stdout
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert set(rows) == {"orders", "search"}, proc.stdout
    assert "acme/orders" in rows["orders"] and "acme/search" in rows["search"]
    assert lines[-1].startswith("2 services:"), proc.stdout
