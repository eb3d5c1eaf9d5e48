"""Reading a GitHub organisation's services through the GraphQL API (stdlib urllib only).

Two kinds of query, both validated against GitHub's published schema in the tests
(tests/catalog/test_github_org.py, `@octokit/graphql-schema`):

* LIST_QUERY: the organisation's repositories, 100 a page (the most a connection gives), by name,
  with archived flag, default branch and topics.
* read_query(n): n repositories by alias (`r0: repository(owner: $owner, name: $n0) {...}`), each
  with its `.copier-answers.yml` and `.cruft.json` on the default branch
  (`object(expression: "HEAD:...") { ... on Blob { text byteSize isBinary } }`). Repository names
  come from GitHub, i.e. from anyone who can create a repository in the organisation: they travel
  as variables, never spliced into the query text.

GitHub's documented limits ("Rate limits and node limits for the GraphQL API",
https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api):
* node limit: `first` within 1-100 and at most 500,000 nodes a call. LIST_QUERY asks
  100 repositories x 20 topics = 2,100 nodes; a read batch asks no connection at all.
* primary limit: 5,000 points an hour for a user token; a query costs one point per 100
  connection nodes requested, at least 1. A 5,000-repository organisation costs about
  50 list pages + 50 read batches = 100 points (100 requests).
* secondary limits: no more than 100 concurrent requests and 2,000 points a minute for the
  GraphQL endpoint; GitHub asks integrators to send requests serially. We do: one request at a
  time. On a rate-limit answer (HTTP 403/429, or HTTP 200 with an error of type RATE_LIMITED) we
  wait `Retry-After` seconds if given, else until `x-ratelimit-reset` when
  `x-ratelimit-remaining` is 0, else at least one minute ("Best practices for using the REST
  API" / "Rate limits for the REST API", "Exceeding the rate limit"), then retry the same query.

A repository the token cannot read (an error of type FORBIDDEN on its alias, or on its
blob), one that disappeared between the listing and the read (NOT_FOUND) and one whose answers
file GitHub cannot give as text (binary, too large) are named in the result, never skipped.
The token is sent only in the Authorization header and never appears in a message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from paved_road.untrusted import MAX_ANSWERS_BYTES, redact

DEFAULT_API = "https://api.github.com/graphql"
PAGE_SIZE = 100  # the largest `first` GitHub accepts on a connection
# Repositories per aliased read query: no connection in it, so no node cost; 100 x 2 blobs of at most
# 64 KB keeps the worst answer under 13 MB (MAX_RESPONSE_BYTES), a typical one (1 KB files) ~250 KB.
READ_BATCH = 100
TOPICS_PER_REPO = 20  # GitHub allows at most 20 topics on a repository
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_WAIT = 15 * 60.0  # seconds of rate-limit waiting in one run before giving up
SECONDARY_DEFAULT_WAIT = 60.0  # "wait for at least one minute before retrying"
# GitHub: "if you continue to make requests while rate limited ... your integration may be banned";
# "throw an error after a specific number of retries". `Retry-After: 0`, or a reset already past
# (clock skew), must not become a tight loop.
MIN_RATE_LIMIT_WAIT = 1.0
MAX_RATE_LIMIT_RETRIES = 10  # rate-limit answers to one query before giving up
ANSWERS_FILES = (".copier-answers.yml", ".cruft.json")

LIST_QUERY = """
query PavedOrgRepositories($org: String!, $cursor: String) {
  organization(login: $org) {
    repositories(first: %d, after: $cursor, orderBy: {field: NAME, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        name
        nameWithOwner
        isArchived
        defaultBranchRef { name }
        repositoryTopics(first: %d) { nodes { topic { name } } }
      }
    }
  }
  rateLimit { cost remaining resetAt }
}
""" % (PAGE_SIZE, TOPICS_PER_REPO)

_BLOB = "... on Blob { text byteSize isBinary }"


def read_query(count: int) -> str:
    """The aliased read of `count` repositories: variables $owner and $n0..$n{count-1}."""
    params = ", ".join(["$owner: String!", *(f"$n{i}: String!" for i in range(count))])
    parts = [f"query PavedReadAnswers({params}) {{"]
    for i in range(count):
        parts.append(f'  r{i}: repository(owner: $owner, name: $n{i}) {{ nameWithOwner '
                     f'copier: object(expression: "HEAD:{ANSWERS_FILES[0]}") {{ {_BLOB} }} '
                     f'cruft: object(expression: "HEAD:{ANSWERS_FILES[1]}") {{ {_BLOB} }} }}')
    parts.append("  rateLimit { cost remaining resetAt }")
    parts.append("}")
    return "\n".join(parts) + "\n"


class GitHubError(RuntimeError):
    """The organisation could not be read (one line, no token in it)."""


class NoToken(GitHubError):
    pass


class TooLarge(GitHubError):
    """An answer over MAX_RESPONSE_BYTES: a read batch is split, down to the one repository."""


class TimedOut(TooLarge):
    """GitHub gave up on the query (HTTP 502/504: "If GitHub takes more than 10 seconds to process an
    API request, GitHub will terminate the request and you will receive a timeout response"; timeouts
    count against the primary limit): a read batch is split in the same way, not retried as it is."""


def token_host(api: str) -> tuple[str, tuple[str, str]]:
    """(gh hostname, token variables) for the GraphQL endpoint `api`. gh's documented split
    (`gh help environment`): GH_TOKEN, GITHUB_TOKEN are tokens for github.com (and its ghe.com
    data-residency subdomains); GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN for GitHub Enterprise
    Server. A github.com token is never sent to another host (`--github-api` names any host)."""
    host = (urllib.parse.urlsplit(api).hostname or "").lower()
    if host == "api.github.com":
        return "github.com", ("GH_TOKEN", "GITHUB_TOKEN")
    if host.endswith(".ghe.com"):
        return host.removeprefix("api."), ("GH_TOKEN", "GITHUB_TOKEN")
    return host, ("GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")


def find_token(env: dict | None = None, api: str = DEFAULT_API) -> str:
    """The token for `api`'s host: its two variables in gh's order (token_host), else
    `gh auth token --hostname HOST`; NoToken when none."""
    env = os.environ if env is None else env
    hostname, names = token_host(api)
    for name in names:
        if env.get(name, "").strip():
            return _checked(env[name].strip(), name)
    gh = shutil.which("gh", path=env.get("PATH"))
    if gh:
        try:
            out = subprocess.run([gh, "auth", "token", "--hostname", hostname], capture_output=True, text=True,
                                 timeout=10, stdin=subprocess.DEVNULL, env=dict(env))
            if out.returncode == 0 and out.stdout.strip():
                return _checked(out.stdout.strip(), "`gh auth token`")
        except (OSError, subprocess.TimeoutExpired):
            pass
    login = "`gh auth login`" if hostname == "github.com" else f"`gh auth login --hostname {hostname}`"
    raise NoToken(f"--github-org needs a GitHub token: set {names[0]} or {names[1]}, or run {login}")


def _checked(token: str, source: str) -> str:
    """The token, if it can travel in a header as it is: http.client's "Invalid header value" error
    would otherwise print it (NoToken names only where it came from)."""
    if not token.isascii() or any(c.isspace() or not c.isprintable() for c in token):
        raise NoToken(f"{source} is not a GitHub token (it holds spaces or control characters); "
                      "set it to the token alone")
    return token


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A GraphQL endpoint does not redirect a POST. urllib's handler would follow a 301/302/303 to any
    host, carrying every header but Content-* (Authorization included): the token would go to
    whoever the Location names. Refused instead, naming where it pointed."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise GitHubError(f"{redact(req.full_url)} redirected to {redact(newurl)}: not followed (the token "
                          "goes to the API URL only); pass the GraphQL endpoint itself as --github-api")


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class RemoteAnswers:
    """One repository's answers file as read from GitHub: `text` (copier), or `error`."""
    label: str  # owner/name, the same label a checkout at ./owner/name gets
    text: str | None = None
    cruft: str | None = None  # .cruft.json text when the repository has one
    error: str | None = None


@dataclass
class OrgScan:
    org: str
    listed: int = 0
    archived_skipped: list[str] = field(default_factory=list)
    topic_skipped: int = 0
    empty: list[str] = field(default_factory=list)  # no default branch: nothing to read
    found: list[RemoteAnswers] = field(default_factory=list)  # holds an answers file (or could not be read)
    not_services: list[str] = field(default_factory=list)  # readable, no answers file
    forbidden: list[str] = field(default_factory=list)  # the token cannot read it
    gone: list[str] = field(default_factory=list)  # listed, then not found when read
    requests: int = 0
    waited: float = 0.0


def _wait_seconds(headers, now: float) -> float | None:
    """Seconds GitHub asks us to wait, from Retry-After or x-ratelimit-reset (None if neither says)."""
    retry = headers.get("Retry-After")
    if retry:
        try:
            return max(0.0, float(retry))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry).timestamp() - now)
            except (TypeError, ValueError):
                pass
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            return max(0.0, float(headers["x-ratelimit-reset"]) - now) + 1.0
        except ValueError:
            pass
    return None


class Client:
    """One GraphQL endpoint, one token, one request at a time (GitHub's secondary limits)."""

    def __init__(self, api: str, token: str, *, sleep=time.sleep, clock=time.time,
                 max_wait: float = DEFAULT_MAX_WAIT, timeout: float = 60.0):
        self.api, self._token, self._sleep, self._clock = api, token, sleep, clock
        self.max_wait, self.timeout = max_wait, timeout
        self.requests, self.waited = 0, 0.0

    def _pause(self, seconds: float, why: str, attempt: int) -> None:
        seconds = max(MIN_RATE_LIMIT_WAIT, seconds)
        if attempt > MAX_RATE_LIMIT_RETRIES:
            raise GitHubError(f"GitHub rate limit ({why}): still limited after {MAX_RATE_LIMIT_RETRIES} "
                              "retries of one query; run again later")
        if self.waited + seconds > self.max_wait:
            raise GitHubError(f"GitHub rate limit ({why}): would wait {seconds:g} s more, over the "
                              f"{self.max_wait:g} s allowed; run again later")
        self.waited += seconds
        self._sleep(seconds)

    def query(self, query: str, variables: dict) -> tuple[dict | None, list[dict]]:
        """(data, errors) of one query; waits and retries on rate limits; GitHubError when the
        request as a whole fails."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        limited = 0
        while True:
            req = urllib.request.Request(self.api, data=body, method="POST", headers={
                "Authorization": f"bearer {self._token}", "Content-Type": "application/json",
                "Accept": "application/vnd.github+json", "User-Agent": "paved-road"})
            self.requests += 1
            try:
                with _OPENER.open(req, timeout=self.timeout) as resp:  # noqa: S310 (https API URL)
                    raw, headers, status = resp.read(MAX_RESPONSE_BYTES + 1), resp.headers, resp.status
            except urllib.error.HTTPError as exc:
                raw, headers, status = exc.read(MAX_RESPONSE_BYTES + 1), exc.headers, exc.code
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise GitHubError(f"cannot reach {redact(self.api)}: {redact(reason)}") from None
            if len(raw) > MAX_RESPONSE_BYTES:
                raise TooLarge(f"{redact(self.api)} answered more than {MAX_RESPONSE_BYTES} bytes")
            try:
                payload = json.loads(raw.decode("utf-8")) if raw else {}
            except (UnicodeDecodeError, ValueError):
                payload = {}
            payload = payload if isinstance(payload, dict) else {}
            errors = payload.get("errors") if isinstance(payload.get("errors"), list) else []
            message = str(payload.get("message") or "")
            wait = _wait_seconds(headers, self._clock())
            if status in (403, 429) and (wait is not None or "rate limit" in message.lower()):
                limited += 1
                self._pause(SECONDARY_DEFAULT_WAIT if wait is None else wait, f"HTTP {status}", limited)
                continue
            if status == 200 and any(isinstance(e, dict) and e.get("type") == "RATE_LIMITED" for e in errors):
                limited += 1
                self._pause(SECONDARY_DEFAULT_WAIT if wait is None else wait, "RATE_LIMITED", limited)
                continue
            if status == 401:
                raise GitHubError(f"{redact(self.api)} refused the token (HTTP 401: {redact(message or 'Bad credentials')}); "
                                  f"check {'/'.join(token_host(self.api)[1])}")
            if status in (502, 504):
                raise TimedOut(f"{redact(self.api)} answered HTTP {status} (GitHub gave up on the query)")
            if status != 200:
                raise GitHubError(f"{redact(self.api)} answered HTTP {status}" + (f": {redact(message)}" if message else ""))
            data = payload.get("data") if isinstance(payload.get("data"), dict) else None
            if data is None:
                first = next((e for e in errors if isinstance(e, dict)), {})
                raise GitHubError(f"GitHub GraphQL error: {redact(first.get('message') or 'no data in the answer')}")
            return data, [e for e in errors if isinstance(e, dict)]


def _blob_text(blob, name: str) -> tuple[str | None, str | None]:
    """(text, error) of a Blob answer; (None, None) when the file does not exist."""
    if not isinstance(blob, dict):
        return None, None
    size = blob.get("byteSize")
    if isinstance(size, int) and size > MAX_ANSWERS_BYTES:
        return None, f"{name} is {size} bytes; at most {MAX_ANSWERS_BYTES} are read"
    if blob.get("isBinary") or not isinstance(blob.get("text"), str):
        return None, f"{name} is not text (GitHub gives no text for a binary blob)"
    return blob["text"], None


def scan_org(client: Client, org: str, *, topic: str | None = None, include_archived: bool = False,
             batch: int = READ_BATCH) -> OrgScan:
    """Every repository of `org` (filtered by topic and archived flag) with its answers file."""
    scan = OrgScan(org=org)
    names: list[str] = []
    seen: set[str] = set()
    cursor = None
    while True:
        data, errors = client.query(LIST_QUERY, {"org": org, "cursor": cursor})
        organization = data.get("organization")
        if not isinstance(organization, dict):
            why = next((e.get("message") for e in errors if e.get("message")), "not found")
            raise GitHubError(f"--github-org {org}: {redact(why)}")
        if errors:  # e.g. SAML SSO not authorised: `repositories: null`, FORBIDDEN; or null nodes
            first = errors[0]
            raise GitHubError(f"--github-org {org}: GitHub did not list every repository "
                              f"({redact(first.get('type') or 'error')}: {redact(first.get('message') or '')})"
                              + (f" and {len(errors) - 1} more errors" if len(errors) > 1 else ""))
        conn = organization.get("repositories") or {}
        for node in conn.get("nodes") or []:
            if not isinstance(node, dict) or not isinstance(node.get("name"), str):
                continue  # a repository that vanished while the page was built comes back null
            name = node["name"]
            if name in seen:  # a rename or deletion between pages shifts the cursor: no double count
                continue
            seen.add(name)
            scan.listed += 1
            label = str(node.get("nameWithOwner") or f"{org}/{name}")
            if node.get("isArchived") and not include_archived:
                scan.archived_skipped.append(label)
                continue
            topics = {((t or {}).get("topic") or {}).get("name") for t in
                      ((node.get("repositoryTopics") or {}).get("nodes") or [])}
            if topic and topic not in topics:
                scan.topic_skipped += 1
                continue
            if not node.get("defaultBranchRef"):
                scan.empty.append(label)
                continue
            names.append(name)
        info = conn.get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            break
        cursor = info["endCursor"]
    # The query asks `text` whatever the blob's size (GraphQL cannot ask it only when small), and
    # GitHub gives up to its own truncation limit (Blob.isTruncated): anyone who can push to one
    # repository could make a batch's answer too large. Such a batch is split in halves, down to the
    # one repository, which is then named with an error; the rest of the organisation is read.
    chunks = [names[start:start + batch] for start in range(0, len(names), batch)]
    chunks.reverse()
    while chunks:
        chunk = chunks.pop()
        try:
            data, errors = client.query(read_query(len(chunk)),
                                        {"owner": org, **{f"n{i}": n for i, n in enumerate(chunk)}})
        except TooLarge as exc:
            if len(chunk) > 1:
                half = len(chunk) // 2
                chunks += [chunk[half:], chunk[:half]]
                continue
            scan.found.append(RemoteAnswers(label=f"{org}/{chunk[0]}", error=(
                "GitHub gave up reading its answers files (HTTP 502/504)" if isinstance(exc, TimedOut) else
                f"GitHub's answer for its answers files is over {MAX_RESPONSE_BYTES} bytes: not read")))
            continue
        trouble: dict[int, dict] = {}
        for err in errors:
            path = err.get("path") or []
            if path and isinstance(path[0], str) and path[0].startswith("r") and path[0][1:].isdigit():
                trouble.setdefault(int(path[0][1:]), err)
        for i, name in enumerate(chunk):
            label = f"{org}/{name}"
            repo = data.get(f"r{i}")
            err = trouble.get(i)
            if err and err.get("type") == "FORBIDDEN":
                scan.forbidden.append(label)
                continue
            if repo is None:
                (scan.gone if not err or err.get("type") == "NOT_FOUND" else scan.forbidden).append(label)
                continue
            label = str(repo.get("nameWithOwner") or label)
            text, error = _blob_text(repo.get("copier"), ANSWERS_FILES[0])
            cruft, cruft_error = _blob_text(repo.get("cruft"), ANSWERS_FILES[1])
            if err and not error and text is None:
                error = f"cannot read {ANSWERS_FILES[0]}: {redact(err.get('message') or err.get('type'))}"
            if text is None and error is None and cruft is None and cruft_error is None:
                scan.not_services.append(label)
                continue
            scan.found.append(RemoteAnswers(label=label, text=text, cruft=cruft, error=error or
                                            (cruft_error if text is None and cruft is None else None)))
    scan.requests, scan.waited = client.requests, client.waited
    return scan
