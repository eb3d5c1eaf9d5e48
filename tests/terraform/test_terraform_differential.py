"""hcl_eval against real Terraform on a corpus of inputs: both must agree.

hcl_eval stays for what Terraform cannot run here (provider 6-only resources
under the evaluator's `known` values); this keeps it from drifting. Each group
is one Terraform run (seconds), however many cases it holds:

- every validated variable of every module, with inputs mutated the ways a
  Python model gets wrong (trailing/leading newline and spaces, CRLF,
  fractional and padded or underscored numbers), through a module call
  (tfcli.validation_errors);
- functions and string rendering the modules rely on: regex() with the
  modules' own patterns, tonumber(), numbers interpolated into strings and
  jsonencode() (tfcli.evaluate).
"""

from __future__ import annotations

import re

import pytest

import tfcli
from hcl_eval import EvalError, Evaluator, Module, module_call_arguments, parse_expression
from tfhelpers import MODULES_DIR

# Inputs the examples do not give literally (they read them from resources).
_BASE_EXTRA = {
    "github-runners-aks": {"kubernetes_cluster_id": "/subscriptions/0000/resourceGroups/ci/providers/Microsoft.ContainerService/managedClusters/runners"},
    "github-runners-eks": {"cluster_name": "runners", "subnet_ids": ["subnet-0123456789abcdef0"],
                           "runner_group": {"name": "ci", "selected_repository_ids": [1296269], "selected_workflows": ["shop/orders/.github/workflows/ci.yml@refs/heads/main"]}},
    "github-oidc-roles": {"oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
}

MODULES = sorted(p.parent.name for p in MODULES_DIR.glob("*/variables.tf"))


def _base_inputs(module: str) -> dict:
    example = next(iter(sorted((MODULES_DIR / module / "examples").glob("*/main.tf"))))
    return {**module_call_arguments(example), **_BASE_EXTRA.get(module, {})}


def _mutants(value) -> list:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, str):
        return [value + "\n", "\n" + value, value + "\r\n", " " + value, value + " ", ""]
    if isinstance(value, (int, float)):
        text = repr(value)
        out = [value + 0.5, text, " " + text, text + "\n", 0, -1]
        if len(text) > 1 and text.isdigit():
            out.append(text[0] + "_" + text[1:])
        return out
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [[m, *value[1:]] for m in _mutants(value[0])[:3]]
    if isinstance(value, dict) and value:
        # Each string (or list of strings) field of a map or object, and a map key.
        out = [{**value, k: m} for k, v in value.items() if isinstance(v, (str, list)) for m in _mutants(v)[:2]]
        if all(isinstance(v, str) for v in value.values()):
            key = next(iter(value))
            out.append({**value, key + "\n": value[key]})
        return out
    return []


def _cases(module: str) -> dict[str, dict]:
    base = _base_inputs(module)
    model = Module(MODULES_DIR / module, base)
    cases = {"base": base}
    for name, body in model.variables.items():
        if not body.blocks_of("validation") and name not in base:
            continue
        good = base[name] if name in base else model.var[name]
        for i, mutant in enumerate(_mutants(good)):
            cases[f"{name}#{i}={mutant!r}"] = {**base, name: mutant}
    return cases


def _model_rejects(module: str, inputs: dict) -> bool:
    try:
        return bool(Module(MODULES_DIR / module, inputs).validation_errors())
    except EvalError:
        return True


@pytest.mark.parametrize("module", MODULES)
def test_the_evaluator_accepts_and_rejects_module_inputs_as_terraform_does(module, tmp_path):
    cases = _cases(module)
    assert len(cases) > 20, len(cases)
    real = tfcli.validation_errors(MODULES_DIR / module, cases, tmp_path)
    assert real["base"] == [], real["base"]
    rejected = {name for name, errors in real.items() if errors}
    assert rejected  # the corpus exercises the validations
    disagreements = {name: real[name] for name in cases if bool(real[name]) != _model_rejects(module, cases[name])}
    assert disagreements == {}


# --- Functions and rendering ----------------------------------------------------------------------


def _module_patterns() -> list[str]:
    """Every regex() pattern literal in the modules' variables.tf, as written in HCL."""
    found = set()
    for tf in MODULES_DIR.glob("*/variables.tf"):
        found.update(re.findall(r'regex\(("(?:[^"\\]|\\.)*")', tf.read_text(encoding="utf-8")))
    return sorted(found)


_SUBJECTS = [
    "orders", "orders\n", "\norders", "orders\r\n", "orders ", "a", "", "Orders", "1.2.3", "1.2.3\n", "v1.2.3",
    "https://github.com/shop", "https://github.com/shop\n", "https://github.com/shop/repo", "https://github.com/sh\nop",
    "arn:aws:iam::123456789012:role/deploy", "arn:aws:iam::123456789012:role/deploy\n",
    "arn:aws:ecs:eu-west-1:123456789012:cluster/apps-staging", "arn:aws:ecs:eu-west-1:123456789012:cluster/apps\n",
    "shop/orders-api", "shop/orders-api\n", "shop/orders/.github/workflows/ci.yml@refs/heads/main",
    "shop/orders/.github/workflows/c\ni.yml@refs/heads/main", "ghcr.io/actions/runner:2.330.0", "runner:2.330.0\n",
    "sha-", "buildcache-*", "/", "/paved/", "Standard_D4ds_v5", "ORDERS_API", "x" * 70,
]

_NUMBER_TEXTS = ["1024", " 1024", "1024 ", "1024\n", "1_024", "1e3", "1E3", ".5", "5.", "+5", "-5", "0x10", "inf", "Inf", "-inf", "INF",
                 "Infinity", "NaN", "1,024", "", "0.25", "1e-07", "007", "1.", "-0", "12345678901234567890"]

_NUMBERS = ["1e-07", "0.25", "1e21", "0.00001", "0.1", "100", "1.5", "123456789.125", "1/4", "1/8", "3.0", "-2.5",
            "0.000123", "1e+3", "2.5e-3"]


def _expressions() -> dict[str, str]:
    exprs = {}
    for p in _module_patterns():
        for s in _SUBJECTS:
            exprs[f"regex {p} {s!r}"] = f"can(regex({p}, {tfcli.hcl_value(s)}))"
    for t in _NUMBER_TEXTS:
        exprs[f"tonumber {t!r}"] = f"tostring(tonumber({tfcli.hcl_value(t)}))"
    for n in _NUMBERS:
        exprs[f"interpolate {n}"] = f'"ratio=${{{n}}}"'
        exprs[f"jsonencode {n}"] = f"jsonencode({n})"
        exprs[f"tostring {n}"] = f"tostring({n})"
    return exprs


def _model_value(expr: str):
    try:
        return Evaluator({}).eval(parse_expression(expr))
    except EvalError:
        return "<error>"


def test_the_evaluator_computes_functions_as_terraform_does(tmp_path):
    exprs = _expressions()
    real = tfcli.evaluate(exprs, tmp_path)
    # The corpus holds what the issue found: RE2's `$`, strict number parsing, decimal rendering.
    assert real["tonumber ' 1024'"] == "<error>" and real["tonumber '1_024'"] == "<error>"
    assert real["interpolate 1e-07"] == "ratio=0.0000001"
    disagreements = {k: (real[k], _model_value(e)) for k, e in exprs.items() if real[k] != _model_value(e)}
    assert disagreements == {}
