"""Real Terraform against `paved sim`: the CLI, the AWS provider from a local
filesystem mirror, and what a service's infra/ needs to apply to the simulator.

Used by `paved demo --platform` and the Terraform test suite (tests/terraform).

- `find_terraform()`, `find_mirror()`: the binary on PATH; a directory holding
  ``registry.terraform.io/hashicorp/aws/<version>/<os_arch>/`` (the "unpacked"
  layout of a filesystem_mirror, Terraform CLI configuration docs, "Provider
  Installation"): PAVED_TF_PLUGIN_MIRROR, else Terraform's implied local
  mirror directories, else /opt.
- `run()`: Terraform with a temporary TF_CLI_CONFIG_FILE whose only
  installation method is that mirror, so `terraform init` never reaches a
  registry.
- `provider5_copy()`: a copy of a configuration that plans with the provider
  the mirror holds (5.100.0): the provider 6 arguments in PROVIDER6_ONLY are
  taken out, nothing else changes.
- `sim_override()`, `seed_platform()`, `image_tags()`: the override file that
  points a service's infra/ at the simulator (local state, provider endpoints,
  local module sources), the platform's prerequisites, and the tags in a
  simulated ECR repository.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
AWS_VERSION = "5.100.0"
MIRROR_ENV = "PAVED_TF_PLUGIN_MIRROR"
SIM_ACCOUNT = "123456789012"  # moto's account: a service's allowed_account_ids must name it
IMAGE_TAGS_VARIABLE = "paved_sim_image_tags"

# Arguments our configurations set that hashicorp/aws 5.100.0 does not have
# (added in 6.x): (module or "infra", resource type, block or attribute path,
# what the copy does). tests/terraform/test_terraform_cli.py checks this list
# is exactly what 5.100.0's schema lacks, and that each is in provider 6's.
PROVIDER6_ONLY = [
    ("ecs-service", "aws_ecs_service", "deployment_configuration", "block removed: ROLLING is the default strategy"),
    ("ecs-service", "aws_ecs_service", "load_balancer.advanced_configuration", "block removed (BLUE_GREEN only)"),
    ("ecs-service", "data.aws_region", "region", "read as `name` (the 5.x attribute)"),
    ("ecr-repository", "aws_ecr_repository", "image_tag_mutability_exclusion_filter",
     "block removed; image_tag_mutability IMMUTABLE"),
    ("infra", "data.aws_ecr_images", "*",
     f"data source removed; its image_ids come from var.{IMAGE_TAGS_VARIABLE} (the caller lists the repository "
     "with ListImages, as the data source does; default [] is an empty repository)"),
]

ENDPOINT_SERVICES = ("applicationautoscaling", "cloudwatch", "ec2", "ecr", "ecs", "iam", "logs", "ssm", "sts")


class TerraformMissing(RuntimeError):
    """Terraform or the provider mirror is not on this machine (the message says which and what to do)."""


@lru_cache(maxsize=None)
def find_terraform() -> str | None:
    return shutil.which("terraform")


def _subdirectories(directory: Path) -> list[Path]:
    """The directories in `directory`; none when it cannot be listed (a
    directory another user owns, such as a Docker host's /opt/containerd)."""
    try:
        return sorted(p for p in directory.iterdir() if p.is_dir())
    except OSError:
        return []


def _mirror_roots(opt: Path = Path("/opt")):
    # Terraform's implied local mirror directories (CLI configuration,
    # "Implied Local Mirror Directories"), then add-on software under /opt,
    # two levels deep; lazily, so the first hit ends the search.
    yield Path.home() / ".terraform.d" / "plugins"
    xdg = os.environ.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share")
    yield from (Path(d) / "terraform" / "plugins" for d in xdg.split(":") if d)
    level1 = _subdirectories(opt)
    if level1:
        yield opt
        yield from level1
        for directory in level1:
            yield from _subdirectories(directory)


@lru_cache(maxsize=None)
def find_mirror() -> Path | None:
    configured = os.environ.get(MIRROR_ENV)
    if configured:
        return Path(configured) if (Path(configured) / AWS_PROVIDER / AWS_VERSION).is_dir() else None
    for root in _mirror_roots():
        try:
            if (root / AWS_PROVIDER / AWS_VERSION).is_dir():
                return root
        except OSError:
            continue
    return None


def missing() -> str | None:
    """One line saying what is missing, or None when Terraform can run."""
    if find_terraform() is None:
        return "terraform: not on PATH; install the Terraform CLI (1.11.x)"
    if find_mirror() is None:
        return (f"{MIRROR_ENV}: no filesystem mirror holding {AWS_PROVIDER} {AWS_VERSION} found; "
                "set it to the mirror directory")
    return None


@lru_cache(maxsize=1)
def cli_config_file() -> str:
    problem = missing()
    if problem:
        raise TerraformMissing(problem)
    directory = tempfile.mkdtemp(prefix="paved-tf-cli-")
    atexit.register(shutil.rmtree, directory, True)
    config = Path(directory) / "terraform.tfrc"
    config.write_text(
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(find_mirror()))}\n"
        f"    include = [{json.dumps(AWS_PROVIDER)}]\n"
        "  }\n"
        "}\n",
        encoding="utf-8",
    )
    return str(config)


def hermetic_environ() -> dict[str, str]:
    """os.environ without the caller's Terraform settings (TF_LOG* kept for
    debugging): TF_DATA_DIR would make every working directory share one
    .terraform (parallel runs clobber each other's modules and providers),
    TF_CLI_ARGS(_<command>) could add `-refresh=false` to the drift check,
    TF_VAR_* and TF_WORKSPACE change what is planned."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TF_") or k.startswith("TF_LOG")}


def env() -> dict[str, str]:
    return {**hermetic_environ(), "TF_CLI_CONFIG_FILE": cli_config_file(), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1"}


def run(cwd: Path, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    terraform = find_terraform()
    if terraform is None:
        raise TerraformMissing(missing())
    result = subprocess.run([terraform, *args], cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"terraform {' '.join(args)} failed in {cwd}:\n{result.stdout}\n{result.stderr}")
    return result


# --------------------------------------------------------------------------- provider 5 copy


def matching_brace(text: str, start: int) -> int:
    """Where the `{` at `start` closes in HCL text: strings (with their escapes) skipped; brackets of
    other kinds need no counting in valid HCL, where they nest inside the braces."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError("unbalanced braces")


def _remove_block(text: str, header: str) -> tuple[str, int]:
    """Drop every block whose opening line matches `header` (a regex), braces balanced."""
    removed = 0
    while True:
        match = re.search(rf"^[ \t]*{header}[ \t]*\{{", text, re.M)
        if not match:
            return text, removed
        end = matching_brace(text, match.end() - 1)
        line_end = text.find("\n", end)
        text = text[:match.start()] + text[line_end + 1 if line_end >= 0 else len(text):]
        removed += 1


_PROVIDER6_VERSION = re.compile(r'(source\s*=\s*"hashicorp/aws"\s*\n\s*version\s*=\s*)"[^"]*"')


def _edit(text: str, path: Path) -> tuple[str, bool]:
    new = _PROVIDER6_VERSION.sub(rf'\1"{AWS_VERSION}"', text)
    new, _ = _remove_block(new, r"deployment_configuration")
    new, _ = _remove_block(new, r'dynamic\s+"advanced_configuration"')
    new, filters = _remove_block(new, r'dynamic\s+"image_tag_mutability_exclusion_filter"')
    if filters:
        new, n = re.subn(r'(\n\s*image_tag_mutability\s*=\s*)[^\n]+', r'\1"IMMUTABLE"', new)
        assert n == 1, path
    new = new.replace("data.aws_region.current.region", "data.aws_region.current.name")
    new, images = _remove_block(new, r'data\s+"aws_ecr_images"\s+"this"')
    if images:
        new, n = re.subn(r"data\.aws_ecr_images\.this\.image_ids",
                         f"[for t in var.{IMAGE_TAGS_VARIABLE} : {{ image_tag = t }}]", new)
        assert n == 1, path
    return new, bool(images)


def provider5_copy(src: Path, dst: Path) -> Path:
    """Copy a configuration (one directory or a tree) so it plans with provider 5.100.0."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"))
    for tf in dst.rglob("*.tf"):
        text = tf.read_text(encoding="utf-8")
        new, reads_images = _edit(text, tf)
        if new != text:
            tf.write_text(new, encoding="utf-8")
        if reads_images:
            (tf.parent / "paved_sim_compat.tf").write_text(
                f'variable "{IMAGE_TAGS_VARIABLE}" {{\n'
                '  description = "Tags in the ECR repository (paved sim compatibility: aws_ecr_images is provider 6 only)"\n'
                "  type        = list(string)\n"
                "  default     = []\n"
                "}\n", encoding="utf-8")
    return dst


# --------------------------------------------------------------------------- a service's infra/ on paved sim


def sim_provider(endpoint: str) -> str:
    """The `provider "aws"` block that points the AWS provider at the simulator."""
    endpoints = "\n".join(f"    {name} = {json.dumps(endpoint)}" for name in ENDPOINT_SERVICES)
    return f"""provider "aws" {{
  access_key                  = "paved-sim"
  secret_key                  = "paved-sim"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {{
{endpoints}
  }}
}}
"""


def sim_override(endpoint: str, modules_dir: str = "../terraform-modules") -> str:
    """`sim_override.tf` for a service's infra/: local state, the provider on
    the simulator, the modules from `modules_dir` (a provider5_copy)."""
    modules = "\n".join(
        f'module "{label}" {{\n  source = "{modules_dir}/{module}"\n}}\n'
        for label, module in (("ecr_repository", "ecr-repository"), ("service", "ecs-service"),
                              ("ci_roles", "github-oidc-roles")))
    return f"""# paved sim only: local state, the AWS provider on the simulator, local modules.
terraform {{
  backend "local" {{}}
}}

{sim_provider(endpoint)}
{modules}"""


def _session(region: str):
    import boto3

    return boto3.Session(aws_access_key_id="paved-sim", aws_secret_access_key="paved-sim", region_name=region)


def seed_platform(endpoint: str, region: str, cluster: str) -> None:
    """What the platform team provides before a service's first apply: the
    cluster, a VPC whose private subnets are published in SSM, the account's
    GitHub OIDC provider."""
    session = _session(region)
    client = lambda name: session.client(name, endpoint_url=endpoint)  # noqa: E731
    client("ecs").create_cluster(clusterName=cluster)
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"]["SubnetId"]
               for i, az in enumerate("ab")]
    # Idempotent: moto's backends live per process, so a second simulator in the same process (the test
    # suite) already holds what an earlier one seeded; the platform's values are simply set again.
    ssm = client("ssm")
    ssm.put_parameter(Name=f"/paved-road/{cluster}/vpc-id", Value=vpc, Type="String", Overwrite=True)
    ssm.put_parameter(Name=f"/paved-road/{cluster}/private-subnet-ids", Value=",".join(subnets), Type="String",
                      Overwrite=True)
    iam = client("iam")
    try:
        iam.create_open_id_connect_provider(
            Url="https://token.actions.githubusercontent.com", ClientIDList=["sts.amazonaws.com"],
            ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"])
    except iam.exceptions.EntityAlreadyExistsException:
        pass


def image_tags(endpoint: str, region: str, repository: str) -> list[str]:
    """The tags in a repository, as aws_ecr_images reads them (ListImages)."""
    ecr = _session(region).client("ecr", endpoint_url=endpoint)
    pages = ecr.get_paginator("list_images").paginate(repositoryName=repository)
    return sorted({i["imageTag"] for page in pages for i in page["imageIds"] if i.get("imageTag")})


def prepare_infra(infra: Path, modules: Path, work: Path, endpoint: str) -> Path:
    """work/infra and work/terraform-modules: provider 5 copies pointed at the simulator."""
    provider5_copy(modules, work / "terraform-modules")
    provider5_copy(infra, work / "infra")
    (work / "infra" / "sim_override.tf").write_text(sim_override(endpoint), encoding="utf-8")
    return work / "infra"


if __name__ == "__main__":
    # .ci/run: one line and exit 2 when CI cannot run the Terraform suite.
    import sys

    problem = missing()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    print(f"terraform: {find_terraform()}; provider mirror: {find_mirror()}")
