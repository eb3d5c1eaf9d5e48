"""The CLI contract of docs/cli.md, checked on the real argparse tree and the real renderer."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from paved_road import output
from paved_road.cli import build_parser
from tty_run import paved_on_terminal

PAVED = str(Path(sys.executable).with_name("paved"))
# Commands that print data (rows or a result) follow the output contract; the others print progress or run a server.
DATA_COMMANDS = {"history", "releases", "catalog", "dora", "update", "fleet update", "fleet preview"}
OTHER_COMMANDS = {"new", "dev", "otel-sink", "demo", "deploy", "rollback", "sim", "fleet conflicts", "fleet"}
BOX = set("│┃━─┏┓┗┛…")


def walk(parser: argparse.ArgumentParser, prefix: str = ""):
    """(name, parser) of every command and subcommand, as a user types them."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{prefix} {name}".strip()
                yield full, sub
                yield from walk(sub, full)


COMMANDS = dict(walk(build_parser()))


def test_every_command_is_classified():
    """A new command must say whether it prints data: then the contract below applies to it."""
    assert set(COMMANDS) == DATA_COMMANDS | OTHER_COMMANDS


@pytest.mark.parametrize("name", sorted(DATA_COMMANDS))
def test_data_commands_have_format_json_and_o(name):
    options = {opt: action for action in COMMANDS[name]._actions for opt in action.option_strings}
    assert {"table", "plain", "json"} <= set(options["--format"].choices)
    assert options["--json"].dest == "format" and options["--json"].const == "json"
    assert options["-o"] is options["--output"]
    assert COMMANDS[name].get_default("_format_aliases") is not None  # registered by output.add_arguments


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_description_and_examples(name):
    parser = COMMANDS[name]
    assert parser.description and len(parser.description) > 20, f"paved {name} -h has no description"
    epilog = parser.epilog or ""
    assert "examples:" in epilog, f"paved {name} -h has no Examples section"
    examples = epilog.split("examples:", 1)[1]
    assert re.search(rf"^  paved {re.escape(name)}\b", examples, re.M), examples


@pytest.mark.parametrize(("argv", "fmt"), [
    (["releases", "--repository", "r", "--format", "table"], "table"),
    (["history", "--cluster", "c", "--service", "s", "--json"], "json"),
    (["update", "--format", "text"], "plain"),
    (["fleet", "update", "--format", "text"], "plain"),
    (["fleet", "update", "--json"], "json"),
])
def test_old_spellings_still_work(argv, fmt):
    args = build_parser(argv).parse_args(argv)
    assert output.resolve(args, stream=_Tty()) == fmt


def test_old_spellings_are_not_advertised():
    assert "text" not in COMMANDS["update"].format_help().split("--format", 1)[1].split("\n")[0]


def test_deploy_takes_the_release_as_to_like_rollback():
    """`deploy --to` names the release it moves to, as `rollback --to` does; `--version` (which collided
    with `paved --version`) still works for one release, hidden from help, with a warning on stderr."""
    args = build_parser().parse_args(["deploy", "--cluster", "c", "--service", "s", "--to", "1.2.0"])
    assert args.to == "1.2.0"
    assert "--to VERSION" in COMMANDS["deploy"].format_help() and "--version" not in COMMANDS["deploy"].format_help()
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stderr", err)
        args = build_parser().parse_args(["deploy", "--cluster", "c", "--service", "s", "--version", "1.2.0"])
    assert args.to == "1.2.0"
    assert err.getvalue() == ("paved deploy: warning: --version is deprecated and will be removed in the next "
                              "release; use --to\n")


def test_deploy_without_to_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([PAVED, "deploy", "--cluster", "c", "--service", "s"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "error: --to VERSION is required (the release to deploy, SemVer X.Y.Z)\n"


def test_one_default_for_jobs():
    defaults = {name: a.default for name, p in COMMANDS.items() for a in p._actions if "--jobs" in a.option_strings}
    assert set(defaults) == {"catalog", "dora", "fleet update", "fleet preview"} and len(set(defaults.values())) == 1, defaults


def test_each_jobs_help_states_the_default_that_command_uses():
    """catalog's parallel work is reads from git remotes (and template tags): 32; dora and fleet update: 8.
    A command's help does not promise a default for work it never does."""
    from paved_road import cli_options

    def jobs_help(name):
        (action,) = [a for a in COMMANDS[name]._actions if "--jobs" in a.option_strings]
        return action.help

    assert jobs_help("catalog").endswith(f"(default: {cli_options.REMOTE_JOBS}, since reads from git remotes wait "
                                         "on the network, not the CPU)")
    for name in ("dora", "fleet update", "fleet preview"):
        assert jobs_help(name).endswith(f"(default: {cli_options.DEFAULT_JOBS})") and "remote" not in jobs_help(name)
    assert cli_options.jobs(None, remote=True) == cli_options.REMOTE_JOBS
    assert cli_options.jobs(None) == cli_options.DEFAULT_JOBS and cli_options.jobs(3, remote=True) == 3


# ---------------------------------------------------------------- rendering


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _table(n: int = 3) -> output.Table:
    cols = [output.Column("Service"), output.Column("Owner", 2), output.Column("Notes", 3),
            output.Column("Version"), output.Column("Path", 1, wrap=True)]
    rows = [(f"service-[red]{i}[/]", "team-platform-engineering", "carrying demo values from the template",
             ("v1.0.0", "green"), f"/srv/checkouts/a-long-directory-name/service-{i} and more words") for i in range(n)]
    return output.Table(columns=cols, rows=rows, title="t", notes=["3 services"])


def test_plain_keeps_every_value_and_draws_no_boxes():
    text = output.render_plain(_table())
    assert not BOX & set(text)
    lines = text.splitlines()
    assert lines[0].split() == ["Service", "Owner", "Notes", "Version", "Path"]
    assert lines[1].startswith("service-[red]0[/]  team-platform-engineering  carrying demo values")
    assert lines[1].endswith("/srv/checkouts/a-long-directory-name/service-0 and more words")
    assert lines[-1] == "3 services"


@pytest.mark.parametrize("width", [60, 80, 120])
def test_terminal_table_fits_and_never_splits_a_word(width):
    out = io.StringIO()
    output.render_table(_table(), Console(file=out, width=width, force_terminal=False))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines() if BOX & set(line)) <= width
    words = {w for row in _table().rows for cell in row for w in output._text(cell).split()}
    for line in text.splitlines():
        for token in re.findall(r"[^\s│┃]+", line):
            if token.startswith("/srv") or token.startswith("service-"):
                assert token in words, f"cut word {token!r} at width {width}:\n{text}"
    assert "service-[red]0[/]" in text  # markup in a value is shown as typed
    if width < 120:
        assert "hidden to fit" in text and "Notes" in text.split("hidden to fit")[1]


def test_narrow_terminal_drops_highest_priority_number_first():
    keep = output.fit_columns(_table(), 80)
    titles = [_table().columns[i].title for i in keep]
    assert titles[:1] == ["Service"] and "Version" in titles and "Notes" not in titles


def test_catalog_on_an_80_column_terminal_fits_without_letter_wrapping(service_v1):
    code, raw = paved_on_terminal("catalog", str(service_v1), columns=80)
    out = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", raw).replace("\r", "")
    assert code == 3, out
    lines = out.splitlines()
    table = [line for line in lines if BOX & set(line)]
    assert table and max(len(line) for line in table) <= 80, out
    header = next(line for line in lines if "Service" in line)
    for title in ("Service", "Owner", "Version", "Latest", "Drift", "Node"):
        assert title in header
    row = next(line for line in lines if "orders" in line)
    assert "v1.0.0" in row and "major" in row  # whole values on one line, not folded letter by letter
    assert "hidden to fit 80 columns" in out


def test_o_into_a_missing_directory_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([PAVED, "update", str(tmp_path), "-o", str(tmp_path / "no" / "out.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"paved update: -o {tmp_path / 'no' / 'out.json'}: directory {tmp_path / 'no'} " \
                                  "does not exist; create it or pass another path"


# ---------------------------------------------------------------- help


def paved(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PAVED, *args], capture_output=True, text=True, timeout=120)


def test_top_level_help_is_grouped_by_task_and_links_the_docs():
    proc = paved("-h")
    assert proc.returncode == 0
    groups = [line for line in proc.stdout.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert groups == ["Start a service:", "Keep services current:", "Ship and roll back (AWS ECS):",
                      "Measure delivery:", "Try without AWS:", "options:"]
    start = proc.stdout.split("Start a service:")[1].split("\n\n")[0]
    assert [line.split()[0] for line in start.strip().splitlines()] == ["new", "dev", "demo", "otel-sink"]
    assert "docs/cli.md" in proc.stdout.splitlines()[-1]
    assert Path(proc.stdout.splitlines()[-1].split(": ", 1)[1]).is_file()  # run from a checkout: a real file


@pytest.mark.parametrize(("argv", "prog", "suggestion"), [
    (["delpoy"], "paved", "did you mean 'deploy'?"),
    (["fleet", "updte"], "paved fleet", "did you mean 'update'?"),
    (["deploy", "--cluster", "c", "--service", "s", "--to", "1.0.0", "--dry-rn"], "paved deploy",
     "did you mean '--dry-run'?"),
    (["catalog", "--fromat", "json"], "paved catalog", "did you mean '--format'?"),
    (["dora", "--format", "jsn"], "paved dora", "did you mean 'json'?"),
])
def test_a_mistyped_command_or_option_gets_one_line_with_a_suggestion(argv, prog, suggestion):
    proc = paved(*argv)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"{prog}: ") and suggestion in line, line


def test_new_help_lists_the_questions_with_their_defaults():
    proc = paved("new", "-h")
    assert proc.returncode == 0
    questions = proc.stdout.split("questions (answer with -a KEY=VALUE", 1)[1]
    assert "  service_name=demo-service  (str)" in questions
    assert "  node_major=24  (int)\n      one of: 24, 22" in questions
    assert "  architectures=amd64,arm64  (str, several)" in questions
    assert "examples:\n  # a service that can deploy\n  paved new ../orders" in proc.stdout


def test_sim_help_shows_the_seed_format_not_a_module_name():
    out = paved("sim", "-h").stdout
    assert "see paved_road.sim.world" not in out
    assert "seed file format" in out and "    repositories:" in out and "status: SUCCESSFUL" in out


def test_a_mistyped_question_name_gets_a_suggestion(tmp_path):
    proc = paved("new", str(tmp_path / "svc"), "--demo", "-a", "servce_name=orders")
    assert proc.returncode == 2 and not (tmp_path / "svc").exists()
    assert proc.stderr.startswith("paved new: unknown question 'servce_name'; did you mean 'service_name'?")


@pytest.mark.parametrize("argv", [["--version", "1.0.0", "--to", "2.0.0"], ["--to", "2.0.0", "--version", "1.0.0"]])
def test_deploy_refuses_the_old_and_new_spelling_naming_different_releases(argv, capsys):
    """`--version 1.0.0 --to 2.0.0` once deployed whichever came last, silently: a half-migrated CI script
    could deploy the wrong release. Two different releases are a usage error naming both options."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["deploy", "--cluster", "c", "--service", "s", *argv])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--to" in last and "--version" in last and "1.0.0" in last and "2.0.0" in last, last
    same = build_parser().parse_args(["deploy", "--cluster", "c", "--service", "s", "--version", "1.0.0", "--to", "1.0.0"])
    assert same.to == "1.0.0"
