"""`paved demo --platform` (make demo-platform): the whole life of a service on one machine.

Generates a service from the template, applies its infra/ with the real
Terraform CLI and AWS provider to `paved sim` (paved_road.sim.terraform),
pushes releases into the simulated ECR as CI would, `paved deploy`s onto the
service Terraform created, ships a release that fails its health checks and
lets the circuit breaker roll it back, `paved rollback --previous`, then
`paved history` and `paved dora`; a last `terraform plan` shows Terraform and
the deploys do not fight over the service. Every step is printed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from paved_road.sim import terraform as tf

REGION = "us-east-1"
SERVICE = "orders-api"
PREFIX = "shop"
CLUSTER = f"{PREFIX}-staging"
TARGET = ("--cluster", CLUSTER, "--service", SERVICE)
BROKEN = "1.2.0"
ANSWERS = {"service_name": SERVICE, "owner": "checkout-team", "aws_region": REGION,
           "aws_account_id": tf.SIM_ACCOUNT, "ecs_cluster_prefix": PREFIX}
# The lines of Terraform's output worth showing: what it will do and what it did.
_SUMMARY = re.compile(r"^(Terraform has been successfully initialized|Plan:|Apply complete|No changes|Destroy complete|"
                      r"# .* will be|module\.[^ ]+: Creation complete|Error)")
SIM_ENV = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "sim",
           "AWS_SECRET_ACCESS_KEY": "sim"}


def run_platform_demo(console: Console, speed: float = 4.0, template: str | None = None) -> int:
    problem = tf.missing()
    if problem:
        print(f"paved demo --platform: {problem}", file=sys.stderr)
        return 2
    from paved_road.cmd_new import generate
    from paved_road.sim.server import SimServer
    from paved_road.sim.world import Seeder
    from paved_road.template_source import default_template_source

    template = template or default_template_source()
    if not (Path(template) / "terraform-modules").is_dir():
        print(f"paved demo --platform: PAVED_TEMPLATE {template} is not a local checkout of the template "
              "(its terraform-modules/ are applied); unset it or point it at a checkout", file=sys.stderr)
        return 2
    started = time.monotonic()
    server = SimServer("127.0.0.1", 0, speed=speed).start()
    seeder = Seeder(server.app, server.endpoint)
    server.app.reset({"seed": {"region": REGION}, "fail": [BROKEN], "speed": speed})
    saved = {k: os.environ.get(k) for k in [*SIM_ENV, "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"]}
    os.environ.update({**SIM_ENV, "AWS_ENDPOINT_URL": server.endpoint})
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    work = tempfile.TemporaryDirectory(prefix="paved-demo-platform.")
    root = Path(work.name)
    codes: dict[str, int] = {}
    poll = ("--poll-interval", f"{1 / speed:g}")

    def step(title: str) -> None:
        console.rule(f"{title}  [dim]({time.monotonic() - started:.0f} s)[/dim]")

    def terraform(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        console.print(f"[bold]$ terraform {shlex.join(args)}[/bold]")
        result = tf.run(infra, *args, check=False)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        if result.returncode in (0, 2):  # 2: plan -detailed-exitcode with changes
            lines = [line for line in lines if _SUMMARY.match(line.strip())] or lines[-3:]
        else:
            lines += result.stderr.splitlines()
        for line in lines:
            console.print(f"  {line}", markup=False, highlight=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"terraform {args[0]} failed (exit {result.returncode})")
        return result

    def paved(*args: str) -> int:
        from paved_road import cli

        console.print(f"[bold]$ paved {shlex.join(args)}[/bold]")
        code = cli.main(list(args))
        console.print(f"[dim](exit {code})[/dim]")
        return code

    who = {"GIT_AUTHOR_NAME": "demo", "GIT_AUTHOR_EMAIL": "demo@example.com",
           "GIT_COMMITTER_NAME": "demo", "GIT_COMMITTER_EMAIL": "demo@example.com"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(service_dir), *args], check=True, capture_output=True,
                       env={**os.environ, **who})

    def release(version: str) -> None:
        """What the release workflow does: a tag, then the multi-arch image pushed to ECR."""
        git("commit", "-q", "--allow-empty", "-m", f"changes for {version}")
        git("tag", f"v{version}")
        seeder.push(ecr, SERVICE, version, [version], ["amd64", "arm64"])
        console.print(f"released {version}: tag v{version}, image {SERVICE}:{version} pushed to ECR"
                      + ("  [red](this one fails its health checks)[/red]" if version == BROKEN else ""))

    variables = ["-var-file=environments/staging.tfvars", f"-var=aws_account_id={tf.SIM_ACCOUNT}"]
    try:
        step(f"1. generate {SERVICE} from the template (copier)")
        service_dir = root / SERVICE
        generate(service_dir, ANSWERS, template, vcs_ref="HEAD")
        git("init", "-q")
        git("add", "-A")
        git("commit", "-q", "-m", "generated from the Paved Road template")
        console.print(f"generated {service_dir}; its infra/ pins the template's Terraform modules")

        step("2. the platform: cluster, VPC with private subnets published in SSM, GitHub OIDC provider")
        tf.seed_platform(server.endpoint, REGION, CLUSTER)
        console.print(f"paved sim at {server.endpoint}: cluster {CLUSTER}")
        infra = tf.prepare_infra(service_dir / "infra", Path(template) / "terraform-modules", root / "tf",
                                 server.endpoint)
        console.print("infra/ copied with sim_override.tf (local state, provider endpoints on paved sim) and the "
                      f"provider 5.100.0 compatibility edits: {', '.join(p for _, _, p, _ in tf.PROVIDER6_ONLY)}")

        step("3. terraform apply (staging): ECR, ECS service with the collector sidecar, IAM, logs, autoscaling")
        terraform("init", "-input=false", "-no-color")
        terraform("apply", "-input=false", "-no-color", "-auto-approve", *variables)
        import boto3
        ecr = boto3.client("ecr", region_name=REGION, endpoint_url=server.endpoint)
        ecs = boto3.client("ecs", region_name=REGION, endpoint_url=server.endpoint)
        desired = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["desiredCount"]
        console.print(f"service {SERVICE} created, parked at {desired} tasks: no image in ECR yet")

        step("4. CI releases 1.0.0 and 1.1.0; paved deploy 1.0.0 onto the service Terraform created")
        release("1.0.0")
        release("1.1.0")
        codes["deploy 1.0.0"] = paved("deploy", *TARGET, "--to", "1.0.0", *poll)

        step("5. terraform apply again: a release exists, so the service runs its autoscaling range")
        tags = tf.image_tags(server.endpoint, REGION, SERVICE)
        terraform("apply", "-input=false", "-no-color", "-auto-approve", *variables,
                  f"-var={tf.IMAGE_TAGS_VARIABLE}={json_list(tags)}")
        desired = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]["desiredCount"]
        console.print(f"service {SERVICE}: {desired} task(s)")
        paved("history", *TARGET)

        step("6. deploy 1.1.0")
        codes["deploy 1.1.0"] = paved("deploy", *TARGET, "--to", "1.1.0", *poll)

        step(f"7. ship the broken {BROKEN}: the circuit breaker rolls it back, paved exits 4")
        release(BROKEN)
        codes[f"deploy {BROKEN}"] = paved("deploy", *TARGET, "--to", BROKEN, *poll)
        paved("history", *TARGET)

        step("8. on-call: paved rollback --previous (ECS already rolled back: it verifies and stays on the last good release)")
        codes["rollback --previous"] = paved("rollback", *TARGET, "--previous", *poll)
        paved("history", *TARGET)

        step("9. delivery: the four DORA keys from the deployment history (paved dora)")
        codes["dora"] = paved("dora", *TARGET, "--since", "1d", "--repo", str(service_dir))

        step("10. terraform plan: deploys changed the task definition and Terraform leaves them be")
        tags = tf.image_tags(server.endpoint, REGION, SERVICE)
        final = terraform("plan", "-input=false", "-no-color", "-detailed-exitcode", *variables,
                          f"-var={tf.IMAGE_TAGS_VARIABLE}={json_list(tags)}", check=False)
        codes["plan"] = final.returncode

        from paved_road.deploy.aws_session import AwsClients
        from paved_road.deploy.ecs_deploy import read_ledger
        newest = read_ledger(AwsClients(), CLUSTER, SERVICE).newest_first[0]
    except RuntimeError as exc:
        console.print(f"[red]demo failed: {exc}[/red]")
        return 1
    finally:
        server.stop()
        work.cleanup()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    expected = {"deploy 1.0.0": 0, "deploy 1.1.0": 0, f"deploy {BROKEN}": 4, "rollback --previous": 0, "dora": 0,
                "plan": 0}
    # The ledger (issue 18): ECS's breaker put 1.1.0 back, and --previous verified that instead of moving further.
    ok = codes == expected and newest.release == "1.1.0" and newest.how == "ecs-rollback" and newest.outcome == "completed"
    elapsed = time.monotonic() - started
    if ok:
        console.print(f"[green]demo ok in {elapsed:.0f} s: Terraform built the service, paved deployed onto it, "
                      f"ECS rolled back {BROKEN}, --previous verified 1.1.0, and the last plan is empty[/green]")
        return 0
    console.print(f"[red]demo failed after {elapsed:.0f} s: exits {codes}, newest deployment {newest.release} "
                  f"({newest.how}, {newest.outcome})[/red]")
    return 1


def json_list(values: list[str]) -> str:
    import json

    return json.dumps(values)
