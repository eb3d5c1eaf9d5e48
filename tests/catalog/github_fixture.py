"""A local GitHub GraphQL endpoint answering from a fixture organisation (127.0.0.1 only).

Queries are executed by graphql-core against GitHub's published schema (`@octokit/graphql-schema`,
schema.json, pinned in tests/ecosystem/tools/graphql-schema): a query GitHub would reject is
rejected here too, with GitHub's error shape. Every query received is kept (`queries`) with its
validation errors, so tests assert that all of them were valid.

Modelled on GitHub's documented behaviour (docs.github.com, "Rate limits and node limits for the
GraphQL API", "Troubleshooting the REST API"):
* `Authorization: bearer TOKEN`; anything else: HTTP 401 {"message": "Bad credentials"}.
* errors: {"message", "type", "path", "locations"} next to `data` (partial answers); NOT_FOUND
  for a repository that does not exist (data null at its path), FORBIDDEN for one the token
  cannot read.
* `first` above 100 on a connection: an error, as GitHub's node limit.
* rate limits, on request numbers given in `faults`: "secondary" is HTTP 403 with `Retry-After`
  and GitHub's secondary-limit message; "primary" is HTTP 200 with an error of type RATE_LIMITED,
  `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (epoch seconds); "timeout" is HTTP 502, the
  answer to a query GitHub spent over 10 s on.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from graphql import GraphQLError, build_client_schema, graphql_sync, parse, validate


def load_schema(node_modules: Path):
    data = json.loads((node_modules / "@octokit" / "graphql-schema" / "schema.json").read_text())
    # assume_valid: graphql-core 3.3 enforces a newer spec rule (deprecated implementation of a
    # non-deprecated interface field) GitHub's schema does not follow; queries are still validated.
    return build_client_schema(data.get("data", data), assume_valid=True)


class FixtureError(Exception):
    def __init__(self, type_: str, message: str):
        super().__init__(message)
        self.type = type_


@dataclass
class FixtureRepo:
    name: str
    files: dict[str, bytes] = field(default_factory=dict)
    archived: bool = False
    topics: list[str] = field(default_factory=list)
    forbidden: bool = False  # the token may list it, not read its contents
    empty: bool = False  # no commits: no default branch


class FixtureOrg:
    def __init__(self, schema, org: str, repos: list[FixtureRepo], token: str, *, faults: dict | None = None,
                 delete_after_first_page: tuple[str, ...] = (), latency: float = 0.0):
        self.schema, self.org, self.token = schema, org, token
        self.repos = {r.name: r for r in repos}
        self.faults = dict(faults or {})
        self.delete_after_first_page = delete_after_first_page
        self.latency = latency
        self.queries: list[tuple[str, list[str]]] = []  # (query, validation error messages)
        self.rate_limited = 0
        self.lock = threading.Lock()
        self.requests = 0
        self._validated: dict[str, list[str]] = {}

    # -- resolvers (graphql-core's default resolver calls a callable with (info, **args)) --
    def _repo_node(self, repo: FixtureRepo) -> dict:
        def obj(info, expression):
            if repo.forbidden:
                raise FixtureError("FORBIDDEN", "Resource not accessible by integration")
            ref, _, path = expression.partition(":")
            if ref != "HEAD" or path not in repo.files or repo.empty:
                return None
            body = repo.files[path]
            binary = b"\0" in body
            return {"__typename": "Blob", "byteSize": len(body), "isBinary": binary,
                    "text": None if binary else body.decode("utf-8", "replace")}

        def topics(info, first=None, after=None):
            return {"nodes": [{"topic": {"name": t}} for t in repo.topics[:first]]}

        return {"name": repo.name, "nameWithOwner": f"{self.org}/{repo.name}", "isArchived": repo.archived,
                "defaultBranchRef": None if repo.empty else {"name": "main"},
                "repositoryTopics": topics, "object": obj}

    def _organization(self, info, login):
        if login != self.org:
            raise FixtureError("NOT_FOUND", f"Could not resolve to an Organization with the login of '{login}'.")

        def repositories(info, first=None, after=None, orderBy=None, **_):
            if first is None or not 1 <= first <= 100:
                raise FixtureError("EXCESSIVE_PAGINATION", f"Requesting {first} records on the `repositories` "
                                   "connection exceeds the `first` limit of 100 records.")
            names = sorted(self.repos, key=str.lower)
            if after:
                last = base64.b64decode(after).decode()
                names = [n for n in names if n.lower() > last.lower()]
            page = names[:first]
            nodes = [self._repo_node(self.repos[n]) for n in page]
            if after is None and self.delete_after_first_page:
                for gone in self.delete_after_first_page:  # deleted by someone while we page
                    self.repos.pop(gone, None)
            return {"nodes": nodes, "pageInfo": {"hasNextPage": len(names) > first,
                                                 "endCursor": base64.b64encode(page[-1].encode()).decode() if page else None}}

        return {"login": login, "repositories": repositories}

    def _repository(self, info, owner, name, followRenames=True):
        repo = self.repos.get(name) if owner == self.org else None
        if repo is None:
            raise FixtureError("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return self._repo_node(repo)

    def _rate_limit(self, info, dryRun=False):
        return {"cost": 1, "remaining": 4999, "resetAt": "2030-01-01T00:00:00Z", "limit": 5000, "used": 1}

    def answer(self, body: dict) -> dict:
        query, variables = body.get("query") or "", body.get("variables") or {}
        with self.lock:
            if query not in self._validated:
                try:
                    self._validated[query] = [e.message for e in validate(self.schema, parse(query))]
                except GraphQLError as exc:
                    self._validated[query] = [exc.message]
            self.queries.append((query, self._validated[query]))
        root = {"organization": self._organization, "repository": self._repository, "rateLimit": self._rate_limit}
        with self.lock:  # the resolvers mutate self.repos
            result = graphql_sync(self.schema, query, root_value=root, variable_values=variables)
        out: dict = {}
        if result.data is not None:
            out["data"] = result.data
        if result.errors:
            out["errors"] = []
            for err in result.errors:
                shaped = {"message": err.message}
                if err.path:
                    shaped["path"] = list(err.path)
                if err.locations:
                    shaped["locations"] = [{"line": loc.line, "column": loc.column} for loc in err.locations]
                shaped["type"] = getattr(err.original_error, "type", None) or "INVALID"
                out["errors"].append(shaped)
        return out


def serve(org: FixtureOrg):
    """(server, URL of its /graphql); the caller shuts it down (a daemon thread in any case)."""

    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a connection that sends nothing is closed

        def log_message(self, *args):
            pass

        def _send(self, status: int, payload: dict, headers: dict | None = None):
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(min(length, 8 * 1024 * 1024)) or b"{}")
            if org.latency:
                time.sleep(org.latency)
            if self.path != "/graphql":
                return self._send(404, {"message": "Not Found"})
            if self.headers.get("Authorization") != f"bearer {org.token}":
                return self._send(401, {"message": "Bad credentials",
                                        "documentation_url": "https://docs.github.com/graphql"})
            with org.lock:
                org.requests += 1
                fault = org.faults.pop(org.requests, None)
            if fault == "secondary":
                org.rate_limited += 1
                return self._send(403, {"message": "You have exceeded a secondary rate limit. Please wait a few "
                                                   "minutes before you try again.",
                                        "documentation_url": "https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api#secondary-rate-limits"},
                                  {"Retry-After": "1"})
            if fault == "timeout":  # GitHub ends a query it spent over 10 s on
                return self._send(502, {"message": "Server Error"})
            if fault == "primary":
                org.rate_limited += 1
                return self._send(200, {"data": None, "errors": [{"type": "RATE_LIMITED",
                                                                  "message": "API rate limit exceeded for user ID 1."}]},
                                  {"x-ratelimit-remaining": "0", "x-ratelimit-limit": "5000",
                                   "x-ratelimit-reset": str(int(time.time()) + 1)})
            return self._send(200, org.answer(body))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/graphql"


# ---------------------------------------------------------------------------
# A fixture organisation from local checkouts (the walkthrough of docs/fleet.md)
# ---------------------------------------------------------------------------
SERVED_FILES = (".copier-answers.yml", ".cruft.json", "README.md")


def org_from_checkouts(schema, root: Path, token: str) -> FixtureOrg:
    """Each git checkout directly under `root` as a repository of the organisation named like `root`:
    the files GitHub would answer `HEAD:<file>` with are those of the checkout's HEAD commit (`git show`),
    not its working tree."""
    import subprocess

    repos = []
    for checkout in sorted(p for p in root.iterdir() if (p / ".git").exists()):
        files = {}
        for name in SERVED_FILES:
            shown = subprocess.run(["git", "-C", str(checkout), "show", f"HEAD:{name}"], capture_output=True)
            if shown.returncode == 0:
                files[name] = shown.stdout
        repos.append(FixtureRepo(checkout.name, files))
    return FixtureOrg(schema, root.resolve().name, repos, token)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os
    import sys

    ap = argparse.ArgumentParser(description="Serve a directory of service checkouts as a GitHub organisation "
                                 "(GraphQL on 127.0.0.1, GitHub's published schema): docs/fleet.md, walkthrough.")
    ap.add_argument("--serve", metavar="DIR", required=True, type=Path,
                    help="a directory of checkouts; the organisation is named like it")
    ap.add_argument("--token", default="walkthrough-token", help="the token the server accepts (default: %(default)s)")
    ap.add_argument("--url-file", type=Path, help="write the GraphQL URL there once serving (else: print it)")
    ap.add_argument("--timeout", type=float, default=600, help="stop after this many seconds (default: %(default)s)")
    args = ap.parse_args(argv)
    if not args.serve.is_dir():
        print(f"github_fixture: --serve {args.serve}: no such directory", file=sys.stderr)
        return 2
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here.parent / "ecosystem"))
    import npm_tools

    from paved_road.local.node_toolchain import node_env

    schema = load_schema(npm_tools.install("graphql-schema", node_env(24)))
    org = org_from_checkouts(schema, args.serve, args.token)
    server, url = serve(org)
    if args.url_file:
        tmp = args.url_file.with_name(args.url_file.name + ".tmp")
        tmp.write_text(url + "\n")
        os.replace(tmp, args.url_file)  # whole or absent: a reader never sees half a URL
    else:
        print(url, flush=True)
    print(f"github_fixture: organisation {org.org} ({len(org.repos)} repositories) at {url} for "
          f"{args.timeout:g} s", file=sys.stderr)
    try:
        time.sleep(args.timeout)
    except KeyboardInterrupt:
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
