"""Options that mean the same thing in every command, defined once (docs/cli.md, "One name per concept")."""

from __future__ import annotations

import argparse

# Parallelism: the work is I/O-bound (AWS calls, git, copier subprocesses), so the default does not follow
# the CPU count; one rule for every command so `-j` means the same everywhere: without `-j`, 8 at a time,
# and REMOTE_JOBS for reads from git remotes, which mostly wait on the network (bench/catalog_remote.py).
DEFAULT_JOBS = 8
REMOTE_JOBS = 32


def positive_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got '{text}')")
    return value


def add_jobs(parser: argparse.ArgumentParser, what: str, remote: bool = False) -> None:
    """`--jobs`; `remote`: the command's parallel work is reads from git remotes (its help says 32, not 8)."""
    default = (f"default: {REMOTE_JOBS}, since reads from git remotes wait on the network, not the CPU" if remote
               else f"default: {DEFAULT_JOBS}")
    parser.add_argument("--jobs", "-j", type=positive_int, default=None, metavar="N",
                        help=f"{what} in parallel ({default})")


def jobs(value: int | None, remote: bool = False) -> int:
    """The parallelism for one kind of work: `-j N` when given, else the default for that kind."""
    return value if value else (REMOTE_JOBS if remote else DEFAULT_JOBS)
