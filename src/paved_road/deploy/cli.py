"""`paved releases`, `paved deploy`, `paved rollback`: the command layer.

Parses arguments, calls ecr_releases / ecs_deploy, prints, and maps failures to
the exit codes documented in ecs_deploy.EXIT_CODES and docs/deploy-and-rollback.md.
Progress and results go to stdout, errors to stderr as one `error:` line.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from botocore.exceptions import BotoCoreError, ClientError

from paved_road import cli_options, output
from paved_road.deploy import aws_session, ecs_deploy
from paved_road.deploy import releases as ecr_releases
from paved_road.deploy.ecs_deploy import EXIT_BAD_INPUT, EXIT_OK, EXIT_UNEXPECTED, DeployError
from paved_road.untrusted import redact

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
    print(f"error: {redact(message)}", file=sys.stderr)
    return code


def _run(func, args) -> int:
    """Run a command body; turn known failures into one line and an exit code."""
    try:
        return func(args)
    except DeployError as exc:
        return _error(str(exc) + (f"; to roll back: {exc.rollback}" if exc.rollback else ""), exc.exit_code)
    except ecr_releases.BadVersion as exc:
        return _error(str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _error("interrupted; anything already started in ECS goes on (see paved history)", 130)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = EXIT_BAD_INPUT if err.get("Code") in aws_session.CREDENTIAL_ERROR_CODES else EXIT_UNEXPECTED
        return _error(f"AWS {exc.operation_name} failed: {err.get('Code')}: {err.get('Message')}", code)
    except BotoCoreError as exc:
        message, code = aws_session.explain(exc)
        return _error(message, code)


# ---------------------------------------------------------------- releases


def releases_command(args) -> int:
    clients = aws_session.AwsClients()
    clients.check_reachable("ecr")
    ecr = clients.ecr()
    try:
        releases = ecr_releases.list_releases(ecr, args.repository)
    except ecr.exceptions.RepositoryNotFoundException:
        return _error(f"ECR repository '{args.repository}' not found", EXIT_BAD_INPUT)
    ecr_releases.read_architectures(ecr, args.repository, releases)
    output.emit(args, data=lambda: [r.as_dict() for r in releases], table=lambda: output.Table(
        title=f"releases in {args.repository}", empty=f"no SemVer releases in {args.repository}",
        columns=[output.Column("version"), output.Column("digest", 2), output.Column("architectures", 1),
                 output.Column("pushed (UTC)")],
        rows=[(r.name, r.digest, ",".join(r.architectures or []) or "unknown",
               r.pushed_at.strftime("%Y-%m-%d %H:%M") if r.pushed_at else "") for r in releases]))
    return EXIT_OK


# ---------------------------------------------------------------- deploy / rollback


def say(line: str) -> None:
    """One line to stdout, flushed: in a CI log it must interleave with stderr in order."""
    print(line, flush=True)


def _append(path_var: str, text: str) -> None:
    path = os.environ.get(path_var)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(redact(text))


def _sigterm_as_interrupt() -> None:
    """CI cancellation sends SIGTERM (after SIGINT): handle both the same way, cleaning up first."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests calling main() from a thread)
        pass


def change_command(args) -> int:
    action = args.command
    _sigterm_as_interrupt()
    clients = aws_session.AwsClients()
    version = args.to
    previous = getattr(args, "previous", False)
    if action == "deploy" and version is None:
        return _error("--to VERSION is required (the release to deploy, SemVer X.Y.Z)", EXIT_BAD_INPUT)
    if version is not None:
        ecr_releases.parse_version(version)  # malformed input fails before any AWS call
    if action == "rollback" and not (version or previous or args.in_flight):
        return _error("give --to X.Y.Z, --previous or --in-flight", EXIT_BAD_INPUT)
    clients.check_reachable("ecs")
    if getattr(args, "again", False) and not previous:
        return _error("--again goes with --previous (one release further back than --previous)", EXIT_BAD_INPUT)
    common = dict(action=action, cluster=args.cluster, service=args.service, container=args.container,
                  repository=args.repository, digest=getattr(args, "digest", None), force=args.force,
                  allow_downgrade=getattr(args, "allow_downgrade", False),
                  allow_bad_release=getattr(args, "allow_bad_release", False))
    if getattr(args, "in_flight", False):
        # --in-flight alone stops the deployment in progress; with --to / --previous it stops one if there is
        # one (back to the last good release), then rolls back as asked if that is not where the service is.
        try:
            stop = ecs_deploy.plan_change(clients, **common, in_flight=True)
        except ecs_deploy.NothingInFlight as exc:
            if not (version or previous):
                raise
            say(f"{exc.args[0].split(';')[0]}: rolling back as usual")
        else:
            code = execute(clients, stop, args)
            if stop.settled is not None and (previous or version is None):
                return code  # a rollback was already under way: followed it, nothing more to start
            if code != EXIT_OK or previous or version is None or args.dry_run or args.no_wait:
                if args.dry_run and version:
                    say(f"then: roll back to {version} unless the last good release is {version}")
                return code
            if stop.to_release.name == ecr_releases.format_version(ecr_releases.parse_version(version)):
                return code
    plan = ecs_deploy.plan_change(clients, **common, version=version, previous=previous,
                                  again=getattr(args, "again", False))
    return execute(clients, plan, args)


def execute(clients, plan, args) -> int:
    """Print the plan, then apply and verify it (or stop at --dry-run)."""
    action = plan.action
    for line in plan.describe():
        say(line)
    if args.dry_run:
        if plan.diff:
            say("  task definition diff (running -> new):")
            for line in plan.diff:
                say(f"    {line}")
        elif not plan.in_flight:
            say("  task definition diff: none besides the tags")
        say("dry run: nothing registered, service unchanged")
        if plan.to_release is not None and not plan.in_flight:
            # What the real run would deploy: rollback.yml verifies it before running it.
            _append("GITHUB_OUTPUT", f"to={plan.to_release.name}\ndigest={plan.to_release.digest}\n")
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=None, result="dry run"))
        return EXIT_OK
    if plan.settled is not None:
        return follow_run(clients, plan, plan.settled.current, args)
    if plan.noop:
        return verify_running(clients, plan, args)

    applied = ecs_deploy.apply_plan(clients, plan, say)
    revision = ecs_deploy.revision_name(applied.revision) if not plan.in_flight else plan.in_flight.task_definition
    if plan.in_flight:
        say(f"stopping deployment {plan.in_flight.id.rsplit('/', 1)[-1]} with ROLLBACK")
    elif applied.registered:
        say(f"registered {revision}; service {args.service} updated")
    else:
        say(f"new deployment of {revision} started (--force)")
    _append("GITHUB_OUTPUT", f"revision={revision}\ndigest={plan.to_release.digest}\n"
                             f"from={plan.from_label}\nto={plan.to_release.name}\n")
    if args.no_wait:
        say("--no-wait: rollout not verified")
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=applied.revision,
                                                                   result="started (not verified)"))
        return EXIT_OK
    if plan.in_flight:
        good = plan.last_good
        rollback = dataclasses.replace(plan.in_flight, id=f"{plan.in_flight.deployment_arn}#rollback",
                                       how="ecs-rollback", outcome="rolling-back",
                                       release=good.release if good else None,
                                       task_definition=good.task_definition if good else "")
        return follow_run(clients, plan, rollback, args)
    say(f"waiting up to {args.timeout + plan.bake_seconds:g}s for the service deployment to finish"
        + (f" (including {plan.bake_seconds:g}s bake time)" if plan.bake_seconds else ""))
    try:
        result = _waiting(plan, lambda: ecs_deploy.wait_for_deployment(
            clients.ecs, plan, applied.revision, exclude=applied.exclude, timeout=args.timeout,
            poll_interval=args.poll_interval, progress=say), clients, args)
    except DeployError as exc:
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=applied.revision, result=f"❌ {exc}"))
        raise
    tasks = f"{result.running}/{result.desired} tasks"
    if plan.desired_count == 0:
        tasks = "desiredCount 0: no task runs it, its health is unverified"
    say(f"{action} complete: {args.service} runs {plan.to_release.name} on {revision} ({tasks}, {result.status})")
    _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=applied.revision, result=f"✅ {result.status}"))
    return EXIT_OK


def verify_running(clients, plan, args) -> int:
    """The release already runs: the answer is whatever the run that put it there says (ledger)."""
    running = plan.running_deployment
    name = plan.to_release.name
    if running is None:
        say(f"{args.service} already runs {name}; no recorded deployment put it there, so nothing more to verify")
        return EXIT_OK
    label = f"deployment {running.deployment_arn.rsplit('/', 1)[-1]} ({running.task_definition})"
    if running.settled(running.status) == "ok":
        say(f"nothing to do: {args.service} already runs {name}; {label} is {running.status}")
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=None, result="already running"))
        return EXIT_OK
    if running.in_flight and running.is_rollback:
        return follow_run(clients, plan, running, args)
    if running.in_flight and not args.no_wait:
        say(f"{args.service} is already deploying {name}; following {label}")
        result = _waiting(plan, lambda: ecs_deploy.wait_for_deployment(
            clients.ecs, plan, plan.current_task_definition, timeout=args.timeout,
            poll_interval=args.poll_interval, progress=say, deployment_arn=running.deployment_arn), clients, args)
        say(f"{plan.action} complete: {args.service} runs {name} ({result.status})")
        return EXIT_OK
    if running.in_flight:
        say(f"{args.service} is already deploying {name} ({label}, {running.status}); --no-wait: not verified")
        return EXIT_OK
    raise ecs_deploy.DeploymentFailed(
        f"{args.service} runs {name} on {running.task_definition}, but {label} ended {running.status}; "
        "redeploy with --force, or roll back")


def service_state(clients, args) -> str:
    """One line for an interrupted or abandoned wait: what the service runs and what is under way."""
    try:
        svc = ecs_deploy.describe_service(clients.ecs, args.cluster, args.service)
    except Exception as exc:  # noqa: BLE001 - the state is best effort; the wait already failed
        return f"the service's state could not be read ({type(exc).__name__})"
    parts = []
    for d in svc.get("deployments", []):
        parts.append(f"{d.get('status')} {ecs_deploy.revision_name(d.get('taskDefinition', ''))} "
                     f"{d.get('rolloutState') or ''} {d.get('runningCount', 0)}/{d.get('desiredCount', 0)} running".strip())
    return (f"{args.service} runs {ecs_deploy.revision_name(svc.get('taskDefinition', ''))}"
            + (f"; deployments: {'; '.join(parts)}" if parts else ""))


def _waiting(plan, wait, clients, args):
    """Run a wait; on SIGINT/SIGTERM or a give-up, say what state the service is in (and write the summary)."""
    try:
        return wait()
    except KeyboardInterrupt:
        state = service_state(clients, args)
        _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=None,
                                                                   result=f"interrupted while waiting; {state}"))
        raise ecs_deploy.Interrupted(f"interrupted while waiting; the deployment goes on in ECS; {state}") from None
    except ecs_deploy.DeploymentTimeout as exc:
        longer = ecs_deploy.DeploymentTimeout(f"{exc}; {service_state(clients, args)}")
        longer.rollback = exc.rollback
        raise longer from None
    except (ClientError, BotoCoreError) as exc:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in aws_session.THROTTLE_CODES:
            raise ecs_deploy.DeploymentTimeout(
                f"gave up waiting: ECS kept throttling ({exc.response['Error']['Code']}) after the SDK's retries; "
                f"the deployment goes on in ECS; {service_state(clients, args)}") from None
        raise


def _deployment_status(clients, run) -> str:
    found = clients.ecs.describe_service_deployments(serviceDeploymentArns=[run.deployment_arn])["serviceDeployments"]
    return found[0]["status"] if found else "MISSING"


def _fallback_status(clients, args, run) -> str:
    """The run's status on the describe_services fallback: its id there is an ECS deployment id, not a
    service-deployment ARN, so DescribeServiceDeployments cannot be asked; rolloutState is what ECS says."""
    svc = ecs_deploy.describe_service(clients.ecs, args.cluster, args.service)
    mine = next((d for d in svc.get("deployments", []) if d.get("id") == run.deployment_arn), None)
    if mine is None:
        # no longer listed: ECS drops a deployment from the list once another replaced it
        return "SUCCESSFUL" if ecs_deploy.revision_name(svc.get("taskDefinition", "")) == run.task_definition \
            else "MISSING"
    rollout = mine.get("rolloutState")
    if rollout == "FAILED":
        return "FAILED"
    if rollout == "COMPLETED" or (rollout is None and mine.get("status") == "PRIMARY"
                                  and len(svc.get("deployments", [])) == 1):
        return "SUCCESSFUL"
    return "IN_PROGRESS"


def follow_run(clients, plan, run, args) -> int:
    """Verify a rollback the ledger says happened or is under way (ECS's, paved's, an outside one): never start one.

    Polls the run's service deployment until the ledger calls it settled, then checks the service runs the
    run's revision.
    """
    name = run.release or "?"
    if plan.settled is not None and plan.settled.action == "verify":
        say(f"already rolled back: {plan.settled.current.describe()}")
    elif run is not plan.in_flight:
        say(f"following the {run.how} to {name} ({run.task_definition}) already under way: "
            f"not starting another")
    if not args.dry_run and args.no_wait and not run.landed:
        say("--no-wait: rollback not verified")
        return EXIT_OK
    say(f"waiting up to {args.timeout:g}s for {run.how} to {name} to finish" if not run.landed else
        f"verifying {args.service} runs {name} on {run.task_definition}")
    import time as _time

    def wait():
        deadline = _time.monotonic() + args.timeout
        last = None
        status = run.status
        while not run.landed:
            status = _fallback_status(clients, args, run) if plan.ledger is not None and plan.ledger.degraded \
                else _deployment_status(clients, run)
            if status != last:
                say(f"  {run.deployment_arn.rsplit('/', 1)[-1]}: {status}")
                last = status
            verdict = run.settled(status)
            if verdict == "ok":
                break
            if verdict == "bad" or status == "MISSING":
                raise ecs_deploy.DeploymentFailed(f"the {run.how} to {name} ended {status}; "
                                                  f"{service_state(clients, args)}")
            if _time.monotonic() > deadline:
                raise ecs_deploy.DeploymentTimeout(f"the {run.how} to {name} is still {status} after "
                                                   f"{args.timeout:g}s; it continues in ECS")
            _time.sleep(args.poll_interval)
        return status

    status = _waiting(plan, wait, clients, args)
    svc = ecs_deploy.describe_service(clients.ecs, args.cluster, args.service)
    now = ecs_deploy.revision_name(svc["taskDefinition"])
    if run.task_definition and now != run.task_definition:
        raise ecs_deploy.DeploymentFailed(f"the {run.how} to {name} ended {status} but the service runs {now}, "
                                          f"not {run.task_definition}")
    say(f"rollback complete: {args.service} runs {name} on {now} again, the last good release"
        + (" (nothing started: --again goes one release further back)" if plan.settled is not None else ""))
    _append("GITHUB_STEP_SUMMARY", ecs_deploy.summary_markdown(plan, revision=None, result=f"✅ {run.how} to {name} verified"))
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
    parser.add_argument("--dry-run", action="store_true", help="print the plan and a task-definition diff; change nothing")
    parser.add_argument("--force", action="store_true",
                        help="start a new deployment even if the release already runs (e.g. after rotating secrets)")


EPILOG = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in ecs_deploy.EXIT_CODES.items())


def register(subparsers) -> None:
    releases = subparsers.add_parser("releases", help="list SemVer releases in an ECR repository, newest first")
    releases.add_argument("--repository", required=True, help="ECR repository name")
    output.add_arguments(releases, what="the releases")
    releases.set_defaults(func=lambda args: _run(releases_command, args))

    fmt = argparse.RawDescriptionHelpFormatter
    deploy = subparsers.add_parser("deploy", help="deploy a release to an ECS service and verify it",
                                   epilog=EPILOG, formatter_class=fmt)
    _common(deploy)
    deploy.add_argument("--to", metavar="VERSION", action=cli_options.StoreOne,
                        help="release to deploy, SemVer X.Y.Z (leading v allowed); required")
    # The old spelling collided with the usual `--version` (paved's own); kept, hidden, for one release.
    deploy.add_argument("--version", dest="to", action=cli_options.DeprecatedAlias, new_name="--to",
                        metavar="VERSION", help=argparse.SUPPRESS)
    deploy.add_argument("--digest", help="deploy exactly this index digest (sha256:...); refuse if the tag moved")
    deploy.add_argument("--allow-downgrade", action="store_true",
                        help="allow a release older than the running one (normally: paved rollback)")
    deploy.add_argument("--allow-bad-release", action="store_true",
                        help="deploy a release this service already failed or rolled back (normally refused)")
    deploy.set_defaults(func=lambda args: _run(change_command, args), in_flight=False)

    rollback = subparsers.add_parser("rollback", help="roll an ECS service back to an earlier release and verify it",
                                     epilog=EPILOG, formatter_class=fmt)
    _common(rollback)
    target = rollback.add_mutually_exclusive_group()
    target.add_argument("--to", help="release to roll back to, SemVer X.Y.Z (leading v allowed)")
    target.add_argument("--previous", action="store_true",
                        help="the last release that ran to completion in this service before the current one")
    rollback.add_argument("--digest", help="roll back to exactly this index digest (sha256:...), e.g. the one "
                                           "rollback.yml verified; refuse if the release now resolves to another")
    rollback.add_argument("--in-flight", action="store_true",
                          help="stop the deployment in progress (StopServiceDeployment ROLLBACK) and verify the service "
                               "is back on the last good one; with --to/--previous, then roll back as asked")
    rollback.add_argument("--again", action="store_true",
                          help="with --previous: go one release further back even if the service was already "
                               "rolled back (by ECS, paved or by hand) onto the last good release")
    rollback.set_defaults(func=lambda args: _run(change_command, args))
    register_history(subparsers)


# ---------------------------------------------------------------- history


def history_command(args) -> int:
    clients = aws_session.AwsClients()
    clients.check_reachable("ecs")
    ecs_deploy.describe_service(clients.ecs, args.cluster, args.service)  # unknown cluster/service: exit 2
    book = ecs_deploy.read_ledger(clients, args.cluster, args.service, container=args.container)
    if book.degraded:
        print(book.degraded, file=sys.stderr)
    output.emit(args, data=lambda: [r.as_dict() for r in book.newest_first],
                table=lambda: history_table(book, f"{args.service} on {args.cluster}"))
    return EXIT_OK


def _finished(run) -> str:
    """The time a run finished; with its date when that is not the day it started (23:58 -> 00:03 is the next day)."""
    if run.finished_at is None:
        return "-"
    same_day = run.finished_at.date() == run.started_at.date()
    return run.finished_at.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")


def history_table(book, title: str) -> output.Table:
    """The ledger as a table: one row per release run, newest first; why a run
    did not complete follows the table."""
    runs = book.newest_first
    return output.Table(
        title=f"runs of {title}, newest first", empty="no deployments recorded",
        columns=[output.Column("started (UTC)"), output.Column("finished", 3), output.Column("release"),
                 output.Column("revision", 1), output.Column("strategy", 4), output.Column("how"),
                 output.Column("outcome"), output.Column("ECS status", 2)],
        rows=[(r.started_at.strftime("%Y-%m-%d %H:%M:%S"), _finished(r), r.release or "?", r.task_definition,
               r.strategy, r.how, r.outcome, r.status) for r in runs],
        notes=[f"  {r.release or '?'} ({r.task_definition}) {r.outcome}: {r.detail}"
               for r in runs if r.detail and r.outcome != "completed"])


def register_history(subparsers) -> None:
    history = subparsers.add_parser("history", help="every deployment of an ECS service, newest first")
    history.add_argument("--cluster", required=True, help="ECS cluster name or ARN")
    history.add_argument("--service", required=True, help="ECS service name or ARN")
    history.add_argument("--container", default="app", help="container whose image names the release (default: app)")
    output.add_arguments(history, what="the deployments")
    history.set_defaults(func=lambda args: _run(history_command, args))
