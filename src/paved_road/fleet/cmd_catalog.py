"""`paved catalog`, `paved fleet update` and `paved fleet conflicts`: the command layer (parse, print).

Logic lives in paved_road.fleet.catalog and paved_road.fleet.fleet. Output
adapts to where it goes: a rich table on a terminal; plain text with full
values (never cut to 80 columns) in a pipe, a file or a CI log; JSON on request.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from paved_road import cli_options, first_hour, output
from paved_road.fleet import catalog as cat
from paved_road.fleet import fleet, selection
from paved_road.fleet.remote import github
from paved_road.untrusted import redact

EXTRA_FORMATS = ("html", "backstage")
DRIFT_STYLE = {"current": "green", "patch": "yellow", "minor": "dark_orange", "major": "bold red", "unknown": "dim",
               "error": "bold red"}
STATUS_STYLE = {"updated": "green", "conflicts": "yellow", "failed": "bold red", "current": "dim",
                "pending": "cyan", "refreshed": "green", "skipped": "bold red", "uncommitted": "yellow"}


def _is_terminal(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


# Columns a narrow terminal drops first have the highest number (docs/cli.md).
_PRIORITY = {"Service": 0, "Owner": 2, "System": 4, "Template": 5, "Version": 0, "Latest": 0, "Drift": 0,
             "Arch": 3, "Runner": 4, "Node": 3, "Path": 1}


def catalog_table(catalog: dict) -> output.Table:
    rows = [(*row[:6], (row[6], DRIFT_STYLE[row[6]]), *row[7:]) for row in cat.table_rows(catalog)]
    return output.Table(title="Paved Road services", rows=rows, notes=[cat.summary_line(catalog)],
                        columns=[output.Column(c, _PRIORITY[c], wrap=c == "Path") for c in cat.COLUMNS])


def _write(output: str | None, text: str) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


def run_catalog(args: argparse.Namespace) -> int:
    sel = selection.from_args(args)
    problem = sel.problem()
    if not args.paths and not args.repos_file and not sel.github_org:
        args.paths = ["."]
    problem = problem or output.check_output(args.output)
    if problem:
        print(f"paved catalog: {problem}", file=sys.stderr)
        return cat.EXIT_BAD_INPUT
    args.format = args.format or "table"
    if args.preview and args.format != "html":
        print(f"paved catalog: --preview links the html page to a `paved fleet preview --format html` page; use "
              f"--format html (got {args.format})", file=sys.stderr)
        return cat.EXIT_BAD_INPUT
    if args.dora and args.format != "html":
        print(f"paved catalog: --dora links the html page to a `paved dora --format html` page; use --format html (got {args.format})",
              file=sys.stderr)
        return cat.EXIT_BAD_INPUT
    read, notes = [], []
    if sel.github_org:
        from paved_road.template_source import trusted_sources
        try:
            token = github.find_token(api=sel.github_api)
            found = selection.read_github(sel, trusted_sources(args.template), token=token)
        except github.NoToken as exc:
            print(f"paved catalog: {exc}", file=sys.stderr)
            return cat.EXIT_BAD_INPUT
        except github.GitHubError as exc:
            print(f"paved catalog: {redact(exc)}", file=sys.stderr)
            return cat.EXIT_UNREADABLE
        read, notes = found.entries, found.notes()
    try:
        catalog = cat.build_catalog(args.paths, repos_file=args.repos_file, template=args.template,
                                    jobs=args.jobs, read=read)
    except cat.CatalogError as exc:
        print(f"paved catalog: {redact(exc)}", file=sys.stderr)
        return cat.EXIT_BAD_INPUT
    if args.format == "html":
        _write(args.output, cat.render_html(catalog, dora_page=args.dora, preview_page=args.preview))
    elif args.format == "backstage":
        _write(args.output, cat.backstage_yaml(catalog))
    else:
        output.emit(args, data=lambda: cat.to_json(catalog), table=lambda: catalog_table(catalog))
    for note in notes:
        print(f"paved catalog: {note}", file=sys.stderr)
    for s in catalog["services"]:
        if s.error:
            print(f"paved catalog: {s.path}: {s.error}", file=sys.stderr)
    for src, info in sorted(catalog["templates"].items()):
        if not info["latest_version"] and not info.get("error"):
            print(f"paved catalog: {src} has no release tags, so drift is unknown; {first_hour.no_release_hint(src)}",
                  file=sys.stderr)
    for name in catalog["summary"]["duplicates"]:
        paths = [s.path for s in catalog["services"] if s.name == name]
        print(f"paved catalog: service name '{name}' is used by {len(paths)} checkouts: {', '.join(paths)}; "
              "rename one (service_name in its .copier-answers.yml) or drop the copy", file=sys.stderr)
    if sel.github_org and (found.scan.forbidden or found.scan.gone):
        return cat.EXIT_UNREADABLE  # a repository we could not read may be a service: the catalog is incomplete
    if args.output:
        print(f"paved catalog: wrote {args.format} to {args.output} ({cat.summary_line(catalog)})", file=sys.stderr)
    return cat.exit_code(catalog)


def _result_line(r: fleet.FleetResult, rich: bool) -> str:
    status = f"[{STATUS_STYLE[r.status]}]{r.status:9}[/]" if rich else f"{r.status:9}"
    line = f"{status} {r.name or '?'}  {r.path}"
    if r.status in (fleet.UPDATED, fleet.CONFLICTS, fleet.REFRESHED, fleet.PENDING):
        line += f"  {r.from_version} -> {r.to_version} on branch {r.branch}"
    if r.status == fleet.UNCOMMITTED:
        line += f"  {r.from_version} -> {r.to_version} in the work tree, not committed"
    if r.conflicts:
        line += "\n           conflicts: " + ", ".join(r.conflicts)
    if r.reason:
        line += f"\n           reason: {r.reason}"
    return line


def summary(results: list[fleet.FleetResult]) -> str:
    """What this run changed, against the branches earlier runs left."""
    count = {s: sum(1 for r in results if r.status == s) for s in STATUS_STYLE}
    new = count["updated"] + count["conflicts"]
    return (f"{len(results)} services. Since the last run: {new} new update branch(es) "
            f"({count['conflicts']} with conflicts), {count['refreshed']} rebuilt on new commits. "
            f"Unchanged: {count['pending']} pending from an earlier run, {count['current']} current"
            + (f", {count['uncommitted']} updated, uncommitted (in the work tree only)" if count["uncommitted"] else "")
            + ". "
            f"{count['failed']} failed."
            + (f" {count['skipped']} skipped: not the canonical template." if count["skipped"] else ""))


def run_fleet_update(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    args.json = output.resolve(args) == "json"
    sel = selection.from_args(args)
    try:
        if sel.problem():
            raise fleet.FleetError(sel.problem())
        args.paths = selection.checkout_paths(sel, "fleet update")
        planned = fleet.plan(args.paths, args.to, args.template)
    except (fleet.FleetError, cat.CatalogError) as exc:
        print(f"paved fleet update: {redact(exc)}", file=sys.stderr)
        return 2
    console = Console(stderr=True)
    interrupted = False
    with Progress(TextColumn("updating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console,
                  disable=args.json or not _is_terminal(sys.stderr)) as progress:
        task = progress.add_task("", total=len(planned[0]))

        def advance(res: fleet.FleetResult) -> None:
            progress.update(task, advance=1, description=f"{res.name or res.path}: {res.status}")

        try:
            results = fleet.update_fleet(args.paths or ["."], to=args.to, jobs=cli_options.jobs(args.jobs),
                                         template=args.template, on_result=advance, planned=planned)
        except fleet.FleetInterrupted as exc:
            results, interrupted = exc.results, True
    if output.resolve(args) != "table":
        output.emit(args, data=lambda: [r.to_json() for r in results],
                    text=lambda: "\n".join([*(_result_line(r, False) for r in results), summary(results)]))
    else:
        out = Console(soft_wrap=True)
        for r in results:
            out.print(_result_line(r, True), highlight=False)
        print(summary(results))
    if interrupted:
        print("paved fleet update: interrupted; services being updated were put back as they were "
              "(branch, HEAD, clean tree); finished ones keep their branches; run it again to continue",
              file=sys.stderr)
        return 130
    if any(r.status in (fleet.FAILED, fleet.SKIPPED) for r in results):
        return 1
    return 3 if any(r.status in (fleet.CONFLICTS, fleet.UNCOMMITTED) for r in results) else 0


def run_fleet_conflicts(args: argparse.Namespace) -> int:
    paths = args.paths or ["."]
    for path in paths:
        if not Path(path).is_dir():
            print(f"paved fleet conflicts: {path}: no such directory; pass a service checkout", file=sys.stderr)
            return 2
    found = 0
    for path in paths:
        for rel in fleet.find_conflicts(path):
            found += 1
            hunks = fleet.conflict_hunks(Path(path) / rel)
            print(f"{path.rstrip('/')}/{rel}" if len(paths) > 1 else rel, f"{hunks} hunk(s)", sep="  ")
    if not found:
        print(f"no conflicts in {', '.join(paths)}")
    return 3 if found else 0  # as `update` and `fleet update`: 1 stays "unexpected failure"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "catalog", help="where every service stands against the template (exit 3 when any is behind)",
        description="Find services by their .copier-answers.yml and compare their template version "
                    "with the latest release tag of their template (read once with git ls-remote). "
                    "Exit 0 all current, 3 some behind, 4 some unreadable or duplicate names, 2 bad input.",
    )
    selection.add_arguments(p)
    cli_options.add_jobs(p, "git remotes and template tags read", remote=True)
    p.add_argument("--template", metavar="URL", help="template git URL to compare against (default: each service's _src_path)")
    output.add_arguments(p, extra=EXTRA_FORMATS, what="the output (any format)")
    p.add_argument("--dora", metavar="PAGE", help="with --format html: link each service to its row in this "
                   "`paved dora --format html` page (a URL, or a path relative to the catalog page)")
    p.add_argument("--preview", metavar="PAGE", help="with --format html: link each service to its row in this "
                   "`paved fleet preview --format html` page (a URL, or a path relative to the catalog page)")
    p.set_defaults(func=run_catalog)

    f = subparsers.add_parser("fleet", help="operations over many services")
    fsub = f.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND", required=True)
    u = fsub.add_parser(
        "update", help="update services to a template release, one branch and commit each (safe to re-run)",
        description="Exit 0 all updated, pending or current, 3 some have conflicts to resolve or an update "
                    "not committed yet (uncommitted), 1 some failed, 2 bad input, 130 interrupted. An existing "
                    "branch from an earlier run is left as it is (pending), or rebuilt when the base branch moved "
                    "and its tip is still the commit paved made.",
    )
    selection.add_arguments(u)
    u.add_argument("--to", metavar="VERSION", help="template tag to update to (default: the latest release)")
    cli_options.add_jobs(u, "services updated")
    u.add_argument("--template", metavar="URL", help="the canonical template (git URL or path): its tags choose the target, and a service whose "
                        "_src_path is another template is skipped, never updated (default: $PAVED_TEMPLATE, else "
                        "the checkout paved runs from)")
    output.add_arguments(u, aliases={"text": "plain"}, what="the results")
    u.set_defaults(func=run_fleet_update)
    c = fsub.add_parser(
        "conflicts", help="list files an update left with conflict markers or .rej files (exit 3 if any)",
        description="One line per file with its number of conflict hunks; 'no conflicts' and exit 0 when none.",
    )
    c.add_argument("paths", nargs="*", metavar="PATH", help="service checkouts (default: .)")
    c.set_defaults(func=run_fleet_conflicts)
    from paved_road.fleet.preview import command as cmd_preview
    cmd_preview.register(fsub)
