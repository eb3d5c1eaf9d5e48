"""The `paved` command: a thin layer that parses arguments and prints.

Each feature lives in its own module that exposes `register(subparsers)`; the
logic sits in plain functions that tests call directly.

Exit codes shared by every command (docs/cli.md, "Exit codes"):
  0 success, 1 unexpected failure, 2 bad input / usage, 130 interrupted, and command-specific
  codes documented by each command (deploy and rollback use 3-6).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from paved_road import __version__, help_text, output
from paved_road.untrusted import redact

# Each command's module, providing register(subparsers). Only the module of
# the command being run is imported, so `paved new` does not pay for boto3.
COMMANDS = {
    "new": "paved_road.cmd_new",
    "otel-sink": "paved_road.local.otel_sink",
    "demo": "paved_road.demo",
    "dev": "paved_road.local.dev",
    "releases": "paved_road.deploy.cli",
    "deploy": "paved_road.deploy.cli",
    "rollback": "paved_road.deploy.cli",
    "history": "paved_road.deploy.cli",
    "sim": "paved_road.sim.cli",
    "catalog": "paved_road.fleet.cmd_catalog",
    "fleet": "paved_road.fleet.cmd_catalog",
    "update": "paved_road.fleet.service_update",
    "dora": "paved_road.dora.command",
}


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the option and the fix, exit 2 (argparse
    prints the whole usage block first)."""

    def error(self, message: str):
        message = help_text.explain_error(message)
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse, but an unknown option is reported by the command it was given to, with a suggestion."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self
            while (action := help_text.subcommands(parser)) and getattr(parsed, action.dest, None) in action.choices:
                parser = action.choices[getattr(parsed, action.dest)]
            options = [o for a in parser._actions for o in a.option_strings if a.help != argparse.SUPPRESS]
            hint = next((help_text.did_you_mean(x.split("=", 1)[0], options) for x in extras if x.startswith("-")
                         and help_text.did_you_mean(x.split("=", 1)[0], options)), "")
            parser.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return parsed


class _TopParser(_OneLineParser):
    def format_help(self) -> str:
        return help_text.top_level_help(self)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = _TopParser(prog="paved", description=help_text.DESCRIPTIONS["paved"])
    parser.add_argument("--version", action="version", version=f"paved {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_OneLineParser)
    words = [a for a in (argv or []) if not a.startswith("-")]
    wanted = [COMMANDS[words[0]]] if words and words[0] in COMMANDS else COMMANDS.values()
    for name in dict.fromkeys(wanted):
        importlib.import_module(name).register(subparsers)
    help_text.apply(parser, argv)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    problem = output.check_output(getattr(args, "output", None)) if hasattr(args, "_format_aliases") else None
    if problem:  # the output contract's -o FILE, checked before any work
        print(f"paved {args.command}: {problem}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"paved {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback; PAVED_DEBUG=1 shows it
        if os.environ.get("PAVED_DEBUG"):
            raise
        print(f"paved {args.command}: unexpected error: {exc.__class__.__name__}: {redact(exc)} "
              "(PAVED_DEBUG=1 shows the traceback; please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
