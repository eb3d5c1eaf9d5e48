"""The Terraform suite's side of paved_road.sim.terraform (the CLI, the
provider mirror, provider5_copy): skips locally and fails in CI (CI=true)
when Terraform or the mirror is missing; batched validation plans
(`validation_errors`), expression evaluation (`evaluate`), and the provider
5.100.0 schema (`aws_schema`).
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

from paved_road.sim.terraform import (  # noqa: F401  (re-exported for the tests)
    AWS_PROVIDER, AWS_VERSION, MIRROR_ENV, PROVIDER6_ONLY, find_mirror, find_terraform, provider5_copy,
)
from paved_road.sim import terraform as _tf


def _missing(what: str):
    message = f"{what} (set {MIRROR_ENV} to the mirror directory, or install Terraform)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI needs the real Terraform: {message}", pytrace=False)
    pytest.skip(message)


def terraform() -> str:
    if find_terraform() is None:
        _missing("no terraform on PATH")
    return find_terraform()


def provider_mirror() -> Path:
    if find_mirror() is None:
        _missing(f"no filesystem mirror holding {AWS_PROVIDER} {AWS_VERSION}")
    return find_mirror()


def run(cwd: Path, *args: str, check: bool = True, timeout: int = 600):
    terraform()
    needs_mirror = args[0] != "fmt"
    if needs_mirror:
        provider_mirror()
    result = subprocess.run([find_terraform(), *args], cwd=cwd, env=_tf.env() if needs_mirror else dict(os.environ),
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}")
    return result


def init(cwd: Path, *args: str):
    return run(cwd, "init", "-input=false", "-no-color", "-backend=false", *args)


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
