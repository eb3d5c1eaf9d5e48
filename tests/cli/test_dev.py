"""`paved dev` on a freshly generated service, as a user runs it: the first requests answer 200, their spans
print as they arrive (the route's server span and the downstream client span of the same trace), and
Ctrl-C stops everything: exit 130, no process left behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from paved_road.local.dev import INSTALL_STAMP, find_service, needs_install

PAVED = str(Path(sys.executable).with_name("paved"))
SPAN = re.compile(r"^span  (?P<trace>[0-9a-f]{32})  (?P<kind>\w+)\s+(?P<rest>.*)$")


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Path:
    """A service generated from this checkout's HEAD, exactly as the README's quick start does."""
    dest = tmp_path_factory.mktemp("dev") / "my-service"
    proc = subprocess.run([PAVED, "new", str(dest), "--demo", "-a", "service_name=my-service"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return dest


def _session_processes(sid: int) -> list[int]:
    """Every live (not zombie) process of session `sid`: paved dev's children and theirs."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # fields after the name: state, ppid, pgrp, session
            pids.append(int(entry.name))
    return pids


class Dev:
    def __init__(self, *args: str):
        # Its own session, like a terminal's: every process paved dev starts can be found afterwards.
        self.proc = subprocess.Popen([PAVED, "dev", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()

    def wait_for(self, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if predicate(line)]
            if found:
                return found
            assert self.proc.poll() is None, "".join(self.lines) + self.proc.stderr.read()
            time.sleep(0.1)
        raise AssertionError(f"not printed within {timeout}s:\n{''.join(self.lines)}")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_dev_serves_the_first_request_prints_its_spans_and_ctrl_c_stops_everything(service, stop):
    dev = Dev(str(service), "--port", "0")
    try:
        [hint] = dev.wait_for(lambda line: line.startswith("try: curl "), timeout=240)
        url = re.search(r"(http://127\.0\.0\.1:\d+)/api/example", hint).group(1)
        with urllib.request.urlopen(url + "/api/example", timeout=10) as r:  # the first request: not a 502
            assert r.status == 200
        answered = time.monotonic()
        with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
            assert r.status == 200

        def spans():
            return [m.groupdict() for line in dev.lines if (m := SPAN.match(line))]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            servers = [s for s in spans() if s["kind"] == "SERVER" and "/api/example" in s["rest"]]
            clients = [s for s in spans() if s["kind"] == "CLIENT" and servers and s["trace"] == servers[0]["trace"]]
            if servers and clients:
                printed_after = time.monotonic() - answered
                break
            time.sleep(0.1)
        assert servers and clients, "".join(dev.lines)
        # Spans leave every 200 ms (OTEL_BSP_SCHEDULE_DELAY), not every 5 s: they print while one looks.
        assert printed_after < 2.5, printed_after
        assert re.search(r"/api/example\s+200\s", servers[0]["rest"]), servers[0]
        assert re.search(r"\s200\s", clients[0]["rest"]), clients[0]  # the stub downstream answered
        assert not [s for s in spans() if "/healthz" in s["rest"]]  # health checks are not traced
        children = _session_processes(dev.proc.pid)
        assert len(children) >= 2, children  # paved dev and the service's node at least
    finally:
        dev.proc.send_signal(stop)  # Ctrl-C (or kill), to paved dev alone
        code = dev.proc.wait(30)
    assert code == 130, dev.proc.stderr.read()
    assert dev.proc.stderr.read().strip() == "paved dev: interrupted"
    time.sleep(0.2)
    assert _session_processes(dev.proc.pid) == []


def test_dev_installs_once_and_again_when_the_lockfile_changes(service, tmp_path):
    svc = find_service(service)
    if needs_install(svc):  # the test above installed, unless run alone
        pytest.skip("run with the test above: it installs node_modules")
    assert (service / "node_modules" / INSTALL_STAMP).is_file()
    lock = service / "package-lock.json"
    original = lock.read_bytes()
    try:
        lock.write_bytes(original.replace(b'"lockfileVersion"', b'"lockfileVersion" ', 1))
        assert needs_install(svc) == "package-lock.json or the Node version changed since the last install"
    finally:
        lock.write_bytes(original)
    assert needs_install(svc) is None


@pytest.mark.parametrize("make", ["missing", "empty", "no-answers"])
def test_dev_refuses_a_path_that_is_not_a_generated_service(tmp_path, make):
    path = tmp_path / "x"
    if make != "missing":
        path.mkdir()
    if make == "no-answers":
        (path / "package.json").write_text("{}")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = subprocess.run([PAVED, "dev", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"paved dev: PATH '{path}' is not a")
    assert "paved new" in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_dev_refuses_a_busy_port(service):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([PAVED, "dev", str(service), "--port", str(port)], capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"paved dev: --port {port} is in use by another process; "
                                        "pick another (0 picks a free one)"]


def test_dev_restarts_at_once_on_the_same_port(service):
    """Stop and start again on the port just used: the old connections' TIME_WAIT must not make it 'busy'."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for _ in range(2):
        dev = Dev(str(service), "--port", str(port))
        try:
            dev.wait_for(lambda line: line.startswith("try: curl "), timeout=120)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                assert r.status == 200
        finally:
            dev.proc.send_signal(signal.SIGINT)
            assert dev.proc.wait(30) == 130, dev.proc.stderr.read()


def _fake_service(tmp_path: Path, http_port: str = "3000") -> Path:
    """The files find_service looks for, no node_modules: nothing here ever runs."""
    path = tmp_path / "svc"
    path.mkdir()
    (path / ".copier-answers.yml").write_text(f"service_name: svc\nhttp_port: {http_port}\n")
    (path / "package.json").write_text("{}")
    (path / "package-lock.json").write_text("{}")
    (path / "Dockerfile").write_text('FROM node:24\nCMD ["node", "src/server.js"]\n')
    (path / ".nvmrc").write_text("24\n")
    return path


@pytest.mark.parametrize("http_port", ["99999", "-1", "80", "abc"])
def test_dev_names_an_http_port_answer_out_of_range(tmp_path, http_port):
    """A hand-edited answers file: one line naming the answer and the file, exit 2 (was: OverflowError, exit 1)."""
    path = _fake_service(tmp_path, http_port)
    proc = subprocess.run([PAVED, "dev", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert "http_port" in line and ".copier-answers.yml" in line and http_port in line, line
    assert "Traceback" not in proc.stderr and "unexpected error" not in line


def test_dev_says_it_is_fetching_node_before_the_silent_first_download(tmp_path, monkeypatch):
    """The first run fetches the pinned Node (about 80 s on a fresh clone) before `npm ci`: say so first,
    instead of a minute and a half of silence while curl fails in the other shell."""
    from paved_road.local import dev as dev_module

    service = find_service(_fake_service(tmp_path))
    monkeypatch.setattr(dev_module, "node_is_cached", lambda major: False)

    def node_env(major):
        raise dev_module.NodeToolchainError("stop here")
    monkeypatch.setattr(dev_module, "node_env", node_env)
    out = __import__("io").StringIO()
    with pytest.raises(dev_module.NodeToolchainError):
        dev_module.run_dev(service, port=0, out=out)
    assert out.getvalue().startswith("fetching Node 24."), out.getvalue()
    assert "first run only" in out.getvalue()


@pytest.mark.parametrize("nvmrc", ["24", "24.21.0", "v24.21.0", "v24"])
def test_dev_reads_nvmrc_as_nvm_does(tmp_path, nvmrc):
    """nvm and setup-node's node-version-file accept a leading 'v' (`v24.21.0`): the same major, not a refusal."""
    path = _fake_service(tmp_path)
    (path / ".nvmrc").write_text(nvmrc + "\n")
    assert find_service(path).node_major == 24
