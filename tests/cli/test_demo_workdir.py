"""`paved demo` writes only into a directory it created or an empty one, and
deletes only what an earlier demo created there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from paved_road.demo import MARKER, DemoError, default_workdir, prepare_workdir, record_workdir

PAVED = str(Path(sys.executable).with_name("paved"))


def _fake_demo_run(workdir: Path) -> None:
    """What a demo leaves: the generated service and the runtime copy, recorded."""
    prepare_workdir(workdir)
    (workdir / "demo-service/src").mkdir(parents=True)
    (workdir / "demo-service/src/app.js").write_text("// generated\n")
    (workdir / "runtime/node_modules/x").mkdir(parents=True)
    (workdir / "runtime/node_modules/x/index.js").write_text("")
    record_workdir(workdir)


def test_a_new_directory_is_created_and_recorded(tmp_path):
    workdir = tmp_path / "a" / "b"
    _fake_demo_run(workdir)
    assert sorted(line.split("\t")[0] for line in (workdir / MARKER).read_text().splitlines()) == [
        "demo-service", "demo-service/src", "demo-service/src/app.js",
        "runtime", "runtime/node_modules", "runtime/node_modules/x", "runtime/node_modules/x/index.js"]


def test_a_second_run_replaces_only_what_the_first_created(tmp_path):
    _fake_demo_run(tmp_path / "w")
    prepare_workdir(tmp_path / "w")
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [MARKER]


@pytest.mark.parametrize("where", ["top.txt", "demo-service/src/mine.js", "runtime/notes/today.md"])
def test_a_file_the_demo_did_not_create_stops_it_before_anything_is_deleted(tmp_path, where):
    workdir = tmp_path / "w"
    _fake_demo_run(workdir)
    (workdir / where).parent.mkdir(parents=True, exist_ok=True)
    (workdir / where).write_text("mine\n")
    before = sorted(str(p) for p in workdir.rglob("*"))
    with pytest.raises(DemoError, match=r"holds files paved demo did not create .*nothing was deleted"):
        prepare_workdir(workdir)
    assert sorted(str(p) for p in workdir.rglob("*")) == before
    assert (workdir / "demo-service/src/app.js").read_text() == "// generated\n"


def test_a_generated_file_edited_since_stops_it_before_anything_is_deleted(tmp_path):
    """The demo says the service "stays ... to look at": edits to it are the user's, not the demo's."""
    workdir = tmp_path / "w"
    _fake_demo_run(workdir)
    app = workdir / "demo-service/src/app.js"
    app.write_text("// my experiment, an afternoon of work\n")
    with pytest.raises(DemoError, match=r"demo-service/src/app.js changed since paved demo created it.*nothing was deleted"):
        prepare_workdir(workdir)
    assert app.read_text() == "// my experiment, an afternoon of work\n"
    assert (workdir / "runtime/node_modules/x/index.js").exists()


def test_a_record_naming_paths_outside_the_workdir_deletes_nothing_outside(tmp_path):
    outside = tmp_path / "precious.txt"
    outside.write_text("keep\n")
    workdir = tmp_path / "w"
    _fake_demo_run(workdir)
    with (workdir / MARKER).open("a") as fh:
        fh.write(f"../precious.txt\n{outside}\n..\n")
    prepare_workdir(workdir)
    assert outside.read_text() == "keep\n"
    assert sorted(p.name for p in workdir.iterdir()) == [MARKER]


def test_an_empty_directory_is_used_as_it_is(tmp_path):
    prepare_workdir(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [MARKER]


def test_default_workdir_does_not_depend_on_the_current_directory(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = "from paved_road.demo import default_workdir; print(default_workdir())"
    outs = {subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                           text=True).stdout.strip() for cwd in (tmp_path, "/")}
    assert outs == {str(tmp_path / "cache" / "paved-road" / "demo")}
    assert default_workdir().is_absolute()
    relative = {**os.environ, "XDG_CACHE_HOME": "cache", "HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=relative, capture_output=True, text=True)
    assert out.stdout.strip() == str(tmp_path / "home" / ".cache" / "paved-road" / "demo")  # XDG: relative is ignored
    help_text = " ".join(subprocess.run([PAVED, "demo", "--help"], capture_output=True, text=True).stdout.split())
    assert "~/.cache/paved-road/demo" in help_text


def test_make_demo_uses_the_git_ignored_demo_output(repo_root):
    assert "$(BIN)/paved demo --workdir demo-output" in (repo_root / "Makefile").read_text()
    assert "/demo-output/" in (repo_root / ".gitignore").read_text().splitlines()


def test_a_recorded_directory_replaced_by_a_symlink_is_unlinked_never_followed(tmp_path):
    elsewhere = tmp_path / "my-project"
    (elsewhere / "node_modules/x").mkdir(parents=True)
    (elsewhere / "node_modules/x/index.js").write_text("mine\n")
    workdir = tmp_path / "w"
    _fake_demo_run(workdir)
    import shutil
    shutil.rmtree(workdir / "runtime/node_modules")
    (workdir / "runtime/node_modules").symlink_to(elsewhere / "node_modules")
    prepare_workdir(workdir)
    assert (elsewhere / "node_modules/x/index.js").read_text() == "mine\n"
    assert sorted(p.name for p in workdir.iterdir()) == [MARKER]


def test_demo_output_in_a_pipe_is_never_cut_at_80_columns(monkeypatch):
    import io

    from paved_road.demo import demo_console
    from paved_road.local.otel_sink import span_table

    monkeypatch.delenv("COLUMNS", raising=False)
    names = ["GET /api/example", "request", "handler - fastify -> @fastify/otel", "GET",
             "middleware - @fastify/otel - onRequest hook"]
    spans = [dict(span_id=str(i), parent_span_id=str(i - 1) if i else "", name=n, kind="INTERNAL",
                  trace_id="0123456789abcdef" * 2, duration_ms=12.345, status="UNSET", start_ns=i)
             for i, n in enumerate(names)]
    out = io.StringIO()
    console = demo_console(out)
    console.print(span_table(spans))
    console.print("working in " + "/very-long-directory-name" * 6)
    text = out.getvalue()
    assert "…" not in text and "onRequest hook" in text and "INTERNAL" in text and "12.35 ms" in text
    assert "working in " + "/very-long-directory-name" * 6 + "\n" in text


def test_a_symlinked_marker_is_never_followed(tmp_path):
    """Issue 27: a `.paved-demo` symlink made prepare/record truncate and overwrite its target."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / MARKER).symlink_to(victim)
    with pytest.raises(DemoError, match="not a regular file or not yours"):
        prepare_workdir(workdir)
    assert victim.read_text() == "precious\n"

    other = tmp_path / "w2"
    _fake_demo_run(other)
    (other / MARKER).unlink()
    (other / MARKER).symlink_to(victim)  # planted while the demo ran
    with pytest.raises(DemoError, match="cannot be written"):
        record_workdir(other)
    assert victim.read_text() == "precious\n"


def test_a_marker_of_another_user_is_not_trusted(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    workdir = tmp_path / "w"
    _fake_demo_run(workdir)
    os.chown(workdir / MARKER, 65534, 65534)
    with pytest.raises(DemoError, match="not a regular file or not yours"):
        prepare_workdir(workdir)
    assert (workdir / "demo-service/src/app.js").exists()  # nothing deleted
