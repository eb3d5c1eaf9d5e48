"""The real Terraform CLI and AWS provider, run offline from a filesystem mirror.

- `terraform()` finds the binary; `provider_mirror()` finds a directory holding
  ``registry.terraform.io/hashicorp/aws/<version>/<os_arch>/`` (the "unpacked"
  layout of Terraform's filesystem_mirror, CLI configuration docs,
  "Provider Installation"). PAVED_TF_PLUGIN_MIRROR names it; otherwise
  Terraform's implied local mirror directories and /opt (FHS add-on software)
  are searched. Without either, tests skip locally and fail in CI (CI=true).
- `run()` runs Terraform with a temporary TF_CLI_CONFIG_FILE whose only
  installation method is that mirror, so `terraform init` never reaches a
  registry.
- `provider5_copy()` copies a module for the provider the mirror holds
  (5.100.0) and strips, for that test run only, the provider 6 arguments
  listed in PROVIDER6_ONLY (docs/terraform.md, "What real Terraform covers").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

from tfhelpers import _matching_brace

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
AWS_VERSION = "5.100.0"
MIRROR_ENV = "PAVED_TF_PLUGIN_MIRROR"

# Arguments our modules set that hashicorp/aws 5.100.0 does not have (added in
# 6.x). (module, resource type, path of the block or attribute, what the copy
# does). Their names are checked against provider 6's documented schema in
# test_provider_arguments.py; test_terraform_cli.py checks this list is
# exactly what 5.100.0's own schema lacks.
PROVIDER6_ONLY = [
    ("ecs-service", "aws_ecs_service", "deployment_configuration", "block removed: ROLLING is the default strategy"),
    ("ecs-service", "aws_ecs_service", "load_balancer.advanced_configuration", "block removed (BLUE_GREEN only)"),
    ("ecs-service", "data.aws_region", "region", "read as `name` (the 5.x attribute)"),
    ("ecr-repository", "aws_ecr_repository", "image_tag_mutability_exclusion_filter",
     "block removed; image_tag_mutability IMMUTABLE"),
    ("infra", "data.aws_ecr_images", "*",
     "data source removed; its image_ids read as [] (an empty repository: the first apply parks the service)"),
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _missing(what: str):
    message = f"{what} (set {MIRROR_ENV} to the mirror directory, or install Terraform)"
    if _in_ci():
        pytest.fail(f"CI needs the real Terraform: {message}", pytrace=False)
    pytest.skip(message)


@lru_cache(maxsize=None)
def _terraform_path() -> str | None:
    return shutil.which("terraform")


def _mirror_roots() -> list[Path]:
    # Terraform's implied local mirror directories (CLI configuration,
    # "Implied Local Mirror Directories"), then /opt.
    roots = [Path.home() / ".terraform.d" / "plugins"]
    xdg = os.environ.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share")
    roots += [Path(d) / "terraform" / "plugins" for d in xdg.split(":") if d]
    opt = Path("/opt")
    if opt.is_dir():
        roots += [opt, *sorted(p for p in opt.iterdir() if p.is_dir())]
        roots += sorted(p for d in opt.iterdir() if d.is_dir() for p in d.iterdir() if p.is_dir())
    return roots


@lru_cache(maxsize=None)
def find_mirror() -> Path | None:
    configured = os.environ.get(MIRROR_ENV)
    if configured:
        return Path(configured) if (Path(configured) / AWS_PROVIDER / AWS_VERSION).is_dir() else None
    for root in _mirror_roots():
        try:
            if (root / AWS_PROVIDER / AWS_VERSION).is_dir():
                return root
        except PermissionError:
            continue
    return None


def terraform() -> str:
    path = _terraform_path()
    if path is None:
        _missing("no terraform on PATH")
    return path


def provider_mirror() -> Path:
    mirror = find_mirror()
    if mirror is None:
        _missing(f"no filesystem mirror holding {AWS_PROVIDER} {AWS_VERSION}")
    return mirror


def cli_config(directory: Path) -> Path:
    config = directory / "terraform.tfrc"
    config.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(provider_mirror()))}\n"
        f"    include = [{json.dumps(AWS_PROVIDER)}]\n"
        "  }\n"
        "}\n",
        encoding="utf-8",
    )
    return config


@lru_cache(maxsize=1)
def _config_file() -> str:
    import tempfile

    return str(cli_config(Path(tempfile.mkdtemp(prefix="tf-cli-"))))


def env() -> dict[str, str]:
    return {
        **os.environ,
        "TF_CLI_CONFIG_FILE": _config_file(),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }


def run(cwd: Path, *args: str, check: bool = True, extra_env: dict | None = None, timeout: int = 600):
    result = subprocess.run(
        [terraform(), *args], cwd=cwd, env={**env(), **(extra_env or {})},
        capture_output=True, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}")
    return result


def init(cwd: Path, *args: str):
    return run(cwd, "init", "-input=false", "-no-color", "-backend=false", *args)


# --------------------------------------------------------------------------- provider 5 copy


def _remove_block(text: str, header: str) -> tuple[str, int]:
    """Drop every block whose opening line matches `header` (a regex), braces balanced."""
    removed = 0
    while True:
        match = re.search(rf"^[ \t]*{header}[ \t]*\{{", text, re.M)
        if not match:
            return text, removed
        end = _matching_brace(text, match.end() - 1)
        line_end = text.find("\n", end)
        text = text[:match.start()] + text[line_end + 1 if line_end >= 0 else len(text):]
        removed += 1


_PROVIDER6_VERSION = re.compile(r'(source\s*=\s*"hashicorp/aws"\s*\n\s*version\s*=\s*)"[^"]*"')


def provider5_copy(src: Path, dst: Path) -> Path:  # noqa: C901
    """Copy a module (or a tree of modules) and make it plan with provider 5.100.0.

    Only the PROVIDER6_ONLY arguments change; everything else is the module as
    shipped. Each edit must apply, so a renamed block cannot slip through."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"))
    for tf in dst.rglob("*.tf"):
        text = tf.read_text(encoding="utf-8")
        new = _PROVIDER6_VERSION.sub(rf'\1"{AWS_VERSION}"', text)
        new, n1 = _remove_block(new, r"deployment_configuration")
        new, n2 = _remove_block(new, r'dynamic\s+"advanced_configuration"')
        new, n3 = _remove_block(new, r'dynamic\s+"image_tag_mutability_exclusion_filter"')
        new = new.replace("data.aws_region.current.region", "data.aws_region.current.name")
        new, n5 = _remove_block(new, r'data\s+"aws_ecr_images"\s+"this"')
        if n5:
            new, n6 = re.subn(r"data\.aws_ecr_images\.this\.image_ids", "[]", new)
            assert n6 == 1, tf
        if n3:
            new, n4 = re.subn(r'(\n\s*image_tag_mutability\s*=\s*)[^\n]+', r'\1"IMMUTABLE"', new)
            assert n4 == 1, tf
        if new != text:
            tf.write_text(new, encoding="utf-8")
    return dst


@lru_cache(maxsize=1)
def aws_schema() -> dict:
    """hashicorp/aws 5.100.0's schema (`terraform providers schema -json`)."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="tf-schema-")) / "root"
    work.mkdir()
    (work / "main.tf").write_text(
        'terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n'
        f'      version = "{AWS_VERSION}"\n    }}\n  }}\n}}\n',
        encoding="utf-8",
    )
    init(work)
    out = run(work, "providers", "schema", "-json").stdout
    shutil.rmtree(work.parent, ignore_errors=True)
    return json.loads(out)["provider_schemas"][AWS_PROVIDER]


# --------------------------------------------------------------------------- validations, batched


def hcl_value(value) -> str:
    """A Python value as an HCL expression (strings escaped so they stay literal)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False).replace("\\b", "\\u0008").replace("\\f", "\\u000c")
        return text.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{hcl_value(str(k))} = {hcl_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no HCL form for {type(value).__name__}")


def validation_errors(module_dir: Path, cases: dict[str, dict], work: Path) -> dict[str, list[str]]:
    """Each case's inputs passed to the module's variables by real Terraform.

    One `terraform plan` of a root that calls, once per case, a module made of
    the module's variables.tf alone (no resources, no provider): Terraform
    converts every input to its type and evaluates every validation block,
    and reports each failure against the module call it came from. Returns
    {case: [error detail, ...]} (empty when Terraform accepts the inputs)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "m").mkdir(exist_ok=True)
    shutil.copy(module_dir / "variables.tf", work / "m" / "variables.tf")
    labels = {f"case_{i}": name for i, name in enumerate(cases)}
    lines = []
    for label, name in labels.items():
        lines.append(f'module "{label}" {{\n  source = "./m"\n')
        lines += [f"  {k} = {hcl_value(v)}\n" for k, v in cases[name].items()]
        lines.append("}\n")
    (work / "main.tf").write_text("".join(lines), encoding="utf-8")
    run(work, "init", "-input=false", "-no-color", "-backend=false")
    result = run(work, "plan", "-json", "-input=false", "-lock=false", "-refresh=false", check=False)
    errors: dict[str, list[str]] = {name: [] for name in cases}
    for line in result.stdout.splitlines():
        message = json.loads(line)
        if message.get("type") != "diagnostic" or message["diagnostic"]["severity"] != "error":
            continue
        diag = message["diagnostic"]
        context = (diag.get("snippet") or {}).get("context") or ""
        match = re.fullmatch(r'module "(case_\d+)"', context)
        if not match:
            raise AssertionError(f"a diagnostic outside the cases: {json.dumps(diag)}")
        errors[labels[match.group(1)]].append(diag["detail"])
    if result.returncode != 0 and not any(errors.values()):
        raise AssertionError(f"terraform plan failed:\n{result.stdout}\n{result.stderr}")
    return errors


def evaluate(expressions: dict[str, str], work: Path) -> dict[str, object]:
    """Each HCL expression evaluated by `terraform apply` of a root with only
    outputs (no provider, local state): {name: value, or the string "<error>"
    when Terraform rejects it}."""
    work.mkdir(parents=True, exist_ok=True)
    body = "".join(
        f'output "e_{i}" {{\n  value = try([{expr}], "<error>")\n}}\n' for i, expr in enumerate(expressions.values())
    )
    (work / "main.tf").write_text(body, encoding="utf-8")
    run(work, "apply", "-auto-approve", "-input=false", "-lock=false", "-no-color")
    out = json.loads(run(work, "output", "-json").stdout)
    values = {}
    for i, name in enumerate(expressions):
        value = out[f"e_{i}"]["value"]
        values[name] = value if value == "<error>" else value[0]
    return values


if __name__ == "__main__":
    # .ci/run: a one-line error, exit 2, when CI cannot run the Terraform suite.
    import sys

    if _terraform_path() is None:
        sys.exit(print("error: terraform: not on PATH; the Terraform suite needs the real CLI (1.11.x)", file=sys.stderr) or 2)
    if find_mirror() is None:
        sys.exit(print(f"error: {MIRROR_ENV}: no filesystem mirror holding {AWS_PROVIDER} {AWS_VERSION} "
                       "(set it to the mirror directory)", file=sys.stderr) or 2)
    print(f"terraform: {_terraform_path()}; provider mirror: {find_mirror()}")
