"""`paved fleet preview`: the command layer (parse, print). Logic: paved_road.fleet.preview.core."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from paved_road import cli_options, output
from paved_road.fleet import selection
from paved_road.fleet.catalog import CatalogError
from paved_road.fleet.preview import core as pv
from paved_road.untrusted import redact

STATUS_STYLE = {pv.CLEAN: "green", pv.CONFLICTED: "yellow", pv.BUILD_FAILED: "bold red", pv.TEST_FAILED: "bold red",
                pv.MIGRATION_FAILED: "bold red",
                pv.UPDATE_ERROR: "bold red", pv.UNREADABLE: "bold red", pv.SKIPPED: "bold red", pv.CURRENT: "dim"}
COLUMNS = (output.Column("Service"), output.Column("From"), output.Column("Outcome"),
           output.Column("Conflicts", 2, wrap=True), output.Column("Seconds", 3), output.Column("Path", 1, wrap=True))


def summary_lines(rep: dict) -> list[str]:
    """The aggregate, in prose: counts and percentages, most-conflicting files with an example hunk,
    from-versions, failures with their first lines of output, time."""
    s = rep["summary"]
    counts = ", ".join(f"{s['counts'][k]} {k.replace('_', ' ')} ({s['percent'][k]:g}%)"
                       for k in pv.STATUSES if s["counts"][k])
    lines = [f"{s['total']} services, candidate {rep['candidate']} of {rep['template']}: {counts or 'none found'}",
             "from versions: " + (", ".join(f"{v} x{n}" for v, n in s["from_versions"].items()) or "none"),
             f"checks: {rep['checks']}; took {rep['seconds']:g} s ({s['service_seconds']:g} s of per-service work"
             + (f", {rep['dependency_installs']} npm ci for the distinct dependency trees" if rep["checks"] != "update"
                else "") + ")"
             + ("; applied by " + ", ".join(f"{e} x{n}" for e, n in s.get("engines", {}).items())
                if s.get("engines") else "")]
    if s["conflicting_files"]:
        lines.append("files that conflict most:")
        for f in s["conflicting_files"][:5]:
            lines.append(f"  {f['file']}: {f['services']} service(s), {f['hunks']} hunk(s)")
        top = s["conflicting_files"][0]
        if top["example"]:
            lines.append(f"example hunk ({top['file']} in {top['example_service']}):")
            lines += ["    " + line for line in top["example"].splitlines()]
    failing = [r for r in rep["services"] if r["status"] in pv.FAILURES]
    if failing:
        lines.append("failures:")
        for r in failing:
            lines.append(f"  {r['name'] or '?'} ({r['path']}): {r['status'].replace('_', ' ')}: {r['error']}")
            lines += ["      note: " + note for note in r.get("notes", [])]
            if r["failing_tests"]:
                lines.append("      failing tests: " + "; ".join(r["failing_tests"]))
            failed = next((c for c in r["checks"] if c["ok"] is False), None)
            shown = failed["output"] if failed else r["output"]
            lines += ["      " + line for line in shown[-3:]]  # where a traceback names the cause
    noted = [r for r in rep["services"] if r.get("notes") and r["status"] not in pv.FAILURES]
    if noted:
        lines.append("notes:")
        lines += [f"  {r['name'] or '?'} ({r['path']}): {note}" for r in noted for note in r["notes"]]
    if rep.get("scratch"):
        lines.append(f"scratch kept (--keep): {rep['scratch']}")
    return lines


def table(rep: dict) -> output.Table:
    rows = []
    for r in rep["services"]:
        conflicts = ", ".join(f"{f} ({n})" for f, n in sorted(r["conflicts"].items()))
        rows.append((r["name"] or "?", r["from_version"] or "", (r["status"], STATUS_STYLE[r["status"]]),
                     conflicts, f"{r['seconds']:.1f}", r["path"]))
    return output.Table(columns=COLUMNS, rows=rows, title=f"Preview of {rep['candidate']}",
                        notes=summary_lines(rep), empty="no services found")


def render_html(rep: dict) -> str:
    """One self-contained page: the aggregate at the top, then a sortable table of services."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("paved_road", "templates"), autoescape=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    # Sorted by outcome, failures come first, then conflicts, clean, current.
    rank = {s: i for i, s in enumerate((*pv.FAILURES, pv.CONFLICTED, pv.CLEAN, pv.CURRENT))}
    return env.get_template("preview.html").render(rep=rep, summary=rep["summary"], statuses=pv.STATUSES, rank=rank,
                                                   anchor=pv.anchor)


def _terminated(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (a cancelled CI job): stop and clean up as on Ctrl-C


def _with_progress(work):
    """A progress bar on stderr when it is a terminal (a preview takes minutes); nothing otherwise.
    SIGTERM stops the preview as Ctrl-C does (copier stopped, scratch removed)."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _progress(work)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(work):
    if not output.is_terminal(sys.stderr):
        return work(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("previewing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("", total=None)

        def advance(res: pv.ServiceResult) -> None:
            progress.update(task, advance=1, description=f"{res.name or res.path}: {res.status}")

        return work(advance)


def _merge(args: argparse.Namespace) -> dict:
    if args.candidate or args.shard or args.paths or args.repos_file or args.github_org or args.keep:
        raise pv.PreviewError("--merge FILE... combines shard reports: drop PATH, --candidate, --shard and the "
                              "selection options")
    reports = []
    for name in args.merge:
        try:
            with open(name, encoding="utf-8") as fh:
                reports.append((name, json.load(fh)))
        except (OSError, ValueError) as exc:
            raise pv.PreviewError(f"--merge {name}: cannot read it as JSON ({exc.__class__.__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    return pv.merge(reports)


def run(args: argparse.Namespace) -> int:
    sel = selection.from_args(args)
    try:
        if args.merge:
            rep = _merge(args)
        else:
            if not args.candidate:
                raise pv.PreviewError("--candidate REF is required: the template tag, branch or commit to preview "
                                      "(list tags with `git ls-remote --tags TEMPLATE`)")
            if sel.problem():
                raise pv.PreviewError(sel.problem())
            shard = pv.parse_shard(args.shard)
            paths = selection.checkout_paths(sel, "fleet preview")
            rep = _with_progress(lambda advance: pv.run(
                paths, args.candidate, template=args.template, jobs=cli_options.jobs(args.jobs), keep=args.keep, checks=args.checks,
                shard=shard, on_result=advance, engine=args.engine))
    except (pv.PreviewError, CatalogError) as exc:
        print(f"paved fleet preview: {redact(exc)}", file=sys.stderr)
        return pv.EXIT_BAD_INPUT
    except pv.PreviewInterrupted as exc:
        print(f"paved fleet preview: interrupted; copier stopped, {exc} (no checkout was touched)", file=sys.stderr)
        return pv.EXIT_INTERRUPTED
    if output.resolve(args) == "html":
        output.write(args, render_html(rep))
    else:
        output.emit(args, data=rep, table=lambda: table(rep))
    if args.output:
        print(f"paved fleet preview: wrote {args.format} to {args.output} ({summary_lines(rep)[0]})", file=sys.stderr)
    return pv.exit_code(rep)


def register(fsub: argparse._SubParsersAction) -> None:
    p = fsub.add_parser(
        "preview", help="what a template release candidate does to every service, before tagging it "
                        "(exit 3 conflicts, 4 failures)",
        description="Apply the candidate to a scratch clone of every service exactly as `paved update` would "
                    "(copier update --trust --defaults --skip-answered --conflict inline, migrations included) "
                    "and report per service and in aggregate: clean, conflicted (files, hunks), migration "
                    "failed, update error, unreadable answers. Checkouts and their remotes are only read; "
                    "the scratch space is removed afterwards (also on Ctrl-C) unless --keep. Exit 0 all clean "
                    "or current, 3 some conflict, 4 some fail, 2 bad input, 130 interrupted.",
    )
    selection.add_arguments(p)
    p.add_argument("--candidate", metavar="REF",
                   help="the template ref to preview: a tag (e.g. a pre-release v3.0.0rc1), branch or commit")
    p.add_argument("--template", metavar="URL",
                   help="the canonical template (git URL or path) holding REF; a service whose _src_path names "
                        "another template is reported as skipped (default: $PAVED_TEMPLATE, else the checkout "
                        "paved runs from)")
    cli_options.add_jobs(p, "services previewed")
    p.add_argument("--checks", choices=pv.CHECKS, default="update",
                   help="how deep to check each service: update (apply the candidate and record the outcome; "
                        "the default), build (also npm ci from its lockfile, lint, terraform fmt -check on "
                        "infra/), test (also npm test: its own tests, its team's included)")
    p.add_argument("--engine", choices=pv.ENGINES, default="fast",
                   help="what applies the candidate: fast (copier's update in worker processes that share the "
                        "template clones, the default; a service it does not model gets the real copier update, "
                        "counted in the report's summary.engines) or copier (a `copier update` subprocess per "
                        "service)")
    p.add_argument("--keep", action="store_true", help="keep the scratch space (its path is in the report)")
    p.add_argument("--shard", metavar="I/N", help="preview only the I-th of N equal shares of the fleet (every N-th "
                   "service in name order); each shard's --format json report goes to --merge")
    p.add_argument("--merge", nargs="+", metavar="FILE", help="combine the JSON reports of all shards of one run "
                   "into one report (any --format), instead of previewing")
    output.add_arguments(p, extra=("html",), what="the report")
    p.set_defaults(func=run)
