"""Every command this suite owns, driven with bad input by the real `paved` executable.

Each row: what a user typed and the state around it (a file where a directory
belongs, a port in use, a read-only place, a dirty checkout...). The promise
checked for every row (docs/cli.md, "Exit codes"): exactly one line on stderr that
names what is wrong and what to do, the documented exit code, no traceback,
and nothing created, changed or deleted in the place the command was pointed at.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from template_releases import git


PAVED = str(Path(sys.executable).with_name("paved"))


@dataclass
class Ctx:
    tmp: Path
    service: Path | None = None  # a clean copy of a v1.0.0 service (git)
    busy_port: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Case:
    id: str
    argv: Callable[[Ctx], list[str]]
    exit: int
    says: str  # must appear in the one stderr line
    setup: Callable[[Ctx], None] | None = None
    needs_service: bool = False
    unprivileged: bool = False  # run as an unprivileged user (root can write anywhere)


def _file(rel: str, text: str = "keep me\n"):
    def setup(ctx: Ctx) -> None:
        path = ctx.tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return setup


def _readonly_dir(ctx: Ctx) -> None:
    ro = ctx.tmp / "readonly"
    ro.mkdir()
    ro.chmod(0o555)


def _dirty(ctx: Ctx) -> None:
    (ctx.service / "src/wip.js").write_text("// work in progress\n")


def _plain_dir_with_answers_but_no_git(ctx: Ctx) -> None:
    d = ctx.tmp / "nogit"
    shutil.copytree(ctx.service, d, ignore=shutil.ignore_patterns(".git"))


CASES = [
    # paved new
    Case("new-dest-is-a-file", lambda c: ["new", str(c.tmp / "svc")], 2, "is a file; pass a new or empty directory",
         setup=_file("svc")),
    Case("new-parent-is-a-file", lambda c: ["new", str(c.tmp / "f" / "svc")], 2, "is a file; pass a path under a directory",
         setup=_file("f")),
    Case("new-dest-not-empty", lambda c: ["new", str(c.tmp / "d")], 2, "exists and is not empty",
         setup=_file("d/mine.txt")),
    Case("new-unwritable-place", lambda c: ["new", str(c.tmp / "readonly" / "svc")], 2,
         "is not writable; pass a path you can write to", setup=_readonly_dir, unprivileged=True),
    Case("new-wrong-type", lambda c: ["new", str(c.tmp / "svc"), "-a", "http_port=abc"], 2,
         "http_port must be an integer"),
    Case("new-prefix-without-self-hosted", lambda c: ["new", str(c.tmp / "svc"), "-a", "runner_scale_set_prefix=foo"],
         2, "runner_scale_set_prefix is only used when runner_mode == 'self-hosted' (here runner_mode=github-hosted)"),
    Case("new-missing-dest", lambda c: ["new"], 2, "the following arguments are required: dest"),
    Case("new-unparsable-list", lambda c: ["new", str(c.tmp / "svc"), "-a", "architectures=[amd64"], 2,
         "architectures must be a comma-separated list or [a, b] (got '[amd64')"),
    Case("new-yaml-looking-name", lambda c: ["new", str(c.tmp / "svc"), "-a", "service_name=[unclosed"], 2,
         "service_name must be 2-32 characters"),
    # NaN compares false both ways: it passed "< 0 or > 1" and rendered `= nan` into telemetry.js
    Case("new-nan-sample-ratio", lambda c: ["new", str(c.tmp / "svc"), "-a", "trace_sample_ratio=.nan"], 2,
         "trace_sample_ratio must be a number (got '.nan')"),
    # paved otel-sink
    Case("sink-port-out-of-range", lambda c: ["otel-sink", "--port", "99999"], 2,
         "argument --port: must be an integer from 0 to 65535 (got '99999')"),
    Case("sink-port-not-a-number", lambda c: ["otel-sink", "--port", "http"], 2, "argument --port: must be an integer"),
    Case("sink-port-busy", lambda c: ["otel-sink", "--port", str(c.busy_port)], 2,
         "is in use by another process; pick another with --port or --host"),
    Case("sink-unknown-host", lambda c: ["otel-sink", "--host", "no-such-host.invalid", "--port", "0"], 2,
         "cannot be bound"),
    Case("sink-jsonl-is-a-directory", lambda c: ["otel-sink", "--port", "0", "--jsonl", str(c.tmp)], 2,
         "cannot write it"),
    # paved demo (refused before anything is generated)
    Case("demo-workdir-is-a-file", lambda c: ["demo", "--workdir", str(c.tmp / "w")], 2, "is a file", setup=_file("w")),
    Case("demo-workdir-holds-user-files", lambda c: ["demo", "--workdir", str(c.tmp / "w")], 2,
         "is not empty and was not made by paved demo", setup=_file("w/notes.txt")),
    Case("demo-workdir-marker-plus-user-file", lambda c: ["demo", "--workdir", str(c.tmp / "w")], 2,
         "holds files paved demo did not create (mine.txt)",
         setup=lambda c: (_file("w/.paved-demo", "demo-service\n")(c), _file("w/mine.txt")(c))),
    # paved catalog
    Case("catalog-missing-path", lambda c: ["catalog", str(c.tmp / "nope")], 2, "no such file or directory"),
    Case("catalog-path-is-a-file", lambda c: ["catalog", str(c.tmp / "f")], 2, "is a file; pass a service checkout",
         setup=_file("f")),
    Case("catalog-bad-format", lambda c: ["catalog", str(c.tmp), "--format", "xml"], 2, "argument --format: invalid choice"),
    Case("catalog-output-dir-missing", lambda c: ["catalog", str(c.tmp), "-o", str(c.tmp / "no/dir/out.txt")], 2,
         "does not exist; create it or pass another path"),
    Case("catalog-output-is-a-directory", lambda c: ["catalog", str(c.tmp), "--format", "json", "-o", str(c.tmp)], 2,
         "is a directory; pass a file path"),
    Case("catalog-repos-file-missing", lambda c: ["catalog", "--repos-file", str(c.tmp / "fleet.yml")], 2,
         "cannot read it"),
    # paved fleet update / conflicts
    Case("fleet-jobs-zero", lambda c: ["fleet", "update", str(c.tmp), "--jobs", "0"], 2, "argument --jobs/-j: must be a positive integer (got '0')"),
    Case("fleet-jobs-not-a-number", lambda c: ["fleet", "update", "--jobs", "two"], 2, "argument --jobs/-j: must be a positive integer (got 'two')"),
    Case("fleet-bad-format", lambda c: ["fleet", "update", "--format", "yaml"], 2, "argument --format: invalid choice"),
    Case("fleet-missing-path", lambda c: ["fleet", "update", str(c.tmp / "nope")], 2, "no such file or directory"),
    Case("fleet-bad-to", lambda c: ["fleet", "update", str(c.service), "--to", "latest"], 2,
         "--to must be a release tag such as v1.2.0 (got 'latest')", needs_service=True),
    Case("fleet-unknown-to", lambda c: ["fleet", "update", str(c.service), "--to", "v9.0.0"], 2,
         "--to must be one of the template's tags: v1.0.0, v1.1.0, v2.0.0 (got 'v9.0.0')", needs_service=True),
    Case("conflicts-missing-path", lambda c: ["fleet", "conflicts", str(c.tmp / "nope")], 2, "no such directory"),
    # paved update
    Case("update-missing-path", lambda c: ["update", str(c.tmp / "nope")], 2, "no such directory"),
    Case("update-path-is-a-file", lambda c: ["update", str(c.tmp / "f")], 2, "is a file", setup=_file("f")),
    Case("update-not-a-service", lambda c: ["update", str(c.tmp)], 2, "no .copier-answers.yml"),
    Case("update-not-a-git-repo", lambda c: ["update", str(c.tmp / "nogit")], 2, "not a git repository",
         setup=_plain_dir_with_answers_but_no_git, needs_service=True),
    Case("update-dirty-tree", lambda c: ["update", str(c.service)], 2, "uncommitted changes; commit or stash them first",
         setup=_dirty, needs_service=True),
    Case("update-unknown-to", lambda c: ["update", str(c.service), "--to", "v3.0.0"], 2,
         "--to must be one of the template's tags", needs_service=True),
    # the CLI itself
    Case("unknown-command", lambda c: ["deplyo"], 2, "argument COMMAND: invalid choice: 'deplyo'"),
]


def _snapshot(root: Path) -> dict[str, str]:
    """Every file (content hash and mode) and directory under `root`; .git only by its refs."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        if ".git" in base.relative_to(root).parts:
            continue
        for name in dirnames:
            snap[(base / name).relative_to(root).as_posix() + "/"] = oct((base / name).stat().st_mode)
        for name in filenames:
            p = base / name
            snap[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest() + oct(p.stat().st_mode)
    return snap


@pytest.fixture(scope="module")
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _workspace(unprivileged: bool, tmp_path: Path) -> Path:
    if not unprivileged:
        return tmp_path
    # pytest's tmp dirs are private to root; the unprivileged user needs a path it can reach.
    base = Path(tempfile.mkdtemp(prefix="paved-cli-"))
    base.chmod(0o755)
    return base


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_a_documented_exit_code_and_changes_nothing(case, tmp_path, busy_port, service_v1,
                                                                          release_template):
    ctx = Ctx(tmp=_workspace(case.unprivileged, tmp_path / "ws"), busy_port=busy_port)
    ctx.tmp.mkdir(exist_ok=True)
    if case.needs_service:
        ctx.service = ctx.tmp / "orders"
        shutil.copytree(service_v1, ctx.service, symlinks=True)
    if case.setup:
        case.setup(ctx)
    before = _snapshot(ctx.tmp)
    refs = git(ctx.service, "show-ref") if ctx.service else None
    cmd = [PAVED, *case.argv(ctx)]
    if case.unprivileged and os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                              env={**os.environ, "HOME": str(ctx.tmp), "COLUMNS": "80",
                                   # the canonical template of update and fleet update (services' _src_path)
                                   **({"PAVED_TEMPLATE": str(release_template)} if "update" in cmd else {})})
    finally:
        after = _snapshot(ctx.tmp)
        if case.unprivileged:
            (ctx.tmp / "readonly").chmod(0o755)
            shutil.rmtree(ctx.tmp, ignore_errors=True)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == case.exit, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("paved"), lines
    assert case.says in lines[0], lines[0]
    assert after == before, "the command changed files it was pointed at"
    if ctx.service:
        assert git(ctx.service, "show-ref") == refs


def test_untracked_files_hidden_by_git_config_still_count_as_uncommitted(service_v1, tmp_path, release_template):
    """status.showUntrackedFiles=no hides them from `git status`; the update must still refuse,
    or its clean-up after a failure would delete them."""
    service = tmp_path / "orders"
    shutil.copytree(service_v1, service, symlinks=True)
    git(service, "config", "status.showUntrackedFiles", "no")
    (service / "notes.txt").write_text("mine\n")
    for argv in (["update", str(service)], ["fleet", "update", str(service), "--json"]):
        proc = subprocess.run([PAVED, *argv, "--template", str(release_template)], capture_output=True, text=True,
                              timeout=120)
        assert "uncommitted changes" in proc.stderr + proc.stdout, proc.stdout + proc.stderr
        assert proc.returncode in (1, 2)
    assert (service / "notes.txt").read_text() == "mine\n"
