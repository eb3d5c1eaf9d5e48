"""The real Terraform CLI over the modules and a generated service's infra/:
`terraform fmt -check`, and `terraform init` from the provider mirror plus
`terraform validate` for every root whose providers the mirror holds."""

from __future__ import annotations

import json
import re

import pytest

import tfcli
from tfhelpers import MODULES_DIR, blocks, load_hcl
from test_provider_arguments import DOCUMENTED


def _required_providers(directory) -> set[str]:
    names: set[str] = set()
    for tf in directory.glob("*.tf"):
        for terraform_block in load_hcl(tf).get("terraform", []):
            for providers in terraform_block.get("required_providers", []):
                names.update(providers)
    return names


def _aws_only_roots() -> list[str]:
    roots = [p.parent for p in MODULES_DIR.glob("*/versions.tf")] + [p.parent for p in MODULES_DIR.glob("*/examples/*/versions.tf")]
    return sorted(str(r.relative_to(MODULES_DIR)) for r in roots if _required_providers(r) == {"aws"})


AWS_ONLY_EXAMPLES = [r for r in _aws_only_roots() if "/examples/" in r]


def test_the_aws_roots_are_the_ones_expected():
    # The mirror holds hashicorp/aws only: the helm/azurerm runner modules are
    # fmt-checked but cannot be initialised here.
    assert AWS_ONLY_EXAMPLES == [
        "ecr-repository/examples/basic", "ecs-service/examples/blue-green", "ecs-service/examples/complete",
        "ecs-service/examples/minimal", "github-oidc-roles/examples/basic"]


def test_modules_are_formatted_canonically():
    result = tfcli.run(MODULES_DIR, "fmt", "-check", "-recursive", "-diff", "-no-color", check=False)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


def test_generated_infra_is_formatted_canonically(generated_service):
    result = tfcli.run(generated_service / "infra", "fmt", "-check", "-recursive", "-diff", "-no-color", check=False)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


def test_fmt_check_reports_a_misaligned_file(tmp_path):
    (tmp_path / "main.tf").write_text('locals {\n  a = 1\n  bb   = 2\n}\n', encoding="utf-8")
    result = tfcli.run(tmp_path, "fmt", "-check", "-no-color", check=False)
    assert result.returncode == 3 and "main.tf" in result.stdout


@pytest.fixture(scope="module")
def provider5_modules(tmp_path_factory):
    tfcli.provider_mirror()
    return tfcli.provider5_copy(MODULES_DIR, tmp_path_factory.mktemp("tf") / "terraform-modules")


@pytest.mark.parametrize("example", AWS_ONLY_EXAMPLES)
def test_every_aws_example_inits_from_the_mirror_and_validates(provider5_modules, example):
    # An example calls its module (source ../..), so validate checks both.
    root = provider5_modules / example
    tfcli.init(root)
    result = tfcli.run(root, "validate", "-json", "-no-color", check=False)
    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


def test_validate_catches_a_misspelt_argument(provider5_modules):
    root = provider5_modules / "github-oidc-roles" / "examples" / "basic"
    main = provider5_modules / "github-oidc-roles" / "main.tf"
    text = main.read_text(encoding="utf-8")
    main.write_text(text.replace("assume_role_policy", "assume_role_polcy", 1), encoding="utf-8")
    try:
        tfcli.init(root)
        report = json.loads(tfcli.run(root, "validate", "-json", check=False).stdout)
    finally:
        main.write_text(text, encoding="utf-8")
    assert not report["valid"]
    assert any("assume_role_polcy" in d["summary"] + d.get("detail", "") for d in report["diagnostics"])


# --- Provider 6 arguments: exactly what 5.100.0 lacks, and in provider 6's schema ---------------


def _names_used(body: dict, prefix: str = "") -> set[str]:
    """Argument and block paths a resource body sets (dynamic blocks by their label)."""
    names: set[str] = set()
    for key, value in body.items():
        if key in ("lifecycle", "depends_on", "count", "for_each", "provider", "timeouts"):
            continue
        if key == "dynamic":
            for dynamic in value:
                for label, inner in dynamic.items():
                    names.add(prefix + label)
                    for content in inner.get("content", []):
                        names |= _names_used(content, f"{prefix}{label}.")
            continue
        names.add(prefix + key)
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for inner in value:
                names |= _names_used(inner, f"{prefix}{key}.")
    return names


def _in_schema(path: str, block: dict) -> bool:
    head, _, rest = path.partition(".")
    if head in block.get("attributes", {}):
        return not rest or block["attributes"][head].get("type") is not None
    if head in block.get("block_types", {}):
        return not rest or _in_schema(rest, block["block_types"][head]["block"])
    return False


def _lacking_in_5(directory) -> set[tuple[str, str]]:
    schema = tfcli.aws_schema()
    lacking = set()
    for tf in directory.glob("*.tf"):
        doc = load_hcl(tf)
        for kind, section in (("resource", "resource_schemas"), ("data", "data_source_schemas")):
            for rtype, instances in blocks(doc, kind):
                if rtype not in schema[section]:
                    lacking.add(("data." + rtype if kind == "data" else rtype, "*"))
                    continue
                for _name, body in instances.items():
                    for path in _names_used(body):
                        if not _in_schema(path, schema[section][rtype]["block"]):
                            lacking.add(("data." + rtype if kind == "data" else rtype, path))
    # Attributes read from data sources: data.aws_region.<name>.region.
    for tf in directory.glob("*.tf"):
        for rtype, attr in re.findall(r"data\.(aws_[a-z0-9_]+)\.[a-z0-9_]+\.([a-z_]+)", tf.read_text(encoding="utf-8")):
            if rtype in schema["data_source_schemas"] and attr not in schema["data_source_schemas"][rtype]["block"]["attributes"]:
                lacking.add(("data." + rtype, attr))
    # A missing block's own arguments are not listed separately.
    return {(r, p) for r, p in lacking if "." not in p or (r, p.rsplit(".", 1)[0]) not in lacking}


def test_the_compatibility_list_is_exactly_what_provider_5_lacks(generated_service):
    tfcli.provider_mirror()
    lacking = {(m, r, p) for m in ("ecs-service", "ecr-repository", "github-oidc-roles")
               for r, p in _lacking_in_5(MODULES_DIR / m)}
    lacking |= {("infra", r, p) for r, p in _lacking_in_5(generated_service / "infra")}
    listed = {(m, r, p) for m, r, p, _ in tfcli.PROVIDER6_ONLY}
    assert lacking == listed


# Provider 6 documentation (website/docs/r/ecr_repository.html.markdown,
# website/docs/d/region.html.markdown, website/docs/d/ecr_images.html.markdown);
# aws_ecs_service is in DOCUMENTED.
_PROVIDER6_DOCUMENTED = {
    ("aws_ecr_repository", "image_tag_mutability_exclusion_filter"),
    ("data.aws_region", "region"),
    ("data.aws_ecr_images", "*"),  # website/docs/d/ecr_images.html.markdown
}


@pytest.mark.parametrize("entry", tfcli.PROVIDER6_ONLY, ids=lambda e: f"{e[1]}.{e[2]}")
def test_every_stripped_argument_is_in_provider_6s_schema(entry):
    _module, rtype, path, _ = entry
    if rtype in DOCUMENTED:
        node = DOCUMENTED[rtype]
        for part in path.split("."):
            assert part in node, path
            node = node[part] or {}
    else:
        assert (rtype, path) in _PROVIDER6_DOCUMENTED


def test_ci_fails_rather_than_skips_without_the_mirror(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "CI": "true", tfcli.MIRROR_ENV: str(tmp_path / "missing")}
    test = f"{__file__}::test_the_compatibility_list_is_exactly_what_provider_5_lacks"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "1 failed" in result.stdout, result.stdout
    assert "CI needs the real Terraform" in result.stdout
    cli = subprocess.run([sys.executable, "-m", "paved_road.sim.terraform"], env=env, capture_output=True, text=True)
    assert cli.returncode == 2 and cli.stderr.count("\n") == 1 and tfcli.MIRROR_ENV in cli.stderr
