"""The platform catalog: where every generated service stands against the template.

Services are found by their copier answers file (`.copier-answers.yml`) in local
checkouts, or listed in a repos file. The template's release tags are read once
per template with `git ls-remote --tags` (no clone, no per-service work against
the template), so a fleet of hundreds is cataloged in about a second, where
`copier check-update` clones the template once per service.

The JSON form is a stable interface: see docs/upgrades.md, "Catalog JSON
schema". Bump SCHEMA_VERSION on any incompatible change.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from markupsafe import Markup, escape
from packaging.version import InvalidVersion, Version

from paved_road import cli_options
from paved_road.fleet.remote import git_http
from paved_road.untrusted import (GIT, MAX_ANSWERS_BYTES, AnswersError, UntrustedValue, bounded_yaml, git_ref,
                                  git_value, load_answers, redact)

SCHEMA_VERSION = 1
ANSWERS_FILE = ".copier-answers.yml"
DRIFTS = ("none", "patch", "minor", "major", "unknown")
# 2 is bad input for every paved command; "behind" is not an error, so it has
# its own code (copier check-update uses 2 for it; we cannot: see docs/cli.md, "Exit codes").
EXIT_OK, EXIT_BAD_INPUT, EXIT_BEHIND, EXIT_UNREADABLE = 0, 2, 3, 4

MAX_REPOS_FILE_BYTES = 4 * 1024 * 1024
_SKIP_DIRS = {".git", "node_modules", ".venv", "__pycache__"}
_DESCRIBE = re.compile(r"^(?P<base>.+?)-(?P<ahead>\d+)-g[0-9a-f]+$")


class CatalogError(ValueError):
    """Bad input to the catalog as a whole (a repos file that cannot be read)."""


@dataclass
class ServiceStatus:
    path: str
    name: str | None = None
    owner: str | None = None
    system: str | None = None
    template: str | None = None
    current_version: str | None = None
    latest_version: str | None = None
    drift: str = "unknown"
    architectures: list[str] = field(default_factory=list)
    runner_mode: str | None = None
    node_major: int | None = None
    # Answers still carrying the template's demo values (`_placeholders`): not deployable.
    placeholders: list[str] = field(default_factory=list)
    error: str | None = None
    duplicate_of: list[str] = field(default_factory=list)  # other paths with the same service_name

    @property
    def behind(self) -> bool:
        return self.drift in ("patch", "minor", "major")

    def to_json(self) -> dict:
        return {**asdict(self), "behind": self.behind}


# ---------------------------------------------------------------------------
# Finding services
# ---------------------------------------------------------------------------
def find_answers_files(paths: list[str | Path], max_depth: int = 4) -> list[tuple[str, Path | None, str | None]]:
    """(label, answers file or None, error) per service found under each path.

    A path that is itself a service yields that service; otherwise its
    subdirectories are searched (at most `max_depth` levels, skipping .git and
    node_modules). A path that does not exist or holds no service yields one
    error entry, so the caller can report it and carry on; a directory that
    holds no service yields nothing (an empty fleet is not an error).
    """
    found: list[tuple[str, Path | None, str | None]] = []
    for raw in paths:
        root = Path(raw)
        if root.is_file() and root.name == ANSWERS_FILE:
            found.append((str(root.parent), root, None))
            continue
        if not root.is_dir():
            found.append((str(raw), None, "no such directory"))
            continue
        if (root / ANSWERS_FILE).is_file():
            found.append((str(root), root / ANSWERS_FILE, None))
            continue
        hits = []
        base_depth = len(root.parts)
        for dirpath, dirnames, filenames in os.walk(root):
            if ANSWERS_FILE in filenames:
                hits.append(Path(dirpath) / ANSWERS_FILE)
                dirnames[:] = []  # a service's own subdirectories are not services
                continue
            if len(Path(dirpath).parts) - base_depth >= max_depth:
                dirnames[:] = []
            else:
                dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        found.extend((str(h.parent), h, None) for h in sorted(hits))
    return found


def read_repos_file(path: str | Path) -> list[dict]:
    """Entries of a repos file: `repos:` (or a top-level list) of paths, URLs or
    mappings `{path: DIR}` / `{url: GIT_URL, ref: BRANCH}`. Relative paths are
    relative to the file."""
    path = Path(path)
    try:
        data = bounded_yaml(path.read_bytes(), f"--repos-file {path}", MAX_REPOS_FILE_BYTES)
    except OSError as exc:
        raise CatalogError(f"--repos-file {path}: cannot read it ({exc.__class__.__name__}: {exc})") from exc
    except AnswersError as exc:
        raise CatalogError(str(exc)) from exc
    items = data.get("repos") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise CatalogError(f"--repos-file {path}: expected a list under 'repos:' of paths, URLs or {{path|url: ...}} entries")
    entries = []
    for item in items:
        if isinstance(item, str):
            item = {"url": item} if re.match(r"^(https?|ssh|git|file)://|^git@", item) else {"path": item}
        if not isinstance(item, dict) or not (item.get("path") or item.get("url")):
            raise CatalogError(redact(f"--repos-file {path}: each entry needs 'path' or 'url' (got {item!r})"))
        if item.get("path") and not Path(item["path"]).is_absolute():
            item = {**item, "path": str((path.parent / item["path"]).resolve())}
        entries.append(item)
    return entries


class RemoteReader:
    """Reads services' answers files from git remotes, many at a time (`with RemoteReader() as r: r.read(url)`).

    An http(s) remote is read first by paved's own protocol-v2 client (fleet/remote/git_http.py: two requests,
    no process); what that client leaves to git (other transports, credentials, redirects within the host,
    servers without v2 or filters, SHA-256, http.*/url.* git settings) is read by git as follows.

    Per repository, with git: one protocol-v2 `git fetch --depth=1 --filter=blob:none` of the default branch
    (or `ref`) into a scratch repository that each worker thread keeps for all its repositories (no clone
    or `git init` per repository; its objects and `shallow` file emptied after each read), then one
    `git cat-file --batch` of `<commit>:.copier-answers.yml`, which lazily fetches that one blob when
    the server honoured the filter (as GitHub does). The remote is named by `-c remote.svc.url=URL` on the command line, never
    written to a config file; the scratch repository is made once with no hooks (`--template=`), no
    maintenance, and a promisor remote `svc` (the partial-clone setup `git clone --filter` writes).
    Where the time goes and why this shape: bench/catalog_remote.py and docs/fleet.md.
    """

    # Settings for every git command against an untrusted URL: no submodule recursion, no auto gc or
    # maintenance process after each fetch, no hooks, protocol v2 whatever the user's config says (ls-refs of
    # the one ref, not the whole advertisement). protocol.ext.allow=never comes with GIT.
    _SAFE = ("-c", "protocol.version=2", "-c", "core.hooksPath=/dev/null", "-c", "maintenance.auto=false",
             "-c", "gc.auto=0", "-c", "fetch.recurseSubmodules=false", "-c", "submodule.recurse=false")

    def __init__(self, direct: bool | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="paved-catalog.")
        self._local = threading.local()
        self._count = 0
        self._lock = threading.Lock()
        # http(s) remotes are read first by paved's own protocol-v2 client (fleet/remote/git_http.py: no process,
        # two requests); what it does not handle falls back to git below.
        self._direct = git_http.DirectReader.from_environment(MAX_ANSWERS_BYTES) if (
            _direct_allowed(self._tmp.name) if direct is None else direct) else None

    def __enter__(self) -> RemoteReader:
        return self

    def __exit__(self, *exc) -> None:
        if self._direct is not None:
            self._direct.close()
        self._tmp.cleanup()

    def _scratch(self) -> str:
        path = getattr(self._local, "path", None)
        if path is None:
            with self._lock:
                self._count += 1
                path = os.path.join(self._tmp.name, f"w{self._count}")
            _run([*GIT, "init", "-q", "--bare", "--template=", path])
            for key, value in (("core.repositoryformatversion", "1"), ("extensions.partialClone", "svc"),
                               ("remote.svc.promisor", "true"), ("remote.svc.partialclonefilter", "blob:none")):
                _run([*GIT, "-C", path, "config", key, value])
            self._local.path = path
        return path

    def read(self, url: str, ref: str | None = None) -> str:
        """The answers file of the repository at `url` (RuntimeError, one line, when it cannot be read)."""
        url = git_value(url, "url")
        ref = git_ref(ref, "ref") if ref else None
        target = ref or "HEAD"
        if self._direct is not None and self._direct.handles(url):
            try:
                return self._direct.read(url, ref, ANSWERS_FILE)
            except git_http.Fallback:
                pass  # git knows more: credentials, redirects, servers without protocol v2 or filters
        scratch = self._scratch()
        base = [*GIT, *self._SAFE, "-c", f"remote.svc.url={url}", "-C", scratch]
        try:
            _run([*base, "fetch", "-q", "--depth=1", "--no-tags", "--filter=blob:none", "--no-write-commit-graph",
                  "--recurse-submodules=no", "--end-of-options", "svc", target])
            with open(os.path.join(scratch, "FETCH_HEAD"), encoding="utf-8", errors="replace") as fh:
                commit = fh.readline().split("\t", 1)[0].strip()
            if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
                raise RuntimeError(f"git fetch of {target} gave no commit")
            return _blob([*base, "cat-file", "--batch"], f"{commit}:{ANSWERS_FILE}")
        finally:
            self._empty(scratch)

    @staticmethod
    def _empty(scratch: str) -> None:
        """Forget the repository just read: git sends every commit of the `shallow` file to the next server
        it fetches from (a private repository's commit ids to another host), and the objects would pile up
        for the whole run (a whole tree's blobs from a server that ignores the filter). Cheap: a few
        unlinks, not a `git init`."""
        for name in ("shallow", "FETCH_HEAD"):
            try:
                os.unlink(os.path.join(scratch, name))
            except FileNotFoundError:
                pass
        objects = os.path.join(scratch, "objects")
        shutil.rmtree(objects, ignore_errors=True)
        os.makedirs(os.path.join(objects, "pack"), exist_ok=True)
        os.makedirs(os.path.join(objects, "info"), exist_ok=True)


# git settings that change what git sends to an http(s) remote (headers, credentials in URLs rewritten by
# insteadOf, proxies, CAs, cookies) or whether it may use http(s) at all (protocol.allow,
# protocol.http(s).allow, GIT_ALLOW_PROTOCOL): with any of them set, every remote is read by git itself.
# (GIT's own protocol.ext.allow=never is not one of them.)
_GIT_HTTP_SETTINGS = r"^(http\.|url\.|protocol\.(allow|https?\.allow)$)"
_PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _direct_allowed(cwd: str | None = None) -> bool:
    """May http(s) remotes be read without git? Not with PAVED_GIT_HTTP=git (the bench's old path), a proxy
    or GIT_ALLOW_PROTOCOL in the environment, or any `http.*`/`url.*`/`protocol.allow`/`protocol.http(s).allow`
    git setting that git would apply to a fetch in `cwd` (the
    scratch directory: system, global and `-c`/environment settings; one `git config` for the whole run).
    git's TLS variables are the reader's own business (git_http.DirectReader.from_environment)."""
    if (os.environ.get("PAVED_GIT_HTTP", "").strip().lower() == "git" or any(os.environ.get(v) for v in _PROXY_ENV)
            or "GIT_ALLOW_PROTOCOL" in os.environ):
        return False
    found = subprocess.run([*GIT, "config", "--get-regexp", _GIT_HTTP_SETTINGS], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=GIT_TIMEOUT, cwd=cwd)
    return found.returncode == 1 and not found.stdout  # 1: no such setting


def fetch_remote_answers(url: str, ref: str | None = None) -> str:
    """The answers file of one service repository (a RemoteReader for a single read)."""
    with RemoteReader() as reader:
        return reader.read(url, ref)


def _git_error(stderr: str) -> str:
    """The line of git's stderr that says what went wrong: its first `fatal:`/`error:` line (git's advice
    such as "Please make sure you have the correct access rights" comes after it), else the last line."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    said = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return redact(said[0] if said else (lines[-1] if lines else ""))


def _drain(pipe, kept: bytearray, limit: int = 65536) -> None:
    """Read `pipe` to its end, keeping its last `limit` bytes in `kept` (where git's own error line is)."""
    for chunk in iter(lambda: pipe.read1(65536), b""):
        kept.extend(chunk)
        del kept[:-limit]


def _blob(cmd: list[str], name: str, timeout: float | None = None) -> str:
    """The blob `name` through `git cat-file --batch` (cmd), at most MAX_ANSWERS_BYTES of it read: the
    header gives the size before the content, and a larger blob stops the process. Killed whole (its
    own process group: the lazy fetch's helpers too) when it outlives `timeout` (default GIT_TIMEOUT)."""
    timeout = GIT_TIMEOUT if timeout is None else timeout
    expired = threading.Event()

    def kill(pid: int) -> None:
        expired.set()
        os.killpg(pid, signal.SIGKILL)

    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, start_new_session=True) as child:
        # stderr is read as it comes (its last 64 KB kept): the lazy fetch relays whatever the server sends
        # on its progress channel, and a full pipe would stop git before it writes the header we wait for
        errpipe, child.stderr = child.stderr, None
        said = bytearray()
        reader = threading.Thread(target=_drain, args=(errpipe, said), daemon=True)
        reader.start()
        timer = threading.Timer(timeout, kill, (child.pid,))
        timer.start()
        try:
            child.stdin.write(name.encode() + b"\n")
            child.stdin.close()
            child.stdin = None  # sent: communicate() below must not flush it again
            header = child.stdout.readline().decode(errors="replace").split()
            if len(header) == 3 and header[1] == "blob" and header[2].isdigit() and not expired.is_set():
                size = int(header[2])
                if size > MAX_ANSWERS_BYTES:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.communicate()
                    raise RuntimeError(f"{ANSWERS_FILE} is {size} bytes; at most {MAX_ANSWERS_BYTES} are read")
                data = child.stdout.read(size)
                child.communicate()
                if len(data) == size and not expired.is_set():
                    return data.decode("utf-8", errors="replace")
            child.communicate()
            reader.join(5)
            err = bytes(said).decode(errors="replace").strip().splitlines()
        except BaseException:  # Ctrl-C, or a write to a process that died
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
            raise
        finally:
            timer.cancel()
            reader.join(5)
            errpipe.close()
    if expired.is_set():
        raise RuntimeError(f"git cat-file gave no answer within {timeout:g} s")
    if header[-1:] == ["missing"]:
        raise RuntimeError(_git_error("\n".join(err)) or f"no {ANSWERS_FILE} on that branch")
    if len(header) == 3 and header[1] != "blob":
        raise RuntimeError(f"{ANSWERS_FILE} is a {header[1]}, not a file")
    raise RuntimeError(_git_error("\n".join(err)) or f"git cat-file could not read {ANSWERS_FILE}")


# Seconds one git command against a URL from an answers or repos file may take: a host that accepts the
# connection and never answers held `paved catalog` (and `fleet update`) forever; git sets no timeout.
GIT_TIMEOUT = 60.0


def _run(cmd: list[str], timeout: float | None = None) -> str:
    """`cmd`'s stdout; RuntimeError (one line, credentials stripped) when it fails or outlives `timeout`
    (default GIT_TIMEOUT). Its own process group, killed whole: git's helpers (git-remote-https, ssh)
    would keep the pipes open after git itself was killed."""
    timeout = GIT_TIMEOUT if timeout is None else timeout
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, start_new_session=True) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise RuntimeError(f"git {cmd[len(GIT)]} gave no answer within {timeout:g} s") from None
        except BaseException:  # Ctrl-C: its own session did not get the signal
            os.killpg(child.pid, signal.SIGKILL)
            raise
    proc = subprocess.CompletedProcess(cmd, child.returncode, out, err)
    if proc.returncode:
        raise RuntimeError(_git_error(proc.stderr or proc.stdout) or f"{cmd[0]} exited {proc.returncode}")
    return proc.stdout


# ---------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------
def parse_version(ref: str | None) -> Version | None:
    """A template ref as copier records it (`v1.2.0`, or `v1.2.0-3-gabc1234`
    when rendered from a commit after a tag) -> its release version."""
    if not ref:
        return None
    ref = str(ref).strip()
    match = _DESCRIBE.match(ref)
    if match:
        ref = match.group("base")
    try:
        return Version(ref)
    except InvalidVersion:
        return None


def template_tags(template: str) -> list[str]:
    """Release tags of a template repository, by one `git ls-remote --tags`. `template` comes from
    answers files: never an option (issue 27: `--upload-pack=...` ran a command)."""
    try:
        template = git_value(template, "_src_path")
    except UntrustedValue as exc:
        raise RuntimeError(str(exc)) from exc
    out = _run([*GIT, "ls-remote", "--tags", "--refs", "--end-of-options", template])
    tags = []
    for line in out.splitlines():
        _, _, ref = line.partition("\t")
        if ref.startswith("refs/tags/") and parse_version(ref[len("refs/tags/"):]) is not None:
            tags.append(ref[len("refs/tags/"):])
    return sorted(tags, key=parse_version)


def latest_release(tags: list[str], include_prereleases: bool = False) -> str | None:
    usable = [t for t in tags if include_prereleases or not parse_version(t).is_prerelease]
    return max(usable, key=parse_version) if usable else None


def drift(current: str | None, latest: str | None) -> str:
    cur, new = parse_version(current), parse_version(latest)
    if cur is None or new is None:
        return "unknown"
    if cur >= new:
        return "none"
    if cur.major != new.major:
        return "major"
    if cur.minor != new.minor:
        return "minor"
    return "patch"


# ---------------------------------------------------------------------------
# The catalog
# ---------------------------------------------------------------------------
def status_from_answers(label: str, text: str) -> ServiceStatus:
    """One service's status from its answers file; a bad file (not YAML, aliases, too big, a field
    of the wrong type) gives a status with `error` set, never an exception."""
    status = ServiceStatus(path=label)
    try:
        answers = load_answers(text, ANSWERS_FILE)
    except AnswersError as exc:
        status.error = str(exc)
        return status
    status.name = answers.get("service_name")
    status.owner = answers.get("owner")
    status.system = answers.get("system") or None
    status.template = redact(answers["_src_path"]) if answers.get("_src_path") else None
    status.current_version = None if answers.get("_commit") is None else str(answers["_commit"])
    archs = answers.get("architectures") or []
    status.architectures = [archs] if isinstance(archs, str) else list(archs)
    status.runner_mode = answers.get("runner_mode")
    demo = answers.get("_placeholders") or []
    status.placeholders = [str(d) for d in demo] if isinstance(demo, list) else [str(demo)]
    try:
        status.node_major = int(answers["node_major"]) if answers.get("node_major") is not None else None
    except (TypeError, ValueError):
        status.node_major = None
    if not status.template or not status.current_version:
        status.error = f"{ANSWERS_FILE} has no _src_path/_commit: not generated by copier from a git template"
    return status


def _load(entry: tuple[str, Path | None, str | None]) -> ServiceStatus:
    label, answers_path, error = entry
    if error:
        return ServiceStatus(path=label, error=error)
    try:
        with answers_path.open("rb") as fh:
            text = fh.read(MAX_ANSWERS_BYTES + 1)  # a larger file is refused without reading it all
    except OSError as exc:
        return ServiceStatus(path=label, error=f"cannot read {ANSWERS_FILE}: {exc.strerror or exc}")
    return status_from_answers(label, text)


def _load_remote(item: dict, reader: RemoteReader) -> ServiceStatus:
    label = redact(str(item["url"]) + (f"@{item['ref']}" if item.get("ref") else ""))
    try:
        return status_from_answers(label, reader.read(item["url"], item.get("ref")))
    except (RuntimeError, UntrustedValue) as exc:
        return ServiceStatus(path=label, error=f"cannot fetch {ANSWERS_FILE}: {exc}")


def check_paths(paths: list[str | Path], what: str = "PATH") -> None:
    """Bad input, before any work: a path given on the command line that does not exist."""
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise CatalogError(f"{what} {raw}: no such file or directory; pass a service checkout "
                               "or a directory holding them")
        if not path.is_dir() and path.name != ANSWERS_FILE:
            raise CatalogError(f"{what} {raw}: is a file; pass a service checkout, a directory holding them "
                               f"or a {ANSWERS_FILE}")


def build_catalog(paths: list[str | Path] = (), repos_file: str | Path | None = None,
                  template: str | None = None, jobs: int | None = None,
                  read: list[tuple[str, str | None, str | None]] = ()) -> dict:
    """Statuses of every service found, against the latest tag of its template.

    `template` overrides each service's recorded `_src_path` (e.g. the
    canonical URL when services were generated from mirrors or local paths).
    A path in `paths` that does not exist is bad input (CatalogError); one in
    a repos file becomes an entry with an error. `read` are answers files already read elsewhere
    (label, text, error), e.g. from a GitHub organisation (paved_road.fleet.selection).
    """
    check_paths(list(paths))
    entries = find_answers_files(list(paths))
    remote = []
    if repos_file:
        for item in read_repos_file(repos_file):
            if item.get("path"):
                entries.extend(find_answers_files([item["path"]]))
            else:
                remote.append(item)
    statuses = [_load(e) for e in entries]
    statuses.extend(ServiceStatus(path=label, error=error) if error else status_from_answers(label, text)
                    for label, text, error in read)
    if remote:
        with RemoteReader() as reader, ThreadPoolExecutor(max_workers=cli_options.jobs(jobs, remote=True)) as pool:
            statuses.extend(pool.map(lambda item: _load_remote(item, reader), remote))

    sources = {template} if template else {s.template for s in statuses if s.template and not s.error}
    templates: dict[str, dict] = {}

    def tags_of(src: str) -> dict:
        try:
            tags = template_tags(src)
            return {"tags": tags, "latest_version": latest_release(tags), "error": None}
        except RuntimeError as exc:
            return {"tags": [], "latest_version": None, "error": f"cannot read tags of {redact(src)}: {exc}"}

    # in parallel: a template host that does not answer costs GIT_TIMEOUT once, not once per template
    with ThreadPoolExecutor(max_workers=cli_options.jobs(jobs, remote=True)) as pool:
        for src, info in zip(sorted(sources), pool.map(tags_of, sorted(sources))):
            templates[redact(src)] = info  # keyed without credentials: the keys are printed (JSON, HTML)
    for status in statuses:
        if status.error:
            continue
        info = templates.get(redact(template) if template else status.template)
        if info is None:
            continue
        if info["error"]:
            status.error = info["error"]
            continue
        status.latest_version = info["latest_version"]
        status.drift = drift(status.current_version, status.latest_version)
    by_name: dict[str, list[ServiceStatus]] = {}
    for status in statuses:
        if status.name:
            by_name.setdefault(status.name, []).append(status)
    for same in by_name.values():
        for status in same if len(same) > 1 else ():
            status.duplicate_of = sorted(o.path for o in same if o is not status)
    statuses.sort(key=lambda s: (s.name or "~", s.path))
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "templates": templates,
        "summary": summarize(statuses),
        "services": statuses,
    }


def summarize(statuses: list[ServiceStatus]) -> dict:
    drifts = Counter(s.drift for s in statuses if not s.error)
    versions = Counter(s.current_version for s in statuses if not s.error)
    return {
        "total": len(statuses),
        "behind": sum(1 for s in statuses if s.behind),
        "errors": sum(1 for s in statuses if s.error),
        "duplicates": sorted({s.name for s in statuses if s.duplicate_of}),
        "placeholders": sum(1 for s in statuses if s.placeholders and not s.error),
        "drift": {d: drifts.get(d, 0) for d in DRIFTS},
        "versions": dict(sorted(versions.items(), key=lambda kv: (parse_version(kv[0]) or Version("0"), kv[0]))),
    }


def exit_code(catalog: dict) -> int:
    """4 when an entry could not be read or two services share a name (the
    catalog itself is wrong), else 3 when any service is behind, else 0."""
    summary = catalog["summary"]
    if summary["errors"] or summary["duplicates"]:
        return EXIT_UNREADABLE
    return EXIT_BEHIND if summary["behind"] else EXIT_OK


COLUMNS = ("Service", "Owner", "System", "Template", "Version", "Latest", "Drift", "Arch", "Runner", "Node", "Path")


def table_rows(catalog: dict) -> list[tuple[str, ...]]:
    """One row per service, full values (the text and terminal tables share it)."""
    rows = []
    for s in catalog["services"]:
        note = f"error: {s.error}" if s.error else ""
        if s.duplicate_of:
            note = (note + "; " if note else "") + "duplicate name, also at " + ", ".join(s.duplicate_of)
        rows.append((s.name or "?", s.owner or "", s.system or "", s.template or "", s.current_version or "",
                     s.latest_version or "", "error" if s.error else DRIFT_LABELS[s.drift], ",".join(s.architectures),
                     s.runner_mode or "", str(s.node_major or ""), s.path + (f"  ({note})" if note else "")))
    return rows


# What a person reads for a drift value: "none" (the JSON's value) means the service is current.
DRIFT_LABELS = {"none": "current", "patch": "patch", "minor": "minor", "major": "major", "unknown": "unknown"}


def summary_line(catalog: dict) -> str:
    """One line whose numbers add up: current + behind + unknown + unreadable = services."""
    summary = catalog["summary"]
    drift = summary["drift"]
    behind = ", ".join(f"{drift[k]} {k}" for k in ("patch", "minor", "major") if drift[k])
    line = (f"{summary['total']} services: {drift['none']} current, {summary['behind']} behind"
            + (f" ({behind})" if behind else "") + f", {drift['unknown']} unknown, {summary['errors']} unreadable")
    if summary["duplicates"]:
        line += f", duplicate names: {', '.join(summary['duplicates'])}"
    demo = [s.name or s.path for s in catalog["services"] if s.placeholders and not s.error]
    if demo:
        line += f", {len(demo)} still carrying demo values ({', '.join(demo)})"
    latest = {src: info["latest_version"] or "no release" for src, info in catalog["templates"].items()}
    if latest:
        line += "; latest " + ", ".join(f"{v} ({src})" for src, v in sorted(latest.items()))
    return line


def render_text(catalog: dict) -> str:
    """Plain aligned columns, never truncated: for pipes, files and CI logs."""
    rows = [COLUMNS, *table_rows(catalog)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]).rstrip() for r in rows]
    return "\n".join(lines) + "\n" + summary_line(catalog) + "\n"


# ---------------------------------------------------------------------------
# Output formats
# ---------------------------------------------------------------------------
def to_json(catalog: dict) -> dict:
    return {**catalog, "services": [s.to_json() for s in catalog["services"]]}


def to_backstage(catalog: dict) -> list[dict]:
    """One Backstage Component entity per service that could be read."""
    entities = []
    for s in catalog["services"]:
        if s.error or not s.name:
            continue
        annotations = {
            "paved-road.dev/template-version": s.current_version,
            "paved-road.dev/template-latest": s.latest_version or "",
            "paved-road.dev/template-drift": s.drift,
            "paved-road.dev/node-major": str(s.node_major or ""),
            "paved-road.dev/architectures": ",".join(s.architectures),
            "paved-road.dev/runner-mode": s.runner_mode or "",
            "backstage.io/source-template": "template:default/paved-road",
        }
        if s.placeholders:
            annotations["paved-road.dev/placeholders"] = ",".join(s.placeholders)
        spec = {"type": "service", "lifecycle": "production", "owner": s.owner or "unknown"}
        if s.system:
            spec["system"] = s.system
        entities.append({
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": s.name, "annotations": annotations, "tags": ["nodejs", "paved-road"]},
            "spec": spec,
        })
    return entities


def backstage_yaml(catalog: dict) -> str:
    return yaml.safe_dump_all(to_backstage(catalog), sort_keys=False, explicit_start=True)


def versions_chart_svg(versions: dict[str, int], latest: str | None) -> str:
    """An inline SVG bar chart: services per template version (no scripts, no assets)."""
    if not versions:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="30" role="img"><text x="0" y="20">no services</text></svg>'
    bar_h, gap, label_w, max_w = 22, 8, 150, 420
    top = max(versions.values())
    height = len(versions) * (bar_h + gap)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="versions-chart" width="{label_w + max_w + 60}" '
             f'height="{height}" viewBox="0 0 {label_w + max_w + 60} {height}" role="img" '
             'aria-label="services per template version">']
    for i, (version, count) in enumerate(versions.items()):
        y = i * (bar_h + gap)
        w = max(2, round(max_w * count / top))
        cls = "bar current" if version == latest else "bar behind"
        # 12-px labels in 142 px: a longer one (a bare commit's SHA) is cut, the whole value in the title.
        shown = (version[:12] + "\u2026" if re.fullmatch(r"[0-9a-f]{13,}", version)
                 else version if len(version) <= 20 else version[:19] + "\u2026")
        parts.append(
            f'<g class="version-bar" data-version="{_esc(version)}" data-count="{count}">'
            f'<title>{_esc(version)}: {count} service{"" if count == 1 else "s"}</title>'
            f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{_esc(shown)}</text>'
            f'<rect class="{cls}" x="{label_w}" y="{y}" width="{w}" height="{bar_h}"/>'
            f'<text x="{label_w + w + 6}" y="{y + 16}">{count}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _esc(text) -> str:
    return str(escape("" if text is None else text))


def render_html(catalog: dict, dora_page: str | None = None, preview_page: str | None = None) -> str:
    """The catalog page; with `dora_page`, each service's name links to its row
    in that `paved dora` page; with `preview_page`, to its row in a `paved fleet preview` page."""
    import jinja2

    from paved_road.dora.report import anchor, time_html
    from paved_road.fleet.preview.core import anchor as preview_anchor

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("paved_road", "templates"), autoescape=True,
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
    )
    latest = {src: info["latest_version"] for src, info in sorted(catalog["templates"].items())}
    newest = [v for v in latest.values() if v]
    # The chart marks a bar "current" only when every template agrees on it.
    chart_latest = newest[0] if len(set(newest)) == 1 else None
    return env.get_template("catalog.html").render(
        catalog=catalog,
        services=catalog["services"],
        summary=catalog["summary"],
        latest=latest,
        chart=Markup(versions_chart_svg(catalog["summary"]["versions"], chart_latest)),
        drifts=DRIFTS,
        drift_labels={**DRIFT_LABELS, "error": "unreadable"},
        summary_line=summary_line(catalog),
        dora_page=dora_page,
        preview_page=preview_page,
        preview_anchor=preview_anchor,
        dora_anchor=anchor,
        when=time_html,
    )
