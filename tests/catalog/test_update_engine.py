"""The preview's fast engine (fleet/preview/engine.py) against the real `copier update`.

Every service of the preview fleet (tests/catalog/preview_fleet.py: clean ones, a conflicting edit, an
old version whose migrations run, a failing migration, a deleted tag) plus services built here for the
paths of copier's `_apply_update` the fleet does not take (a template file the team deleted, a file the
team added that the candidate also adds, a team-only file, a binary file) is updated twice from the
same commit: once by the engine in its worker pool, once by `fleet.run_copier_update` (the subprocess
`paved update` runs). Every file's bytes, the index (conflict stages included), `git status`, the
conflicts paved reports and the migrations' output must be the same; where copier fails, the engine
must decline (the preview then runs copier itself).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paved_road.fleet.preview import core as pv
from paved_road.fleet.preview import checks as preview_checks
from paved_road.fleet.preview import engine as update_engine
from paved_road.fleet.fleet import run_copier_update
from paved_road.fleet.service_update import outcome
from preview_fleet import CANDIDATE, FLEET, PAVED, _answers
from template_releases import commit_and_tag, generate, git

EXTRA = ("golf", "hotel", "india", "juliet", "kilo")


@pytest.fixture(scope="module")
def engine_fleet(preview_fleet, preview_template, tmp_path_factory):
    """The preview fleet's checkouts, plus services for the rest of `_apply_update`."""
    root = tmp_path_factory.mktemp("engine-fleet")
    services = {name: preview_fleet / name for name in FLEET}
    # golf (v2.1.1): deleted a file the template still has, and one the candidate changes
    golf = generate(preview_template, root / "golf", "v2.1.1", _answers("golf", "v2.1.1"))
    git(golf, "rm", "-q", "docker-compose.yml", "docs/on-call.md")
    git(golf, "commit", "-qm", "we run no compose and keep our on-call guide elsewhere")
    # hotel (v1.1.0): added otel/collector-local.yaml itself, which v2.0.0 adds too (added in both),
    # a file of its own, and a binary file
    hotel = generate(preview_template, root / "hotel", "v1.1.0", _answers("hotel", "v1.1.0"))
    (hotel / "otel" / "collector-local.yaml").write_text("# hotel's own collector settings\nreceivers: {}\n")
    (hotel / "src" / "team.js").write_text("'use strict'\nmodule.exports = () => 'hotel'\n")
    (hotel / "logo.bin").write_bytes(bytes(range(256)))
    git(hotel, "add", "-A")
    git(hotel, "commit", "-qm", "hotel's own files")
    # india (v2.1.0): a team line at the top of a file two releases change further down (merged cleanly)
    india = generate(preview_template, root / "india", "v2.1.0", _answers("india", "v2.1.0"))
    doc = india / "docs" / "on-call.md"
    doc.write_text("India keeps a pager rota.\n\n" + doc.read_text())
    git(india, "commit", "-qam", "india's pager rota")
    # juliet (v2.1.1): its own .gitattributes hides markdown diffs (`-diff`, as teams do for lockfiles and
    # generated docs) and it edits the on-call guide the candidate changes: copier diffs in a fresh
    # repository of the old render, where the service's attributes do not apply
    juliet = generate(preview_template, root / "juliet", "v2.1.1", _answers("juliet", "v2.1.1"))
    (juliet / ".gitattributes").write_text("*.md -diff\n")
    doc = juliet / "docs" / "on-call.md"
    doc.write_text(doc.read_text().replace("Escalate after 15 minutes.\n", "Escalate after 30 minutes (juliet).\n"))
    git(juliet, "add", "-A")
    git(juliet, "commit", "-qm", "juliet escalates later; no markdown diffs")
    # kilo (v2.1.1): replaced the on-call guide the candidate changes with a symlink to its own, and
    # added a symlink of its own (a typechange and a new link in copier's diff)
    kilo = generate(preview_template, root / "kilo", "v2.1.1", _answers("kilo", "v2.1.1"))
    (kilo / "docs" / "kilo-on-call.md").write_text("Kilo's rota lives in PagerDuty.\n")
    (kilo / "docs" / "on-call.md").unlink()
    (kilo / "docs" / "on-call.md").symlink_to("kilo-on-call.md")
    (kilo / "RUNBOOK.md").symlink_to("docs/kilo-on-call.md")
    git(kilo, "add", "-A")
    git(kilo, "commit", "-qm", "kilo's own on-call guide, linked")
    services.update(golf=golf, hotel=hotel, india=india, juliet=juliet, kilo=kilo)
    return services


def _state(repo: Path) -> dict:
    """What a user sees after the update: every file's bytes (conflict markers and the answers file
    included; a symlink's target), modes, the index with its conflict stages, git status, and the
    conflicts paved reports."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
            path = Path(dirpath, name)  # a symlink as itself (its target), never as the file it points to
            files[path.relative_to(repo).as_posix()] = (
                ("link", os.readlink(path)) if path.is_symlink() else path.read_bytes(), os.lstat(path).st_mode)
    changed, conflicted = outcome(repo)
    return {"files": files, "index": git(repo, "ls-files", "--stage"),
            "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
            "changed": changed, "conflicted": sorted(conflicted)}


def _clones_named(text: str) -> str:
    return re.sub(r"\S*copier\._vcs\.clone\.\w+", "<template clone>", text or "")


def _migrations(stdout: str) -> list[str]:
    return pv._MIGRATION_LINE.findall(stdout or "")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    clones = tmp_path_factory.mktemp("engine-clones")
    p = update_engine.start_pool(1, preview_checks.copier_env(dict(os.environ)), clones)
    yield p
    p.shutdown(wait=True)


@pytest.mark.parametrize("name", [*FLEET, *EXTRA])
def test_the_engine_leaves_exactly_what_copier_update_leaves(name, engine_fleet, pool, tmp_path):
    fast, real = tmp_path / "fast", tmp_path / "copier"
    repos = {}
    for side in (fast, real):
        repos[side] = pv.scratch_clone(engine_fleet[name], side / "repo")
        (side / "tmp").mkdir()
    env = {**preview_checks.copier_env(dict(os.environ)), "TMPDIR": str(real / "tmp")}
    copier = run_copier_update(repos[real], CANDIDATE, env=env)
    try:
        mine = update_engine.run_in_pool(pool, repos[fast], CANDIDATE, fast / "tmp")
    except update_engine.Unsupported:
        # the preview then runs copier itself: only acceptable where copier fails too
        assert copier.returncode != 0, f"{name}: the engine declined an update copier completes"
        assert FLEET.get(name, ("", ""))[1] in ("migration_failed", "update_error")
        return
    assert copier.returncode == 0, copier.stderr
    assert _state(repos[fast]) == _state(repos[real])
    assert _migrations(mine.stdout) == _migrations(copier.stdout)
    # what copier prints: the version line, the template's update messages, each migration it runs
    assert _clones_named(mine.stderr) == _clones_named(copier.stderr)
    # the template reads nothing of the destination: the candidate was rendered once, for the service
    # and for the engine's copy of the new render (the equality above is that path's)
    assert pool.submit(update_engine.rendered_once).result() is True


# Templates derived from the candidate for what the preview fleet's template does not have: one whose
# render reads nothing of its destination (one render serves the service and the new copy) with a
# `_skip_if_exists` file and a mode change; one naming its `_folder_name` and `_copier_conf.data` (rendered
# twice: the second render's data are the first's answers, which the merged on-call guide shows).
ALIKE, FOLDER = "v2.3.0", "v2.3.1"
VARIANTS = {  # service -> (template, the candidate rendered once?, what it does)
    "sierra": (ALIKE, True, "edited the _skip_if_exists on-call guide the candidate changes"),
    "tango": (ALIKE, True, "deleted the _skip_if_exists on-call guide (copier recreates it)"),
    "uniform": (ALIKE, True, "core.fileMode=false: the candidate's new executable bit goes to the index"),
    "victor": (FOLDER, False, "a conflicting edit; the template names _folder_name and _copier_conf.data"),
}


@pytest.fixture(scope="module")
def variant_fleet(preview_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-variants")
    templates = {}
    for tag in (ALIKE, FOLDER):
        tpl = root / f"template-{tag}"
        git(root, "clone", "-q", "--no-hardlinks", str(preview_template), str(tpl))
        git(tpl, "remote", "remove", "origin")
        if tag == ALIKE:
            with (tpl / "copier.yml").open("a") as fh:
                fh.write('\n_skip_if_exists:\n  - "docs/on-call.md"\n')
            script = tpl / "template" / ".github" / "verify-release.sh"
            script.chmod(script.stat().st_mode | 0o111)
        else:
            # the render into the service gets no --data, the second render its answers as data
            doc = tpl / "template" / "docs" / "on-call.md.jinja"
            doc.write_text(doc.read_text() + "\nAnswers given as data: {{ _copier_conf.data | length }}.\n")
            (tpl / "template" / "docs" / "folder.md.jinja").write_text("Rendered into {{ _folder_name }}.\n")
        commit_and_tag(tpl, tag, f"{tag}: a variant of the candidate")
        templates[tag] = tpl
    services = {}
    for name, (tag, _, _) in VARIANTS.items():
        svc = services[name] = generate(templates[tag], root / name, "v2.1.1", _answers(name, "v2.1.1"))
        doc = svc / "docs" / "on-call.md"
        if name in ("sierra", "victor"):
            doc.write_text(doc.read_text().replace("Escalate after 15 minutes.\n", f"Escalate later ({name}).\n"))
        elif name == "tango":
            doc.unlink()
        if name != "uniform":
            git(svc, "add", "-A")
            git(svc, "commit", "-qm", VARIANTS[name][2])
    return services


@pytest.mark.parametrize("name", VARIANTS)
def test_the_engine_leaves_what_copier_leaves_with_skip_if_exists_modes_and_folder_names(
        name, variant_fleet, pool, tmp_path):
    tag, once, _ = VARIANTS[name]
    fast, real = tmp_path / "fast", tmp_path / "copier"
    repos = {}
    for side in (fast, real):
        repos[side] = pv.scratch_clone(variant_fleet[name], side / "repo")
        (side / "tmp").mkdir()
        if name == "uniform":
            git(repos[side], "config", "core.fileMode", "false")
    env = {**preview_checks.copier_env(dict(os.environ)), "TMPDIR": str(real / "tmp")}
    copier = run_copier_update(repos[real], tag, env=env)
    assert copier.returncode == 0, copier.stderr
    mine = update_engine.run_in_pool(pool, repos[fast], tag, fast / "tmp")
    assert pool.submit(update_engine.rendered_once).result() is once
    assert _state(repos[fast]) == _state(repos[real])
    assert _clones_named(mine.stderr) == _clones_named(copier.stderr)
    state = _state(repos[fast])
    doc = state["files"]["docs/on-call.md"][0]
    if name == "sierra":  # skipped: the team's edit stays, no conflict
        assert b"Escalate later (sierra)." in doc and not state["conflicted"]
    elif name == "tango":  # recreated from the candidate
        assert b"Escalate after 10 minutes." in doc
    elif name == "uniform":  # the index records the executable bit git cannot see on disk
        assert "100755" in git(repos[fast], "ls-files", "--stage", "--", ".github/verify-release.sh")
    else:
        assert state["conflicted"] == ["docs/on-call.md"]
        assert state["files"]["docs/folder.md"][0] == b"Rendered into repo.\n"
        assert re.search(rb"Answers given as data: [1-9]", doc)  # merged from the second render


def test_the_fleet_cases_take_the_paths_they_are_for(engine_fleet, pool, tmp_path):
    """The equality above means something only if the services reach those paths: conflicts (inline,
    with copier's labels), a migration, a deletion kept, a file added in both kept as the team's, a
    team edit merged with the release's."""
    seen = {}
    for name in ("charlie", "delta", "golf", "hotel", "india"):
        repo = pv.scratch_clone(engine_fleet[name], tmp_path / name)
        (tmp_path / f"{name}.tmp").mkdir()
        proc = update_engine.run_in_pool(pool, repo, CANDIDATE, tmp_path / f"{name}.tmp")
        seen[name] = (repo, proc)
    charlie = (seen["charlie"][0] / "docs" / "on-call.md").read_text()
    assert "<<<<<<< before updating" in charlie and ">>>>>>> after updating" in charlie
    assert "UU docs/on-call.md" in git(seen["charlie"][0], "status", "--porcelain")
    assert _migrations(seen["delta"][1].stdout)[0].startswith("v2.0.0: renamed answer http_port -> container_port")
    golf = seen["golf"][0]
    assert not (golf / "docker-compose.yml").exists() and not (golf / "docs" / "on-call.md").exists()
    hotel = seen["hotel"][0]
    assert "hotel's own collector settings" in (hotel / "otel" / "collector-local.yaml").read_text()
    assert (hotel / "logo.bin").read_bytes() == bytes(range(256)) and (hotel / "src" / "team.js").exists()
    india = (seen["india"][0] / "docs" / "on-call.md").read_text()
    assert india.startswith("India keeps a pager rota.") and india.endswith("Escalate after 10 minutes.\n")
    assert "<<<<<<<" not in india


def test_preview_reports_the_same_with_either_engine_and_counts_them(preview_fleet, preview_template, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("PAVED_TEMPLATE", str(preview_template))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    reps = {e: pv.run([str(preview_fleet)], CANDIDATE, jobs=2, engine=e, scratch_parent=str(tmp_path))
            for e in pv.ENGINES}
    keys = ("status", "changed", "conflicts", "hunks", "migrations", "error", "output")
    for fast, real in zip(reps["fast"]["services"], reps["copier"]["services"], strict=True):
        assert {k: fast[k] for k in keys} == {k: real[k] for k in keys}, fast["name"]
    # echo (failing migration) and ghost (deleted tag) are copier's to fail; broken is never updated
    assert reps["fast"]["summary"]["engines"] == {"copier": 2, "fast": 5}
    assert {r["name"]: r["engine"] for r in reps["fast"]["services"]}["echo"] == "copier"
    assert reps["copier"]["summary"]["engines"] == {"copier": 7}
    assert list(tmp_path.iterdir()) == []  # scratch, clones and the pool's files removed


@pytest.mark.parametrize("installed", ["9.19.2", "10.0.0", None])
def test_another_copier_than_the_modelled_one_gets_the_real_copier(installed, engine_fleet, tmp_path, monkeypatch):
    """The engine reproduces copier 9.19.1's `_apply_update`: with any other copier installed it declines
    before touching the service (the preview then runs that copier's own `copier update`)."""
    repo = pv.scratch_clone(engine_fleet["charlie"], tmp_path / "repo")
    (tmp_path / "tmp").mkdir()
    before = git(repo, "status", "--porcelain", "--ignored"), git(repo, "write-tree")
    monkeypatch.setattr(update_engine, "copier_version", lambda: installed)
    with pytest.raises(update_engine.Unsupported, match="copier"):
        update_engine.update(str(repo), CANDIDATE, str(tmp_path / "tmp"))
    assert (git(repo, "status", "--porcelain", "--ignored"), git(repo, "write-tree")) == before
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_modelled_copier_is_the_pinned_one():
    assert update_engine.copier_version() == update_engine.MODELLED_COPIER


def test_jinja_code_is_reused_only_where_no_filter_ran_while_compiling(tmp_path, monkeypatch):
    """Jinja's optimizer calls a filter applied to constants while compiling and keeps its result in the
    code: a cached copy would give every later render the first render's cwd or clock, where copier
    (a new environment per render) computes them again. Code without such a call is still shared."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    monkeypatch.setattr(jinja2.Environment, "compile", jinja2.Environment.compile)  # restored afterwards
    monkeypatch.setattr(update_engine, "_CODE", {})
    update_engine._cache_jinja_compilation()

    def render(source: str) -> str:  # as copier's Worker.jinja_env: a new environment per render
        env = SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])
        return env.from_string(source).render(name="svc")

    for d in ("first", "second"):
        (tmp_path / d).mkdir()
        monkeypatch.chdir(tmp_path / d)
        assert render("{{ '.' | realpath }}") == str((tmp_path / d).resolve())
        before = int(time.time())  # the render's own clock, read between two of ours (a second may turn)
        assert before <= int(render("{{ '%s' | strftime }}")) <= int(time.time())
        time.sleep(1.05)
    for _ in range(2):
        assert render("{{ name | upper }}: {{ 'x' is string }}") == "SVC: True"
    assert len(update_engine._CODE) == 0


def test_jinja_code_without_folded_calls_is_shared(monkeypatch):
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    monkeypatch.setattr(jinja2.Environment, "compile", jinja2.Environment.compile)
    monkeypatch.setattr(update_engine, "_CODE", {})
    update_engine._cache_jinja_compilation()
    for _ in range(3):
        env = SandboxedEnvironment(extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"])
        assert env.from_string("{{ name | upper }}-{{ port }}").render(name="svc", port=1) == "SVC-1"
    assert len(update_engine._CODE) == 1


def test_the_engine_builds_the_worker_paveds_copier_update_command_builds(tmp_path, monkeypatch):
    """Every field of copier's Worker (what `_copier_conf` shows templates and migrations), value and
    type, as `copier update` with paved's flags (fleet.COPIER_UPDATE) sets it."""
    from dataclasses import fields

    from copier._cli import CopierApp
    from copier._main import Worker

    from paved_road.fleet.fleet import COPIER_UPDATE

    built = []
    monkeypatch.setattr(Worker, "run_update", lambda self: built.append(self))
    monkeypatch.chdir(tmp_path)
    CopierApp.run(["copier", *COPIER_UPDATE[2:], "--vcs-ref", CANDIDATE], exit=False)
    mine = update_engine.update_worker(CANDIDATE)

    def conf(w):
        return {f.name: (type(getattr(w, f.name)), getattr(w, f.name)) for f in fields(Worker) if f.init}

    assert conf(mine) == conf(built[0])


def test_the_workers_environment_is_the_one_copier_gets(pool):
    """copier's migrations run with the worker's environment: nothing of the engine's own in it."""
    expected = preview_checks.copier_env(dict(os.environ))
    for name in ("PAVED_ENGINE_CLONES", *expected):
        assert pool.submit(os.getenv, name).result() == expected.get(name), name


def test_a_bad_engine_is_one_line_exit_2(preview_fleet, preview_template, tmp_path):
    from preview_fleet import run_paved

    proc = run_paved(str(preview_fleet), "--candidate", CANDIDATE, "--engine", "turbo", tmpdir=tmp_path,
                     template=preview_template)
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1
    assert "--engine" in proc.stderr and "fast" in proc.stderr and "copier" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_engine_updates_leaves_no_process_and_no_scratch(preview_fleet, preview_template, tmp_path):
    """The worker processes are the preview's children: Ctrl-C stops them with it (no orphan in its
    process group) and the scratch space, their template clones included, is gone."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "PAVED_TEMPLATE": str(preview_template)}
    proc = subprocess.Popen([PAVED, "fleet", "preview", str(preview_fleet), "--candidate", CANDIDATE, "-j", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob("paved-preview.*/*.tmp/engine.*")):
        time.sleep(0.02)  # until the engine is updating a service
    assert list(tmp_path.glob("paved-preview.*/*.tmp/engine.*")), "the engine never ran"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and out == ""
    # nothing left running in the preview's process group (an exited process the container's init has
    # not reaped yet, state Z, runs nothing)
    ps = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    running = [line for line in ps.splitlines() if line.split()[1:2] and not line.split()[1].startswith("Z")]
    assert running == [], ps
    assert list(tmp_path.iterdir()) == []



def test_ctrl_c_stops_a_migration_running_in_an_engine_worker(preview_template, tmp_path):
    """A terminal's Ctrl-C (SIGINT to the whole foreground group) while the candidate's migration runs in
    an engine worker: the preview exits 130 promptly, the migration stopped with it, as it does with the
    `copier update` subprocess (the workers ignore SIGINT, and so do the commands they start)."""
    tpl = tmp_path / "template"
    git(tmp_path, "clone", "-q", "--no-hardlinks", str(preview_template), str(tpl))
    script = tpl / "hooks" / "migrations.py"
    script.write_text(script.read_text().replace("import yaml\n", "import yaml\nimport time\ntime.sleep(120)\n", 1))
    commit_and_tag(tpl, "v2.3.0", "v2.3.0: a slow migration")
    fleet = tmp_path / "fleet"
    generate(tpl, fleet / "slow", "v2.1.1", _answers("slow", "v2.1.1"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "PAVED_TEMPLATE": str(tpl)}
    proc = subprocess.Popen([PAVED, "fleet", "preview", str(fleet), "--candidate", "v2.3.0", "-j", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(scratch.glob("paved-preview.*/*.tmp/engine.old/*")):
        time.sleep(0.05)
    assert list(scratch.glob("paved-preview.*/*.tmp/engine.old/*")), "the engine never ran"
    time.sleep(3)  # the old render is done: the migration sleeps
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True,
                              text=True).stdout.split()
    assert children  # the engine's workers
    os.killpg(proc.pid, signal.SIGINT)
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        ps = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
        left = [line for line in ps.splitlines()
                if str(tpl) in line or ("migrations.py" in line and str(scratch) in line)]
        for line in left:
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130 and time.monotonic() - started < 30, err
    assert [line for line in left if not line.split()[1].startswith("Z")] == []
    alive = [pid for pid in children if subprocess.run(["ps", "-o", "stat=", "-p", pid], capture_output=True,
                                                        text=True).stdout.strip()[:1] not in ("", "Z")]
    assert alive == []
    assert list(scratch.iterdir()) == []


def _tiny_template(root: Path, files: dict[str, str], config: str = "") -> Path:
    tpl = root / "tpl"
    (tpl / "t").mkdir(parents=True)
    (tpl / "copier.yml").write_text("_subdirectory: t\n_templates_suffix: .jinja\nname:\n  type: str\n  default: svc\n"
                                    + config)
    for rel, text in files.items():
        (tpl / "t" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tpl / "t" / rel).write_text(text)
    return tpl


@pytest.mark.parametrize("files, config, reason", [
    ({"a.md.jinja": "{{ name }} {{ _copier_answers | to_nice_yaml }}"}, "", None),
    ({"{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers }}"}, "", None),
    ({"a.md.jinja": "{{ _copier_conf.vcs_ref_hash if _copier_conf is defined else '' }}"}, "", None),
    ({"a.md.jinja": "{{ _copier_conf.dst_path }}"}, "", "_copier_conf.dst_path"),
    ({"a.md.jinja": "{{ _copier_conf['data'] }}"}, "", "_copier_conf.data"),
    ({"a.md.jinja": "{{ _copier_conf | to_json }}"}, "", "_copier_conf"),
    ({"a.md.jinja": "{% set c = _copier_conf %}{{ c.quiet }}"}, "", "_copier_conf"),
    ({"a.md.jinja": "{{ _copier_conf.get('data') }}"}, "", "_copier_conf.get"),
    ({"a.md.jinja": "{% for k, v in _copier_conf.items() %}{{ v }}{% endfor %}"}, "", "_copier_conf.items"),
    ({"a.md.jinja": "{{ _copier_conf.values() | list }}"}, "", "_copier_conf.values"),
    ({"{{ _folder_name }}.md": "plain"}, "", "_folder_name"),
    ({"a.md.jinja": "{{ now() }}"}, "", "now"),
    ({"a.md.jinja": "{{ '%Y' | strftime }}"}, "", "strftime"),
    ({"a.md.jinja": "{{ [1, 2] | map('random') | list }}"}, "", "random"),
    ({"a.md.jinja": "{% include name ~ '.txt' %}"}, "", "computed name"),
    ({"a.md.jinja": "{% include 't/inc.txt' %}", "inc.txt": "{{ _folder_name }}"}, "", "_folder_name"),
    ({"a.md.jinja": "{% from 't/macros.txt' import m %}{{ m() }}", "macros.txt": "{% macro m() %}x{% endmacro %}"},
     "", None),
    ({"a.md.jinja": "{{ name }}"}, "_exclude:\n  - \"{{ _copier_conf.dst_path }}\"\n", "dst_path"),
    ({"a.md.jinja": "{{ name }}"}, "_jinja_extensions:\n  - jinja2.ext.do\n", "Jinja extensions"),
    ({"a.md.jinja": "{{ name }}"}, "_external_data:\n  x: x.yml\n", "_external_data"),
])
def test_one_render_only_for_templates_that_read_nothing_of_their_destination(files, config, reason, tmp_path):
    """The scan behind rendering the candidate once: anything a render reads that differs between the
    render into the service and copier's second render (its destination, its data, the clock,
    randomness, the files around it), in any source the render reads, keeps the two renders."""
    tpl = _tiny_template(tmp_path, files, config)
    worker = update_engine._fleet_worker_class()(src_path=str(tpl), dst_path=tmp_path / "out", defaults=True,
                                                unsafe=True, quiet=True)
    found = update_engine._scan_template(worker)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab{}%#-+ .\n\r\t", max_size=12))
def test_a_string_rendered_without_jinja_is_what_copier_renders(tmp_path_factory, text):
    """The engine's shortcut for plain strings (path parts) gives what copier's _render_string gives,
    or declines and lets Jinja render; either way the yield context is reset as copier's parse resets it."""
    from copier._jinja_ext import get_yield_context
    from copier._main import Worker

    root = tmp_path_factory.getbasetemp() / "plain"
    tpl = root / "tpl" if (root / "tpl").exists() else _tiny_template(root, {"a.jinja": "x"})
    fleet = update_engine._fleet_worker_class()(src_path=str(tpl), dst_path=root / "out", defaults=True,
                                               unsafe=True, quiet=True)
    plain = Worker(src_path=str(tpl), dst_path=root / "out", defaults=True, unsafe=True, quiet=True)
    try:
        expected = plain._render_string(text)
    except Exception as exc:  # noqa: BLE001 - then the engine must not answer either
        with pytest.raises(type(exc)):
            fleet._render_string(text)
        return
    get_yield_context(fleet.jinja_env).yield_name = "stale"
    assert fleet._render_string(text) == expected
    assert get_yield_context(fleet.jinja_env).yield_name is None
    # the questionnaire's values (a question's type, default, help, ...), rendered the same way
    from types import SimpleNamespace

    from copier._user_data import Question

    question = SimpleNamespace(jinja_env=fleet.jinja_env, context=fleet._render_context())
    get_yield_context(fleet.jinja_env).yield_name = "stale"
    assert update_engine._plain_first(Question.render_value)(question, text) == Question.render_value(question, text)
    assert get_yield_context(fleet.jinja_env).yield_name is None


def test_cached_jinja_code_still_resets_the_yield_context(monkeypatch):
    """copier reads a path part's `{% yield %}` from the environment's yield context, which its
    YieldExtension resets while Jinja lexes each source: a cached compilation must reset it too, or a
    plain part after a yield part is taken for another yield."""
    import jinja2
    from copier._jinja_ext import YieldExtension, get_yield_context
    from jinja2.sandbox import SandboxedEnvironment

    monkeypatch.setattr(jinja2.Environment, "compile", jinja2.Environment.compile)
    monkeypatch.setattr(update_engine, "_CODE", {})
    update_engine._cache_jinja_compilation()
    for _ in range(2):  # the second time from the cache
        env = SandboxedEnvironment(extensions=[YieldExtension])
        env.from_string("{% yield x from xs %}{{ x }}{% endyield %}").render(xs=[1, 2])
        assert get_yield_context(env).yield_name == "x"
        assert env.from_string("{{ name }}").render(name="svc") == "svc"
        assert get_yield_context(env).yield_name is None
    assert len(update_engine._CODE) == 2


def _tagged_template(root: Path, config: str, releases: dict[str, dict[str, str]]) -> Path:
    """A git template: `config` as copier.yml, then each release's files (relative to the repository,
    a None text removes the file) committed and tagged in order."""
    tpl = root / "tagged-template"
    tpl.mkdir(parents=True)
    git(tpl, "init", "-q", "-b", "main")
    (tpl / "copier.yml").write_text(config)
    for tag, files in releases.items():
        for rel, text in files.items():
            path = tpl / rel
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        commit_and_tag(tpl, tag, f"{tag}")
    return tpl


def _engine_and_copier(service: Path, tag: str, pool, tmp_path: Path) -> tuple[Path, Path]:
    """The same service updated to `tag` by the engine (in `pool`) and by the real `copier update`."""
    fast, real = tmp_path / "fast", tmp_path / "copier"
    repos = {}
    for side in (fast, real):
        repos[side] = pv.scratch_clone(service, side / "repo")
        (side / "tmp").mkdir()
    env = {**preview_checks.copier_env(dict(os.environ)), "TMPDIR": str(real / "tmp")}
    copier = run_copier_update(repos[real], tag, env=env)
    assert copier.returncode == 0, copier.stderr
    update_engine.run_in_pool(pool, repos[fast], tag, fast / "tmp")
    return repos[fast], repos[real]


ANSWERS_JINJA = "{{ _copier_answers | to_nice_yaml }}"


def test_the_one_render_verdict_is_per_rendered_subdirectory(pool, tmp_path):
    """`_subdirectory: "{{ flavour }}"` (copier's docs show it): which files a render reads depends on the
    service's answers. A first service on a plain flavour must not decide for a second one whose flavour
    names `_copier_conf.data` (a different second render in copier: its data are the answers)."""
    doc_v1 = "# On call\n\nEscalate after 15 minutes.\n"
    doc_v2 = "# On call\n\nEscalate after 10 minutes.\n"
    tpl = _tagged_template(tmp_path, '_subdirectory: "{{ flavour }}"\nflavour:\n  type: str\n  default: a\n'
                                     "name:\n  type: str\n  default: svc\n", {
        "v1.0.0": {"a/{{ _copier_conf.answers_file }}.jinja": ANSWERS_JINJA, "a/doc.md": doc_v1,
                   "b/{{ _copier_conf.answers_file }}.jinja": ANSWERS_JINJA, "b/doc.md": doc_v1},
        "v1.1.0": {"a/doc.md": doc_v2, "b/doc.md": None,
                   "b/doc.md.jinja": doc_v2 + "Answers given as data: {{ _copier_conf.data | length }}.\n"},
    })
    services = {}
    for flavour in ("a", "b"):
        svc = services[flavour] = generate(tpl, tmp_path / f"svc-{flavour}", "v1.0.0", {"flavour": flavour})
        doc = svc / "doc.md"
        doc.write_text(doc.read_text().replace("Escalate after 15 minutes.", f"Escalate later ({flavour})."))
        git(svc, "commit", "-qam", "a team edit the release conflicts with")
    for flavour in ("a", "b"):  # in this order, in the same engine worker
        fast, real = _engine_and_copier(services[flavour], "v1.1.0", pool, tmp_path / flavour)
        assert _state(fast) == _state(real)
        assert pool.submit(update_engine.rendered_once).result() is (flavour == "a")
    assert b"Answers given as data: 2." in _state(fast)["files"]["doc.md"][0]


def test_a_template_reading_copier_conf_through_its_methods_keeps_two_renders(pool, tmp_path):
    """`_copier_conf.get('data')` reads what `_copier_conf.data` reads (the second render's data are the
    answers): two renders, as copier, and the merged conflict shows the second render's count."""
    doc_v1 = "# On call\n\nEscalate after 15 minutes.\n"
    tpl = _tagged_template(tmp_path, "_subdirectory: t\nname:\n  type: str\n  default: svc\n", {
        "v1.0.0": {"t/{{ _copier_conf.answers_file }}.jinja": ANSWERS_JINJA, "t/doc.md": doc_v1},
        "v1.1.0": {"t/doc.md": None, "t/doc.md.jinja": "# On call\n\nEscalate after 10 minutes.\n"
                   "Answers given as data: {{ _copier_conf.get('data') | length }}.\n"},
    })
    svc = generate(tpl, tmp_path / "svc", "v1.0.0", {"name": "svc"})
    (svc / "doc.md").write_text(doc_v1.replace("Escalate after 15 minutes.", "Escalate later (svc)."))
    git(svc, "commit", "-qam", "a team edit the release conflicts with")
    fast, real = _engine_and_copier(svc, "v1.1.0", pool, tmp_path / "run")
    assert _state(fast) == _state(real)
    assert pool.submit(update_engine.rendered_once).result() is False
    assert b"Answers given as data: 1." in _state(fast)["files"]["doc.md"][0]


def test_plain_question_values_render_where_the_template_brings_jinja_extensions():
    """copier renders every question value with the template's own `_jinja_extensions` loaded, and an
    extension may act on every render, plain text included: copier-templates-extensions' ContextHook
    replaces the environment's context class and runs its hook on each render, another may replace the
    template class. With any extension of the template's own, question values are rendered as copier does."""
    from types import SimpleNamespace

    from copier._jinja_ext import YieldExtension
    from copier._user_data import Question
    from jinja2.ext import Extension
    from jinja2.sandbox import SandboxedEnvironment

    hooked = []

    class ContextHook(Extension):
        def __init__(self, environment):
            super().__init__(environment)

            class HookedContext(environment.context_class):
                def __init__(self, *args, **kwargs):
                    hooked.append(1)
                    super().__init__(*args, **kwargs)

            environment.context_class = HookedContext

    class Shouting(Extension):
        def __init__(self, environment):
            super().__init__(environment)

            class Loud(environment.template_class):
                def render(self, *args, **kwargs):
                    return super().render(*args, **kwargs).upper()

            environment.template_class = Loud

    defaults = ["jinja2_ansible_filters.AnsibleCoreFiltersExtension", YieldExtension]
    for ext in (ContextHook, Shouting):
        hooked.clear()
        question = SimpleNamespace(jinja_env=SandboxedEnvironment(extensions=[*defaults, ext]), context={})
        expected = Question.render_value(question, "str")
        calls = len(hooked)
        assert update_engine._plain_first(Question.render_value)(question, "str") == expected
        assert len(hooked) == 2 * calls


@pytest.mark.parametrize("variant", ["default", "brackets"])
def test_one_render_with_links_conditional_and_empty_names_custom_delimiters_and_modes(variant, pool, tmp_path):
    """The one-render path over what copier's render decides per path: a templated symlink kept as a
    link (`_preserve_symlinks`), a directory and a file whose names render empty or conditionally, a
    `.jinja` file rendering to nothing, an executable script, an empty directory, a file the team
    deleted and one it edited; once with copier's delimiters, once with `_envops` brackets (where
    `{{ ... }}` is plain text)."""
    o, c = ("{{ ", " }}") if variant == "default" else ("[[ ", " ]]")
    bo, bc = ("{% ", " %}") if variant == "default" else ("[% ", " %]")
    envops = "" if variant == "default" else (
        "_envops:\n  variable_start_string: '[['\n  variable_end_string: ']]'\n"
        "  block_start_string: '[%'\n  block_end_string: '%]'\n")
    config = ("_subdirectory: t\n_preserve_symlinks: true\n" + envops
              + "name:\n  type: str\n  default: svc\nextras:\n  type: bool\n  default: false\n")
    answers = f"t/{o}_copier_conf.answers_file{c}.jinja"
    doc_v1 = "# On call\n\nEscalate after 15 minutes.\nKeep {{ this }} as is.\n"
    doc_v2 = "# On call\n\nEscalate after 10 minutes.\nKeep {{ this }} as is.\n"
    tpl = _tagged_template(tmp_path, config, {
        "v1.0.0": {answers: f"{o}_copier_answers | to_nice_yaml{c}", "t/doc.md": doc_v1, "t/gone.md": "x\n",
                   "t/keep/.gitkeep": ""},
        "v1.1.0": {"t/doc.md": None, "t/doc.md.jinja": doc_v2 + f"Service {o}name{c}.\n",
                   f"t/{bo}if extras{bc}extras{bo}endif{bc}/x.md": "extra\n",
                   f"t/{bo}if not extras{bc}basic.md{bo}endif{bc}.jinja": f"basic {o}name{c}\n",
                   "t/empty.txt.jinja": f"{bo}if extras{bc}x{bo}endif{bc}",
                   "t/run.sh": "#!/bin/sh\necho run\n", "t/gone.md": "x\ny\n", "t/dir/.keep": ""},
    })
    (tpl / "t" / "run.sh").chmod(0o755)
    (tpl / "t" / f"{o}name{c}-link.jinja").symlink_to(f"{o}name{c}.md")
    (tpl / "t" / "plain-link").symlink_to("doc.md")
    commit_and_tag(tpl, "v1.2.0", "v1.2.0: links and modes")
    svc = generate(tpl, tmp_path / "svc", "v1.0.0", {"name": "svc"})
    (svc / "doc.md").write_text(doc_v1.replace("Escalate after 15 minutes.", "Escalate later (svc)."))
    (svc / "gone.md").unlink()
    git(svc, "commit", "-qam", "a team edit the release conflicts with; gone.md is not ours")
    fast, real = _engine_and_copier(svc, "v1.2.0", pool, tmp_path / "run")
    assert _state(fast) == _state(real)
    assert pool.submit(update_engine.rendered_once).result() is True
    files = _state(fast)["files"]
    assert files["svc-link"][0] == ("link", "svc.md") and files["plain-link"][0] == ("link", "doc.md")
    assert files["basic.md"][0] == b"basic svc\n" and files["empty.txt"][0] == b"" and "extras/x.md" not in files
    assert files["run.sh"][1] & 0o111 and "gone.md" not in files


@pytest.mark.parametrize("edit_answers", [False, True])
def test_one_render_with_secret_hidden_and_retyped_answers(edit_answers, pool, tmp_path):
    """Answers that come to the two renders by different routes: a `secret` answer (not stored: its
    default, then data), a question hidden by `when` (its default in each render), an int the team wrote
    into the answers file as a string (the second render parses its data: two renders, as the contexts
    differ in type), all printed by the candidate into a file the team edited."""
    config = ("_subdirectory: t\nname:\n  type: str\n  default: svc\nport:\n  type: int\n  default: 8080\n"
              "token:\n  type: str\n  secret: true\n  default: \"{{ name }}-token\"\n"
              "legacy:\n  type: str\n  when: \"{{ port == 1 }}\"\n  default: \"{{ name }}-legacy\"\n")
    doc_v1 = "# On call\n\nEscalate after 15 minutes.\n"
    tpl = _tagged_template(tmp_path, config, {
        "v1.0.0": {"t/{{ _copier_conf.answers_file }}.jinja": ANSWERS_JINJA, "t/doc.md": doc_v1},
        "v1.1.0": {"t/doc.md": None, "t/doc.md.jinja": "# On call\n\nEscalate after 10 minutes.\n"
                   "{{ name }} {{ port }} {{ port is number }} {{ token }} {{ legacy }}\n"},
    })
    svc = generate(tpl, tmp_path / "svc", "v1.0.0", {"name": "svc"})
    (svc / "doc.md").write_text(doc_v1.replace("Escalate after 15 minutes.", "Escalate later (svc)."))
    if edit_answers:
        answers = svc / ".copier-answers.yml"
        answers.write_text(answers.read_text().replace("port: 8080", "port: '8080'"))
    git(svc, "commit", "-qam", "a team edit the release conflicts with")
    fast, real = _engine_and_copier(svc, "v1.1.0", pool, tmp_path / "run")
    assert _state(fast) == _state(real)
    assert pool.submit(update_engine.rendered_once).result() is (not edit_answers)


_LIST_ANSWER = "_subdirectory: t\nname:\n  type: str\n  default: svc\nextras:\n  type: yaml\n  default: [a]\n"


@pytest.mark.parametrize("config, doc_v11", [
    # Jinja's sandbox lets a template change a list answer in place (`{% set _ = xs.append(...) %}`):
    # copier's second render gets the answers the first one left (its data are those objects) and
    # renders them changed again. The first render's output is not the second's: two renders, as copier.
    pytest.param(_LIST_ANSWER, "# On call\n\nEscalate after 10 minutes.\n"
                 "{% set _ = extras.append('z') %}Extras: {{ extras | join(', ') }}.\n", id="render-changes-an-answer"),
    # A question's `when` that changes a list answer in place runs once per questionnaire: the engine's
    # look at the second render's answers must not add a run of its own before copier's second render.
    pytest.param(_LIST_ANSWER + "note:\n  type: str\n  default: n\n  when: \"{% set _ = extras.append('q') %}true\"\n",
                 "# On call\n\nEscalate after 10 minutes.\nExtras: {{ extras | join(', ') }}.\n",
                 id="questionnaire-changes-an-answer"),
])
def test_an_answer_changed_in_place_keeps_two_renders_as_copier_does(config, doc_v11, pool, tmp_path):
    doc_v1 = "# On call\n\nEscalate after 15 minutes.\n"
    tpl = _tagged_template(tmp_path, config, {
        "v1.0.0": {"t/{{ _copier_conf.answers_file }}.jinja": ANSWERS_JINJA, "t/doc.md": doc_v1},
        "v1.1.0": {"t/doc.md": None, "t/doc.md.jinja": doc_v11},
    })
    svc = generate(tpl, tmp_path / "svc", "v1.0.0", {"name": "svc"})
    (svc / "doc.md").write_text(doc_v1.replace("Escalate after 15 minutes.", "Escalate later (svc)."))
    git(svc, "commit", "-qam", "a team edit the release conflicts with")
    fast, real = _engine_and_copier(svc, "v1.1.0", pool, tmp_path / "run")
    assert _state(fast) == _state(real)
    assert pool.submit(update_engine.rendered_once).result() is False


def test_a_default_changed_in_place_reaches_neither_the_next_render_nor_the_next_service(pool, tmp_path):
    """A new question's default from copier.yml (a mapping) becomes the answer as that very object; the
    candidate changes it in place. copier reads copier.yml again for every Worker: the engine's shared
    template clone must not hand the changed default to the next service in the same worker."""
    config = "_subdirectory: t\nname:\n  type: str\n  default: svc\n"
    tpl = _tagged_template(tmp_path, config, {
        "v1.0.0": {"t/{{ _copier_conf.answers_file }}.jinja": ANSWERS_JINJA, "t/doc.md": "# On call\n"},
        "v1.1.0": {"copier.yml": config + "cfg:\n  type: yaml\n  default:\n    n: 1\n", "t/doc.md": None,
                   "t/doc.md.jinja": "# On call\n{% set _ = cfg.update({'n': cfg.n + 1}) %}n={{ cfg.n }}\n"},
    })
    for i in range(2):  # in the same engine worker
        svc = generate(tpl, tmp_path / f"svc{i}", "v1.0.0", {"name": "svc"})
        fast, real = _engine_and_copier(svc, "v1.1.0", pool, tmp_path / f"run{i}")
        assert _state(fast) == _state(real)
        assert _state(fast)["files"]["doc.md"][0] == b"# On call\nn=2\n"
