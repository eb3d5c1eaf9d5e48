"""checkov over every module (with its examples) and over a generated
service's infra/: zero failed checks; every skip is inline with a reason."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tfhelpers import CHECKOV, MODULES_DIR, TEMPLATE_TAG, load_hcl, module_dirs

MODULES = [m.name for m in module_dirs()]


def run_checkov(directory, *extra: str) -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed: run `make .tools/checkov/.installed-stamp` ({CHECKOV})")
    result = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", "terraform", "--skip-download",
         "--compact", "-o", "json", *extra],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    merged = {"passed": [], "failed": [], "skipped": []}
    for r in reports:
        results = r.get("results", {})
        merged["passed"] += results.get("passed_checks", [])
        merged["failed"] += results.get("failed_checks", [])
        merged["skipped"] += results.get("skipped_checks", [])
    return merged


def _describe(failed) -> str:
    return "\n".join(f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in failed)


# checkov has no Terraform policy for helm_release or github_actions_runner_group:
# a module made only of those is scanned (and must not fail) but yields no passed check.
HELM_ONLY = {"arc-runner-scale-sets"}


@pytest.mark.parametrize("module", MODULES)
def test_module_has_no_failed_checks(module):
    report = run_checkov(MODULES_DIR / module)
    if module in HELM_ONLY:
        resources = {t for path in (MODULES_DIR / module).glob("*.tf")
                     for block in load_hcl(path).get("resource", []) for t in block}
        assert resources == {"helm_release", "github_actions_runner_group"}, f"{module} is no longer Helm-only: {resources}"
    else:
        assert report["passed"], "checkov evaluated nothing"
    assert not report["failed"], _describe(report["failed"])


def test_generated_infra_has_no_failed_checks(generated_service):
    report = run_checkov(generated_service / "infra")
    assert {c["check_id"] for c in report["passed"]} >= {"CKV_TF_2"}, "module sources were not checked"
    assert not report["failed"], _describe(report["failed"])


def test_generated_infra_with_its_modules_has_no_failed_checks(generated_service, tagged_template, tmp_path):
    # checkov cannot fetch git:: sources offline: point them at the tagged
    # clone's modules so the modules are checked as the service calls them.
    infra = tmp_path / "infra"
    shutil.copytree(generated_service / "infra", infra)
    main = infra / "main.tf"
    text, count = re.subn(
        r'"git::[^"]+//terraform-modules/([a-z0-9-]+)\?ref=' + re.escape(TEMPLATE_TAG) + '"',
        lambda m: f'"{tagged_template / "terraform-modules" / m.group(1)}"',
        main.read_text(),
    )
    assert count == 2
    main.write_text(text)
    # CKV_TF_2 (tagged module source) was checked on the real sources above.
    report = run_checkov(infra, "--skip-check", "CKV_TF_2")
    assert any("module.service" in c["resource"] for c in report["passed"]), "the module was not scanned"
    assert not report["failed"], _describe(report["failed"])


def test_every_skip_is_inline_with_a_reason():
    skips = [
        (path, line.strip())
        for path in [*MODULES_DIR.rglob("*.tf"), *(MODULES_DIR.parent / "template" / "infra").rglob("*.tf*")]
        for line in path.read_text().splitlines()
        if "checkov:skip" in line
    ]
    assert skips
    for path, line in skips:
        assert re.search(r"checkov:skip=CKV2?_[A-Z]+_\d+:\S.{10,}", line), f"{path}: {line}"
