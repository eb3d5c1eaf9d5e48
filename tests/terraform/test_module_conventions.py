"""Every module: parses, has the file set, typed and described variables,
described outputs, pinned providers, no unused variable, working examples and
a README whose inputs/outputs tables match the code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tfhelpers import MODULES_DIR, REPO_ROOT, blocks, load_hcl, module_dirs

MODULES = [m.name for m in module_dirs()]
ALL_TF = sorted(MODULES_DIR.rglob("*.tf"))


def test_the_modules_exist():
    assert set(MODULES) == {"ecs-service", "ecr-repository", "github-runners-eks", "github-runners-aks",
                            "arc-runner-scale-sets", "github-oidc-roles"}


@pytest.mark.parametrize("path", ALL_TF, ids=lambda p: str(p.relative_to(MODULES_DIR)))
def test_every_tf_file_parses(path):
    assert isinstance(load_hcl(path), dict)


@pytest.mark.parametrize("module", MODULES)
def test_file_set(module):
    root = MODULES_DIR / module
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (root / name).is_file(), f"{module} lacks {name}"
    examples = [p for p in (root / "examples").iterdir() if p.is_dir()]
    assert examples, f"{module} has no examples/"
    for example in examples:
        assert (example / "main.tf").is_file() and (example / "versions.tf").is_file(), example


@pytest.mark.parametrize("module", MODULES)
def test_variables_are_typed_and_described_and_used(module):
    root = MODULES_DIR / module
    code = "\n".join(p.read_text() for p in root.glob("*.tf") if p.name != "variables.tf")
    code += "\n".join(p.read_text() for p in (root / "templates").glob("*")) if (root / "templates").is_dir() else ""
    for name, body in blocks(load_hcl(root / "variables.tf"), "variable"):
        assert body.get("type"), f"{module}: variable {name} has no type"
        assert body.get("description", "").strip(), f"{module}: variable {name} has no description"
        assert re.search(rf"\bvar\.{name}\b", code), f"{module}: variable {name} is never used"


@pytest.mark.parametrize("module", MODULES)
def test_outputs_are_described(module):
    for name, body in blocks(load_hcl(MODULES_DIR / module / "outputs.tf"), "output"):
        assert body.get("description", "").strip(), f"{module}: output {name} has no description"


def _required_providers(versions_tf) -> dict:
    (terraform,) = load_hcl(versions_tf)["terraform"]
    assert terraform.get("required_version"), versions_tf
    merged = {}
    for block in terraform["required_providers"]:
        merged.update(block)
    return merged


@pytest.mark.parametrize("module", MODULES)
def test_providers_are_pinned(module):
    root = MODULES_DIR / module
    providers = _required_providers(root / "versions.tf")
    for name, spec in providers.items():
        # integrations/github is GitHub's own provider (the runner group of the ARC scale sets).
        assert spec["source"].startswith("hashicorp/") or spec["source"] == "integrations/github", (module, name)
        # A reusable module bounds both ends; root configurations pin with ~>.
        assert re.fullmatch(r">= \d+\.\d+(\.\d+)?, < \d+\.0", spec["version"]), (module, name, spec["version"])
    used = {re.match(r"[a-z0-9]+", t).group(0) for block in load_hcl(root / "main.tf").get("resource", []) for t in block}
    assert used <= set(providers), f"{module} uses undeclared providers {used - set(providers)}"
    assert providers.get("aws", {}).get("version", ">= 6.34").startswith(">= 6.34")
    for example in (root / "examples").iterdir():
        for name, spec in _required_providers(example / "versions.tf").items():
            assert spec["version"].startswith("~> "), (example, name, spec["version"])


@pytest.mark.parametrize("module", MODULES)
def test_examples_call_the_module_with_its_variables(module):
    root = MODULES_DIR / module
    variables = dict(blocks(load_hcl(root / "variables.tf"), "variable"))
    required = {n for n, b in variables.items() if "default" not in b}
    for example in (root / "examples").iterdir():
        (_, call), = blocks(load_hcl(example / "main.tf"), "module")
        assert call["source"] == "../..", example
        args = set(call) - {"source"}
        assert args <= set(variables), f"{example}: unknown arguments {args - set(variables)}"
        assert required <= args, f"{example}: missing {required - args}"


def test_readmes_are_generated_and_up_to_date():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "terraform_docs.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for module in MODULES:
        readme = (MODULES_DIR / module / "README.md").read_text()
        assert "<!-- BEGIN_TF_DOCS -->" in readme and "## Inputs" in readme and "## Outputs" in readme


def test_readme_check_notices_a_stale_table(tmp_path):
    copy = tmp_path / "ecr-repository"
    shutil.copytree(MODULES_DIR / "ecr-repository", copy)
    text = (copy / "variables.tf").read_text().replace("Days after which untagged images expire", "Changed")
    (copy / "variables.tf").write_text(text)
    script = [sys.executable, str(REPO_ROOT / "scripts" / "terraform_docs.py")]
    assert subprocess.run([*script, "--check", str(copy)], capture_output=True).returncode == 1
    assert subprocess.run([*script, str(copy)], capture_output=True).returncode == 0
    assert "| Changed |" in (copy / "README.md").read_text()
    assert subprocess.run([*script, "--check", str(copy)], capture_output=True).returncode == 0


def test_ecs_service_ignores_task_definition_changes_so_apply_never_reverts_a_deploy():
    main = load_hcl(MODULES_DIR / "ecs-service" / "main.tf")
    resources = {t: b for block in main["resource"] for t, b in block.items()}
    service = resources["aws_ecs_service"]["this"]
    assert service["lifecycle"][0]["ignore_changes"] == ["task_definition", "desired_count"]
    # The circuit breaker's default (on, with rollback): test_ecs_service.py::test_defaults_are_secure_and_conventional.
    task_def = resources["aws_ecs_task_definition"]["this"]
    assert task_def["runtime_platform"][0]["cpu_architecture"] == "${local.cpu_architecture}"
    assert 'cpu_architecture = contains(var.architectures, "arm64") ? "ARM64" : "X86_64"' in \
        (MODULES_DIR / "ecs-service" / "main.tf").read_text()
    assert task_def["skip_destroy"] is True and "track_latest" not in task_def
    assert "ignore_changes = [task_definition" in (MODULES_DIR / "ecs-service" / "README.md").read_text()


def test_arc_module_pins_charts_and_never_takes_a_token():
    root = MODULES_DIR / "arc-runner-scale-sets"
    variables = dict(blocks(load_hcl(root / "variables.tf"), "variable"))
    assert variables["arc_chart_version"]["default"] == "0.14.2"
    assert not variables["runner_image"]["default"].endswith(":latest")
    assert not [n for n in variables if re.search(r"token|pat\b|private_key|password", n)]
    releases = {n: b for block in load_hcl(root / "main.tf")["resource"] for t, r in block.items() if t == "helm_release" for n, b in r.items()}
    assert {r["chart"] for r in releases.values()} == {"gha-runner-scale-set-controller", "gha-runner-scale-set"}
    assert {r["version"] for r in releases.values()} == {"${var.arc_chart_version}"}
    values = releases["scale_set"]["values"][0]
    assert "kubernetes.io/arch" in values and "each.key" in values and "var.node_taint_key" in values
    assert "githubConfigSecret = var.github_app_secret_name" in values
    text = (root / "main.tf").read_text()
    assert 'scale_set_names = { for arch in keys(var.architectures)' in text and '"${var.runner_scale_set_prefix}-${arch}"' in text
    outputs = dict(blocks(load_hcl(root / "outputs.tf"), "output"))
    assert outputs["runner_scale_set_names"]["value"] == "${local.scale_set_names}"
    # Callers pass null for inputs their own callers leave unset: every
    # defaulted input must fall back to its default, not become null.
    assert all(b.get("nullable") is False for b in variables.values() if "default" in b)


@pytest.mark.parametrize("module", ["github-runners-eks", "github-runners-aks"])
def test_runner_modules_delegate_to_the_arc_module_with_compatible_inputs(module):
    root = MODULES_DIR / module
    own = dict(blocks(load_hcl(root / "variables.tf"), "variable"))
    shared = dict(blocks(load_hcl(MODULES_DIR / "arc-runner-scale-sets" / "variables.tf"), "variable"))
    assert not [n for n in own if re.search(r"token|pat\b|private_key|password", n)]
    main = load_hcl(root / "main.tf")
    assert not [t for block in main["resource"] for t in block if t == "helm_release"]
    (name, call), = blocks(main, "module")
    assert call["source"] == "../arc-runner-scale-sets"
    # Every runner input of the shared module is still an input here, passed through unchanged.
    passed = set(shared) - {"architectures", "node_taint_key"}
    assert passed <= set(own)
    for var in passed:
        assert call[var] == f"${{var.{var}}}", var
        assert own[var]["type"] == shared[var]["type"], var
        # Required where the shared module requires it, otherwise null = the shared default.
        assert ("default" in own[var]) == ("default" in shared[var]), var
        assert own[var].get("default") is None, var
        if "default" in shared[var]:  # the README of this module states the effective default
            assert f"null: {shared[var]['default']}" in own[var]["description"], var
    assert call["node_taint_key"] == "${local.taint_key}"
    # Existing installs keep their releases: state moves into the module call.
    moved = {b["from"]: b["to"] for b in main.get("moved", [])}
    assert moved == {f"${{helm_release.{r}}}": f"${{module.{name}.helm_release.{r}}}" for r in ("controller", "scale_set")}
    # The scale sets wait for the nodes of their architecture.
    nodes = "aws_eks_node_group.this" if module.endswith("eks") else "azurerm_kubernetes_cluster_node_pool.this"
    assert call["architectures"].startswith("${{for arch, nodes in " + nodes + " : arch => nodes.")
    outputs = dict(blocks(load_hcl(root / "outputs.tf"), "output"))
    assert outputs["runner_scale_set_names"]["value"] == f"${{module.{name}.runner_scale_set_names}}"
    assert outputs["arc_chart_version"]["value"] == f"${{module.{name}.arc_chart_version}}"
