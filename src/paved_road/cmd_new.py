"""`paved new DEST --answer key=value ...`: copier copy for scripts and portals.

Copier prints a Python traceback for a bad `-d` value; this wrapper turns any
bad answer into one line that names the question and what it allows, exits 2
and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from paved_road.template_source import default_template_source, load_questions

EXIT_BAD_ANSWER = 2


class BadAnswer(ValueError):
    pass


def parse_answers(pairs: list[str], questions: dict) -> dict:
    answers: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadAnswer(f"--answer must look like key=value (got '{pair}')")
        if key not in questions:
            allowed = ", ".join(sorted(questions))
            raise BadAnswer(f"unknown question '{key}'; questions are: {allowed}")
        # YAML parsing gives lists (architectures=[arm64]) and numbers; a
        # comma-separated value is also accepted for multiselect questions.
        value = yaml.safe_load(raw) if raw.strip() else ""
        if questions[key].get("multiselect") and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        answers[key] = _check_type(key, value, questions[key])
    return answers


_TYPES = {"int": (int, "an integer"), "float": ((int, float), "a number"), "bool": (bool, "true or false")}


def _check_type(key: str, value, question: dict):
    expected = _TYPES.get(question.get("type", "str"))
    if expected and (not isinstance(value, expected[0]) or (expected[0] is int and isinstance(value, bool))):
        raise BadAnswer(f"{key} must be {expected[1]} (got '{value}')")
    return value


def generate(dest: Path, answers: dict, template: str, vcs_ref: str | None = None, quiet: bool = True) -> Path:
    """Render the template into `dest`; raise BadAnswer without writing anything."""
    import warnings

    import copier

    if dest.exists() and any(dest.iterdir()):
        raise BadAnswer(f"destination '{dest}' exists and is not empty")
    existed = dest.exists()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dirty-template and no-tag warnings are noise here
            copier.run_copy(
                template, str(dest), data=answers, defaults=True, unsafe=True, quiet=quiet,
                vcs_ref=vcs_ref, overwrite=True,
            )
    except (ValueError, TypeError) as exc:
        # copier removes a destination it created itself; an empty one we were
        # given must also stay empty.
        if existed and dest.exists():
            for child in dest.iterdir():
                raise BadAnswer(f"{_one_line(exc)} (and '{child}' was left behind)") from exc
        raise BadAnswer(_one_line(exc)) from exc
    return dest


def _one_line(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    # "Validation error for question 'x': x must be ..." -> "x must be ..."
    head, sep, rest = msg.partition("': ")
    return rest.strip() if sep and head.startswith("Validation error for question") else msg


def run(args: argparse.Namespace) -> int:
    template = args.template or default_template_source()
    try:
        questions = load_questions(template)
        answers = parse_answers(args.answer or [], questions)
        generate(Path(args.dest), answers, template, vcs_ref=args.vcs_ref, quiet=not args.verbose)
    except BadAnswer as exc:
        print(f"paved new: {exc}", file=sys.stderr)
        return EXIT_BAD_ANSWER
    print(f"Generated {answers.get('service_name', 'service')} in {os.fspath(args.dest)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("new", help="generate a new service from the template")
    p.add_argument("dest", help="destination directory (must not exist or be empty)")
    p.add_argument("--answer", "-a", action="append", metavar="KEY=VALUE",
                   help="answer a question (repeatable); unanswered questions take their defaults")
    p.add_argument("--template", help="template git URL or path (default: this checkout, or $PAVED_TEMPLATE)")
    p.add_argument("--vcs-ref", help="template tag or commit to render (default: the latest tag)")
    p.add_argument("--verbose", action="store_true", help="show copier's output")
    p.set_defaults(func=run)
