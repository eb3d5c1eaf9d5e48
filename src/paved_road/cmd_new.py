"""`paved new DEST --answer key=value ...`: copier copy for scripts and portals.

Copier prints a Python traceback for a bad `-d` value; this wrapper turns any
bad answer into one line that names the question and what it allows, exits 2
and writes nothing. `-a key=value` values are taken as typed and converted only
by the question's type. The service records the template's canonical git URL
(`--template URL`, or a local clone's `origin`); the template's demo values
(copier.yml `placeholder_values`) are refused unless `--demo`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import shutil
import sys
from pathlib import Path

import yaml

from paved_road import first_hour
from paved_road.help_text import did_you_mean
from paved_road.template_source import (
    REMOTE_URL,
    canonical_url,
    NoTemplate,
    is_local,
    load_config,
    questions_of,
    template_and_ref,
    without_credentials,
)

EXIT_BAD_ANSWER = 2
EXIT_INTERRUPTED = 130


class BadAnswer(ValueError):
    pass


def parse_answers(pairs: list[str], questions: dict) -> dict:
    """`key=value` pairs -> answers. The value is taken exactly as typed and
    converted only by the question's declared type, as `copier -d` does: a str
    question gets the string untouched (`012345670123`, `yes`, `a: b`, `#1`)."""
    answers: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadAnswer(f"--answer must look like key=value (got '{pair}')")
        if key not in questions:
            allowed = ", ".join(sorted(questions))
            raise BadAnswer(f"unknown question '{key}'{did_you_mean(key, questions)}; questions are: {allowed}")
        answers[key] = convert(key, raw, questions[key])
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


_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def convert(key: str, raw: str, question: dict):
    """One answer from its command-line text, by the question's `type` (copier's types)."""
    if question.get("multiselect"):
        text = raw.strip()
        if text.startswith("["):  # a YAML flow list, [amd64, arm64]
            try:
                items = yaml.safe_load(text)
            except yaml.YAMLError:
                items = None
            if not isinstance(items, list):
                raise BadAnswer(f"{key} must be a comma-separated list or [a, b] (got '{raw}')")
            items = ["" if i is None else str(i) for i in items]
        else:
            items = text.split(",")
        return [_scalar(key, item.strip(), question) for item in items if item.strip()]
    return _scalar(key, raw, question)


def _scalar(key: str, raw: str, question: dict):
    kind = question.get("type", "str")
    if kind == "int":
        try:
            return int(raw.strip(), 10)
        except ValueError:
            raise BadAnswer(f"{key} must be an integer (got '{raw}')") from None
    if kind == "float":
        try:
            value = float(raw.strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise BadAnswer(f"{key} must be a number (got '{raw}')")
        return value
    if kind == "bool":
        word = raw.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise BadAnswer(f"{key} must be true or false (got '{raw}')")
    if kind in ("yaml", "json"):
        try:
            return yaml.safe_load(raw)  # JSON is YAML
        except yaml.YAMLError:
            raise BadAnswer(f"{key} must be {kind.upper()} (got '{raw}')") from None
    return raw


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
    template = args.template
    if not template:
        try:
            template, ref = template_and_ref()
        except NoTemplate as exc:
            print(f"paved new: {exc}", file=sys.stderr)
            return EXIT_BAD_ANSWER
        args.vcs_ref = args.vcs_ref or ref  # the revision paved was installed from: the CLI and template agree
    dest = Path(args.dest)
    try:
        config = _template_config(template, args.vcs_ref)
        if is_local(template):  # copier records a relative path as typed, which breaks updates elsewhere
            template = str(Path(template).expanduser().resolve())
        questions = questions_of(config)
        answers = parse_answers(args.answer or [], questions)
        check_conditional_answers(answers, questions)
        if "paved_road_git_url" in config and "paved_road_git_url" not in answers:
            url = canonical_url(template)
            if url:
                answers["paved_road_git_url"] = url
        refused = first_hour.inside_template(dest, template)
        if refused:
            raise BadAnswer(refused)
        existed = dest.exists()
        generate(dest, answers, template, vcs_ref=args.vcs_ref, quiet=not args.verbose)
        if not args.demo:
            refuse_placeholders(dest, existed, config)
        recorded = str(_answers_of(dest).get("_src_path", ""))
        if recorded and not REMOTE_URL.match(recorded):
            # e.g. a file:// template URL, or no URL known with --demo (copier's own warning is quiet here)
            print(f"paved new: warning: only a local path is known for the template ({recorded}); the service "
                  "records it as _src_path, which copier update elsewhere and Renovate cannot use: pass "
                  "-a paved_road_git_url=<template git URL ending in .git> or --template <URL>", file=sys.stderr)
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
          f"in {os.fspath(args.dest)}; {first_hour.init_repository(Path(args.dest))}")
    print("Next steps:", *(f"  {step}" for step in first_hour.next_steps(os.fspath(args.dest), recorded)), sep="\n")
    return 0


def _template_config(template: str, vcs_ref: str | None) -> dict:
    if not is_local(template) and not re.match(r"^(git\+|gh:|gl:|https?://|ssh://|git@|file://)", template):
        raise BadAnswer(f"--template must be a template directory or git URL (got '{template}')")
    try:
        config = load_config(template, vcs_ref)
    except Exception as exc:  # git/copier failures (unreachable URL, unknown ref) as one line
        # git's own last line says why (plumbum's first line is only "Unexpected exit code: 128");
        # a token in the URL never reaches the terminal or a CI log.
        said = [line.strip() for line in str(getattr(exc, "stderr", "") or "").splitlines() if line.strip()]
        why = said[-1] if said else _one_line(exc)
        raise BadAnswer(without_credentials(f"--template {template}: cannot read the template ({why})")) from exc
    if not config:
        raise BadAnswer(without_credentials(f"--template {template}: no copier.yml there"))
    return config


def _answers_of(dest: Path) -> dict:
    path = dest / ".copier-answers.yml"  # a template release without an answers file records nothing
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def refuse_placeholders(dest: Path, existed: bool, config: dict) -> None:
    """A service still carrying the template's demo values (copier.yml's
    `placeholders`, recorded as `_placeholders`) is removed again: without
    --demo, `paved new` makes only services that can deploy."""
    answers = _answers_of(dest)
    names = answers.get("_placeholders") or []
    if not names:
        return
    if existed:
        for child in dest.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    else:
        shutil.rmtree(dest)
    shown = ", ".join(f"{n} ('{answers[n]}')" if n in ("aws_account_id", "paved_road_git_url") and n in answers
                      else n for n in names)
    raise BadAnswer(f"{shown} still carry the template's demo values: give real ones with "
                    f"{' '.join(f'-a {n}=...' for n in names)}, or pass --demo for a service that will not deploy")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("new", help="generate a new service from the template")
    p.add_argument("dest", help="destination directory (must not exist or be empty)")
    p.add_argument("--answer", "-a", action="append", metavar="KEY=VALUE",
                   help="answer a question (repeatable); unanswered questions take their defaults")
    p.add_argument("--template", help="template git URL or path (default: this checkout, or $PAVED_TEMPLATE); "
                   "the service records the template's git URL (this URL, or a local clone's origin)")
    p.add_argument("--demo", action="store_true",
                   help="allow the template's demo values (AWS account, GitHub repository, template URL): "
                        "for trying the template, never for a service that deploys")
    p.add_argument("--vcs-ref", help="template tag or commit to render (default: the latest tag)")
    p.add_argument("--verbose", action="store_true", help="show copier's output")
    p.set_defaults(func=run)
