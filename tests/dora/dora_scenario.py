"""The hand-computed scenario every exact-value test uses.

Window: 2026-03-01T00:00Z .. 2026-03-31T00:00Z (30 days), environment production.

Service `orders` (times UTC; r = `paved rollback`):

| id | release | made_by  | status              | started        | finished       | |
|----|---------|----------|---------------------|----------------|----------------|-|
| D0 | 1.0.0   | deploy   | SUCCESSFUL          | 02-20 10:00    | 02-20 10:10    | before the window |
| D1 | 1.1.0   | deploy   | SUCCESSFUL          | 03-02 10:00    | 03-02 10:20    | |
| D2 | 1.2.0   | deploy   | ROLLBACK_SUCCESSFUL | 03-05 09:00    | 03-05 09:30    | circuit breaker rolled it back |
| D3 | 1.2.1   | deploy   | SUCCESSFUL          | 03-06 12:00    | 03-06 12:15    | the fix |
| D4 | 1.3.0   | deploy   | SUCCESSFUL          | 03-10 14:00    | 03-10 14:10    | bad: rolled back by hand 50 min later |
| D5 | 1.2.1   | rollback | SUCCESSFUL          | 03-10 15:00    | 03-10 15:05    | `paved rollback --previous` |
| D6 | 1.3.1   | deploy   | SUCCESSFUL          | 03-11 09:00    | 03-11 09:12    | hotfix |
| D7 | 1.4.0   | deploy   | SUCCESSFUL          | 03-25 10:00    | 03-25 10:10    | |

Git (one commit each, committer = author date, tags vX.Y.Z):
c0 02-15 09:00 (v1.0.0); c1 03-01 09:00, c2 03-02 08:00 (v1.1.0); c3 03-04 12:00 (v1.2.0);
c4 03-06 10:00 (v1.2.1); c5 03-09 16:00, c6 03-10 11:00 (v1.3.0); c7 03-11 08:00 (v1.3.1);
c8 03-24 10:00 (v1.4.0).
ECR pushes: 1.0.0 02-20 09:30, 1.1.0 03-02 09:50, 1.2.0 03-05 08:40, 1.2.1 03-06 11:50,
1.3.0 03-10 13:40, 1.3.1 03-11 08:30, 1.4.0 03-25 09:00.

By hand:
- changes D1 D2 D3 D4 D6 D7 = 6 (the rollback D5 is not a change); successful 5:
  5 / 30 days = 0.166667 per day, 1.166667 per week -> high (>= weekly, < daily).
- failed: D2 (circuit breaker), D4 (followed by `paved rollback` within 24 h) = 2/6 = 0.333333 -> low.
- restore: D2 09:00 -> 09:30 (its own rollback finished) = 1800 s; D4 14:00 -> D5 15:05 = 3900 s;
  median 2850 s, worst 3900 s -> elite (median < 1 hour).
- lead time per commit, to the first successful deployment carrying it:
  c1 -> D1 91200, c2 -> D1 8400, c3 -> D3 173700 (1.2.0 never ran), c4 -> D3 8100,
  c5 -> D4 79800, c6 -> D4 11400, c7 -> D6 4320 (c5, c6 were already in production), c8 -> D7 87000;
  sorted 4320 8100 8400 11400 79800 87000 91200 173700: median (11400 + 79800) / 2 = 45600 s,
  p90 (nearest rank 8 of 8) 173700 s -> elite (< 1 day).
- build to production (first successful deployment of each release): 1.1.0 1800, 1.2.1 1500,
  1.3.0 1800, 1.3.1 2520, 1.4.0 4200: median 1800, worst 4200.
- rollback duration: paved rollback D5 300 s; automatic (D2) 1800 s.

Service `payments`: one deployment on 02-10, none in the window: 0 deployments, 0 per day (low),
no failure rate, lead time or restore time.

Fleet: 6 changes, 5 successful, 2 failed; per service per day mean(0.166667, 0) = 0.083333 -> medium.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from paved_road.deploy.history import Deployment

SINCE = datetime(2026, 3, 1, tzinfo=timezone.utc)
UNTIL = datetime(2026, 3, 31, tzinfo=timezone.utc)


def t(text: str) -> datetime:
    """'03-02 10:00' -> 2026-03-02T10:00Z."""
    return datetime.strptime(f"2026-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)


# (release, made_by, status, started, finished)
ORDERS = [
    ("1.0.0", "deploy", "SUCCESSFUL", "02-20 10:00", "02-20 10:10"),
    ("1.1.0", "deploy", "SUCCESSFUL", "03-02 10:00", "03-02 10:20"),
    ("1.2.0", "deploy", "ROLLBACK_SUCCESSFUL", "03-05 09:00", "03-05 09:30"),
    ("1.2.1", "deploy", "SUCCESSFUL", "03-06 12:00", "03-06 12:15"),
    ("1.3.0", "deploy", "SUCCESSFUL", "03-10 14:00", "03-10 14:10"),
    ("1.2.1", "rollback", "SUCCESSFUL", "03-10 15:00", "03-10 15:05"),
    ("1.3.1", "deploy", "SUCCESSFUL", "03-11 09:00", "03-11 09:12"),
    ("1.4.0", "deploy", "SUCCESSFUL", "03-25 10:00", "03-25 10:10"),
]
PAYMENTS = [("2.0.0", "deploy", "SUCCESSFUL", "02-10 10:00", "02-10 10:08")]

PUSHED = {"1.0.0": "02-20 09:30", "1.1.0": "03-02 09:50", "1.2.0": "03-05 08:40", "1.2.1": "03-06 11:50",
          "1.3.0": "03-10 13:40", "1.3.1": "03-11 08:30", "1.4.0": "03-25 09:00"}
PAYMENTS_PUSHED = {"2.0.0": "02-10 09:00"}

# (commit time, tag after it or None)
COMMITS = [
    ("02-15 09:00", "v1.0.0"),
    ("03-01 09:00", None), ("03-02 08:00", "v1.1.0"),
    ("03-04 12:00", "v1.2.0"),
    ("03-06 10:00", "v1.2.1"),
    ("03-09 16:00", None), ("03-10 11:00", "v1.3.0"),
    ("03-11 08:00", "v1.3.1"),
    ("03-24 10:00", "v1.4.0"),
]
PAYMENTS_COMMITS = [("02-01 09:00", "v1.0.0"), ("02-09 09:00", "v2.0.0")]


def deployments(rows, family: str = "orders") -> list[Deployment]:
    """Newest first, as service_history returns them."""
    out = []
    for i, (release, made_by, status, started, finished) in enumerate(rows):
        out.append(Deployment(
            id=f"arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/{family}/d{i}",
            release=release, digest=None, task_definition=f"{family}:{i + 1}", strategy="ROLLING",
            status=status, started_at=t(started), finished_at=t(finished) if finished else None, made_by=made_by,
        ))
    return out[::-1]


def git_repo(path: Path, commits=COMMITS) -> Path:
    """A service checkout whose commit times are fixed (GIT_COMMITTER_DATE / GIT_AUTHOR_DATE)."""
    path.mkdir(parents=True)
    base = {**os.environ, "GIT_AUTHOR_NAME": "dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}

    def git(*args, env=base):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, env=env)

    git("init", "-q", "-b", "main")
    for i, (when, tag) in enumerate(commits):
        stamp = t(when).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        (path / "CHANGES").write_text(f"change {i}\n")
        git("add", "CHANGES")
        git("commit", "-q", "-m", f"change {i}", env={**base, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})
        if tag:
            git("tag", tag)
    return path
