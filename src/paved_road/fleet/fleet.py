"""Fleet updates: bring many generated services to a template release.

`update_service` works on one git checkout: it creates a branch, runs
`copier update` to the target version in a subprocess (copier changes the
process's working directory, so threads cannot share it), and commits. A
failure leaves the checkout exactly as it was: original branch, same HEAD,
clean tree, no new branch. `update_fleet` runs that over many services in
parallel.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from paved_road.fleet.conflict_markers import count_hunks, rej_hunks
from paved_road.untrusted import redact, same_source

CONFLICT_START = "<<<<<<< "
CONFLICT_END = ">>>>>>> "
_SKIP_DIRS = {".git", "node_modules"}


def conflict_hunks(path: Path) -> int:
    """Conflict hunks in one file: `<<<<<<< ` markers, or `@@` hunks of a .rej file."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return 0
    if path.name.endswith(".rej"):
        return len(rej_hunks(lines))
    return count_hunks(lines, path.name)


def find_conflicts(root: Path) -> list[str]:
    """Files under `root` with merge-conflict markers, and `.rej` files, sorted."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if name.endswith(".rej"):
                found.append(rel)
                continue
            try:
                with path.open("rb") as fh:
                    lines = fh.read().splitlines()
            except OSError:
                continue
            if count_hunks(lines, name):
                found.append(rel)
    return sorted(found)


# ---------------------------------------------------------------------------
# Updating one service
# ---------------------------------------------------------------------------
UPDATED, CONFLICTS, FAILED, CURRENT = "updated", "conflicts", "failed", "current"
# `_src_path` is not the canonical template: never updated (copier update --trust would run its tasks).
SKIPPED = "skipped"
# A branch from an earlier run: left as it is (PENDING: its pull request waits)
# or rebuilt on the base branch's new commits (REFRESHED). Re-running is safe.
PENDING, REFRESHED = "pending", "refreshed"
# The answers file says the target version, but only in the work tree: someone ran `copier update` and did
# not commit it. Not "current": nothing is released until it is reviewed and committed.
UNCOMMITTED = "uncommitted"
COPIER_UPDATE = ["-m", "copier", "update", "--trust", "--defaults", "--skip-answered", "--conflict", "inline"]


class Cancelled(RuntimeError):
    """Ctrl-C: the copier run was stopped and the checkout put back."""


def run_copier_update(repo: Path, vcs_ref: str | None = None, cancel: threading.Event | None = None,
                      env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`copier update` with the flags every paved update uses: --trust (the
    template's migrations), --defaults --skip-answered (recorded answers are
    kept, nothing is asked), inline conflict markers. Runs in its own session
    so a terminal's Ctrl-C reaches paved only; paved then stops copier and
    restores the checkout (Cancelled) instead of leaving a half-applied update. `env`: the
    environment copier runs with (default: paved's)."""
    cmd = [sys.executable, *COPIER_UPDATE] + (["--vcs-ref", vcs_ref] if vcs_ref else [])
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("interrupted")
    except BaseException:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.communicate()
        # copier's own children (a git clone of the template, a migration) are in its session: stop any
        # left, or they write into the checkout or the scratch space after it was put back or removed
        _signal_group(proc, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # start_new_session: the group's id is copier's pid
    except (ProcessLookupError, PermissionError):
        pass


def restore_checkout(repo: Path, branch: str) -> None:
    """Back to `branch` with a clean tree. Callers checked it was clean before
    with --untracked-files=all (a user's status.showUntrackedFiles=no must not
    hide files that `git clean` would then delete)."""
    _git(repo, "reset", "-q", "--hard", check=False)
    _git(repo, "clean", "-q", "-fd", check=False)
    _git(repo, "checkout", "-q", "-f", branch, check=False)


@dataclass
class FleetResult:
    path: str
    status: str
    name: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    branch: str | None = None
    conflicts: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


class _GitError(RuntimeError):
    pass


def _git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and proc.returncode:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise _GitError(f"git {args[0]}: {lines[-1] if lines else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def checkout_top(checkout: Path) -> tuple[Path, str]:
    """(the top of `checkout`'s repository, the service's directory below it: "" or "sub/dir/")."""
    top, prefix = (_git(checkout, "rev-parse", "--show-toplevel", "--show-prefix").split("\n") + ["", ""])[:2]
    return Path(top.strip()), prefix.strip()


def changed_paths(repo: Path) -> set[str]:
    """Paths `git status` reports changed or untracked, relative to the repository
    root, exactly as on disk (-z: no quoting of spaces or non-ASCII names)."""
    entries = _git(repo, "status", "--porcelain", "-z", "--untracked-files=all").split("\0")
    paths, i = set(), 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.add(entry[3:])
        if "R" in entry[:2] or "C" in entry[:2]:
            i += 1  # the original path of a rename or copy follows
    return paths


def committed_version(repo: Path) -> str | None:
    """The template version (`_commit`) of the answers file in HEAD; None when HEAD has no answers file.
    Outside a git checkout there is no HEAD to compare with: the work tree's file is all there is."""
    from paved_road.fleet.catalog import ANSWERS_FILE, status_from_answers

    proc = subprocess.run(["git", "show", f"HEAD:./{ANSWERS_FILE}"], cwd=repo, capture_output=True)
    if proc.returncode == 0:
        return status_from_answers(str(repo), proc.stdout).current_version
    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=repo, capture_output=True).returncode:
        return status_from_answers(str(repo), (repo / ANSWERS_FILE).read_bytes()).current_version
    return None


def _identity(repo: Path) -> list[str]:
    """-c options giving commits an author when the machine has none configured."""
    if _git(repo, "config", "user.email", check=False).strip():
        return []
    return ["-c", "user.name=paved fleet", "-c", "user.email=paved-fleet@localhost"]


def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else ""


def update_service(path: str | Path, to_version: str, from_version: str | None = None,
                   name: str | None = None, branch: str | None = None,
                   cancel: threading.Event | None = None) -> FleetResult:
    """Update one checkout to `to_version` on a new branch and commit it.

    Leaves the checkout on its original branch in every case: the update is on
    `branch` (default `paved/template-<to_version>`), ready to push as a pull
    request. Conflicts are committed with their markers (the pull request shows
    them; `paved fleet conflicts` in the service's CI finds them); any failure
    restores the checkout exactly and deletes the branch.
    """
    repo = Path(path)
    branch = branch or f"paved/template-{to_version}"
    result = FleetResult(path=str(path), status=FAILED, name=name, from_version=from_version,
                         to_version=to_version, branch=branch)
    try:
        top = Path(_git(repo, "rev-parse", "--show-toplevel").strip())
    except (_GitError, OSError) as exc:
        result.reason, result.branch = f"not a git checkout ({exc})", None
        return result
    if _git(repo, "status", "--porcelain", "--untracked-files=all").strip():
        result.reason, result.branch = "uncommitted changes: commit or stash them first", None
        return result
    original = _git(repo, "symbolic-ref", "--short", "-q", "HEAD", check=False).strip()
    if not original:
        result.reason, result.branch = "detached HEAD: check out a branch first", None
        return result
    work_branch = branch
    remote = _remote_branches(repo, branch)
    if not _git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False).strip() and remote:
        # A fresh clone (a scheduled job clones every time): the branch an
        # earlier run pushed is only on the remote. Never build a second one
        # to push over it; whoever owns it now is not known here.
        result.status = PENDING
        result.conflicts = _conflicted_files(repo, remote[0])
        result.reason = (f"branch from an earlier run exists as {remote[0].removeprefix('refs/remotes/')}: "
                         "left as it is (delete it there to have it rebuilt)")
        return result
    if _git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False).strip():
        if not _needs_refresh(repo, original, branch, result):
            return result
        work_branch = f"{branch}.paved-refresh"
        _git(repo, "branch", "-q", "-D", work_branch, check=False)  # a leftover of a killed run

    try:
        if cancel is not None and cancel.is_set():
            raise Cancelled("interrupted")
        _git(repo, "checkout", "-q", "-b", work_branch)
        proc = run_copier_update(repo, to_version, cancel)
        if proc.returncode:
            raise _GitError(f"copier update exited {proc.returncode}: {_last_line(proc.stderr or proc.stdout)}")
        changed = changed_paths(repo)
        result.conflicts = [c for c in find_conflicts(top) if c in changed or c.endswith(".rej")]
        _git(repo, "add", "-A")
        message = f"Update Paved Road template to {to_version}"
        if from_version:
            message += f" (from {from_version})"
        if result.conflicts:
            message += "\n\nConflicts to resolve:\n" + "".join(f"- {c}\n" for c in result.conflicts)
        _git(repo, *_identity(repo), "commit", "-q", "--no-verify", "-m", message)
        # Remember the commit paved made: a later run may rebuild the branch
        # only while its tip is still exactly that commit (not amended, nothing added).
        _git(repo, "update-ref", _made_ref(branch), "HEAD")
        _git(repo, "checkout", "-q", original)
        if work_branch != branch:
            _git(repo, "branch", "-q", "-f", branch, work_branch)
            _git(repo, "branch", "-q", "-D", work_branch)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, put the checkout back
        restore_checkout(repo, original)
        _git(repo, "branch", "-q", "-D", work_branch, check=False)
        result.reason = redact(exc) or exc.__class__.__name__
        result.branch = branch if work_branch != branch else None  # an earlier run's branch stays
        return result
    if work_branch != branch:
        result.status = REFRESHED
        result.reason = f"{original} moved on since the earlier run: branch rebuilt on it"
    else:
        result.status = CONFLICTS if result.conflicts else UPDATED
    return result


def _needs_refresh(repo: Path, original: str, branch: str, result: FleetResult) -> bool:
    """A branch for this target exists (an earlier run). True when it should be
    rebuilt: it holds only paved's own commit and `original` has moved on.
    Otherwise fill `result` as PENDING: the branch is left exactly as it is."""
    result.status = PENDING
    result.conflicts = _conflicted_files(repo, branch)
    up_to_date = subprocess.run(["git", "merge-base", "--is-ancestor", original, branch], cwd=repo,
                                capture_output=True).returncode == 0
    if up_to_date:
        result.reason = "branch from an earlier run, unchanged: its pull request is waiting"
        return False
    made = _git(repo, "rev-parse", "-q", "--verify", _made_ref(branch), check=False).strip()
    pushed_over = [ref for ref in _remote_branches(repo, branch)
                   if _git(repo, "rev-parse", ref).strip() != made]
    if pushed_over:  # someone pushed to it (or it was never pushed as paved left it): keep their commits
        result.reason = (f"{pushed_over[0].removeprefix('refs/remotes/')} differs from the commit paved made: "
                         "left as it is")
        return False
    if made and made == _git(repo, "rev-parse", branch).strip():
        return True
    result.reason = "branch from an earlier run has changes or commit(s) of its own: left as it is"
    return False


def _remote_branches(repo: Path, branch: str) -> list[str]:
    """Remote-tracking refs of `branch` (refs/remotes/<remote>/<branch>), as fetched."""
    refs = _git(repo, "for-each-ref", "--format=%(refname)", "refs/remotes/", check=False).splitlines()
    return sorted(r for r in refs if r.split("/", 3)[3:] == [branch])


def _conflicted_files(repo: Path, ref: str) -> list[str]:
    """Files on `ref` that still carry conflict markers."""
    candidates = [
        line.split(":", 1)[1] for line in
        _git(repo, "grep", "-l", "-e", f"^{CONFLICT_START}", ref, "--", check=False).splitlines() if ":" in line]
    return sorted(p for p in candidates
                  if count_hunks(_git(repo, "show", f"{ref}:{p}", check=False).encode().splitlines(), p))


def _made_ref(branch: str) -> str:
    """A local ref (never pushed by default) to the last commit paved made on `branch`."""
    return f"refs/paved/made/{branch}"


# ---------------------------------------------------------------------------
# Updating a fleet
# ---------------------------------------------------------------------------
class FleetError(ValueError):
    """Bad input to the fleet update as a whole."""


def plan(paths: list[str | Path], to: str | None = None, template: str | None = None) -> tuple[list[dict], list[FleetResult]]:
    """Which services to update to which version, and results for the rest."""
    from paved_road.fleet.catalog import build_catalog, parse_version
    from paved_road.template_source import trusted_sources

    if to is not None and parse_version(to) is None:
        raise FleetError(f"--to must be a release tag such as v1.2.0 (got '{to}')")
    trusted = trusted_sources(template)
    if not trusted:
        raise FleetError("no canonical template to update from: pass --template URL or set PAVED_TEMPLATE")
    catalog = build_catalog(paths, template=template)
    work, done = [], []
    for s in catalog["services"]:
        if s.error:
            done.append(FleetResult(path=s.path, status=FAILED, name=s.name, reason=s.error))
            continue
        if not same_source(s.template, *trusted, base=s.path):
            done.append(FleetResult(path=s.path, status=SKIPPED, name=s.name, from_version=s.current_version,
                                    reason=not_canonical(s.template, trusted[-1])))
            continue
        tags = catalog["templates"][redact(template) if template else s.template]["tags"]
        target = to or s.latest_version
        if target is None:
            done.append(FleetResult(path=s.path, status=FAILED, name=s.name, from_version=s.current_version,
                                    reason="the template has no release tags"))
            continue
        if to is not None and to not in tags:
            raise FleetError(f"--to must be one of the template's tags: {', '.join(tags) or 'none'} (got '{to}')")
        current = parse_version(s.current_version)  # None: a commit, not a release; copier can update it
        if current is not None and current >= parse_version(target):
            committed = committed_version(Path(s.path))
            if committed != s.current_version:
                from paved_road.fleet.catalog import ANSWERS_FILE

                done.append(FleetResult(
                    path=s.path, status=UNCOMMITTED, name=s.name, from_version=committed, to_version=s.current_version,
                    reason=f"updated, uncommitted: {ANSWERS_FILE} says {s.current_version} in the work tree but "
                           f"{committed or 'nothing'} in HEAD; review the update and commit it (or discard it)"))
                continue
            done.append(FleetResult(path=s.path, status=CURRENT, name=s.name,
                                    from_version=s.current_version, to_version=s.current_version))
            continue
        work.append({"path": s.path, "name": s.name, "from_version": s.current_version, "to_version": target})
    return work, done


def not_canonical(src_path: str | None, canonical: str) -> str:
    return (f"_src_path {redact(src_path)} is not the canonical template {redact(canonical)}: not updated "
            "(copier update --trust would run that template's tasks); point the service's .copier-answers.yml "
            "at the canonical template, or pass --template if that one is trusted")


class FleetInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fleet update; `results` holds what finished (and what
    was put back)."""

    def __init__(self, results: list[FleetResult]):
        super().__init__("interrupted")
        self.results = results


def update_fleet(paths: list[str | Path], to: str | None = None, jobs: int | None = None,
                 template: str | None = None,
                 on_result: Callable[[FleetResult], None] | None = None,
                 planned: tuple[list[dict], list[FleetResult]] | None = None) -> list[FleetResult]:
    """Update every service behind `to` (default: its template's latest tag), `jobs` at a time.

    On Ctrl-C, running copier processes are stopped, their checkouts put back
    (branch, HEAD, clean tree), services not started are not touched, and
    FleetInterrupted carries the results so far."""
    work, done = planned or plan(paths, to, template)
    results = list(done)
    jobs = max(1, jobs or os.cpu_count() or 1)
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(update_service, **item, cancel=cancel): item for item in work}
        for future in as_completed(futures):
            try:
                res = future.result()
            except Exception as exc:  # noqa: BLE001 - one service must not stop the others
                item = futures[future]
                res = FleetResult(path=str(item["path"]), status=FAILED, name=item.get("name"),
                                  from_version=item.get("from_version"), to_version=item.get("to_version"),
                                  reason=f"unexpected error: {exc}")
            results.append(res)
            if on_result:
                on_result(res)
    except KeyboardInterrupt:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        finished = [f.result() for f in futures if f.done() and not f.cancelled() and f.exception() is None]
        seen = {id(r) for r in results}
        results += [r for r in finished if id(r) not in seen]
        raise FleetInterrupted(sorted(results, key=lambda r: (r.name or "~", r.path))) from None
    pool.shutdown(wait=True)
    return sorted(results, key=lambda r: (r.name or "~", r.path))
