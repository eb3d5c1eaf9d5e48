"""`paved dora`'s history store: an embedded SQLite file (stdlib sqlite3) that keeps what ECS forgets.

ECS returns 90 days of service deployments; a quarterly review of a year needs more. Each run saves
the deployment records it read (the release ledger's input: `history.Deployment`, with the
task-definition revision, the image digest ECS resolved, status and times) and the ECR facts behind
them (digest -> release tag, push time). The ledger itself is not stored: it is rebuilt from the
records on every run (paved_road.deploy.ledger), so a fix to its classification applies to old
history too.

Runs are incremental: a service's next read asks ECS only for deployments created after the newest
stored one that had ended (minus a minute, and from the oldest one still in flight when that is older);
records are replaced by id (ECS's service-deployment ARN), so a deployment that was in flight is
updated once it ends.

The store belongs to one world: when ECS contradicts it (the service's createdAt differs from the one
stored: it was deleted and recreated; the newest stored record of a service is
within ECS's 90 days but not returned, or a record starts at the same instant as a stored one under
another ARN: the service was deleted and recreated, or the file came from another account or a
simulator), that service's stored records are dropped and it is read afresh, once, with a notice.

Default location: `$XDG_CACHE_HOME/paved/dora.sqlite` (else `~/.cache/paved/dora.sqlite`; on
macOS `~/Library/Caches/paved/dora.sqlite`; on Windows `%LOCALAPPDATA%\\paved\\Cache\\dora.sqlite`).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import sys
import threading
import time
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

from paved_road.deploy import ledger
from paved_road.deploy.history import Deployment

SCHEMA = 1
ECS_RETENTION = timedelta(days=90)     # service-deployment.html: "the most recent 90-day history"
OVERLAP = timedelta(minutes=1)
_TIMES = ("started_at", "finished_at", "rollback_started_at")


def default_path() -> Path:
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "paved" / "Cache"
        return base / "dora.sqlite"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "paved" / "dora.sqlite"


def to_json(d: Deployment) -> str:
    data = {f.name: getattr(d, f.name) for f in fields(Deployment)}
    for key in _TIMES:
        data[key] = data[key].isoformat() if data[key] else None
    data["triggered_alarms"] = list(d.triggered_alarms)
    return json.dumps(data, sort_keys=True)


def from_json(text: str) -> Deployment:
    data = json.loads(text)
    known = {f.name for f in fields(Deployment)}
    data = {k: v for k, v in data.items() if k in known}
    for key in _TIMES:
        data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
    data["triggered_alarms"] = tuple(data.get("triggered_alarms") or ())
    return Deployment(**data)


class StoreError(RuntimeError):
    """The store file cannot be opened or is not a dora store (exit 2)."""


def _guarded(method):
    """SQLite failing after the file opened (a damaged page, disk full, a read-only file, locked past the
    timeout) is the store's one-line error (exit 2), not a traceback from a reading thread."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(f"--store {self.path}: {exc} (move the file away, or run with --no-store)") from None
    return wrapper


class Store:
    """One SQLite file; safe to share between the reading threads (one connection, one lock)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self._check_schema()          # before writing anything: a newer paved's store is left as it is
            self._wal()
            self.db.executescript("""
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
                CREATE TABLE IF NOT EXISTS deployments (
                    service TEXT NOT NULL, id TEXT NOT NULL, started_at TEXT NOT NULL, ended INTEGER NOT NULL,
                    record TEXT NOT NULL, PRIMARY KEY (service, id));
                CREATE TABLE IF NOT EXISTS services (
                    service TEXT PRIMARY KEY, read_at TEXT NOT NULL, covered_from TEXT NOT NULL,
                    asked_from TEXT NOT NULL, created_at TEXT);
                CREATE TABLE IF NOT EXISTS images (
                    repository TEXT NOT NULL, digest TEXT NOT NULL, release TEXT, pushed_at TEXT,
                    PRIMARY KEY (repository, digest));
                CREATE TABLE IF NOT EXISTS missing_images (
                    repository TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repository, digest));
                CREATE TABLE IF NOT EXISTS alarm_changes (
                    alarm TEXT NOT NULL, at TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (alarm, at, state));
                CREATE TABLE IF NOT EXISTS alarm_reads (
                    alarm TEXT PRIMARY KEY, read_from TEXT NOT NULL, read_to TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS revisions (
                    task_definition TEXT NOT NULL, container TEXT NOT NULL, described INTEGER NOT NULL DEFAULT 0,
                    release TEXT, digest TEXT, made_by TEXT, image TEXT, PRIMARY KEY (task_definition, container));
            """)
            # two first runs at once: both create the tables, one schema row (not a UNIQUE error)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            self.db.commit()
            self._check_schema()
        except StoreError:
            self.db.close()
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"--store {path}: cannot use it as a paved dora store ({exc}; "
                             "move the file away, or run with --no-store)") from None
        except OSError as exc:
            raise StoreError(f"--store {path}: cannot open it ({exc.strerror or exc})") from None
        self.lock = threading.Lock()

    def _check_schema(self) -> None:
        has_meta = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() if has_meta else None
        if row is not None and row[0] != str(SCHEMA):
            raise StoreError(f"--store {self.path}: store schema {row[0]}, this paved reads {SCHEMA} "
                             "(move the file away to start a new one)")

    def _wal(self) -> None:
        """WAL lets runs read while another writes; switching to it takes the file's lock and does not wait
        on SQLite's busy timeout, so a run that finds another one switching it waits here (up to 30 s)."""
        for attempt in range(300):
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 299:
                    raise
                time.sleep(0.1)

    @_guarded
    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- deployments ---------------------------------------------------------
    @_guarded
    def deployments(self, service: str) -> list[Deployment]:
        with self.lock:
            rows = self.db.execute("SELECT record FROM deployments WHERE service = ?", (service,)).fetchall()
        return [from_json(r[0]) for r in rows]

    @_guarded
    def coverage(self, service: str) -> tuple[datetime, datetime, datetime] | None:
        """(last read at, from when the history held is complete, the earliest time ECS was asked from),
        or None. ECS only forgets: once asked from T, asking again from T or earlier returns nothing
        older, so a later run only needs what is newer than the store."""
        with self.lock:
            row = self.db.execute("SELECT read_at, covered_from, asked_from FROM services WHERE service = ?",
                                  (service,)).fetchone()
        return tuple(datetime.fromisoformat(v) for v in row) if row else None  # type: ignore[return-value]

    @_guarded
    def created_at(self, service: str) -> str | None:
        """The service's createdAt when it was last read: another value means another service of that name."""
        with self.lock:
            row = self.db.execute("SELECT created_at FROM services WHERE service = ?", (service,)).fetchone()
        return row[0] if row else None

    @_guarded
    def save(self, service: str, records: list[Deployment], read_at: datetime, covered_from: datetime,
             asked_from: datetime | None = None, created_at: str | None = None) -> None:
        with self.lock, self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO deployments VALUES (?, ?, ?, ?, ?)",
                [(service, d.id, d.started_at.isoformat(), int(ledger.phase(d.status) in ("succeeded", "failed")),
                  to_json(d)) for d in records])
            self.db.execute("INSERT OR REPLACE INTO services VALUES (?, ?, ?, ?, ?)",
                            (service, read_at.isoformat(), covered_from.isoformat(),
                             (asked_from or covered_from).isoformat(), created_at))

    @_guarded
    def forget(self, service: str) -> None:
        with self.lock, self.db:
            self.db.execute("DELETE FROM deployments WHERE service = ?", (service,))
            self.db.execute("DELETE FROM services WHERE service = ?", (service,))

    # -- ECR facts -----------------------------------------------------------
    @_guarded
    def save_images(self, repository: str, names: dict[str, str], pushed: dict[str, datetime]) -> None:
        with self.lock, self.db:
            self.db.executemany("INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?)", [
                (repository, digest, names.get(digest), pushed[digest].isoformat() if digest in pushed else None)
                for digest in set(names) | set(pushed)])

    @_guarded
    def missing_images(self, repository: str) -> set[str]:
        with self.lock:
            return {r[0] for r in self.db.execute("SELECT digest FROM missing_images WHERE repository = ?",
                                                  (repository,))}

    @_guarded
    def save_missing_images(self, repository: str, digests: list[str]) -> None:
        with self.lock, self.db:
            self.db.executemany("INSERT OR IGNORE INTO missing_images VALUES (?, ?)", [(repository, d) for d in digests])

    # -- CloudWatch alarm history (state changes; CloudWatch keeps 30 days) ------
    # Tables added to schema 1: a store an older paved wrote gains them, and an older paved ignores them.
    @_guarded
    def alarm_history(self, alarm: str) -> tuple[list[tuple[datetime, str]], datetime, datetime] | None:
        """(state changes oldest first, read from, read to) of one alarm (its ARN), or None."""
        with self.lock:
            row = self.db.execute("SELECT read_from, read_to FROM alarm_reads WHERE alarm = ?", (alarm,)).fetchone()
            if row is None:
                return None
            rows = self.db.execute("SELECT at, state FROM alarm_changes WHERE alarm = ?", (alarm,)).fetchall()
        changes = sorted((datetime.fromisoformat(at), state) for at, state in rows)
        return changes, datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1])

    @_guarded
    def save_alarm_history(self, alarm: str, changes: list[tuple[datetime, str]], read_from: datetime,
                           read_to: datetime) -> None:
        """Add what one read returned; the alarm's history is now complete from `read_from` to `read_to`."""
        with self.lock, self.db:
            self.db.executemany("INSERT OR IGNORE INTO alarm_changes VALUES (?, ?, ?)",
                                [(alarm, at.isoformat(), state) for at, state in changes])
            self.db.execute("INSERT OR REPLACE INTO alarm_reads VALUES (?, ?, ?)",
                            (alarm, read_from.isoformat(), read_to.isoformat()))

    # -- task-definition revisions (immutable: registered once, never edited) --
    @_guarded
    def revision_image(self, task_definition: str, container: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT image FROM revisions WHERE task_definition = ? AND container = ?",
                                  (task_definition, container)).fetchone()
        return row[0] if row and row[0] is not None else None

    @_guarded
    def save_revision_image(self, task_definition: str, container: str, image: str) -> None:
        with self.lock, self.db:
            self.db.execute("INSERT INTO revisions (task_definition, container, image) VALUES (?, ?, ?) "
                            "ON CONFLICT (task_definition, container) DO UPDATE SET image = excluded.image",
                            (task_definition, container, image))

    @_guarded
    def revisions(self, container: str) -> dict[str, tuple[str | None, str | None, str]]:
        """Task definition -> (release, digest, made_by) as history.RevisionInfo read them."""
        with self.lock:
            rows = self.db.execute("SELECT task_definition, release, digest, made_by FROM revisions "
                                   "WHERE container = ? AND described = 1", (container,)).fetchall()
        return {td: (release, digest, made_by) for td, release, digest, made_by in rows}

    @_guarded
    def save_revisions(self, container: str, found: dict[str, tuple[str | None, str | None, str]]) -> None:
        with self.lock, self.db:
            self.db.executemany(
                "INSERT INTO revisions (task_definition, container, described, release, digest, made_by) "
                "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (task_definition, container) DO UPDATE SET described = 1, "
                "release = excluded.release, digest = excluded.digest, made_by = excluded.made_by",
                [(td, container, *facts) for td, facts in found.items()])

    @_guarded
    def images(self, repository: str) -> tuple[dict[str, str], dict[str, datetime]]:
        """(digest -> release, digest -> pushed_at) of one repository."""
        with self.lock:
            rows = self.db.execute("SELECT digest, release, pushed_at FROM images WHERE repository = ?",
                                   (repository,)).fetchall()
        names = {d: r for d, r, _ in rows if r}
        pushed = {d: datetime.fromisoformat(p) for d, _, p in rows if p}
        return names, pushed


def same_instant(stored: str, created: datetime) -> bool:
    """A stored createdAt (ISO text, any offset) names the same instant as ECS's createdAt now."""
    try:
        was = datetime.fromisoformat(stored)
    except ValueError:
        return False
    return (was if was.tzinfo else was.replace(tzinfo=timezone.utc)) == created


def read_since(stored: list[Deployment]) -> datetime | None:
    """Where an incremental read starts: the newest stored deployment that had ended, or the oldest
    one stored in flight when that is older, minus a minute; None when nothing is stored."""
    ended = [d.started_at for d in stored if ledger.phase(d.status) in ("succeeded", "failed")]
    going = [d.started_at for d in stored if ledger.phase(d.status) not in ("succeeded", "failed")]
    starts = ([max(ended)] if ended else []) + ([min(going)] if going else [])
    return min(starts) - OVERLAP if starts else None


def contradicts(stored: list[Deployment], fresh: list[Deployment], read_from: datetime, now: datetime) -> str | None:
    """Why the fresh read says the stored records belong to another world, or None."""
    if not stored:
        return None
    ids = {d.id for d in fresh}
    by_start = {d.started_at: d.id for d in stored}
    clash = next((d for d in fresh if by_start.get(d.started_at, d.id) != d.id), None)
    if clash is not None:
        return f"ECS has another deployment starting at {clash.started_at.isoformat()} than the store"
    newest = max((d for d in stored if ledger.phase(d.status) in ("succeeded", "failed")),
                 key=lambda d: d.started_at, default=None)
    if newest is not None and newest.started_at >= read_from and newest.started_at >= now - ECS_RETENTION \
            and newest.id not in ids:
        return f"ECS no longer lists the newest stored deployment ({newest.started_at.isoformat()})"
    return None


SETTLE_MARGIN = timedelta(minutes=5)   # clocks: ECS's updatedAt against ours


def settled(stored: list[Deployment], svc: dict, read_at: datetime) -> bool:
    """Nothing to read since `read_at`: no stored deployment was in flight, and every deployment
    DescribeServices lists (the PRIMARY one is the newest) ended and was last updated before that read
    (a new deployment, or ECS's own rollback, is a new PRIMARY created after it)."""
    if any(ledger.phase(d.status) not in ("succeeded", "failed") for d in stored):
        return False
    deployments = svc.get("deployments") or []
    if not deployments:
        return False
    for d in deployments:
        at = d.get("updatedAt") or d.get("createdAt")
        if d.get("rolloutState") not in ("COMPLETED", "FAILED") or not isinstance(at, datetime):
            return False
        at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        if at + SETTLE_MARGIN > read_at:
            return False
    return True


def merge(stored: list[Deployment], fresh: list[Deployment]) -> list[Deployment]:
    """Stored records updated by the fresh ones (same id: the fresh one wins), newest first."""
    by_id = {d.id: d for d in stored}
    by_id.update({d.id: d for d in fresh})
    return sorted(by_id.values(), key=lambda d: (d.started_at, d.id), reverse=True)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
