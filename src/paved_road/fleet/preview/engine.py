"""The preview's fast `copier update`: copier 9.19's own update, minus what a fleet repeats.

`copier update` (copier/_main.py: `Worker.run_update` -> `_apply_update`, 9.19.1) costs ~2 s of CPU
per service: a Python start-up importing copier, three template clones, three renders with a fresh
Jinja environment each (every template compiled again), ~160 git processes. In a preview the same
few template versions are applied to hundreds of services, so this module runs the same steps
inside long-lived worker processes (copier imported once) and shares what does not depend on the
service:

* one template clone per (source, ref) per worker process, made by copier's own `clone()` and
  handed to copier's Workers as their `Template` (its version, config and git modes read once);
* Jinja's compilation of a template source to Python code (a pure function of the source and the
  environment's syntax, extensions, filters and tests) cached across renders;
* path parts without Jinja syntax taken as they are (Jinja renders them to themselves);
* the candidate rendered once instead of twice (into the service, then into an empty directory)
  where the template reads nothing that differs between those two renders and their contexts are
  equal: the second copy is written from the first render's decisions (see _replay);
* the renders themselves stay copier's (`Worker.run_copy` with the arguments `_apply_update`
  passes), as do the migrations (`Template.migration_tasks` + `Worker._execute_tasks`: PEP 440
  ranges, `when`, `$STAGE`/`$VERSION_FROM`/`$VERSION_TO`) and the final clean-up
  (`_remove_old_files`);
* the git side of `_apply_update` (temporary repositories for the old and new renders, alternates,
  commits) becomes trees written into the scratch clone's own object store with a temporary index,
  then the same `diff-tree`/`apply --reject`/`merge-file` calls: ~10 git processes instead of ~160.

Anything this does not model (a service below its repository's top, `_tasks`, a template that is
not a git repository, a precondition `run_update` would refuse, any exception) raises `Unsupported`;
the preview then runs the real `copier update` subprocess for that service (fleet.run_copier_update)
and reports `engine: copier`. tests/catalog/test_update_engine.py holds the result byte for byte
against the real `copier update` on the preview fleet.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import tempfile
import weakref
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

FAST, COPIER = "fast", "copier"
# The copier whose `_apply_update` this module follows (pyproject pins it); any other: the subprocess.
MODELLED_COPIER = "9.19.1"

_CLONES: str | None = None     # where this worker's template clones go (init_worker)
_TEMPLATES: dict = {}          # (url, ref) -> copier Template with its clone, per worker process
_CODE: dict = {}               # Jinja compile cache, per worker process
_ENV_KEYS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Unsupported(RuntimeError):
    """This service needs the real `copier update` (the reason says why)."""


# ---------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------
def init_worker(env: dict[str, str], clones: str) -> None:
    """ProcessPoolExecutor initializer: the environment copier runs with in a preview (set before
    plumbum snapshots it), copier imported once, Ctrl-C left to the parent (it stops the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # its own process group, as the `copier update` subprocess has its own session: a terminal's Ctrl-C
    # reaches the preview only, which stops the worker and what it started (stop_pool)
    os.setpgid(0, 0)
    os.environ.clear()
    os.environ.update(env)
    os.makedirs(clones, exist_ok=True)
    global _CLONES
    _CLONES = clones  # not in os.environ: the migrations see what copier's would, nothing more
    import copier._main  # noqa: F401  (the import is the point: once per process)

    _cache_jinja_compilation()
    _plain_question_values()


def _cache_jinja_compilation() -> None:
    """Memoise `jinja2.Environment.compile`: its result is the Python code of one template source,
    a function of the source, the names it was given and the environment's syntax, extensions,
    filters and tests (the compiler looks filters and tests up to pick how to call them). Copier
    builds a new environment per render; the code is the same every time, with one exception:
    Jinja's optimizer folds a filter or test applied to constants by calling it while compiling
    (`{{ '.' | realpath }}`, `{{ '%H:%M' | strftime }}`: the cwd, the clock), and a finalize is
    called on constant output; such code holds that call's result and is never reused."""
    import jinja2
    from jinja2.utils import _PassArg

    if getattr(jinja2.Environment.compile, "_paved_cached", False):
        return
    compile_uncached = jinja2.Environment.compile

    def env_key(env) -> tuple:
        key = _ENV_KEYS.get(env)
        if key is None:
            lexer = (env.block_start_string, env.block_end_string, env.variable_start_string,
                     env.variable_end_string, env.comment_start_string, env.comment_end_string,
                     env.line_statement_prefix, env.line_comment_prefix, env.trim_blocks, env.lstrip_blocks,
                     env.newline_sequence, env.keep_trailing_newline)
            key = (type(env), lexer, tuple(sorted(env.extensions)), env.optimized, env.autoescape,
                   env.code_generator_class, env.context_class, getattr(env, "intercepted_binops", None),
                   getattr(env, "intercepted_unops", None),
                   tuple(sorted((n, _PassArg.from_obj(f)) for n, f in env.filters.items())),
                   tuple(sorted((n, _PassArg.from_obj(f)) for n, f in env.tests.items())))
            _ENV_KEYS[env] = key
        return key

    def noting_calls(functions: dict, called: list) -> dict:
        def noted(f):
            def call(*args, **kwargs):
                called.append(f)
                return f(*args, **kwargs)
            pass_arg = _PassArg.from_obj(f)
            if pass_arg is not None:
                call.jinja_pass_arg = pass_arg
            return call
        return {n: noted(f) for n, f in functions.items()}

    def compile_cached(self, source, name=None, filename=None, raw=False, defer_init=False):
        if (not isinstance(source, str)  # an AST: not hashable, compile as asked
                or self.is_async or self.finalize is not None or callable(self.autoescape)):
            return compile_uncached(self, source, name, filename, raw, defer_init)
        key = (env_key(self), source, name, filename, raw, defer_init)
        code = _CODE.get(key)
        if code is not None:
            # what compiling does besides the code: Jinja's lexer runs the extensions' preprocess hooks
            # (copier's YieldExtension resets the environment's yield context there)
            self.preprocess(source, name, filename)
        else:
            called: list = []
            filters, tests = self.filters, self.tests
            self.filters, self.tests = noting_calls(filters, called), noting_calls(tests, called)
            try:
                code = compile_uncached(self, source, name, filename, raw, defer_init)
            finally:
                self.filters, self.tests = filters, tests
            if not called:  # no filter or test ran while compiling: the code holds no result of one
                _CODE[key] = code
        return code

    compile_cached._paved_cached = True
    jinja2.Environment.compile = compile_cached


@contextmanager
def _captured(out: Path, err: Path):
    """stdout and stderr of this process and its children (the migrations) into `out` and `err`."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    for fd, path in ((1, out), (2, err)):
        with open(path, "wb") as fh:
            os.dup2(fh.fileno(), fd)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def update(repo: str, candidate: str, tmp: str, at_top: bool = False) -> dict:
    """Run in a worker process: `copier update --trust --defaults --skip-answered --conflict inline
    --vcs-ref candidate` on the scratch clone `repo`, `tmp` its temporary space. Returns
    {"returncode": 0, "stdout": ..., "stderr": ...}; raises Unsupported for the real copier."""
    import tempfile as _tempfile

    from plumbum import local

    installed = copier_version()
    if installed != MODELLED_COPIER:
        raise Unsupported(f"copier {installed} is installed; this engine follows copier {MODELLED_COPIER}'s update")
    cwd = os.getcwd()
    out, err = Path(tmp) / "engine.stdout", Path(tmp) / "engine.stderr"
    env = {"TMPDIR": tmp, "TMP": tmp, "TEMP": tmp}
    saved_tempdir = _tempfile.tempdir
    _tempfile.tempdir = tmp
    try:
        with _captured(out, err), local.env(**env):
            os.chdir(repo)
            _apply_update(Path(repo), candidate, Path(tmp), at_top)
    except Unsupported:
        raise
    except BaseException as exc:  # noqa: BLE001 - whatever it is, the real copier decides
        raise Unsupported(f"{exc.__class__.__name__}: {exc}") from None
    finally:
        os.chdir(cwd)
        _tempfile.tempdir = saved_tempdir
    texts = [p.read_text(errors="replace") for p in (out, err)]
    for p in (out, err):
        p.unlink()
    return {"returncode": 0, "stdout": texts[0], "stderr": texts[1]}


def copier_version() -> str | None:
    """The installed copier's version (its distribution metadata), None if unknown."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("copier")
    except PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------
# copier's _apply_update, step by step
# ---------------------------------------------------------------------------
def _template(url: str, ref: str | None):
    """One copier Template per (source, ref) in this process, cloned once by copier itself (into
    the preview's scratch space), shared by the Workers of every service."""
    from copier._template import Template

    key = (url, ref)
    if key not in _TEMPLATES:
        t = Template(url=url, ref=ref, use_prereleases=False)
        if t.vcs != "git":
            raise Unsupported(f"template {url} is not a git repository")
        saved = tempfile.tempdir
        tempfile.tempdir = _CLONES
        try:
            t.local_abspath  # noqa: B018 - clone now, into the clones directory
        finally:
            tempfile.tempdir = saved
        _TEMPLATES[key] = t
    return _own_config(_TEMPLATES[key])


def _own_config(shared):
    """The shared Template (its clone, version, git modes) with a configuration of its own, as each of
    copier's Workers builds its Template: a question's default (a dict or list from copier.yml) becomes
    an answer as that very object, which a template may change in place (`cfg.update(...)`); the next
    render, or the next service, must get copier.yml's value again."""
    import copy

    # what is read from the clone is computed once on the shared Template, and the copy starts with it:
    # git's answers (version: ~10 git processes through dunamai), copier.yml parsed (~0.04 s of YAML)
    for name in _FROM_THE_CLONE:
        try:
            getattr(shared, name)
        except Exception:  # noqa: BLE001 - the copy raises it again where copier reads it
            pass
    raw = shared.__dict__.get("_raw_config")
    t = copy.copy(shared)
    for name in ("config_data", "questions_data", "secret_questions"):
        t.__dict__.pop(name, None)
    if raw is not None:
        t.__dict__["_raw_config"] = copy.deepcopy(raw)
    return t


# copier's Template properties read from the clone (git, copier.yml's text), the same for every use
_FROM_THE_CLONE = ("_raw_config", "local_abspath", "url_expanded", "vcs", "commit", "commit_hash", "version",
                   "git_index_modes")


_FILE_MODE: dict[str, str | None] = {}   # destination -> its core.fileMode, during one update
_FRESH: set[str] = set()                 # the directories this update renders into from empty
_RENDERED_ONCE: list[bool] = []          # this process's last update: was the candidate rendered once?


def rendered_once() -> bool | None:
    """Whether this worker's last update rendered the candidate once (see _replay), None before any."""
    return _RENDERED_ONCE[-1] if _RENDERED_ONCE else None


@functools.cache
def _fleet_worker_class():
    """copier's Worker, asking git for the destination's `core.fileMode` once per render instead of
    once per rendered file (`_sync_git_index_executable_bit`: ~100 git processes per update; the
    setting cannot change while copier renders; what follows the look-up is copier's own code), and
    the answers file's path rendered once per render."""
    from copier._main import Worker
    from copier._vcs import get_git
    from plumbum import ProcessExecutionError

    class FleetWorker(Worker):
        # `answers_relpath` renders `_answers_file` with a fresh context on every access: twice per path
        # part while rendering (~40% of a render's contexts). While `_render_template` runs, the answers
        # and `_copier_conf` it depends on are fixed: rendered once there, copier's property otherwise.
        def _render_template(self):
            self.__dict__["_paved_answers_relpath"] = Worker.answers_relpath.fget(self)
            if "_paved_record" in self.__dict__:
                # the context the render starts from, as values (a template may change an answer in place:
                # `{% set _ = xs.append(1) %}`, and copier's second render gets those same objects)
                self.__dict__["_paved_context"] = _snapshot(self._render_context())
            try:
                return super()._render_template()
            finally:
                self.__dict__.pop("_paved_answers_relpath", None)

        @property
        def answers_relpath(self):
            cached = self.__dict__.get("_paved_answers_relpath")
            return cached if cached is not None else Worker.answers_relpath.fget(self)

        # Path parts are rendered one by one, each with a full render context (~40% of a render's
        # time); nearly all are plain text. A string without a Jinja delimiter (and without a line
        # break, which the environment could rewrite) lexes as one data token and renders to itself
        # (jinja2.lexer: only the block, variable and comment start strings and the line prefixes open
        # anything else); the only other effect of copier's from_string is YieldExtension.preprocess
        # resetting the yield context, done here as well. A template with its own Jinja extensions
        # (which may rewrite the source) renders every string.
        def _render_string(self, string, extra_context=None):
            if not self.template.jinja_extensions and _plain_text(self.jinja_env, string):
                return _rendered_plain(self.jinja_env, string)
            return super()._render_string(string, extra_context)

        # What this render decided for each path (copier's _render_file, _render_symlink and
        # _render_folder all ask _render_allowed with the rendered bytes, link target or directory, and
        # the mode): kept when `_paved_record` is set, for _replay.
        def _render_allowed(self, dst_relpath, is_dir=False, is_symlink=False, expected_contents=b"",
                            expected_mode=None):
            record = self.__dict__.get("_paved_record")
            if record is not None:
                record.append((dst_relpath, is_dir, is_symlink, expected_contents, expected_mode))
            return super()._render_allowed(dst_relpath, is_dir, is_symlink, expected_contents, expected_mode)

        def _sync_git_index_executable_bit(self, dst_relpath, src_mode):
            root = str(self.subproject.local_abspath)
            if root in _FRESH:
                # engine.old / engine.new: created empty by this update inside the preview's own scratch
                # space, so no index holds a path under them and copier's method ends at `ls-files`
                # (nothing tracked) or earlier, whatever core.fileMode says: no git process needed
                return None
            if root not in _FILE_MODE:
                try:
                    _FILE_MODE[root] = get_git(context_dir=self.subproject.local_abspath)(
                        "config", "--type=bool", "--get", "core.fileMode").strip()
                except ProcessExecutionError:
                    _FILE_MODE[root] = None
            if _FILE_MODE[root] != "false":
                return None  # copier's own early return: git sees the on-disk chmod
            return super()._sync_git_index_executable_bit(dst_relpath, src_mode)

    return FleetWorker


def _plain_text(env, string: str) -> bool:
    """True if Jinja renders `string` to itself in `env`: no block, variable or comment start string,
    no line statement or line comment prefix, no line break (newline_sequence, keep_trailing_newline),
    and no extension but copier's own two (copier's YieldExtension only resets its yield context in
    `preprocess`, which _rendered_plain does too): a template's `_jinja_extensions` may rewrite sources
    or token streams, or act on every render through the environment's context or template class
    (copier-templates-extensions' ContextHook runs its hook on each render)."""
    from copier._jinja_ext import YieldExtension
    from jinja2_ansible_filters import AnsibleCoreFiltersExtension

    if type(string) is not str or "\n" in string or "\r" in string:
        return False
    if any(opener and opener in string for opener in (
            env.block_start_string, env.variable_start_string, env.comment_start_string,
            env.line_statement_prefix, env.line_comment_prefix)):
        return False
    return all(type(ext) in (AnsibleCoreFiltersExtension, YieldExtension) for ext in env.extensions.values())


def _rendered_plain(env, string: str) -> str:
    """What `env.from_string(string).render(...)` gives for a _plain_text string: the string, with the
    one side effect of lexing it (YieldExtension.preprocess: the yield context reset)."""
    from copier._jinja_ext import get_yield_context

    ctx = get_yield_context(env)
    ctx.yield_name = ctx.yield_iterable = None
    return string


def _plain_question_values() -> None:
    """copier's questionnaire renders every property of every question (type, default, when, help,
    choices, ...) with a fresh context, several times per question and three questionnaires per
    update (old render, the service, the second render): a plain string renders to itself."""
    from copier._user_data import Question

    render_value = Question.render_value
    if getattr(render_value, "_paved_plain", False):
        return
    Question.render_value = _plain_first(render_value)


def _plain_first(render_value):
    def plain_first(self, value, extra_answers=None):
        if type(value) is str and _plain_text(self.jinja_env, value):
            return _rendered_plain(self.jinja_env, value)
        return render_value(self, value, extra_answers)

    plain_first._paved_plain = True
    return plain_first


def _with_template(worker, template):
    worker.__dict__["template"] = template  # Worker.template is a cached_property
    return worker


def _git(repo: Path, *args: str, index: Path | None = None, work_tree: Path | None = None,
         stdin: str | None = None, check: bool = True) -> str:
    env = dict(os.environ)
    if index is not None:
        env["GIT_INDEX_FILE"] = str(index)
    if work_tree is not None:
        env["GIT_DIR"] = str(repo / ".git")
        env["GIT_WORK_TREE"] = str(work_tree)
    proc = subprocess.run(["git", *args], cwd=work_tree or repo, capture_output=True, text=True, env=env,
                          input=stdin)
    if check and proc.returncode:
        raise Unsupported(f"git {args[0]}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc.stdout


def _tree(repo: Path, rendered: Path, index: Path) -> str:
    """The tree `git add .` in a fresh repository of `rendered` would commit (its own .gitignore
    applies), written into `repo`'s object store."""
    _git(repo, "add", "--all", ".", index=index, work_tree=rendered)
    return _git(repo, "write-tree", index=index, work_tree=rendered).strip()


def update_worker(candidate: str):
    """The Worker `copier update --trust --defaults --skip-answered --conflict inline --vcs-ref candidate`
    (fleet.COPIER_UPDATE) builds in the service, field for field: its CLI passes lists, not tuples, for
    exclude, skip_if_exists and ask, which templates and migrations see in `_copier_conf`."""
    return _fleet_worker_class()(dst_path=Path("."), data={}, vcs_ref=candidate, exclude=[], skip_if_exists=[],
                                 ask=[], defaults=True, overwrite=True, conflict="inline", unsafe=True,
                                 skip_answered=True)


def _apply_update(repo: Path, candidate: str, tmp: Path, at_top: bool = False) -> None:
    from filecmp import dircmp

    from copier._main import _operation, _remove_old_files
    from copier._tools import escape_git_path, normalize_git_path
    from copier._types import JSONSerializable, Phase

    from paved_road.fleet.fleet import checkout_top

    _FILE_MODE.clear()
    _FRESH.clear()
    _RENDERED_ONCE.clear()
    main = update_worker(candidate)
    token = _operation.set("update")
    try:
        sub = main.subproject
        if not at_top and checkout_top(repo)[1]:  # a non-empty prefix: below the top
            raise Unsupported("the service is below its repository's top")
        last = sub.template
        if last is None or last.ref is None:
            raise Unsupported("no template reference in the answers file")
        old_t = _template(str(last.url), last.ref)
        sub.__dict__["template"] = old_t
        new_t = _template(str(last.url), main.resolved_vcs_ref)
        _with_template(main, new_t)
        if not (old_t.version and new_t.version) or old_t.version > new_t.version or new_t.commit is None:
            raise Unsupported("copier refuses this update (versions)")
        if new_t.tasks or old_t.tasks:
            raise Unsupported("the template has _tasks")
        main._check_unsafe("update")
        # run_update's messages (rendered: one that fails to render fails copier's update too)
        main._print_message(new_t.message_before_update)
        main._print_template_update_info(old_t)

        old_copy, new_copy = tmp / "engine.old", tmp / "engine.new"
        old_copy.mkdir()
        new_copy.mkdir()
        _FRESH.update(str(d.absolute()) for d in (old_copy, new_copy))
        with _with_template(replace(main, dst_path=old_copy, data=sub.last_answers, defaults=True, quiet=True,
                                    src_path=old_t.url, vcs_ref=old_t.commit,
                                    exclude=[*new_t.exclude, *main.exclude], ask=()), _template(
                str(old_t.url), old_t.commit)) as old_worker:
            old_worker.run_copy()
        with Phase.use(Phase.MIGRATE):
            main._execute_tasks(new_t.migration_tasks("before", old_t))
        head = _git(repo, "write-tree").strip()
        old_index, new_index = tmp / "engine.old.index", tmp / "engine.new.index"
        old_tree = _tree(repo, old_copy, old_index)
        # copier lists the deleted (D) and the added (A) paths of old -> project in two diff-tree calls
        project_diff = [line.split("\t", 1) for line in _git(repo, "diff-tree", "-r", "--name-status", old_tree,
                                                              head).splitlines()]
        files_removed = [
            p for p in (normalize_git_path(path) for status, path in project_diff if status == "D")
            if not (repo / p).exists() and not main.match_skip(Path(p))]
        with replace(main, quiet=True) as current:
            _with_template(current, new_t)
            current.__dict__["_paved_record"] = record = []
            current.run_copy()
            current_context = current.__dict__.get("_paved_context")
            with Phase.use(Phase.RENDER):  # the render changed nothing of its context
                unchanged = current_context is not None and _same_context(current_context, current._render_context())
            main.answers = current.answers
            main.answers.external = main._external_data()
        for name in files_removed:
            (repo / name).unlink(missing_ok=True)
        # copier's filter, to the letter: its JSONSerializable test drops copier's own `now` and
        # `make_secret` (DEFAULT_DATA), which the second render would otherwise see in _copier_conf.data
        data = {k: v for k, v in main.answers.combined.items()
                if not k.startswith("_") and k not in main.answers.hidden
                and isinstance(k, JSONSerializable) and isinstance(v, JSONSerializable)}

        def new_worker(data=data):
            return _with_template(replace(main, dst_path=new_copy, data=data, defaults=True, quiet=True,
                                          src_path=old_t.url, vcs_ref=main.resolved_vcs_ref, ask=()),
                                  _template(str(old_t.url), main.resolved_vcs_ref))

        # copier renders the candidate a second time, into an empty directory, with the answers the
        # render into the service ended with. Where that render provably writes what the first one
        # rendered (see _template_renders_alike and _same_context), its questions are still asked
        # (their answers and errors are copier's) and the files written from the first render's
        # record (_replay) instead of rendering them again.
        rendered_once = False
        probe_data = _snapshot(data) if unchanged else None  # its questionnaire may change them in place
        if probe_data is not None and _template_renders_alike(current) is None and _record_replayable(record):
            # copies of the data: what the questionnaire does to them stays out of copier's second render
            with new_worker(probe_data) as again:
                with Phase.use(Phase.PROMPT):
                    again._ask()
                with Phase.use(Phase.RENDER):
                    alike = _same_context(current_context, again._render_context())
            if alike:
                _replay(record, new_copy)
                rendered_once = True
        if not rendered_once:
            with new_worker() as again:
                again.run_copy()
        _RENDERED_ONCE[:] = [rendered_once]
        for name in files_removed:
            Path(new_copy, name).unlink(missing_ok=True)
        new_tree = _tree(repo, new_copy, new_index)

        added_in_new = set(_git(repo, "diff-tree", "-r", "--diff-filter=A", "--name-only", old_tree,
                                new_tree).splitlines())
        both = {path for status, path in project_diff if status == "A"} & added_in_new
        for filename in both:
            f = old_copy / filename
            f.parent.mkdir(parents=True, exist_ok=True)
            f.touch((repo / filename).stat().st_mode)
            _git(repo, "add", "--force", "--", filename, index=old_index, work_tree=old_copy)
        if both:
            old_tree = _git(repo, "write-tree", index=old_index, work_tree=old_copy).strip()
        diff_cmd = ["diff-tree", f"--unified={main.context_lines}", old_tree, head]
        # copier diffs inside its fresh repository of the old render: git reads .gitattributes (-diff,
        # binary) from that work tree, then from that repository's index, never from the service's
        # index: the old render's index here, or a team's own .gitattributes turns its edits binary
        skip_files = []
        if main.all_skip_if_exists:
            skip_files = [escape_git_path(f) for f in map(normalize_git_path, _git(
                repo, *diff_cmd, "-r", "--no-commit-id", "--name-only", "--", ".", index=old_index,
                work_tree=old_copy).splitlines()) if main.match_skip(Path(f))]
        diff = _git(repo, *diff_cmd, "--inter-hunk-context=-1", index=old_index, work_tree=old_copy)
        compared = dircmp(old_copy, new_copy)
        apply_cmd = ["apply", "--reject", f"--exclude={Path('.') / main.answers_relpath}"]
        apply_cmd += [f"--exclude={f}" for f in skip_files]
        for line in _git(repo, "status", "--ignored", "--porcelain").splitlines():
            if line.startswith("!! ") and not (new_copy / normalize_git_path(line[3:])).exists():
                apply_cmd.append(f"--exclude={line[3:]}")
        _git(repo, *apply_cmd, stdin=diff, check=False)
        _merge_rejected(repo, old_copy, new_copy)
        _remove_old_files(repo, compared)
        with Phase.use(Phase.MIGRATE):
            main._execute_tasks(new_t.migration_tasks("after", old_t))
        main._print_message(new_t.message_after_update)
    finally:
        _operation.reset(token)
        main._cleanup()


# ---------------------------------------------------------------------------
# One render of the candidate for the service and for engine.new
# ---------------------------------------------------------------------------
# The second render (`new_copy` in `_apply_update`) differs from the first (into the service) in its
# Worker: dst_path (so `_folder_name`, `_copier_conf.dst_path`, `_external_data` read from it), data
# (the first's answers, now `_copier_conf.data`), ask ([] vs ()), the AnswersMap layers the answers sit
# in, and the time it runs at. Its output equals the first render's record when the template reads none
# of those (a scan of every source the render reads, once per template version), the two render contexts
# are equal value for value, type for type and order for order (`_copier_answers` and any dict answer
# keep their order into the output), and nothing in the record depends on what the directory held.
_CONF_DIFFERS = frozenset({"dst_path", "data", "ask"})      # _copier_conf fields the two renders differ in
# the fields a template may read (copier's _render_context, minus those): anything else it reads of
# _copier_conf (`.get('data')`, `.items()`, `.values()`: a LazyDict's own methods) may reach them
_CONF_ALIKE = frozenset({"src_path", "answers_file", "vcs_ref", "vcs_ref_hash", "settings", "exclude",
                         "use_prereleases", "skip_if_exists", "cleanup_on_error", "defaults", "user_defaults",
                         "overwrite", "pretend", "quiet", "conflict", "context_lines", "unsafe", "skip_answered",
                         "skip_tasks", "sep", "os"})
_UNSAFE_NAMES = frozenset({"_folder_name", "_external_data",  # the destination
                           "now", "make_secret", "lipsum"})   # the clock, randomness (copier's and Jinja's globals)
# filters and tests whose result is the clock, randomness, the files or environment around the render
# (jinja2 and jinja2_ansible_filters' core filters), or an object's identity
_UNSAFE_FILTERS = frozenset({"random", "ans_random", "random_mac", "shuffle", "strftime", "fileglob", "realpath",
                             "relpath", "expanduser", "expandvars", "sameas"})
# (url, commit, rendered subdirectory) -> None (one render serves both) or the reason it does not
_RENDERS_ALIKE: dict = {}


def _template_renders_alike(worker) -> str | None:
    """None if this template version renders the same into any two destinations given the same
    context, else the reason (cached per version and rendered `_subdirectory`). Scanned with Jinja's
    parser, as copier's render reads them: the `_subdirectory`, `_answers_file` and `_exclude` strings,
    every path part under the subdirectory, every templated file and link target, and what they
    include, import or extend."""
    t = worker.template
    # the subdirectory is rendered with the service's answers (`_subdirectory: "{{ flavour }}"`): which
    # files the render reads, hence the verdict, is per version and rendered subdirectory
    key = (str(t.url), t.commit, str(worker.template_copy_root))
    if key not in _RENDERS_ALIKE:
        try:
            _RENDERS_ALIKE[key] = _scan_template(worker)
        except Exception as exc:  # noqa: BLE001 - unreadable for the scan: render twice, as copier does
            _RENDERS_ALIKE[key] = f"{exc.__class__.__name__}: {exc}"
    return _RENDERS_ALIKE[key]


def _scan_template(worker) -> str | None:
    import sys

    from copier._tools import scantree
    from jinja2 import nodes

    t = worker.template
    if t.jinja_extensions:
        return "the template has Jinja extensions"
    if t.external_data:
        return "the template reads _external_data from the destination"
    if not t.templates_suffix:
        return "every file is a template (empty _templates_suffix)"
    if sys.platform == "darwin":
        return "copier copies symlink modes on macOS"
    env = type(worker).jinja_env.func(worker)  # an environment of its own: parsing has no effect on the renders
    strings = [t.subdirectory, str(t.answers_relpath), *t.exclude]
    names: list[str] = []
    root = worker.template_copy_root
    for entry in scantree(str(root), not t.preserve_symlinks):
        path = Path(entry.path)
        strings.extend(path.relative_to(root).parts)
        if not path.name.endswith(t.templates_suffix):
            continue
        if entry.is_symlink() and t.preserve_symlinks:
            strings.append(str(path.readlink()))
        elif not entry.is_dir(follow_symlinks=not t.preserve_symlinks):
            names.append(path.relative_to(t.local_abspath).as_posix())
    trees = [env.parse(s) for s in strings]
    seen: set[str] = set()

    def check(node, parent) -> str | None:
        if isinstance(node, nodes.Name):
            if node.name in _UNSAFE_NAMES:
                return f"the template uses {node.name}"
            if node.name == "_copier_conf" and not (isinstance(parent, nodes.Test) and parent.node is node
                                                    and parent.name in ("defined", "undefined")):
                field = (parent.attr if isinstance(parent, nodes.Getattr) and parent.node is node else
                         parent.arg.value if isinstance(parent, nodes.Getitem) and parent.node is node
                         and isinstance(parent.arg, nodes.Const) else None)
                if not isinstance(field, str) or field not in _CONF_ALIKE:
                    return f"the template uses _copier_conf{'.' + field if isinstance(field, str) else ''}"
        elif isinstance(node, (nodes.Filter, nodes.Test)) and node.name in _UNSAFE_FILTERS:
            return f"the template uses the {node.name} filter"
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and node.value in _UNSAFE_FILTERS:
            return f"the template names the {node.value} filter"  # map('random'), select('sameas', ...)
        elif isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            if not (isinstance(node.template, nodes.Const) and isinstance(node.template.value, str)):
                return "the template includes a computed name"
            names.append(node.template.value)
        for child in node.iter_child_nodes():
            reason = check(child, node)
            if reason:
                return reason
        return None

    while trees or names:
        if not trees:
            name = names.pop()
            if name in seen:
                continue
            seen.add(name)
            trees.append(env.parse(env.loader.get_source(env, name)[0], name))
        reason = check(trees.pop(), None)
        if reason:
            return reason
    return None


def _record_replayable(record: list) -> bool:
    """Each path once, none below a link the render makes (copier would write through it)."""
    paths = [rel for rel, *_ in record]
    links = {rel for rel, _, is_link, *_ in record if is_link}
    return len(set(paths)) == len(paths) and not any(
        parent in links for rel in paths for parent in rel.parents)


def _same(a, b) -> bool:
    """Equal as a template sees them: same types, same values, same order of keys and items."""
    from collections.abc import Mapping

    if type(a) is not type(b):
        return False
    if isinstance(a, Mapping):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple, set, frozenset)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _snapshot(context: dict) -> dict | None:
    """A render context's values as they are now (deep copies), `_copier_conf` left out; None if a value
    cannot be copied."""
    import copy

    try:
        return copy.deepcopy({k: v for k, v in context.items() if k != "_copier_conf"})
    except Exception:  # noqa: BLE001 - then the renders are not compared: two renders
        return None


def _same_context(first: dict, second: dict) -> bool:
    """The two render contexts equal but for `_copier_conf` (its differing fields unused: the scan) and
    `_folder_name` (unused); a template cannot list its context, so only the top level's order is free."""
    keys = set(first) - {"_copier_conf", "_folder_name"}
    return keys == set(second) - {"_copier_conf", "_folder_name"} and all(_same(first[k], second[k]) for k in keys)


def _replay(record: list, dst: Path) -> None:
    """What copier's render writes into the empty `dst` from the same decisions: each path is new there,
    so _render_allowed allows it; then _render_folder's mkdir, _render_symlink's symlink_to (Linux: no
    lchmod), _render_file's write and chmod."""
    for rel, is_dir, is_symlink, content, mode in record:
        path = dst / rel
        if is_dir:
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if is_symlink:
            path.symlink_to(content)
        else:
            path.write_bytes(content)
            if path.stat().st_mode != mode:
                path.chmod(mode)


def _merge_rejected(repo: Path, old_copy: Path, new_copy: Path) -> None:
    """`--conflict inline`: each rejected file 3-way merged with copier's labels, and the conflicts
    recorded in the index as copier records them (stages 1-3)."""
    from copier._tools import normalize_git_path

    conflicted = []
    for line in _git(repo, "status", "--porcelain", "--ignored").strip().splitlines():
        if not line.startswith(("?? ", "!! ")):
            continue
        fname = normalize_git_path(line[3:])
        if not fname.endswith(".rej"):
            continue
        fname = fname[:-4]
        _git(repo, "-c", f"core.hooksPath={os.devnull}", "checkout", "--", fname)
        _git(repo, "merge-file", "-L", "before updating", "-L", "last update", "-L", "after updating", "--",
             fname, str(old_copy / fname), str(new_copy / fname), check=False)
        (repo / f"{fname}.rej").unlink()
        with (repo / fname).open("rb") as fh:
            if any(line.rstrip() in {b"<<<<<<< before updating", b">>>>>>> after updating"} for line in fh):
                conflicted.append(fname)
    if not conflicted:
        return
    input_lines = []
    for line in _git(repo, "ls-files", "--stage", "--", *conflicted).strip().splitlines():
        perms_sha_mode, path = line.split("\t")
        perms, sha, _ = perms_sha_mode.split()
        input_lines.append(f"0 {'0' * 40}\t{path}")
        input_lines.append(f"{perms} {sha} 2\t{path}")
        for stage, side in (("1", old_copy), ("3", new_copy)):
            proc = subprocess.run(["git", "hash-object", "-w", "--", str(side / normalize_git_path(path))],
                                  cwd=repo, capture_output=True, text=True)
            if proc.returncode == 0:
                input_lines.append(f"{perms} {proc.stdout.strip()} {stage}\t{path}")
    _git(repo, "update-index", "--index-info", stdin="\n".join(input_lines))


# ---------------------------------------------------------------------------
# The pool, seen from the preview
# ---------------------------------------------------------------------------
def start_pool(workers: int, env: dict[str, str], clones: Path):
    """`workers` processes (spawned: no lock or thread of the parent is inherited half-way), each
    importing copier once; `env` is what copier and the migrations see, `clones` where the template
    clones go (inside the preview's scratch space)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker, initargs=(env, str(clones)))


def stop_pool(pool, kill: bool = False) -> None:
    """Shut the pool down. `kill` (Ctrl-C, a failure): the updates still running are not waited for:
    each worker's process group (the worker, a migration it runs and that one's children) is killed
    first, as fleet.run_copier_update stops the copier subprocess's session."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    if kill:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.kill()  # one still starting has no group of its own yet
        for proc in procs:  # a killed git or migration may still be on its way out, writing into the scratch
            _wait_group_gone(proc.pid)
    pool.shutdown(wait=True, cancel_futures=True)
    for proc in procs:
        proc.join()


def _wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
    """Until no process of group `pgid` runs (exited ones, state Z, run nothing), at most `timeout` s."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[2] == str(pgid) and fields[0] != "Z":
                running = True
                break
        if not running:
            return
        time.sleep(0.02)


def run_in_pool(pool, repo: Path, candidate: str, tmp: Path, cancel=None,
                at_top: bool = False) -> subprocess.CompletedProcess:
    """`update` in one of the pool's processes, as a CompletedProcess like fleet.run_copier_update's.
    Unsupported (or a broken pool): the caller runs the real copier. `cancel` set: the pending work
    is withdrawn and fleet.Cancelled raised. `at_top`: the caller checked that `repo` is its
    repository's top (a running update ends within its second or so; the
    preview waits for the pool before removing the scratch space)."""
    from paved_road.fleet.fleet import Cancelled

    future = pool.submit(update, str(repo), candidate, str(tmp), at_top)
    while True:
        try:
            done = future.result(timeout=0.2)
            break
        except TimeoutError:
            if cancel is not None and cancel.is_set():
                future.cancel()
                raise Cancelled("interrupted") from None
        except Unsupported:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker that died, a pool shut down: copier decides
            if cancel is not None and cancel.is_set():  # stop_pool killed it: no fallback clone
                raise Cancelled("interrupted") from None
            raise Unsupported(f"{exc.__class__.__name__}: {exc}") from None
    return subprocess.CompletedProcess(["copier", "update", "(in-process)"], done["returncode"], done["stdout"],
                                       done["stderr"])
