"""`paved releases`, `paved deploy`, `paved rollback`: the command layer.

Parses arguments, calls ecr_releases / ecs_deploy, prints, and maps failures to
the exit codes documented in ecs_deploy.EXIT_CODES and docs/deploy-and-rollback.md.
Progress and results go to stdout, errors to stderr as one `error:` line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from paved_road.deploy import aws_session, ecs_deploy
from paved_road.deploy import releases as ecr_releases
from paved_road.deploy.ecs_deploy import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNEXPECTED, DeployError

DEFAULT_TIMEOUT = 900
DEFAULT_POLL_INTERVAL = 15.0


def _positive(kind):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive number of seconds (got '{text}')")
        return value
    return convert


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _run(func, args) -> int:
    """Run a command body; turn known failures into one line and an exit code."""
    try:
        return func(args)
    except DeployError as exc:
        return _error(str(exc), exc.exit_code)
    except ecr_releases.BadVersion as exc:
        return _error(str(exc), EXIT_BAD_INPUT)
    except NoRegionError:
        return _error("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)", EXIT_BAD_INPUT)
    except NoCredentialsError:
        return _error("no AWS credentials found in the environment", EXIT_BAD_INPUT)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        return _error(f"AWS {exc.operation_name} failed: {err.get('Code')}: {err.get('Message')}", EXIT_UNEXPECTED)
    except BotoCoreError as exc:
        return _error(f"AWS call failed: {exc}", EXIT_UNEXPECTED)


# ---------------------------------------------------------------- releases


def releases_command(args) -> int:
    clients = aws_session.AwsClients()
    ecr = clients.ecr()
    try:
        releases = ecr_releases.list_releases(ecr, args.repository)
    except ecr.exceptions.RepositoryNotFoundException:
        return _error(f"ECR repository '{args.repository}' not found", EXIT_BAD_INPUT)
    ecr_releases.read_architectures(ecr, args.repository, releases)
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in releases], indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"releases in {args.repository}", title_justify="left")
    for column in ("version", "digest", "architectures", "pushed"):
        table.add_column(column, no_wrap=True)
    for r in releases:
        pushed = r.pushed_at.strftime("%Y-%m-%d %H:%M") if r.pushed_at else ""
        table.add_row(r.name, r.digest, ",".join(r.architectures or []) or "unknown", pushed)
    Console(width=max(140, len(releases[0].digest) + 60) if releases else 140).print(table)
    if not releases:
        print(f"no SemVer releases in {args.repository}")
    return EXIT_OK


# ---------------------------------------------------------------- deploy / rollback


def say(line: str) -> None:
    """One line to stdout, flushed: in a CI log it must interleave with stderr in order."""
    print(line, flush=True)


def _append(path_var: str, text: str) -> None:
    path = os.environ.get(path_var)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def change_command(args) -> int:
    action = args.command
    clients = aws_session.AwsClients()
    version = args.version if action == "deploy" else args.to
    if version is not None:
        ecr_releases.parse_version(version)  # malformed input fails before any AWS call
    plan = ecs_deploy.plan_change(
        clients, action=action, cluster=args.cluster, service=args.service, container=args.container,
        repository=args.repository, version=version, previous=getattr(args, "previous", False),
    )
    for line in plan.describe():
        say(line)
    if plan.noop:
        say(f"nothing to do: {args.service} already runs {plan.to_release.name}")
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=None, result="already running"))
        return EXIT_OK
    if args.dry_run:
        say("dry run: nothing registered, service unchanged")
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=None, result="dry run"))
        return EXIT_OK

    registered = ecs_deploy.apply_plan(clients, plan)
    revision = ecs_deploy.revision_name(registered)
    say(f"registered {revision}; service {args.service} updated")
    _append("GITHUB_OUTPUT", f"revision={revision}\ndigest={plan.to_release.digest}\n"
                             f"from={plan.from_label}\nto={plan.to_release.name}\n")
    if args.no_wait:
        say("--no-wait: rollout not verified")
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=registered, result="started (not verified)"))
        return EXIT_OK
    say(f"waiting up to {args.timeout:g}s for the PRIMARY deployment to reach COMPLETED")
    try:
        result = ecs_deploy.wait_for_rollout(
            clients.ecs, args.cluster, args.service, registered, timeout=args.timeout,
            poll_interval=args.poll_interval, progress=say)
    except DeployError as exc:
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=registered, result=f"❌ {exc}"))
        raise
    say(f"{action} complete: {args.service} runs {plan.to_release.name} on {revision} "
          f"({result.running}/{result.desired} tasks, rolloutState {result.rollout_state})")
    _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=registered, result="✅ COMPLETED"))
    return EXIT_OK


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", required=True, help="ECS cluster name or ARN")
    parser.add_argument("--service", required=True, help="ECS service name or ARN")
    parser.add_argument("--container", default="app", help="container whose image changes (default: app)")
    parser.add_argument("--repository", help="ECR repository (default: the one the running app image comes from)")
    wait = parser.add_mutually_exclusive_group()
    wait.add_argument("--timeout", type=_positive(float), default=DEFAULT_TIMEOUT,
                      help=f"seconds to wait for the rollout to complete (default: {DEFAULT_TIMEOUT})")
    wait.add_argument("--no-wait", action="store_true", help="return after update_service, without verifying")
    parser.add_argument("--poll-interval", type=_positive(float), default=DEFAULT_POLL_INTERVAL,
                        help=f"seconds between service polls while waiting (default: {DEFAULT_POLL_INTERVAL:g})")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")


EPILOG = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in ecs_deploy.EXIT_CODES.items())


def register(subparsers) -> None:
    releases = subparsers.add_parser("releases", help="list SemVer releases in an ECR repository, newest first")
    releases.add_argument("--repository", required=True, help="ECR repository name")
    releases.add_argument("--format", choices=["table", "json"], default="table")
    releases.set_defaults(func=lambda args: _run(releases_command, args))

    fmt = argparse.RawDescriptionHelpFormatter
    deploy = subparsers.add_parser("deploy", help="deploy a release to an ECS service and verify it",
                                   epilog=EPILOG, formatter_class=fmt)
    _common(deploy)
    deploy.add_argument("--version", required=True, help="release to deploy, SemVer X.Y.Z (leading v allowed)")
    deploy.set_defaults(func=lambda args: _run(change_command, args))

    rollback = subparsers.add_parser("rollback", help="roll an ECS service back to an earlier release and verify it",
                                     epilog=EPILOG, formatter_class=fmt)
    _common(rollback)
    target = rollback.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", help="release to roll back to, SemVer X.Y.Z (leading v allowed)")
    target.add_argument("--previous", action="store_true", help="the newest release older than the running one")
    rollback.set_defaults(func=lambda args: _run(change_command, args))
    register_history(subparsers)


# ---------------------------------------------------------------- history


def history_command(args) -> int:
    from paved_road.deploy.history import service_history

    clients = aws_session.AwsClients()
    ecs_deploy.describe_service(clients.ecs, args.cluster, args.service)  # unknown cluster/service: exit 2
    deployments = service_history(clients.ecs, args.cluster, args.service, container=args.container)
    if args.json:
        print(json.dumps([d.as_dict() for d in deployments], indent=2))
        return EXIT_OK
    print_history(deployments, f"{args.service} on {args.cluster}")
    return EXIT_OK


def print_history(deployments, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"deployments of {title}, newest first", title_justify="left")
    for column in ("started (UTC)", "finished", "release", "revision", "strategy", "status", "by"):
        table.add_column(column, no_wrap=True)
    for d in deployments:
        finished = d.finished_at.strftime("%H:%M:%S") if d.finished_at else "-"
        table.add_row(d.started_at.strftime("%Y-%m-%d %H:%M:%S"), finished, d.release or "?", d.task_definition,
                      d.strategy, d.status, d.made_by)
    Console(width=140).print(table)
    if not deployments:
        print("no deployments recorded")


def register_history(subparsers) -> None:
    history = subparsers.add_parser("history", help="every deployment of an ECS service, newest first")
    history.add_argument("--cluster", required=True, help="ECS cluster name or ARN")
    history.add_argument("--service", required=True, help="ECS service name or ARN")
    history.add_argument("--container", default="app", help="container whose image names the release (default: app)")
    history.add_argument("--json", action="store_true", help="JSON instead of a table")
    history.set_defaults(func=lambda args: _run(history_command, args))
