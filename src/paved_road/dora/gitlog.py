"""Commits a release carries, read from the service's git checkout.

Release tags are `vX.Y.Z` (what the generated CI deploys on) or `X.Y.Z`. The
commits a production deployment of release R carries are `git log <prev>..<R>`,
where <prev> is the release production ran before it; when that is unknown (the
history starts with this deployment) or not tagged in the checkout, the
highest release tag lower than R. A commit's time is its committer date: when
the change landed on the branch that was released (an author date can be days
older after a rebase).
"""

from __future__ import annotations

import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

_TAG = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


class GitError(RuntimeError):
    """The checkout cannot be read (not a git repository, git failed)."""


def _version(text: str | None) -> tuple[int, int, int] | None:
    match = _TAG.match(text or "")
    return tuple(int(p) for p in match.groups()) if match else None  # type: ignore[return-value]


class ReleaseRepo:
    """One service checkout: its release tags, read once, and commit ranges between them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        out = self._git("tag", "--list")
        self.tags: dict[tuple[int, int, int], str] = {}
        for tag in out.split():
            version = _version(tag)
            # vX.Y.Z wins over X.Y.Z when both exist (the generated CI's trigger).
            if version and (version not in self.tags or tag.startswith("v")):
                self.tags[version] = tag
        self._cache: dict[tuple[str, str | None], list[tuple[str, datetime]]] = {}

    def _git(self, *args: str) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            proc = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True, text=True, env=env)
        except OSError as exc:
            raise GitError(f"cannot run git: {exc}") from exc
        if proc.returncode:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            raise GitError(f"{self.path}: {lines[-1] if lines else 'git failed'}")
        return proc.stdout

    def tag_for(self, release: str | None) -> str | None:
        version = _version(release)
        return self.tags.get(version) if version else None

    def lower_tag(self, release: str) -> str | None:
        version = _version(release)
        lower = [v for v in self.tags if version and v < version]
        return self.tags[max(lower)] if lower else None

    def commits(self, release: str, previous: str | None = None) -> list[tuple[str, datetime]] | None:
        """(sha, committer time) of every commit in `previous..release`, or None when
        the release has no tag in this checkout."""
        tag = self.tag_for(release)
        if tag is None:
            return None
        prev = self.tag_for(previous) if previous else None
        if prev is None or _version(previous) == _version(release):
            prev = self.lower_tag(release)
        key = (tag, prev)
        if key not in self._cache:
            spec = [f"{tag}^{{commit}}"] + ([f"^{prev}^{{commit}}"] if prev else [])
            out = self._git("log", "--format=%H %ct", *spec, "--")
            self._cache[key] = [
                (sha, datetime.fromtimestamp(int(ts), tz=timezone.utc))
                for sha, ts in (line.split() for line in out.splitlines() if line.strip())
            ]
        return self._cache[key]
