"""`paved catalog` and `paved fleet update`: the command layer (parse, print).

Logic lives in paved_road.catalog and paved_road.fleet.
"""

from __future__ import annotations

import argparse
import json
import sys

from paved_road import catalog as cat
from paved_road import fleet

FORMATS = ("table", "json", "html", "backstage")
DRIFT_STYLE = {"none": "green", "patch": "yellow", "minor": "dark_orange", "major": "bold red", "unknown": "dim"}
STATUS_STYLE = {"updated": "green", "conflicts": "yellow", "failed": "bold red", "current": "dim"}


def _print_table(catalog: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Paved Road services")
    for col in ("Service", "Owner", "System", "Version", "Latest", "Drift", "Arch", "Runner", "Node", "Path"):
        table.add_column(col)
    for s in catalog["services"]:
        if s.error:
            table.add_row(s.name or "?", s.owner or "", s.system or "", s.current_version or "", "",
                          "[bold red]error[/]", "", "", "", f"{s.path}\n[red]{s.error}[/]")
            continue
        demo = f"\n[yellow]demo values: {', '.join(s.placeholders)}[/]" if s.placeholders else ""
        table.add_row(s.name or "?", s.owner or "", s.system or "", s.current_version, s.latest_version or "",
                      f"[{DRIFT_STYLE[s.drift]}]{s.drift}[/]", ",".join(s.architectures), s.runner_mode or "",
                      str(s.node_major or ""), s.path + demo)
    console = Console()
    console.print(table)
    summary = catalog["summary"]
    drift = ", ".join(f"{v} {k}" for k, v in summary["drift"].items() if v)
    console.print(f"{summary['total']} services: {summary['behind']} behind ({drift or 'none'}), {summary['errors']} unreadable"
                  + (f", {summary['placeholders']} still carrying demo values" if summary.get("placeholders") else ""))


def run_catalog(args: argparse.Namespace) -> int:
    if not args.paths and not args.repos_file:
        args.paths = ["."]
    try:
        catalog = cat.build_catalog(args.paths, repos_file=args.repos_file, template=args.template)
    except cat.CatalogError as exc:
        print(f"paved catalog: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        out = json.dumps(cat.to_json(catalog), indent=2) + "\n"
    elif args.format == "html":
        out = cat.render_html(catalog)
    elif args.format == "backstage":
        out = cat.backstage_yaml(catalog)
    else:
        out = None
    if out is not None:
        if args.output:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(out)
        else:
            sys.stdout.write(out)
    else:
        _print_table(catalog)
    for s in catalog["services"]:
        if s.error:
            print(f"paved catalog: {s.path}: {s.error}", file=sys.stderr)
    return cat.exit_code(catalog)


def run_fleet_update(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if args.jobs is not None and args.jobs < 1:
        print(f"paved fleet update: --jobs must be a positive integer (got {args.jobs})", file=sys.stderr)
        return 2
    try:
        planned = fleet.plan(args.paths or ["."], args.to, args.template)
    except fleet.FleetError as exc:
        print(f"paved fleet update: {exc}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    with Progress(TextColumn("updating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, disable=args.json) as progress:
        task = progress.add_task("", total=len(planned[0]))

        def advance(res: fleet.FleetResult) -> None:
            progress.update(task, advance=1, description=f"{res.name or res.path}: {res.status}")

        results = fleet.update_fleet(args.paths or ["."], to=args.to, jobs=args.jobs,
                                     template=args.template, on_result=advance, planned=planned)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        out = Console()
        for r in results:
            style = STATUS_STYLE[r.status]
            line = f"[{style}]{r.status:9}[/] {r.name or '?'}  {r.path}"
            if r.status in (fleet.UPDATED, fleet.CONFLICTS):
                line += f"  {r.from_version} -> {r.to_version} on branch {r.branch}"
            if r.conflicts:
                line += "\n           conflicts: " + ", ".join(r.conflicts)
            if r.reason:
                line += f"\n           reason: {r.reason}"
            out.print(line, highlight=False)
    if any(r.status == fleet.FAILED for r in results):
        return 1
    return 3 if any(r.status == fleet.CONFLICTS for r in results) else 0


def run_fleet_conflicts(args: argparse.Namespace) -> int:
    found = False
    for path in args.paths or ["."]:
        for rel in fleet.find_conflicts(path):
            found = True
            print(f"{path.rstrip('/')}/{rel}" if len(args.paths or []) > 1 else rel)
    return 1 if found else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "catalog", help="where every service stands against the template (exit 2 when any is behind)",
        description="Find services by their .copier-answers.yml and compare their template version "
                    "with the template's latest release tag (read once with git ls-remote).",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="service checkouts or directories holding them (default: .)")
    p.add_argument("--repos-file", metavar="FILE", help="YAML list of service repositories: paths or git URLs")
    p.add_argument("--template", metavar="URL", help="template git URL to compare against (default: each service's _src_path)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--output", "-o", metavar="FILE", help="write json/html/backstage output to FILE instead of stdout")
    p.set_defaults(func=run_catalog)

    f = subparsers.add_parser("fleet", help="operations over many services")
    fsub = f.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND", required=True)
    u = fsub.add_parser(
        "update", help="update services to a template release, one branch and commit each",
        description="Exit 0 all updated or current, 3 some have conflicts to resolve, 1 some failed, 2 bad input.",
    )
    u.add_argument("paths", nargs="*", metavar="PATH", help="service checkouts or directories holding them (default: .)")
    u.add_argument("--to", metavar="VERSION", help="template tag to update to (default: the latest release)")
    u.add_argument("--jobs", "-j", type=int, metavar="N", help="services updated in parallel (default: CPU count)")
    u.add_argument("--template", metavar="URL", help="template git URL whose tags choose the target (default: each service's _src_path; copier updates from _src_path)")
    u.add_argument("--json", action="store_true", help="print results as JSON, no progress bar")
    u.set_defaults(func=run_fleet_update)
    c = fsub.add_parser(
        "conflicts", help="list files an update left with conflict markers or .rej files (exit 1 if any)",
    )
    c.add_argument("paths", nargs="*", metavar="PATH", help="service checkouts (default: .)")
    c.set_defaults(func=run_fleet_conflicts)
