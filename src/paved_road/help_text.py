"""Help a person can learn from: `paved -h` grouped by task, and for every command a
description and an examples section (docs/cli.md, "Help"), plus "did you mean".

Commands register their own options; this module adds the words around them, so
every command's help reads the same way. A command that sets its own description
keeps it; examples are appended after its own epilog (deploy's exit codes).
"""

from __future__ import annotations

import argparse
import difflib
import re
import textwrap

from paved_road.template_source import REPO_ROOT

# The top-level list, by task. A command not named here is listed under "Other".
GROUPS = (
    ("Start a service", ("new", "dev", "demo", "otel-sink")),
    ("Keep services current", ("catalog", "update", "fleet")),
    ("Ship and roll back (AWS ECS)", ("releases", "deploy", "rollback", "history")),
    ("Measure delivery", ("dora",)),
    ("Try without AWS", ("sim",)),
)

DESCRIPTIONS = {
    "paved": "Paved Road: generate Node.js services on AWS ECS from one template, keep a fleet of them on the "
             "template's latest release, deploy and roll them back, and measure how delivery goes.",
    "new": "Generate a service from the template (copier copy), answering its questions with -a KEY=VALUE; "
           "unanswered questions take their defaults. A bad answer is one line naming the question, exit 2, "
           "and nothing is written. The template's demo values (AWS account, GitHub repository, template URL) "
           "are refused unless --demo.",
    "demo": "Generate demo-service in a cache directory, run it with the pinned Node.js and `paved otel-sink`, "
            "send requests and show the spans and logs that arrive: the template's telemetry in about a minute. "
            "With --rollback: a deployment, a circuit-breaker rollback and `paved rollback --previous` against "
            "`paved sim`.",
    "dev": "Run a generated service on this machine as its image would (the Dockerfile's runtime CMD and ENV, "
           "the pinned Node.js of its major), next to an in-process `paved otel-sink` and a stub that answers "
           "DOWNSTREAM_URL, and print each span as it arrives: trace id, kind, name, route, status, duration. "
           "Installs dependencies with that Node's npm when node_modules is missing or older than the lockfile. "
           "Ctrl-C stops the service (it drains and flushes its spans) and everything else; exit 130.",
    "otel-sink": "A local OTLP/HTTP receiver (the collector's port, 4318) that prints every span, metric and log "
                 "record it receives, one line each, so a service's telemetry can be checked without a backend. "
                 "Stops on Ctrl-C.",
    "sim": "ECS and ECR on this machine (a moto server plus ECS deployments that progress, fail their health "
           "checks and roll back), so deploy, rollback, history, releases and dora can be tried without AWS. "
           "Point the AWS SDK at it with AWS_ENDPOINT_URL. The world comes from --seed FILE (YAML: "
           "repositories with releases, clusters with services and their deployment history; format below) "
           "or a built-in demo world.",
    "releases": "List the SemVer releases (tags X.Y.Z) of an ECR repository, newest first, with the image index "
                "digest, the architectures it holds and when it was pushed.",
    "deploy": "Deploy a release (an ECR tag X.Y.Z) to an ECS service: register a task definition with the "
              "release's image digest, update the service and follow the deployment until it is healthy, "
              "rolled back, or timed out. --dry-run shows the plan and the task-definition diff.",
    "rollback": "Roll an ECS service back to an earlier release and verify it: --previous (the last release "
                "that ran to completion before the current one), --to X.Y.Z, or --in-flight to stop a "
                "deployment in progress.",
    "history": "Every deployment of an ECS service, newest first: when, which release and task-definition "
               "revision, strategy, final status, and whether deploy, rollback or Terraform made it.",
    "fleet": "Operations over many services at once: preview what a template release candidate does to them, "
             "update them all to a release, one branch each, and list the conflicts left to resolve.",
    "fleet preview": "Apply a template release candidate to a scratch clone of every service, exactly as "
                     "`paved update` would, and report what it does to the fleet: clean, conflicted (files and "
                     "hunks), migration failed, update error, unreadable answers; counts, percentages, the files "
                     "that conflict most with an example hunk, the versions the fleet comes from, the time it "
                     "took. Checkouts are only read; the scratch space is removed unless --keep. Exit 0 all "
                     "clean, 3 conflicts, 4 failures, 2 bad input, 130 interrupted.",
    "fleet conflicts": "List files an update left with conflict markers or .rej files, with their number of "
                       "conflict hunks. Exit 0 and 'no conflicts' when none, 3 when some.",
}

EXAMPLES = {
    "new": [("a service that can deploy", "paved new ../orders -a service_name=orders -a owner=team-orders "
                                          "-a aws_account_id=210987654321 -a github_repository=acme/orders "
                                          "-a paved_road_git_url=https://github.com/acme/paved-road.git"),
            ("just to try the template", "paved new ../try-it --demo"),
            ("from a template release", "paved new ../orders --template https://github.com/acme/paved-road.git "
                                        "--vcs-ref v1.2.0 -a service_name=orders ...")],
    "demo": [("spans from a generated service in about a minute", "paved demo"),
             ("a failed deployment and its rollback, without AWS", "paved demo --rollback")],
    "dev": [("the service in this directory, on its own port", "paved dev"),
            ("another checkout, on any free port", "paved dev ../orders --port 0"),
            ("with a real dependency instead of the stub", "paved dev --downstream http://127.0.0.1:9000/")],
    "otel-sink": [("print what a service sends to localhost:4318", "paved otel-sink"),
                  ("any free port, and keep everything as JSON lines", "paved otel-sink --port 0 --jsonl telemetry.jsonl")],
    "sim": [("the demo world on port 5055", "paved sim"),
            ("then, in another shell", "AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_REGION=us-east-1 "
                                      "paved history --cluster demo --service demo-service"),
            ("20 times faster, release 1.3.0 fails its health checks", "paved sim --speed 20 --fail 1.3.0")],
    "releases": [("the releases of one repository", "paved releases --repository orders"),
                 ("the newest release's digest", "paved releases --repository orders --json | jq -r '.[0].digest'")],
    "deploy": [("see the plan and the task-definition diff", "paved deploy --cluster apps-staging --service orders "
                                                             "--to 1.4.0 --dry-run"),
               ("deploy and wait until it is healthy", "paved deploy --cluster apps-staging --service orders --to 1.4.0")],
    "rollback": [("back to the last release that ran to completion",
                  "paved rollback --cluster apps-production --service orders --previous"),
                 ("to a named release", "paved rollback --cluster apps-production --service orders --to 1.3.2"),
                 ("stop a deployment in progress", "paved rollback --cluster apps-production --service orders --in-flight")],
    "history": [("what ran when", "paved history --cluster apps-production --service orders"),
                ("the newest deployment, for a script", "paved history --cluster apps-production --service orders --json "
                                                        "| jq '.[0]'")],
    "catalog": [("every service under a directory", "paved catalog ~/src/services"),
                ("a page for the team's wall screen", "paved catalog --repos-file services.yml --format html -o catalog.html"),
                ("in CI: fail when a service is behind", "paved catalog --repos-file services.yml --format plain"),
                ("every service of a GitHub organisation (token: GH_TOKEN or gh)",
                 "paved catalog --github-org acme --topic nodejs --json")],
    "update": [("this service, to the template's latest release", "paved update"),
               ("another checkout, to a given release", "paved update ../orders --to v1.2.0")],
    "fleet": [("update every service, one branch each", "paved fleet update ~/src/services"),
              ("what is left to resolve", "paved fleet conflicts ~/src/services/*")],
    "fleet update": [("every service under a directory, to the latest release", "paved fleet update ~/src/services"),
                     ("to a given release, four at a time, as JSON", "paved fleet update ~/src/services --to v2.0.0 -j 4 --json")],
    "fleet preview": [("before tagging: what v3.0.0rc1 does to every service under a directory",
                       "paved fleet preview ~/src/services --candidate v3.0.0rc1"),
                      ("a page for the release review, from the checkouts of a repos file",
                       "paved fleet preview --repos-file services.yml --candidate main --format html -o preview.html")],
    "fleet conflicts": [("after an update with conflicts", "paved fleet conflicts ../orders")],
    "dora": [("one service, with lead time from its git tags", "paved dora --cluster apps-production --service orders "
                                                                "--repo ../orders"),
             ("the fleet over a quarter, as a page", "paved dora ~/src/services --since 12w --format html -o dora.html"),
             ("every service of a GitHub organisation (no lead time: no checkout)", "paved dora --github-org acme --topic nodejs")],
}


def docs_link() -> str:
    local = REPO_ROOT / "docs" / "cli.md"
    return str(local) if local.is_file() else "docs/cli.md in the Paved Road repository"


class HelpFormatter(argparse.HelpFormatter):
    """Paragraphs are wrapped; lines that start with spaces (examples, tables) are kept as written."""

    def _fill_text(self, text, width, indent):
        out = []
        for block in text.split("\n\n"):
            lines = block.split("\n")
            if any(line.startswith(" ") for line in lines):
                out.append("\n".join(indent + line for line in lines))
            else:
                out.append(textwrap.fill(" ".join(lines), width, initial_indent=indent, subsequent_indent=indent))
        return "\n\n".join(out)


def examples_text(name: str) -> str:
    lines = ["examples:"]
    for what, command in EXAMPLES.get(name, []):
        lines += [f"  # {what}", f"  {command}"]
    return "\n".join(lines)


def subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def apply(parser: argparse.ArgumentParser, argv: list[str] | None = None, prefix: str = "") -> None:
    """Descriptions, examples and the help formatter for every (sub)command registered under `parser`."""
    action = subcommands(parser)
    if action is None:
        return
    for name, sub in action.choices.items():
        full = f"{prefix} {name}".strip()
        sub.formatter_class = HelpFormatter
        if not sub.description:
            sub.description = DESCRIPTIONS.get(full)
        if full in EXAMPLES and "examples:" not in (sub.epilog or ""):
            sub.epilog = ((sub.epilog + "\n\n") if sub.epilog else "") + examples_text(full)
        asked = bool(argv) and name in argv and bool({"-h", "--help"} & set(argv))  # only when shown: reads files
        if full == "new" and asked:
            sub.epilog = (sub.epilog or "") + "\n\n" + questions_text(argv)
        if full == "sim" and asked:
            sub.epilog = (sub.epilog or "") + "\n\n" + seed_format_text()
        apply(sub, argv, full)


def top_level_help(parser: argparse.ArgumentParser) -> str:
    action = subcommands(parser)
    helps = {a.dest: a.help or "" for a in action._choices_actions}
    listed = [n for _, names in GROUPS for n in names]
    groups = [*GROUPS, ("Other", tuple(n for n in action.choices if n not in listed))]
    width = max(12, max(len(n) for n in action.choices) + 2)
    lines = [parser.format_usage().rstrip(), "", textwrap.fill(DESCRIPTIONS["paved"], 79)]
    for title, names in groups:
        names = [n for n in names if n in action.choices]
        if names:
            lines += ["", f"{title}:"] + [f"  {n.ljust(width)}{helps.get(n, '')}" for n in names]
    lines += ["", "options:", "  -h, --help".ljust(width + 2) + "show this help and exit",
              "  --version".ljust(width + 2) + "show paved's version and exit", "",
              "Run 'paved COMMAND -h' for a command's options and examples.",
              f"Output formats, exit codes and option names for every command: {docs_link()}"]
    return "\n".join(lines) + "\n"


def questions_text(argv: list[str]) -> str:
    """The template's questions with their defaults, for `paved new -h` (read from copier.yml)."""
    from paved_road.template_source import load_questions, template_and_ref

    template = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--template"), None)
    template = template or next((a.split("=", 1)[1] for a in argv if a.startswith("--template=")), None)
    try:
        questions = load_questions(template or template_and_ref()[0])
    except Exception as exc:  # noqa: BLE001 - help must still print
        return f"questions: cannot read the template ({exc}); pass --template URL-or-PATH"
    lines = ["questions (answer with -a KEY=VALUE; the default is used otherwise):"]
    for key, q in questions.items():
        default = q.get("default")
        if isinstance(default, str) and "{{" in default:
            shown = "derived from other answers"
        elif isinstance(default, list):
            shown = ",".join(str(d) for d in default)
        else:
            shown = "" if default is None else str(default)
        choices = q.get("choices")
        if isinstance(choices, dict):
            choices = list(choices.values())
        kind = q.get("type", "str") + (", several" if q.get("multiselect") else "")
        lines.append(f"  {key}={shown}" + ("" if shown else "(empty)") + f"  ({kind})")
        if choices:
            lines.append(f"      one of: {', '.join(str(c) for c in choices)}")
        text = " ".join(str(q.get("help", "")).split())
        if text:
            lines += textwrap.wrap(text, 76, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


def seed_format_text() -> str:
    """The --seed YAML format, from paved_road/sim/world.py's docstring (read, not imported: moto is heavy)."""
    import ast
    from pathlib import Path

    doc = ast.get_docstring(ast.parse((Path(__file__).parent / "sim" / "world.py").read_text())) or ""
    block = doc.split("Seed format", 1)[-1].split("\n\n", 1)[-1].split("\n\n", 1)[0]
    return "seed file format (--seed FILE; every key optional except version):\n" + "\n".join(
        "  " + line[2:] if line.startswith("    ") else "  " + line for line in block.splitlines())


def did_you_mean(word: str, candidates) -> str:
    """"; did you mean 'x'?" for a close candidate, else ""."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def explain_error(message: str) -> str:
    """argparse's "invalid choice: 'x' (choose from 'a', 'b')" with a suggestion."""
    match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not match:
        return message
    choices = re.findall(r"'([^']*)'", match.group(2))
    return message[:match.start()] + f"invalid choice: '{match.group(1)}' (choose from {', '.join(choices)})" \
        + did_you_mean(match.group(1), choices)
