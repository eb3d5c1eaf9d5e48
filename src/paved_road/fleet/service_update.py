"""`paved update [PATH]`: bring one service to a template release, the way its team does it.

One command instead of remembering copier's flags: `copier update --trust
--defaults --skip-answered --conflict inline` (the flags `paved fleet update`
and Renovate's copier manager use; recorded answers are kept, nothing is
asked again). copier exits 0 even when files conflict and shows them only as
`UU` in `git status`; this command lists every conflicted file with its hunk
count, exits 3, and says how to finish.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from paved_road import first_hour, output
from paved_road.fleet.catalog import ANSWERS_FILE, latest_release, parse_version, template_tags
from paved_road.fleet.fleet import (Cancelled, _git, _GitError, _last_line, changed_paths, checkout_top,
                                    conflict_hunks, find_conflicts, not_canonical, restore_checkout,
                                    run_copier_update)
from paved_road.template_source import trusted_sources
from paved_road.untrusted import AnswersError, load_answers, redact, same_source

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CONFLICTS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UpdateError(ValueError):
    """Bad input or a precondition not met: nothing was changed."""


@dataclass
class UpdateResult:
    path: str
    from_version: str | None
    to_version: str | None
    changed: list[str] = field(default_factory=list)
    conflicts: dict[str, int] = field(default_factory=dict)  # file -> conflict hunks
    already_current: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def _answers(repo: Path) -> dict:
    path = repo / ANSWERS_FILE
    if not path.is_file():
        raise UpdateError(f"{repo}: no {ANSWERS_FILE}; run it in a service generated from the template "
                          "(or pass its path)")
    try:
        data = load_answers(path.read_bytes(), str(path))
    except OSError as exc:
        raise UpdateError(f"{path}: cannot be read ({str(exc).splitlines()[0]}); fix or restore it") from exc
    except AnswersError as exc:
        raise UpdateError(f"{exc}; fix or restore it") from exc
    if not data.get("_src_path") or not data.get("_commit"):
        raise UpdateError(f"{path}: no _src_path/_commit, so copier cannot know the template; "
                          "it must come from `copier copy` of a tagged template")
    return data


def check_preconditions(repo: Path, to: str | None, template: str | None = None) -> tuple[str, str | None, str]:
    """(current version, target version, branch) or UpdateError. Read-only. The service's `_src_path`
    must be the canonical template (`template`, else $PAVED_TEMPLATE, else paved's own checkout):
    `copier update --trust` runs the tasks of whatever template it names."""
    if not repo.exists():
        raise UpdateError(f"{repo}: no such directory; pass the service's checkout")
    if not repo.is_dir():
        raise UpdateError(f"{repo}: is a file; pass the service's checkout directory")
    answers = _answers(repo)
    trusted = trusted_sources(template)
    if not trusted:
        raise UpdateError("no canonical template to update from: pass --template URL or set PAVED_TEMPLATE")
    if not same_source(answers["_src_path"], *trusted, base=repo.resolve()):
        raise UpdateError(f"{repo}: {not_canonical(str(answers['_src_path']), trusted[-1])}")
    try:
        _git(repo, "rev-parse", "--show-toplevel")
    except (_GitError, OSError) as exc:
        raise UpdateError(f"{repo}: not a git repository; copier update needs one (git init && git add -A "
                          "&& git commit)") from exc
    if _git(repo, "status", "--porcelain", "--untracked-files=all").strip():
        raise UpdateError(f"{repo}: uncommitted changes; commit or stash them first "
                          "(the update must be reviewable as its own diff)")
    branch = _git(repo, "symbolic-ref", "--short", "-q", "HEAD", check=False).strip()
    if not branch:
        raise UpdateError(f"{repo}: detached HEAD; check out a branch first")
    if to is not None and parse_version(to) is None:
        raise UpdateError(f"--to must be a release tag such as v1.2.0 (got '{to}')")
    try:
        tags = template_tags(str(answers["_src_path"]))
    except RuntimeError as exc:
        raise UpdateError(f"cannot read the template's tags from {redact(answers['_src_path'])}: {exc}") from exc
    if to is not None and to not in tags:
        raise UpdateError(f"--to must be one of the template's tags: {', '.join(tags) or 'none'} (got '{to}')")
    return str(answers["_commit"]), to or latest_release(tags), branch


def update(repo: Path, to: str | None = None, template: str | None = None) -> UpdateResult:
    """Run the update in `repo`; leaves the changes uncommitted for review.

    On a copier failure or Ctrl-C the checkout is put back exactly (it was
    clean before: nothing of the user's is lost)."""
    current, target, branch = check_preconditions(repo, to, template)
    result = UpdateResult(path=str(repo), from_version=current, to_version=target)
    if target is None:
        src = redact(_answers(repo)["_src_path"])
        raise UpdateError(f"the template at {src} has no release tags, so there is nothing to update to; "
                          f"{first_hour.no_release_hint(src)}")
    if parse_version(current) is not None and parse_version(current) >= parse_version(target):
        result.already_current = True
        return result
    try:
        proc = run_copier_update(repo, target)
    except (KeyboardInterrupt, Cancelled):
        restore_checkout(repo, branch)
        raise
    if proc.returncode:
        restore_checkout(repo, branch)
        raise RuntimeError(f"copier update exited {proc.returncode}: {_last_line(proc.stderr or proc.stdout)} "
                           "(the checkout was put back as it was)")
    result.changed, conflicted = outcome(repo)
    result.conflicts = {rel: conflict_hunks(path) for rel, path in conflicted.items()}
    return result


def outcome(repo: Path, top: Path | None = None, prefix: str | None = None) -> tuple[list[str], dict[str, Path]]:
    """After `copier update` in `repo`: the files it changed or added, and those left with conflict markers
    or .rej files (-> their path on disk), relative to `repo` (`paved update` and `paved fleet preview`).
    `top`, `prefix`: the repository's top and `repo`'s place below it, when the caller knows them."""
    if top is None or prefix is None:
        top, prefix = checkout_top(repo)
    # porcelain paths are relative to the repository root, whatever the cwd
    changed_top = changed_paths(repo)
    changed = sorted(c.removeprefix(prefix) for c in changed_top)
    return changed, {rel.removeprefix(prefix): top / rel for rel in find_conflicts(top) if rel in changed_top}


def report(result: UpdateResult) -> str:
    if result.already_current:
        if result.from_version == result.to_version:
            return f"{result.path}: already on {result.to_version}; nothing to do"
        return (f"{result.path}: already on {result.from_version}, past {result.to_version}; "
                "nothing to do (paved update never downgrades)")
    lines = [f"{result.path}: updated from {result.from_version} to {result.to_version}; "
             f"{len(result.changed)} file(s) changed, uncommitted for review"]
    if result.conflicts:
        total = sum(result.conflicts.values())
        lines.append(f"{len(result.conflicts)} file(s) with conflicts ({total} hunk(s)) to resolve:")
        lines += [f"  {path}  {hunks} hunk(s)" for path, hunks in sorted(result.conflicts.items())]
        lines.append("To finish: edit each file above (keep what you need between the <<<<<<< / ======= / >>>>>>> "
                     "markers, delete the markers; a .rej file holds a hunk to apply by hand, then delete it), "
                     "check with `paved fleet conflicts`, then `git add -A && git commit`. "
                     "To abandon the update: `git reset --hard && git clean -fd`.")
    else:
        lines.append("No conflicts. To finish: review with `git diff`, then "
                     f"`git add -A && git commit -m 'Update Paved Road template to {result.to_version}'`.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    repo = Path(args.path)
    try:
        result = update(repo, args.to, args.template)
    except UpdateError as exc:
        print(f"paved update: {redact(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, Cancelled):
        print(f"paved update: interrupted; {repo} is back as it was (nothing changed)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"paved update: {redact(exc)}", file=sys.stderr)
        return EXIT_FAILED
    output.emit(args, data=result.to_json, text=lambda: report(result))
    return EXIT_CONFLICTS if result.conflicts else EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "update", help="update this service to a template release (exit 3 when files conflict)",
        description="Run copier update with the right flags (--trust --defaults --skip-answered --conflict "
                    "inline: recorded answers are kept, nothing is asked), then list conflicted files. "
                    "Exit 0 updated or already current, 3 conflicts to resolve, 2 bad input or "
                    "precondition (nothing changed), 1 copier failed (checkout put back), 130 interrupted "
                    "(checkout put back).",
    )
    p.add_argument("path", nargs="?", default=".", metavar="PATH",
                   help="the service's git checkout, clean, on a branch (default: .)")
    p.add_argument("--to", metavar="VERSION", help="template tag to update to (default: the latest release)")
    p.add_argument("--template", metavar="URL",
                   help="the canonical template (git URL or path); a service whose _src_path names another "
                        "template is refused, never updated (default: $PAVED_TEMPLATE, else the checkout paved "
                        "runs from)")
    output.add_arguments(p, aliases={"text": "plain"}, what="the result")
    p.set_defaults(func=run)
