"""Module input validations, checked by real Terraform: each table is one
`terraform plan` of a root that calls the module's variables once per case
(tfcli.validation_errors), so the answer is Terraform's own, RE2 included."""

from __future__ import annotations

import pytest

import tfcli
from hcl_eval import parse_file
from test_terraform_differential import _base_inputs, _cases
from tfhelpers import MODULES_DIR

# (module, inputs over the example's, accepted?)
CASES = [
    ("ecr-repository", {"untagged_expire_days": 7}, True),
    ("ecr-repository", {"untagged_expire_days": 7.5}, False),
    ("ecr-repository", {"sha_expire_days": 30.25}, False),
    ("ecr-repository", {"sha_expire_days": 0}, False),
    ("ecr-repository", {"name": "orders-api\n"}, False),
    ("ecs-service", {"app_user": "1000:1000"}, True),
    ("ecs-service", {"app_user": "node"}, True),
    ("ecs-service", {"app_user": "0\n"}, False),
    ("ecs-service", {"app_user": " 0"}, False),
    ("ecs-service", {"app_user": "0:1000"}, False),
    ("ecs-service", {"app_user": "root:staff"}, False),
    ("ecs-service", {"subnet_ids": ["subnet-0a1b2c3d"]}, True),
    ("ecs-service", {"subnet_ids": ["subnet-0a1b2c3d\n"]}, False),
    ("ecs-service", {"cpu": " 1024"}, False),
    ("ecs-service", {"cpu": "1_024"}, False),
    ("ecs-service", {"name": "orders\n"}, False),
    ("arc-runner-scale-sets", {"github_config_url": "https://github.com/shop"}, True),
    ("arc-runner-scale-sets", {"github_config_url": "https://github.com/shop/orders"}, True),
    ("arc-runner-scale-sets", {"github_config_url": "https://github.com/shop\n"}, False),
    ("arc-runner-scale-sets", {"github_config_url": "https://github.com/sh op"}, False),
]


@pytest.mark.parametrize("module", sorted({c[0] for c in CASES}))
def test_terraform_accepts_and_refuses_as_documented(module, tmp_path):
    table = {f"{inputs!r}": (inputs, ok) for m, inputs, ok in CASES if m == module}
    base = _base_inputs(module)
    errors = tfcli.validation_errors(MODULES_DIR / module, {k: {**base, **i} for k, (i, _) in table.items()}, tmp_path)
    wrong = {k: errors[k] for k, (_, ok) in table.items() if ok != (errors[k] == [])}
    assert wrong == {}


# Free text by design: nothing to anchor.
_FREE_TEXT = {"description", "environment_variables"}


@pytest.mark.parametrize("module", ["ecs-service", "ecr-repository", "github-oidc-roles"])
def test_no_validated_name_or_url_takes_a_newline(module, tmp_path):
    validated = {labels[0] for kind, labels, body in parse_file(MODULES_DIR / module / "variables.tf").blocks
                 if kind == "variable" and body.blocks_of("validation")} - _FREE_TEXT
    cases = {k: v for k, v in _cases(module).items() if ("\\n" in k or "\\r" in k) and k.split("#")[0] in validated}
    assert len(cases) >= 10
    errors = tfcli.validation_errors(MODULES_DIR / module, cases, tmp_path)
    assert [k for k, e in errors.items() if not e] == []
