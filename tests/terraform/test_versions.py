"""docs/terraform.md's table of features and the minimum Terraform/provider
version each needs, checked against every versions.tf whose files use them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hcl_eval import Evaluator, parse_file
from tfhelpers import MODULES_DIR, REPO_ROOT

DOC = REPO_ROOT / "docs" / "terraform.md"
INFRA = REPO_ROOT / "template" / "infra"

# How to find each documented feature in HCL source (the table's first column, verbatim).
DETECTORS = {
    "`nullable` on variables": r"^\s*nullable\s*=",
    "`moved` blocks (also into a child module)": r"^moved\s*\{",
    "`precondition` blocks": r"^\s*precondition\s*\{",
    "`optional(type, default)` object attributes": r"\boptional\(",
    "`startswith()`": r"\bstartswith\(",
    "S3 backend `use_lockfile` (state lock without DynamoDB)": r"^\s*use_lockfile\s*=",
    "`data.aws_region.*.region` (the attribute replacing `name`)": r"\bdata\.aws_region\.\w+\.region\b",
    "`aws_ecs_service.deployment_configuration` (strategy `BLUE_GREEN`) and `load_balancer.advanced_configuration`":
        r"^\s*deployment_configuration\s*\{|advanced_configuration",
    "data source `aws_ecr_images`": r'data\s+"aws_ecr_images"',
    "`azurerm_kubernetes_cluster_node_pool.host_encryption_enabled` / `auto_scaling_enabled` (4.x names)":
        r"^\s*(host_encryption_enabled|auto_scaling_enabled)\s*=",
    "helm provider `kubernetes = { ... }` attribute and `set` lists": r'^provider\s+"helm"[\s\S]*?^\s*kubernetes\s*=\s*\{',
}


def feature_table() -> dict[str, tuple[str, tuple[int, int]]]:
    text = DOC.read_text()
    block = text.split("<!-- BEGIN_FEATURE_VERSIONS -->")[1].split("<!-- END_FEATURE_VERSIONS -->")[0]
    rows = {}
    for line in block.strip().splitlines()[2:]:
        feature, needs, _ = [c.strip() for c in line.strip().strip("|").split("|")]
        product, version = needs.split(" ")
        major, minor = (int(x) for x in version.split("."))
        rows[feature] = ("terraform" if product == "Terraform" else product, (major, minor))
    return rows


def configurations() -> list[Path]:
    """Every directory with its own versions.tf: modules, examples, the generated root."""
    return sorted({p.parent for p in MODULES_DIR.rglob("versions.tf")} | {INFRA})


def lower_bounds(directory: Path) -> dict[str, tuple[int, int]]:
    (terraform,) = [b for k, _, b in parse_file(directory / "versions.tf").blocks if k == "terraform"]
    ev = Evaluator({})

    def floor(constraint: str) -> tuple[int, int]:
        m = re.search(r"(?:>=|~>)\s*(\d+)\.(\d+)", constraint)
        assert m, f"{directory}: constraint {constraint!r} has no lower bound"
        return int(m.group(1)), int(m.group(2))

    bounds = {"terraform": floor(ev.eval(terraform.attrs["required_version"]))}
    providers = terraform.block("required_providers")
    for name, expr in (providers.attrs if providers else {}).items():
        bounds[name] = floor(ev.eval(expr)["version"])
    return bounds


def sources(directory: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(directory.iterdir())
                     if p.is_file() and (p.suffix == ".tf" or p.name.endswith(".tf.jinja")))


def test_every_documented_feature_has_a_detector_and_is_used():
    table = feature_table()
    assert set(table) == set(DETECTORS), set(table) ^ set(DETECTORS)
    code = "\n".join(sources(d) for d in configurations())
    for feature, pattern in DETECTORS.items():
        assert re.search(pattern, code, re.M), f"the table lists {feature} but no configuration uses it"


@pytest.mark.parametrize("directory", configurations(), ids=lambda d: str(d.relative_to(REPO_ROOT)))
def test_versions_tf_admits_nothing_older_than_the_features_used(directory):
    table = feature_table()
    bounds = lower_bounds(directory)
    code = sources(directory)
    for feature, pattern in DETECTORS.items():
        if not re.search(pattern, code, re.M):
            continue
        product, needed = table[feature]
        assert product in bounds, f"{directory.name}: uses {feature} ({product}) without requiring {product}"
        assert bounds[product] >= needed, f"{directory.name}: {feature} needs {product} {needed}, versions.tf admits {bounds[product]}"


def test_the_check_catches_the_original_defect(tmp_path):
    """infra/ with use_lockfile but required_version >= 1.5.7 (issue 13, item 2) fails."""
    (tmp_path / "versions.tf").write_text(
        'terraform {\n  required_version = ">= 1.5.7"\n  backend "s3" {\n    use_lockfile = true\n  }\n}\n')
    product, needed = feature_table()[next(f for f in DETECTORS if "use_lockfile" in f)]
    assert lower_bounds(tmp_path)[product] < needed


@pytest.mark.parametrize(("required", "passes"), [(">= 1.5.7", False), (">= 1.12", True)])
def test_validations_are_evaluated_as_the_oldest_admitted_terraform(tmp_path, required, passes):
    """`&&` short-circuits only from Terraform 1.12: a module admitting 1.5.7 must not rely on it."""
    from hcl_eval import Module

    (tmp_path / "versions.tf").write_text(f'terraform {{\n  required_version = "{required}"\n}}\n')
    (tmp_path / "variables.tf").write_text(
        'variable "scaling" {\n  type    = object({ min = number })\n  default = null\n\n'
        '  validation {\n    condition     = var.scaling == null || var.scaling.min >= 1\n'
        '    error_message = "scaling.min must be at least 1."\n  }\n}\n')
    errors = Module(tmp_path).validation_errors()
    assert (errors == []) == passes, errors


def test_modules_are_evaluated_as_a_terraform_without_short_circuit():
    """The evaluator takes each module's minimum Terraform from its versions.tf (1.5.7), so the
    validation and example tests (test_ecs_service.py, test_runner_modules.py) run without
    short-circuiting, as that Terraform would."""
    from hcl_eval import Module

    for directory in configurations():
        if directory == INFRA:
            continue
        module = Module(directory)
        assert module.terraform_version == lower_bounds(directory)["terraform"]
        assert module.terraform_version < (1, 12)
