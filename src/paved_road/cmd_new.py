"""`paved new DEST --answer key=value ...`: copier copy for scripts and portals.

Copier prints a Python traceback for a bad `-d` value; this wrapper turns any
bad answer into one line that names the question and what it allows, exits 2
and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from pathlib import Path

import yaml

from paved_road.template_source import default_template_source, load_questions

EXIT_BAD_ANSWER = 2
EXIT_INTERRUPTED = 130


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
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            if questions[key].get("type", "str") == "str" and not questions[key].get("multiselect"):
                value = raw  # text such as "@team" or "[draft]": kept as typed
            else:
                problem = getattr(exc, "problem", None) or "not valid YAML"
                raise BadAnswer(f"{key}: cannot read '{raw}' ({problem}); "
                                "give a plain value, or a list such as [amd64, arm64]") from None
        if questions[key].get("multiselect") and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        answers[key] = _check_type(key, value, questions[key])
    return answers


def check_conditional_answers(answers: dict, questions: dict) -> None:
    """Refuse an answer to a question its `when:` skips for these answers
    (copier would drop it silently, e.g. runner_scale_set_prefix under
    runner_mode=github-hosted)."""
    import jinja2
    from jinja2 import meta

    env = jinja2.Environment()
    plain_defaults = {k: q.get("default") for k, q in questions.items()
                      if not (isinstance(q.get("default"), str) and "{{" in q["default"])}
    context = {**plain_defaults, **answers}
    for key in answers:
        when = questions.get(key, {}).get("when")
        if not isinstance(when, str) or "{" not in when:
            continue
        names = sorted(meta.find_undeclared_variables(env.parse(when)))
        if any(n not in context for n in names):
            continue  # depends on a computed value: copier decides
        if env.from_string(when).render(**context).strip().lower() in ("true", "1", "yes"):
            continue
        expr = when.strip().removeprefix("{{").removesuffix("}}").strip()
        now = ", ".join(f"{n}={context.get(n)}" for n in names)
        raise BadAnswer(f"{key} is only used when {expr} (here {now}); drop it or change "
                        + " / ".join(names))


_TYPES = {"int": (int, "an integer"), "float": ((int, float), "a number"), "bool": (bool, "true or false")}


def _check_type(key: str, value, question: dict):
    expected = _TYPES.get(question.get("type", "str"))
    if expected and (not isinstance(value, expected[0]) or (expected[0] is int and isinstance(value, bool))):
        raise BadAnswer(f"{key} must be {expected[1]} (got '{value}')")
    return value


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during generation; whatever was written has been removed."""


def check_destination(dest: Path) -> Path | None:
    """Raise BadAnswer unless `dest` can be generated into; return the topmost
    directory generation will create (None when `dest` exists, empty)."""
    if dest.is_file() or (dest.exists() and not dest.is_dir()):
        raise BadAnswer(f"destination '{dest}' is a file; pass a new or empty directory")
    if dest.is_dir():
        try:
            if any(dest.iterdir()):
                raise BadAnswer(f"destination '{dest}' exists and is not empty; pass a new or empty directory")
        except PermissionError as exc:
            raise BadAnswer(f"destination '{dest}' cannot be read (permission denied); pass a directory you own") from exc
        if not os.access(dest, os.W_OK | os.X_OK):
            raise BadAnswer(f"destination '{dest}' is not writable; pass a directory you can write to")
        return None
    created = dest
    parent = dest.absolute().parent
    while not parent.exists():
        created, parent = parent, parent.parent
    if not parent.is_dir():
        raise BadAnswer(f"cannot create '{dest}': '{parent}' is a file; pass a path under a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadAnswer(f"cannot create '{dest}': '{parent}' is not writable; pass a path you can write to")
    return created


def _remove_generated(dest: Path, created: Path | None) -> None:
    """Undo a failed or interrupted generation: remove what it created and
    nothing else (`dest` was new, or empty before)."""
    import shutil

    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
    elif dest.is_dir():
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def generate(dest: Path, answers: dict, template: str, vcs_ref: str | None = None, quiet: bool = True) -> Path:
    """Render the template into `dest`; on bad input or an error raise
    BadAnswer, on Ctrl-C Interrupted, having removed everything it wrote."""
    import warnings

    import copier

    created = check_destination(dest)
    try:
        # dirty-template and no-tag notices are noise here; copier prints some
        # of them itself, so quiet also means its stderr
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO() if quiet else sys.stderr):
            warnings.simplefilter("ignore")
            copier.run_copy(
                template, str(dest), data=answers, defaults=True, unsafe=True, quiet=quiet,
                vcs_ref=vcs_ref, overwrite=True,
            )
    except KeyboardInterrupt as exc:
        _remove_generated(dest, created)
        raise Interrupted(f"interrupted; nothing was left in '{dest}'") from exc
    except (ValueError, TypeError) as exc:
        _remove_generated(dest, created)
        raise BadAnswer(_one_line(exc)) from exc
    except OSError as exc:
        _remove_generated(dest, created)
        where = exc.filename or dest
        raise BadAnswer(f"cannot write '{where}': {exc.strerror or exc}; nothing was left behind, "
                        "pass a writable destination") from exc
    except BaseException:
        _remove_generated(dest, created)
        raise
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
        check_conditional_answers(answers, questions)
        generate(Path(args.dest), answers, template, vcs_ref=args.vcs_ref, quiet=not args.verbose)
    except Interrupted as exc:
        print(f"paved new: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BadAnswer as exc:
        print(f"paved new: {exc}", file=sys.stderr)
        return EXIT_BAD_ANSWER
    try:
        recorded = yaml.safe_load((Path(args.dest) / ".copier-answers.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        recorded = {}
    print(f"Generated {recorded.get('service_name') or answers.get('service_name', 'the service')} "
          f"in {os.fspath(args.dest)}")
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
