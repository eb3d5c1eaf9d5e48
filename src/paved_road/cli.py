"""The `paved` command: a thin layer that parses arguments and prints.

Each feature lives in its own module that exposes `register(subparsers)`; the
logic sits in plain functions that tests call directly.

Exit codes shared by every command (see README "Exit codes"):
  0 success, 1 unexpected failure, 2 bad input / usage, and command-specific
  codes documented by each command (deploy and rollback use 3-6).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from paved_road import __version__

# Feature modules, each providing register(subparsers). Add one line per module.
COMMAND_MODULES = [
    "paved_road.cmd_new",
    "paved_road.otel_sink",
    "paved_road.demo",
    "paved_road.cmd_release",
    "paved_road.cmd_catalog",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paved", description="Paved Road platform tooling.")
    parser.add_argument("--version", action="version", version=f"paved {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
