"""Options that mean the same thing in every command, defined once (docs/cli.md, "One name per concept")."""

from __future__ import annotations

import argparse

# Parallelism: the work is I/O-bound (AWS calls, git, copier subprocesses), so the default does not follow
# the CPU count; one number for every command so `-j` means the same everywhere.
DEFAULT_JOBS = 8


def positive_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got '{text}')")
    return value


def add_jobs(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--jobs", "-j", type=positive_int, default=DEFAULT_JOBS, metavar="N",
                        help=f"{what} in parallel (default: {DEFAULT_JOBS})")
