"""The fleet selection: which services a fleet command works on, defined once (docs/fleet.md).

    paved catalog [PATH ...] [--repos-file FILE]
                  [--github-org ORG [--topic T] [--include-archived] [--github-api URL]]

API for fleet commands (catalog, fleet update, dora; fleet preview next):

    selection.add_arguments(parser)          # the options, with one help text
    sel = selection.from_args(args)          # a Selection; .problem() is a one-line bad-input error
    found = selection.read_github(sel, template)   # --github-org: a GitHubFleet (answers texts + notes)

Paths and `--repos-file` stay read by paved_road.fleet.catalog (local checkouts, git URLs).
A fleet read from GitHub is the organisation's repositories whose answers file points at the
canonical template (untrusted.same_source: the normalised comparison); one whose answers file
cannot be parsed is kept, with its error, since it may well be one of ours.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

from paved_road.fleet.remote import github
from paved_road.untrusted import AnswersError, load_answers, redact, same_source

# GitHub logins: alphanumerics and single hyphens, at most 39 characters.
_ORG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_TOPIC = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")  # GitHub topics: lowercase, digits, hyphens, <= 50


@dataclass
class Selection:
    paths: list[str] = field(default_factory=list)
    repos_file: str | None = None
    github_org: str | None = None
    topic: str | None = None
    include_archived: bool = False
    github_api: str = github.DEFAULT_API

    def problem(self) -> str | None:
        """One line naming the bad option and what it accepts, or None."""
        if self.github_org is None:
            if self.topic or self.include_archived or self.github_api != github.DEFAULT_API:
                return "--topic, --include-archived and --github-api select within --github-org ORG; pass it"
            return None
        if not _ORG.match(self.github_org):
            return (f"--github-org: '{self.github_org}' is not a GitHub organisation login "
                    "(letters, digits and single hyphens, at most 39)")
        if self.paths or self.repos_file:
            return "--github-org selects the whole fleet: drop PATH and --repos-file, or drop --github-org"
        if self.topic is not None and not _TOPIC.match(self.topic):
            return f"--topic: '{self.topic}' is not a GitHub topic (lowercase letters, digits and hyphens, at most 50)"
        if not re.match(r"^https://[^\s/@]+(/\S*)?$|^http://(127\.0\.0\.1|localhost)(:\d+)?(/\S*)?$", self.github_api):
            return (f"--github-api: '{redact(self.github_api)}' must be an https:// URL (GitHub Enterprise Server: "
                    "https://HOST/api/graphql) or http://127.0.0.1 for a local test server")
        return None


def add_arguments(parser: argparse.ArgumentParser, what: str = "services", default_here: bool = True) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help=f"{what}: checkouts or directories holding them" + (" (default: .)" if default_here else ""))
    parser.add_argument("--repos-file", metavar="FILE", help="YAML list of service repositories: paths or git URLs")
    org = parser.add_argument_group("GitHub organisation (docs/fleet.md)")
    org.add_argument("--github-org", metavar="ORG", help="every repository of ORG whose .copier-answers.yml points "
                     "at the canonical template, read through GitHub's GraphQL API (token: GH_TOKEN, "
                     "GITHUB_TOKEN or `gh auth token`; with --github-api another host: GH_ENTERPRISE_TOKEN, "
                     "GITHUB_ENTERPRISE_TOKEN or `gh auth token --hostname HOST`)")
    org.add_argument("--topic", metavar="T", help="with --github-org: only repositories with this topic")
    org.add_argument("--include-archived", action="store_true", help="with --github-org: archived repositories too")
    org.add_argument("--github-api", metavar="URL", default=github.DEFAULT_API,
                     help=f"GraphQL endpoint (default: {github.DEFAULT_API}; GitHub Enterprise Server: "
                          "https://HOST/api/graphql)")


def from_args(args: argparse.Namespace) -> Selection:
    return Selection(paths=list(getattr(args, "paths", None) or []), repos_file=getattr(args, "repos_file", None),
                     github_org=getattr(args, "github_org", None), topic=getattr(args, "topic", None),
                     include_archived=bool(getattr(args, "include_archived", False)),
                     github_api=getattr(args, "github_api", None) or github.DEFAULT_API)


def checkout_paths(sel: Selection, command: str) -> list[str]:
    """The local checkouts a command that changes services works on: PATHs, plus the `path:` entries
    of --repos-file. A URL entry or --github-org is bad input for it (CatalogError, one line):
    such a command commits on branches, so it needs the checkouts."""
    from paved_road.fleet.catalog import CatalogError, read_repos_file

    if sel.github_org:
        raise CatalogError(f"{command} works on checkouts and --github-org names repositories on GitHub: clone "
                           f"them, then pass their directory (`paved catalog --github-org {sel.github_org}` "
                           "lists them)")
    paths = list(sel.paths)
    if sel.repos_file:
        for item in read_repos_file(sel.repos_file):
            if not item.get("path"):
                raise CatalogError(redact(f"--repos-file {sel.repos_file}: {command} works on checkouts; "
                                          f"'{item.get('url')}' is a URL: clone it and list its path"))
            paths.append(item["path"])
    return paths or ["."]


@dataclass
class GitHubFleet:
    entries: list[tuple[str, str | None, str | None]]  # (owner/name, answers text, error) per service
    scan: github.OrgScan
    other_template: list[str] = field(default_factory=list)
    cruft_only: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """What was left out and why, one line each (printed on stderr)."""
        s, out = self.scan, []
        out.append(f"{s.org}: {s.listed} repositories listed, {len(self.entries)} in the fleet "
                   f"({s.requests} GraphQL requests" + (f", {s.waited:.0f} s waiting on rate limits" if s.waited else "") + ")")
        if s.forbidden:
            out.append(f"{len(s.forbidden)} the token cannot read: {', '.join(s.forbidden)}")
        if s.gone:
            out.append(f"{len(s.gone)} gone while reading: {', '.join(s.gone)}")
        if s.archived_skipped:
            out.append(f"{len(s.archived_skipped)} archived, left out (--include-archived): {', '.join(s.archived_skipped)}")
        if self.other_template:
            out.append(f"{len(self.other_template)} generated from another template: {', '.join(self.other_template)}")
        if self.cruft_only:
            out.append(f"{len(self.cruft_only)} with only .cruft.json (cookiecutter), not cataloged: "
                       f"{', '.join(self.cruft_only)}")
        return out


def read_github(sel: Selection, canonical: list[str], token: str | None = None, client: github.Client | None = None,
                **scan_options) -> GitHubFleet:
    """The fleet of `sel.github_org`: services whose `_src_path` is one of `canonical` (empty: any)."""
    client = client or github.Client(sel.github_api, token or github.find_token(api=sel.github_api))
    scan = github.scan_org(client, sel.github_org, topic=sel.topic, include_archived=sel.include_archived,
                           **scan_options)
    fleet = GitHubFleet(entries=[], scan=scan)
    for found in scan.found:
        if found.text is None and found.error is None:
            fleet.cruft_only.append(found.label)
            continue
        if found.text is not None:
            try:
                src = load_answers(found.text, github.ANSWERS_FILES[0]).get("_src_path")
            except AnswersError:
                src = None  # unreadable: kept with the catalog's own error for it
            if src is not None and canonical and not same_source(src, *canonical):
                fleet.other_template.append(found.label)
                continue
        fleet.entries.append((found.label, found.text, found.error))
    fleet.entries.sort()
    return fleet
