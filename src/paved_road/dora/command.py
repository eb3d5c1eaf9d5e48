"""`paved dora`: the command layer (parse, print). Logic: collect.py, metrics.py, report.py.

Exit codes: 0 every service measured; 1 some services of a fleet could not be
read (the output says which) or an unexpected error; 2 bad input (options,
--since/--until, catalog, the named service not found, no region/credentials).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta, timezone

from paved_road import cli_options, output
from paved_road.deploy.history import utc
from paved_road.dora import collect, report
from paved_road.fleet import selection
from paved_road.fleet.remote import github
from paved_road.untrusted import redact

EXTRA_FORMATS = ("html",)
_SPAN = re.compile(r"^(\d+)([hdwy])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "y": timedelta(days=365)}


class BadOption(ValueError):
    pass


def parse_span(text: str, option: str) -> timedelta:
    match = _SPAN.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise BadOption(f"{option} must be a positive span like 24h, 30d, 12w or 1y (got '{text}')")
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_time(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadOption(f"{option} must be an ISO 8601 date or time such as 2026-03-01 or 2026-03-01T12:00:00Z (got '{text}')") from None
    return utc(value)


def window(since: str, until: str | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    current = now or datetime.now(timezone.utc)
    if until:
        end = parse_time(until, "--until")
    else:  # whole seconds, rounded up: a deployment started earlier in this second is inside the window
        end = current.replace(microsecond=0) + (timedelta(seconds=1) if current.microsecond else timedelta(0))
    if _SPAN.match(since.strip()):
        start = end - parse_span(since, "--since")
    else:
        try:
            start = parse_time(since, "--since")
        except BadOption:
            raise BadOption(f"--since must be a span like 30d, 12w or 1y, or an ISO 8601 date such as 2026-03-01 (got '{since}')") from None
    if start >= end:
        raise BadOption(f"--since must be before --until (got {start.isoformat()} .. {end.isoformat()})")
    if start >= current:   # no day of it has happened: rates over 0 days would read 0 a day, band "low"
        raise BadOption(f"the window {start.isoformat()} .. {end.isoformat()} starts after now "
                        f"({current.replace(microsecond=0).isoformat()}): nothing can have been deployed in it yet")
    return start, end


def _is_fleet(args) -> bool:
    """A fleet (--catalog or the fleet selection of docs/fleet.md), not one named service."""
    return bool(args.catalog or getattr(args, "paths", None) or getattr(args, "repos_file", None)
                or getattr(args, "github_org", None))


def _targets(args) -> list[collect.Target]:
    sel = selection.from_args(args)
    problem = sel.problem()
    if problem:
        raise BadOption(problem)
    chosen = bool(sel.paths or sel.repos_file or sel.github_org)
    if getattr(args, "template", None) and not sel.github_org:
        raise BadOption("--template chooses which repositories of --github-org ORG are the fleet; pass --github-org "
                        "or drop --template")
    if args.catalog and chosen:
        raise BadOption("--catalog is PATH or --repos-file in one option: give it or PATH/--repos-file/--github-org, "
                        "not both")
    if _is_fleet(args) and (args.cluster or args.service):
        raise BadOption("give either --cluster and --service, or a fleet (PATH, --repos-file, --github-org or "
                        "--catalog), not both")
    if _is_fleet(args) and args.repo:
        raise BadOption("--repo names one service's checkout; with a fleet each service's own path is used")
    args.fleet_unreadable = []  # services whose answers file cannot be read: named, not measured (exit 1)
    if args.catalog:
        return collect.targets_from_catalog(args.catalog, args.environment, unreadable=args.fleet_unreadable)
    if chosen:
        canonical, token = [], None
        if sel.github_org:
            from paved_road.template_source import trusted_sources
            try:
                token = github.find_token(api=sel.github_api)
            except github.NoToken as exc:
                raise BadOption(str(exc)) from None
            canonical = trusted_sources(getattr(args, "template", None))
        targets, found = collect.targets_from_selection(sel, args.environment, canonical, token,
                                                        unreadable=args.fleet_unreadable)
        if found is not None:
            args.fleet_notes = found.notes()
            args.fleet_incomplete = bool(found.scan.forbidden or found.scan.gone)
        return targets
    if not (args.cluster and args.service):
        raise BadOption("name a service with --cluster C --service S, or a fleet with PATH, --repos-file FILE or "
                        "--github-org ORG (docs/fleet.md)")
    return [collect.Target(name=args.service, cluster=args.cluster, service=args.service, repo=args.repo)]


def prepare(args) -> tuple[datetime, datetime, list[collect.Target]]:
    """Everything checked before any AWS call; BadOption / DoraInputError on bad input."""
    since, until = window(args.since, args.until)
    args.failure_window_span = parse_span(args.failure_window, "--failure-window")
    if not 0 <= getattr(args, "rate_share", 1.0) <= 1:
        raise BadOption(f"--rate-share must be between 0 (no client-side limit) and 1 (got {args.rate_share})")
    if getattr(args, "store", None) and getattr(args, "no_store", False):
        raise BadOption("give --store PATH or --no-store, not both")
    args.jobs = cli_options.jobs(args.jobs)
    if args.jobs < 1:
        raise BadOption(f"--jobs must be a positive integer (got {args.jobs})")
    return since, until, _targets(args)


def open_store(args):
    """The history store (--store PATH; default under the user's cache dir), or None with --no-store."""
    from paved_road.dora import store

    if getattr(args, "no_store", False):
        return None
    if args.store:
        return store.Store(args.store)
    try:
        return store.Store(store.default_path())
    except store.StoreError as exc:   # the user named no store: say it is the default one and the way out
        raise store.StoreError(f"{exc} [the default store; give --store PATH elsewhere, or --no-store]") from None


def build_report(args, since, until, targets, clients=None, progress=None) -> report.Report:
    if clients is None:
        from botocore.config import Config

        from paved_road.deploy.aws_session import AwsClients
        # one connection per reading thread (botocore's pool defaults to 10: more --jobs would wait for one)
        clients = AwsClients(config=Config(max_pool_connections=max(10, args.jobs + 2)))
    environment = args.environment if _is_fleet(args) else None  # one named service: all its deployments count
    now = datetime.now(timezone.utc)   # outcomes of the window's changes are followed up to now
    if not getattr(args, "until", None):
        # the window ends at this run's now, which window() rounded up to the second: not a window reaching
        # past now (its rates would divide by 27.99999 days of 28, its last whole bucket read as unfinished)
        now = max(now, until)
    failure_window = getattr(args, "failure_window_span", None) or parse_span(args.failure_window, "--failure-window")
    store = open_store(args)
    from paved_road.dora.ratelimit import Limiter
    share = getattr(args, "rate_share", 1.0)
    try:
        results = collect.measure_all(
            clients, targets, since, until, environment=environment,
            container=args.container, jobs=args.jobs, on_done=progress, now=now, failure_window=failure_window,
            store=store, limiter=Limiter(share) if share > 0 else None,
        )
    finally:
        if store is not None:
            store.close()
    rep = report.Report(since=since, until=until, environment=environment, now=now)
    short = [r for r in results if r.metrics is not None and r.covered_since is not None and r.covered_since > since]
    if short:
        latest = max(r.covered_since for r in short)
        rep.coverage = {"covered_since": latest.isoformat(), "warnings": [
            f"--since {since.date()}: the history held (the store and ECS's 90 days) starts later for "
            f"{len(short)} of {len(results)} services, the latest {latest.date()} "
            f"({', '.join(r.name for r in short[:3])}{', ...' if len(short) > 3 else ''}); their figures cover "
            f"{latest.date()} .. {min(until, now).date()} at most and rates divide by the days covered (covered_days)"]}
    for r in results:
        if r.error is None and r.metrics is None:
            rep.skipped.append({"name": r.name, "cluster": r.cluster, "environment": r.environment,
                                "environment_source": r.environment_source})
        else:
            rep.services.append(r)
    return rep


def store_errors():
    from paved_road.dora.store import StoreError
    return StoreError


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError, ProfileNotFound
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if args.refresh is not None and (args.format != "html" or args.refresh < report.MIN_REFRESH_SECONDS):
        got = f"--refresh {args.refresh}" + (" without --format html" if args.format != "html" else "")
        print(f"paved dora: --refresh must be a number of seconds >= {report.MIN_REFRESH_SECONDS} with --format html "
              f"(got {got})", file=sys.stderr)
        return 2
    try:
        since, until, targets = prepare(args)
    except (BadOption, collect.DoraInputError) as exc:
        print(f"paved dora: {exc}", file=sys.stderr)
        return 2
    except github.GitHubError as exc:
        print(f"paved dora: {redact(exc)}", file=sys.stderr)
        return 1
    for note in getattr(args, "fleet_notes", []):
        print(f"paved dora: {note}", file=sys.stderr)
    err = Console(stderr=True)
    try:
        # A progress bar only on a terminal: CI logs and pipes get none.
        with Progress(TextColumn("reading ECS, ECR, git"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.description}"), console=err, disable=not err.is_terminal,
                      transient=True) as bar:
            task = bar.add_task("", total=len(targets))
            rep = build_report(args, since, until, targets,
                               progress=lambda r: bar.update(task, advance=1, description=r.name))
        rep.unreadable = getattr(args, "fleet_unreadable", [])
    except (NoRegionError, NoCredentialsError, PartialCredentialsError, ProfileNotFound) as exc:
        print(f"paved dora: AWS: {exc}", file=sys.stderr)
        return 2
    except store_errors() as exc:
        print(f"paved dora: {exc}", file=sys.stderr)
        return 2
    for line in rep.coverage.get("warnings", []):
        print(f"paved dora: warning: {line}", file=sys.stderr)
    data = report.to_json(rep)
    if args.format == "html":
        output.write(args, report.render_html(data, refresh=args.refresh))
    else:
        output.emit(args, data=data, table=lambda: report.table(data))
    for u in rep.unreadable:
        print(f"paved dora: {u['label']}: {u['error']} (not measured)", file=sys.stderr)
    for s in rep.services:
        if s.error:
            print(f"paved dora: {s.cluster}/{s.service}: {s.error}", file=sys.stderr)
        for note in s.notes:
            print(f"paved dora: {s.cluster}/{s.service}: {note}", file=sys.stderr)
    if not _is_fleet(args) and rep.services and rep.services[0].error:
        return 2
    if getattr(args, "fleet_incomplete", False) or rep.unreadable:
        return 1  # a repository or answers file we could not read may be a service: the fleet is incomplete
    return 1 if any(s.error for s in rep.services) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dora", help="the four DORA delivery metrics per service and for the fleet, from ECS, ECR and git",
        description="Deployment frequency, lead time for changes, change failure rate and time to restore "
                    "(plus release build-to-production and rollback duration) from ECS service deployments, "
                    "ECR push times and the services' git tags. Definitions: docs/dora.md. "
                    "Exit 0 ok, 1 some services unreadable, 2 bad input.",
    )
    selection.add_arguments(p, what="a fleet", default_here=False)
    p.add_argument("--template", metavar="URL", help="with --github-org: the canonical template; repositories "
                   "generated from another are left out (default: $PAVED_TEMPLATE, else the checkout paved runs from)")
    p.add_argument("--cluster", metavar="C", help="ECS cluster of the one service to measure")
    p.add_argument("--service", metavar="S", help="ECS service to measure (all of its deployments count)")
    p.add_argument("--catalog", metavar="FILE-or-DIR",
                   help="a fleet in one option: a directory of checkouts (as PATH) or a repos file (as --repos-file)")
    p.add_argument("--since", default="30d", metavar="SPAN-or-DATE", help="window start: 30d, 12w, 1y or an ISO date (default: 30d)")
    p.add_argument("--until", metavar="DATE", help="window end, ISO date or time (default: now)")
    p.add_argument("--environment", default="production", metavar="ENV",
                   help="with --catalog: measure services of this environment (service tag `environment`, "
                        "else the cluster name's -staging/-production suffix; default: production)")
    p.add_argument("--repo", metavar="PATH", help="the service's git checkout, for lead time (release tags vX.Y.Z)")
    output.add_arguments(p, extra=EXTRA_FORMATS, what="the report (any format)")
    p.add_argument("--refresh", type=int, metavar="SECONDS",
                   help="with --format html: the page reloads itself every SECONDS (>= 10; a wall screen showing "
                        "a page a scheduled run rewrites)")
    cli_options.add_jobs(p, "services read")
    p.add_argument("--failure-window", default="24h", metavar="SPAN",
                   help="fix-forward: a release superseded by a patch release of the same minor within this span "
                        "is a change failure (default: 24h; rollbacks and alarms need no window)")
    p.add_argument("--store", metavar="PATH",
                   help="history store (SQLite) that keeps what ECS forgets after 90 days and makes runs incremental "
                        "(default: dora.sqlite under the user's cache dir, e.g. ~/.cache/paved/)")
    p.add_argument("--no-store", action="store_true", help="read ECS only; neither read nor write the store")
    p.add_argument("--rate-share", type=float, default=1.0, metavar="F",
                   help="share of ECS's documented per-account API quotas (per family) this run may use: "
                        "1 the whole bucket (default), 0.5 leaves half to deploys and other tools, 0 no client-side limit")
    p.add_argument("--container", default="app", metavar="NAME", help="the app container's name (default: app)")
    p.set_defaults(func=run)
