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


def port(text: str) -> int:
    """A TCP port for argparse: 0 to 65535 (0 picks a free one)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 65535 (got '{text}')")
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


class StoreOne(argparse.Action):
    """Store a value; a second spelling of the same option (an alias) giving a different value is a usage
    error naming both, not "the last one wins"."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(namespace, self.dest, None)
        if given is not None and given != values:
            first = getattr(namespace, f"_{self.dest}_option", self.dest)
            parser.error(f"{first} {given} and {option_string} {values} name different values; give one")
        setattr(namespace, f"_{self.dest}_option", option_string)
        setattr(namespace, self.dest, values)


class DeprecatedAlias(StoreOne):
    """An old spelling kept for one release: stores into the new option's dest (with StoreOne: refused when
    the new spelling says otherwise) and says, once on stderr, which name to use instead. Hidden from help
    (pass help=argparse.SUPPRESS); give the new option action=StoreOne too."""

    def __init__(self, option_strings, dest, new_name: str, **kwargs):
        self.new_name = new_name
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        import sys

        print(f"{parser.prog}: warning: {option_string} is deprecated and will be removed in the next release; "
              f"use {self.new_name}", file=sys.stderr)
        super().__call__(parser, namespace, values, option_string)
