"""paved's own smart-HTTP protocol-v2 reader (paved_road.fleet.remote.git_http) against the real `git http-backend`
(tests/catalog/smart_http.py): answers read with no client process in two requests (three where the server refuses the root-level
filter), and a hostile or
broken remote (deltas, symlinks, oversized or tampered objects, stalls, redirects) answered with one line
or left to git."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
import yaml

from smart_http import SmartHttp
from template_releases import git

from paved_road.fleet import catalog
from paved_road.fleet.remote import git_http
from paved_road.fleet.remote.git_http import DirectReader, Fallback

PAVED = str(Path(sys.executable).with_name("paved"))
ANSWERS = "_commit: v1.0.0\n_src_path: https://example.com/t.git\nservice_name: alpha\n"
NAME = ".copier-answers.yml"
# an answers file over the root-level fetch's blob limit (8 KiB) and under the read limit (64 KiB)
LONG_ANSWERS = ANSWERS + "".join(f"note_{i}: {'x' * 60}\n" for i in range(200))
# GitHub's servers allow `tree:0` only (uploadpackfilter.tree.maxDepth, git-config(1)); as plain git can be told
GITHUB_TREE_FILTERS = {"uploadpackfilter.tree.maxDepth": "0"}


def _repo(root: Path, name: str, files: dict[str, str | bytes], work: Path, symlinks: dict[str, str] = {},
          branch: str = "main") -> Path:
    """A bare repository `root/name.git` of one commit holding `files` (and `symlinks`: name -> target)."""
    work.mkdir(parents=True)
    git(work, "init", "-q", "-b", branch)
    for rel, content in files.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    for rel, target in symlinks.items():
        os.symlink(target, work / rel)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "one", "--allow-empty")
    bare = root / f"{name}.git"
    git(work.parent, "clone", "-q", "--bare", str(work), str(bare))
    return bare


@pytest.fixture(scope="module")
def remotes(tmp_path_factory):
    """Repositories for the reader's cases, served by git http-backend."""
    tmp = tmp_path_factory.mktemp("direct")
    root = tmp / "served"
    root.mkdir()
    # Two directories of 300 files alike but for one: after `git repack -f`, one tree is a delta of the other.
    many = {f"{d}/file-{i:03d}.txt": f"{i}\n" for d in ("a", "b") for i in range(300)}
    many["b/file-000.txt"] = "changed\n"
    deltas = _repo(root, "deltas", {NAME: ANSWERS, **many}, tmp / "w-deltas")
    git(deltas, "repack", "-q", "-a", "-d", "-f", "--window=50", "--depth=50")
    _repo(root, "plain", {NAME: ANSWERS, "README.md": "# alpha\n"}, tmp / "w-plain")
    _repo(root, "symlink", {"real.yml": ANSWERS}, tmp / "w-symlink", symlinks={NAME: "real.yml"})
    _repo(root, "nofile", {"README.md": "# no service\n"}, tmp / "w-nofile")
    _repo(root, "big", {NAME: os.urandom(400_000)}, tmp / "w-big")
    _repo(root, "long", {NAME: LONG_ANSWERS}, tmp / "w-long")
    git(root, "init", "-q", "--bare", str(root / "empty.git"))
    work = tmp / "w-branch"
    _repo(root, "branch", {NAME: ANSWERS}, work)
    git(work, "checkout", "-q", "-b", "renamed")
    (work / NAME).write_text(ANSWERS.replace("alpha", "alpha-renamed"))
    git(work, "commit", "-qam", "rename")
    git(work, "tag", "-a", "-m", "annotated", "v9")
    git(work, "push", "-q", str(root / "branch.git"), "renamed", "v9")
    with SmartHttp(root) as server:
        yield server, root


def test_answers_are_read_in_two_requests_without_a_process(remotes, monkeypatch):
    server, _ = remotes
    reader_thread, popen = threading.current_thread(), subprocess.Popen

    def no_process(*args, **kwargs):  # the server's threads (in this process) run git http-backend
        if threading.current_thread() is reader_thread:
            raise AssertionError(f"the reader started a process: {args[0]!r}")
        return popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", no_process)
    with catalog.RemoteReader(direct=True) as reader:
        before = server.requests
        assert reader.read(f"{server.url}/plain.git") == ANSWERS
        assert server.requests - before == 2  # ls-refs, fetch of the commit with its root level (the answers file)


def test_a_pack_with_deltas_is_resolved(remotes, monkeypatch, tmp_path):
    """The server reuses its on-disk deltas: the tree of b/ arrives as an OFS_DELTA of a/'s and still resolves
    to the tree git has (its id is recomputed from the result)."""
    server, _ = remotes
    packs = []
    real = git_http._fetch
    monkeypatch.setattr(git_http, "_fetch", lambda *a, **k: packs.append(real(*a, **k)) or packs[-1])
    assert DirectReader().read(f"{server.url}/deltas.git", None, NAME) == ANSWERS
    (tmp_path / "p.pack").write_bytes(packs[0])
    git(tmp_path, "init", "-q", "--bare", "r.git")
    git(tmp_path / "r.git", "index-pack", "-o", str(tmp_path / "p.idx"), str(tmp_path / "p.pack"))
    verify = git(tmp_path, "verify-pack", "-v", str(tmp_path / "p.idx"))
    assert "chain length = 1:" in verify, verify  # at least one object in that pack is a delta


@pytest.mark.parametrize("base_offset", [True, False], ids=["ofs-delta", "ref-delta"])
def test_unpack_gives_every_object_of_a_deltified_pack_as_git_does(tmp_path, base_offset):
    """A pack written by `git pack-objects` with long delta chains (OFS_DELTA, or REF_DELTA without
    --delta-base-offset): every object's content and id as `git cat-file` has them."""
    work = tmp_path / "w"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    text = "".join(f"line {i}\n" for i in range(2000))
    for n in range(12):  # twelve versions of one file: a chain of deltas
        text = text.replace(f"line {n * 7}\n", f"line {n * 7} edited\n")
        (work / "f.txt").write_text(text)
        git(work, "add", "-A")
        git(work, "commit", "-qm", f"v{n}")
    listing = git(work, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
    oids = [line.split()[0] for line in listing.splitlines()]
    args = ["git", "pack-objects", "--stdout", "-q", "--window=20", "--depth=50"]
    pack = subprocess.run(args + (["--delta-base-offset"] if base_offset else []), cwd=work, check=True,
                          input="\n".join(oids).encode(), capture_output=True).stdout
    objects = git_http._unpack(pack)
    assert sorted(objects) == sorted(oids)
    for oid in oids:
        kind, data = objects[oid]
        assert data == subprocess.run(["git", "cat-file", git_http._OBJ_NAMES[kind].decode(), oid],
                                      cwd=work, check=True, capture_output=True).stdout
    deltas = sum(1 for off in _offsets(pack) if (pack[off] >> 4) & 7 == (6 if base_offset else 7))
    assert deltas >= 5, deltas


def _offsets(pack: bytes) -> list[int]:
    """Object offsets of a pack, by inflating each (independent of the reader: plain zlib)."""
    pos, out = 12, []
    for _ in range(int.from_bytes(pack[8:12], "big")):
        out.append(pos)
        byte = pack[pos]
        kind = (byte >> 4) & 7
        pos += 1
        while byte & 0x80:
            byte = pack[pos]
            pos += 1
        if kind == 6:
            while pack[pos] & 0x80:
                pos += 1
            pos += 1
        elif kind == 7:
            pos += 20
        d = zlib.decompressobj()
        d.decompress(pack[pos:])
        pos = len(pack) - len(d.unused_data)
    return out


def test_a_symlinked_answers_file_is_not_a_file(remotes, tmp_path):
    """`.copier-answers.yml -> real.yml` (mode 120000) is refused, not read as the text of its target."""
    server, _ = remotes
    with pytest.raises(RuntimeError, match=r"^\.copier-answers\.yml is a symbolic link, not a file$"):
        DirectReader().read(f"{server.url}/symlink.git", None, NAME)
    repos = tmp_path / "repos.yml"
    repos.write_text(yaml.safe_dump({"repos": [f"{server.url}/symlink.git"]}))
    proc = subprocess.run([PAVED, "catalog", "--repos-file", str(repos), "--json"], capture_output=True, text=True)
    (row,) = json.loads(proc.stdout)["services"]
    assert row["error"] == "cannot fetch .copier-answers.yml: .copier-answers.yml is a symbolic link, not a file"
    assert proc.returncode == 4


def test_an_oversized_blob_is_refused_by_its_header(remotes, monkeypatch):
    """400 KB of incompressible answers: refused by the size in the pack's object header, not downloaded."""
    server, _ = remotes
    seen = []
    real = git_http._pack_prefix
    monkeypatch.setattr(git_http, "_pack_prefix", lambda answer, complete=False: seen.append(len(answer))
                        or real(answer, complete))
    with pytest.raises(RuntimeError, match=r"^\.copier-answers\.yml is 400000 bytes; at most 65536 are read$"):
        DirectReader().read(f"{server.url}/big.git", None, NAME)
    assert max(seen) < 200_000, seen  # stopped within the first chunks of a 400 KB answer


def _pkt(data: bytes) -> bytes:
    return b"%04x" % (len(data) + 4) + data


def _pack(*objects: tuple[int, bytes]) -> bytes:
    """A pack (gitformat-pack) of whole objects (type, content), written here independently of the reader."""
    body = b"PACK" + (2).to_bytes(4, "big") + len(objects).to_bytes(4, "big")
    for kind, content in objects:
        size, header = len(content), bytearray()
        byte = (kind << 4) | (size & 15)
        size >>= 4
        while size:
            header.append(byte | 0x80)
            byte, size = size & 0x7F, size >> 7
        header.append(byte)
        body += bytes(header) + zlib.compress(content)
    return body + hashlib.sha1(body).digest()


def _pack_of_blob(content: bytes) -> bytes:
    return _pack((3, content))


def _oid(kind: bytes, content: bytes) -> str:
    return hashlib.sha1(kind + b" %d\0" % len(content) + content).hexdigest()


@pytest.mark.parametrize("config", [{}, GITHUB_TREE_FILTERS], ids=["root-level", "blob-less"])
def test_a_blob_that_does_not_hash_to_its_id_is_refused(tmp_path, remotes, config):
    """A proxy in front of git http-backend swaps the blob's content (a well-formed pack, valid checksum) in
    every answer that carries it (the root-level fetch, or the blob's own): the reader recomputes the id and
    refuses it."""
    _, root = remotes
    commit = subprocess.run(["git", "-C", str(root / "plain.git"), "cat-file", "commit", "HEAD"],
                            capture_output=True, check=True).stdout
    tree = subprocess.run(["git", "-C", str(root / "plain.git"), "cat-file", "tree", "HEAD^{tree}"],
                          capture_output=True, check=True).stdout
    forged = ANSWERS.replace("alpha", "mallory").encode()

    def tamper(request: bytes, response: bytes) -> bytes:
        if b"command=fetch" not in request or b"blob:none" in request or b"packfile" not in response:
            return response  # ls-refs, the commit and trees alone, a refusal: as the server said
        objects = [(1, commit), (2, tree), (3, forged)] if b"deepen" in request else [(3, forged)]
        return _pkt(b"packfile\n") + _pkt(b"\x01" + _pack(*objects)) + b"0000"

    with SmartHttp(root, tamper=tamper, server_config=config) as hostile:
        with pytest.raises(RuntimeError, match=r"^the server's answer for \.copier-answers\.yml does not hash to its "
                                               r"id [0-9a-f]{40} \(tampered or corrupt\)$"):
            DirectReader().read(f"{hostile.url}/plain.git", None, NAME)


def test_a_forged_file_in_the_root_level_answer_is_read_again_by_its_id(remotes):
    """Only the root-level fetch forged (commit and tree genuine, the answers blob's content swapped): the
    forged blob hashes to another id, so the reader wants the real one by its id and reads the truth."""
    _, root = remotes
    commit = subprocess.run(["git", "-C", str(root / "plain.git"), "cat-file", "commit", "HEAD"],
                            capture_output=True, check=True).stdout
    tree = subprocess.run(["git", "-C", str(root / "plain.git"), "cat-file", "tree", "HEAD^{tree}"],
                          capture_output=True, check=True).stdout

    def tamper(request: bytes, response: bytes) -> bytes:
        if b"deepen" in request:
            forged = _pack((1, commit), (2, tree), (3, ANSWERS.replace("alpha", "mallory").encode()))
            return _pkt(b"packfile\n") + _pkt(b"\x01" + forged) + b"0000"
        return response

    with SmartHttp(root, tamper=tamper) as hostile:
        assert DirectReader().read(f"{hostile.url}/plain.git", None, NAME) == ANSWERS
        assert hostile.requests == 3  # ls-refs, the forged root level, the blob by its id


def test_a_server_that_ignores_the_blob_limit_cannot_pass_an_answers_file_over_the_read_limit(remotes):
    """The root-level answer carries the real 400 KB answers file (hashing right) although blob:limit=8192 was
    asked: refused by its length, as the same file wanted by its id is by its header."""
    _, root = remotes
    show = lambda *a: subprocess.run(["git", "-C", str(root / "big.git"), "cat-file", *a],  # noqa: E731
                                     capture_output=True, check=True).stdout
    objects = [(1, show("commit", "HEAD")), (2, show("tree", "HEAD^{tree}")), (3, show("blob", f"HEAD:{NAME}"))]

    def tamper(request: bytes, response: bytes) -> bytes:
        if b"combine:" in request:
            return _pkt(b"packfile\n") + b"".join(_pkt(b"\x01" + part) for part in _chunks(_pack(*objects)))\
                + b"0000"
        return response

    with SmartHttp(root, tamper=tamper) as hostile:
        with pytest.raises(RuntimeError, match=r"^\.copier-answers\.yml is 400000 bytes; at most 65536 are read$"):
            DirectReader().read(f"{hostile.url}/big.git", None, NAME)
        assert hostile.requests == 2  # not read again by its id: the answer said all there is to say


def _chunks(data: bytes, size: int = 65515):
    return [data[at:at + size] for at in range(0, len(data), size)]


def test_a_server_that_refuses_tree_filters_is_read_blob_less(remotes):
    """A GitHub-like server that allows `tree:0` only refuses the root-level filter: the first read of that
    host costs one refused request, then the host is read the blob-less way (three requests), same answers."""
    _, root = remotes
    with SmartHttp(root, server_config=GITHUB_TREE_FILTERS) as github_like:
        reader = DirectReader()
        assert reader.read(f"{github_like.url}/plain.git", None, NAME) == ANSWERS
        assert github_like.requests == 4  # ls-refs, the refused root level, commit + trees, the blob
        assert reader.read(f"{github_like.url}/branch.git", None, NAME) == ANSWERS
        assert github_like.requests == 4 + 3


@pytest.mark.parametrize("blip", [503, 502, "reset"])
def test_a_transient_failure_of_the_root_level_fetch_does_not_downgrade_the_host(remotes, blip):
    """A load balancer's 502/503 (RFC 9110: the gateway or the server is unavailable, not the request refused)
    or a reset connection on one root-level fetch: that repository is still read (blob-less, once), and the
    host keeps its two-request reads for the rest of the run; only a refusal by git itself downgrades it."""
    server, _ = remotes
    blipped = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if b"combine:" in body and len(blipped) < (2 if blip == "reset" else 1):  # a reset: the retry too
                blipped.append(body)
                if blip == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    self.close_connection = True
                    return
                self.send_response(blip)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
            conn.request("POST", self.path, body=body, headers=dict(self.headers))
            resp = conn.getresponse()
            payload = resp.read()
            self.send_response(resp.status)
            for name, value in resp.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            conn.close()

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        reader = DirectReader()
        assert reader.read(f"{url}/plain.git", None, NAME) == ANSWERS
        assert blipped
        before = server.requests
        assert reader.read(f"{url}/branch.git", None, NAME) == ANSWERS
        assert server.requests - before == 2  # ls-refs and the root level again: not blob-less from now on
        reader.close()
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_a_directory_whose_tree_is_over_the_object_bound_is_read_by_the_root_tree_alone(tmp_path):
    """A vendored directory of 30,000 files beside the answers file: its tree (2 MB) is over the 1 MiB bound
    for one object, in the root-level answer and in the blob-less one. Like a pack over its bounds, that is
    read again by the commit and the root tree alone (filter tree:0), not refused."""
    bare = tmp_path / "served" / "wide.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    hashed = lambda text: subprocess.run(["git", "-C", str(bare), "hash-object", "-w", "--stdin"], input=text,  # noqa: E731
                                         capture_output=True, text=True, check=True).stdout.strip()
    mktree = lambda text: subprocess.run(["git", "-C", str(bare), "mktree"], input=text,  # noqa: E731
                                         capture_output=True, text=True, check=True).stdout.strip()
    one = hashed("vendored\n")
    vendor = mktree("".join(f"100644 blob {one}\tfile-{i:06d}-of-a-vendored-package\n" for i in range(30_000)))
    root_tree = mktree(f"100644 blob {hashed(ANSWERS)}\t{NAME}\n040000 tree {vendor}\tvendor\n")
    commit = subprocess.run(["git", "-C", str(bare), "-c", "user.name=t", "-c", "user.email=t@e", "commit-tree",
                             root_tree, "-m", "wide"], capture_output=True, text=True, check=True).stdout.strip()
    git(bare, "update-ref", "refs/heads/main", commit)
    git(bare, "symbolic-ref", "HEAD", "refs/heads/main")
    assert int(subprocess.run(["git", "-C", str(bare), "cat-file", "-s", vendor], capture_output=True, text=True,
                              check=True).stdout) > git_http.MAX_OBJECT_BYTES
    for config in ({}, GITHUB_TREE_FILTERS):
        with SmartHttp(tmp_path / "served", server_config=config) as server:
            assert DirectReader().read(f"{server.url}/wide.git", None, NAME) == ANSWERS


def test_an_answers_file_over_the_root_level_limit_is_wanted_by_its_id(remotes):
    """An answers file of 12 KB (over the root-level fetch's 8 KiB, under the 64 KiB read limit) is not in the
    root-level answer: read whole by its id, one request more."""
    server, _ = remotes
    assert git_http.ROOT_BLOB_LIMIT < len(LONG_ANSWERS) < git_http.MAX_ANSWERS_BYTES
    before = server.requests
    assert DirectReader().read(f"{server.url}/long.git", None, NAME) == LONG_ANSWERS
    assert server.requests - before == 3


def _given_up(port: int, read_timeout: float, said: int, within: float) -> None:
    """A read of 127.0.0.1:`port` (1 s per request, `read_timeout` in all) ends in the one line "no answer
    within `said` s", in less than `within` seconds."""
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=rf"^the server gave no answer within {said} s$"):
        DirectReader(request_timeout=1.0, read_timeout=read_timeout).read(f"http://127.0.0.1:{port}/svc.git", None, NAME)
    assert time.monotonic() - t0 < within


def test_a_server_that_stalls_is_given_up_within_the_timeout():
    """A host that accepts the connection and never answers: one line after the request timeout, and no
    fallback to git (which would wait on it again)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    try:
        _given_up(listener.getsockname()[1], read_timeout=5.0, said=1, within=3)
    finally:
        listener.close()


class _Drip(http.server.BaseHTTPRequestHandler):
    """Answers 200 and then one byte every 0.2 s, for ever (each byte within any per-read timeout)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-git-upload-pack-result")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(100):
                self.wfile.write(b"0")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def test_a_server_that_drips_bytes_is_given_up_at_the_deadline():
    drip = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    drip.daemon_threads = True
    threading.Thread(target=drip.serve_forever, daemon=True).start()
    try:
        _given_up(drip.server_address[1], read_timeout=2.0, said=2, within=3.5)
    finally:
        drip.shutdown()
        drip.server_close()


@pytest.mark.parametrize("head", [b"HTTP/1.1 200 OK\r\nX-Drip: ",
                                  b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-result\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n"], ids=["headers", "chunk-size"])
def test_a_server_that_drips_its_headers_or_chunk_sizes_is_given_up_at_the_deadline(head):
    """The drip before the body: a header line, or a chunk-size line, one byte every 0.2 s (each within
    the per-read timeout; http.client reads up to 100 header lines of 64 KB). The read's deadline holds there
    too: one line, no fallback to git (which would wait on it again)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve():
        conn, _ = listener.accept()
        try:
            conn.recv(65536)
            conn.sendall(head)
            for _ in range(100):
                conn.sendall(b"0")
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        _given_up(listener.getsockname()[1], read_timeout=2.0, said=2, within=3.5)
    finally:
        listener.close()


class _Redirect(http.server.BaseHTTPRequestHandler):
    location = ""

    def do_POST(self):
        self.send_response(302)
        self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_redirect_to_another_host_is_refused(tmp_path, remotes):
    server, _ = remotes
    handler = type("H", (_Redirect,), {"location": f"http://localhost:{server.port}/plain.git/git-upload-pack"})
    redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{redirector.server_address[1]}/plain.git"
        with pytest.raises(RuntimeError, match=r"^the server redirects to another host \(http://localhost:\d+\); "
                                               r"not followed$"):
            DirectReader().read(url, None, NAME)
        repos = tmp_path / "repos.yml"
        repos.write_text(yaml.safe_dump({"repos": [url]}))
        proc = subprocess.run([PAVED, "catalog", "--repos-file", str(repos), "--json"], capture_output=True,
                              text=True)
        (row,) = json.loads(proc.stdout)["services"]
        assert row["error"].startswith("cannot fetch .copier-answers.yml: the server redirects to another host")
    finally:
        redirector.shutdown()
        redirector.server_close()


def test_a_repository_without_the_file_and_an_empty_one(remotes):
    server, _ = remotes
    with pytest.raises(RuntimeError, match=r"^no \.copier-answers\.yml on that branch$"):
        DirectReader().read(f"{server.url}/nofile.git", None, NAME)
    with pytest.raises(RuntimeError, match=r"^HEAD names no commit \(an empty repository\)$"):
        DirectReader().read(f"{server.url}/empty.git", None, NAME)


def test_the_branch_or_tag_named_in_the_repos_file_is_read(remotes):
    server, _ = remotes
    reader = DirectReader()
    url = f"{server.url}/branch.git"
    assert "service_name: alpha\n" in reader.read(url, None, NAME)
    assert "service_name: alpha-renamed\n" in reader.read(url, "renamed", NAME)
    assert "service_name: alpha-renamed\n" in reader.read(url, "refs/heads/renamed", NAME)
    assert "service_name: alpha-renamed\n" in reader.read(url, "v9", NAME)  # an annotated tag, peeled
    with pytest.raises(RuntimeError, match=r"^no branch or tag named 'gone'$"):
        reader.read(url, "gone", NAME)


def test_a_commit_id_in_capitals_is_the_commit_as_for_git(remotes):
    """git fetch takes a full object id in any case (get_oid_hex); so does the reader, as the same commit."""
    server, root = remotes
    commit = git(root / "branch.git", "rev-parse", "renamed").strip()
    url = f"{server.url}/branch.git"
    with catalog.RemoteReader(direct=False) as by_git:
        expected = by_git.read(url, commit.upper())
    assert "service_name: alpha-renamed\n" in expected
    assert DirectReader().read(url, commit.upper(), NAME) == expected


def test_what_the_reader_does_not_handle_is_left_to_git(remotes, tmp_path):
    """A missing repository (404), a SHA-256 repository, credentials in the URL, other transports: Fallback
    (the catalog then reads with git as before: test_git_remotes.py names git's reason for a 404)."""
    server, root = remotes
    reader = DirectReader()
    with pytest.raises(Fallback):
        reader.read(f"{server.url}/nowhere.git", None, NAME)
    sha256 = root / "sha256.git"
    work = tmp_path / "w256"
    work.mkdir()
    git(work, "init", "-q", "--object-format=sha256", "-b", "main")
    (work / NAME).write_text(ANSWERS)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "one")
    git(tmp_path, "clone", "-q", "--bare", str(work), str(sha256))
    with pytest.raises(Fallback):  # upload-pack refuses a SHA-1 client, or answers 64-digit ids
        reader.read(f"{server.url}/sha256.git", None, NAME)
    assert not reader.handles(f"http://user:token@127.0.0.1:{server.port}/plain.git")
    assert not reader.handles("ssh://git@example.com/x.git") and not reader.handles("file:///srv/x.git")


def test_git_settings_that_change_what_git_sends_keep_every_read_in_git(tmp_path, monkeypatch):
    """http.extraHeader (or any http.*/url.* setting, or a proxy) would be sent by git: such runs use git."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / ".gitconfig").write_text("")
    for var in catalog._PROXY_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("PAVED_GIT_HTTP", raising=False)
    assert catalog._direct_allowed()
    (tmp_path / ".gitconfig").write_text("[http]\n\textraHeader = Authorization: Bearer x\n")
    assert not catalog._direct_allowed()
    (tmp_path / ".gitconfig").write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
    assert not catalog._direct_allowed()


@pytest.mark.parametrize("policy", ["config", "environment"])
def test_a_policy_that_forbids_plain_http_to_git_holds_for_the_reader_too(remotes, tmp_path, monkeypatch, policy):
    """git's protocol.<name>.allow / protocol.allow settings and GIT_ALLOW_PROTOCOL (git-config, git(1)) say
    which transports may be used: a user who forbids cleartext http gets git's refusal, not a read over it."""
    server, _ = remotes
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (tmp_path / ".gitconfig").write_text("")
    for var in catalog._PROXY_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("PAVED_GIT_HTTP", raising=False)
    monkeypatch.delenv("GIT_ALLOW_PROTOCOL", raising=False)
    if policy == "config":
        (tmp_path / ".gitconfig").write_text("[protocol]\n\tallow = never\n[protocol \"https\"]\n\tallow = always\n")
    else:
        monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "https:ssh")
    with catalog.RemoteReader() as reader:
        with pytest.raises(RuntimeError, match="transport 'http' not allowed"):
            reader.read(f"{server.url}/plain.git")


def test_https_is_verified_as_git_would_verify_it(monkeypatch, tmp_path):
    """GIT_SSL_CAINFO is the CA bundle the reader trusts (as git does); GIT_SSL_NO_VERIFY and the other
    GIT_SSL_* variables leave https remotes to git."""
    for name in [n for n in os.environ if n.startswith("GIT_SSL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_SSL_CAINFO", str(tmp_path / "ca.pem"))
    reader = DirectReader.from_environment()
    assert reader.cafile == str(tmp_path / "ca.pem") and reader.handles("https://example.com/x.git")
    monkeypatch.setenv("GIT_SSL_NO_VERIFY", "1")
    reader = DirectReader.from_environment()
    assert not reader.handles("https://example.com/x.git") and reader.handles("http://example.com/x.git")


def test_a_corrupt_pack_is_one_line_never_a_crash(tmp_path):
    """Every byte of a small deltified pack flipped in turn (the trailing checksum recomputed, so the parser
    itself meets the damage): the reader answers RuntimeError or Fallback, or the objects when the damage
    is harmless, never another exception."""
    work = tmp_path / "w"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for n in range(3):
        (work / "f.txt").write_text("".join(f"line {i}{' x' * (i == n)}\n" for i in range(40)))
        git(work, "add", "-A")
        git(work, "commit", "-qm", f"v{n}")
    oids = [line.split()[0] for line in git(work, "cat-file", "--batch-all-objects", "--batch-check").splitlines()]
    pack = subprocess.run(["git", "pack-objects", "--stdout", "-q", "--delta-base-offset"], cwd=work, check=True,
                          input="\n".join(oids).encode(), capture_output=True).stdout
    assert sorted(git_http._unpack(pack)) == sorted(oids)
    for pos in range(12, len(pack) - 20):
        body = bytearray(pack[:-20])
        body[pos] ^= 0xFF
        try:
            git_http._unpack(bytes(body) + hashlib.sha1(body).digest())
        except (RuntimeError, Fallback):
            pass


def _varint(n: int) -> bytes:
    """A delta's size (gitformat-pack: 7 bits a byte, least significant first)."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _raw_pack(entries: list[bytes]) -> bytes:
    body = b"PACK" + (2).to_bytes(4, "big") + len(entries).to_bytes(4, "big") + b"".join(entries)
    return body + hashlib.sha1(body).digest()


def _entry(kind: int, content: bytes, extra: bytes = b"") -> bytes:
    size, header = len(content), bytearray()
    byte = (kind << 4) | (size & 15)
    size >>= 4
    while size:
        header.append(byte | 0x80)
        byte, size = size & 0x7F, size >> 7
    header.append(byte)
    return bytes(header) + extra + zlib.compress(content)


def test_deltas_that_expand_a_small_pack_are_bounded_in_all():
    """A delta bomb: one 64 KB blob and 40 OFS_DELTAs of it, each 16 copy instructions of 64 KB (one byte
    each: size 0 is 0x10000), a pack of about 2 KB that resolves to 40 MB; 20,000 such deltas (under the 4 MB
    pack bound) would be 20 GB. The delta results count against the pack's inflated bound, as inflated
    objects do."""
    base = b"x" * 0x10000
    delta = _varint(len(base)) + _varint(16 * 0x10000) + b"\x80" * 16
    entries = [_entry(3, base)]
    at = 12 + len(entries[0])
    for _ in range(40):
        distance, encoded = at - 12, []
        encoded.append(distance & 0x7F)
        distance >>= 7
        while distance:
            distance -= 1
            encoded.insert(0, 0x80 | (distance & 0x7F))
            distance >>= 7
        entries.append(_entry(6, delta, bytes(encoded)))
        at += len(entries[-1])
    pack = _raw_pack(entries)
    assert len(pack) < 4096
    with pytest.raises(git_http.TooLarge, match="inflates to over"):
        git_http._unpack(pack)


def test_an_endless_base_offset_is_refused_at_once():
    """An OFS_DELTA whose base offset runs on for 1 MB of continuation bytes (under the 4 MB pack bound): the
    offset passes the object's own position within a few bytes and is refused there (git: an overflow), not
    grown into a number of millions of bits, one byte at a time."""
    body = (b"PACK" + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([0x60 | 1]) + b"\xff" * 1_000_000
            + b"\x00" + zlib.compress(b"x"))
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="bad base offset"):
        git_http._unpack(body + hashlib.sha1(body).digest())
    assert time.monotonic() - t0 < 1


def test_a_chain_of_ref_deltas_is_as_bounded_as_one_of_ofs_deltas():
    """REF_DELTAs each against the one after it (so one pass resolves one): a chain deeper than
    MAX_DELTA_DEPTH is refused, as an OFS_DELTA chain is, and quickly (not a pass per link)."""
    def oid(content: bytes) -> str:
        return _oid(b"blob", content)

    links, previous = [], b"b"
    for i in range(git_http.MAX_DELTA_DEPTH + 5):
        digits = str(i).encode()
        result = previous[:1] + digits
        delta = _varint(len(previous)) + _varint(len(result)) + bytes([0x90, 1, len(digits)]) + digits
        links.append(_entry(7, delta, bytes.fromhex(oid(previous))))
        previous = result
    pack = _raw_pack([_entry(3, b"b"), *reversed(links)])
    with pytest.raises(RuntimeError, match="delta chain over"):
        git_http._unpack(pack)
    ok = _raw_pack([_entry(3, b"b"), *reversed(links[:git_http.MAX_DELTA_DEPTH])])
    assert len(git_http._unpack(ok)) == git_http.MAX_DELTA_DEPTH + 1


def test_a_repository_of_many_trees_is_read_by_its_root_tree_alone(remotes, monkeypatch):
    """Trees over the pack bound (here lowered to 2 KB; the deltas repository has 600 files): read again as the
    commit alone and the root tree alone (filter tree:0), not refused and not left to git."""
    server, _ = remotes
    monkeypatch.setattr(git_http, "MAX_PACK_BYTES", 2000)
    before = server.requests
    assert DirectReader().read(f"{server.url}/deltas.git", None, NAME) == ANSWERS
    assert server.requests - before == 5  # ls-refs, the too large fetch, commit, root tree, blob


def test_a_server_without_filters_or_any_sha_wants_is_read_by_git(remotes, tmp_path):
    """Plain `git http-backend` (no uploadpack.allowFilter, no allowAnySHA1InWant): the direct reader leaves it
    to git, and the catalog reads it as before."""
    _, root = remotes
    with SmartHttp(root, server_config={"uploadpack.allowFilter": "false",
                                        "uploadpack.allowAnySHA1InWant": "false"}) as plain:
        with pytest.raises(Fallback):
            DirectReader().read(f"{plain.url}/plain.git", None, NAME)
        repos = tmp_path / "repos.yml"
        repos.write_text(yaml.safe_dump({"repos": [f"{plain.url}/plain.git"]}))
        proc = subprocess.run([PAVED, "catalog", "--repos-file", str(repos), "--json"], capture_output=True,
                              text=True)
    (row,) = json.loads(proc.stdout)["services"]
    assert row["name"] == "alpha" and row["current_version"] == "v1.0.0", row


def test_a_chunked_answer_is_read_as_one(remotes):
    """GitHub answers a fetch with chunked transfer encoding: the same answers, two requests."""
    _, root = remotes
    with SmartHttp(root, chunked=True) as github_like:
        assert DirectReader().read(f"{github_like.url}/deltas.git", None, NAME) == ANSWERS
        assert github_like.requests == 2


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_pem, key_pem = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert_pem, key_pem


def test_https_with_the_ca_git_is_given(remotes, tmp_path, monkeypatch):
    """Over https the reader trusts the CA bundle git is given (GIT_SSL_CAINFO) and reads in two requests;
    a certificate it cannot verify is left to git (Fallback)."""
    import ssl

    _, root = remotes
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for name in [n for n in os.environ if n.startswith("GIT_SSL_")]:
        monkeypatch.delenv(name)
    with SmartHttp(root, tls=context) as secure:
        assert secure.url.startswith("https://")
        monkeypatch.setenv("GIT_SSL_CAINFO", str(cert))
        assert DirectReader.from_environment().read(f"{secure.url}/plain.git", None, NAME) == ANSWERS
        assert secure.requests == 2
        monkeypatch.delenv("GIT_SSL_CAINFO")
        with pytest.raises(Fallback, match="TLS"):
            DirectReader.from_environment().read(f"{secure.url}/plain.git", None, NAME)


@pytest.mark.parametrize("config", [{}, GITHUB_TREE_FILTERS], ids=["root-level", "blob-less"])
def test_a_damaged_answer_is_never_a_wrong_answer(remotes, config):
    """One byte of one of the three answers flipped by a proxy, 40 places in each (pkt-line lengths, sideband,
    pack headers, zlib streams, deltas, ids): the read gives the true answers file, or RuntimeError, or
    Fallback (git tries); never another exception, never other content."""
    import random

    _, root = remotes
    rng = random.Random(25)
    target = {"kind": None, "at": 0}

    def kind(request: bytes) -> str:
        return "ls-refs" if b"command=ls-refs" in request else "trees" if b"deepen" in request else "blob"

    def tamper(request: bytes, response: bytes) -> bytes:
        if kind(request) != target["kind"] or not response:
            return response
        damaged = bytearray(response)
        damaged[target["at"] % len(damaged)] ^= 1 << rng.randrange(8)
        return bytes(damaged)

    outcomes = {"same": 0, "refused": 0, "git": 0}
    with SmartHttp(root, tamper=tamper, server_config=config) as hostile:
        for which in ("ls-refs", "trees", "blob") if config else ("ls-refs", "trees"):
            for _ in range(40):
                target.update(kind=which, at=rng.randrange(1 << 20))
                try:
                    text = DirectReader(request_timeout=5, read_timeout=10).read(f"{hostile.url}/deltas.git",
                                                                                 None, NAME)
                except RuntimeError:
                    outcomes["refused"] += 1
                except Fallback:
                    outcomes["git"] += 1
                else:
                    assert text == ANSWERS
                    outcomes["same"] += 1
    assert outcomes["refused"] and outcomes["git"], outcomes  # seed 25: 13 harmless, 76 refused, 31 left to git


def test_objects_that_hash_right_but_make_no_sense_are_one_line(remotes):
    """A hostile server answers ls-refs with a commit of its own making, whose tree (ids correct) has an entry
    mode that is not text: one line, not a crash of the catalog."""
    _, root = remotes
    tree = b"\xff\xfe " + NAME.encode() + b"\0" + bytes(20)
    commit = b"tree %s\nauthor a <a> 0 +0000\ncommitter a <a> 0 +0000\n\nx\n" % _oid(b"tree", tree).encode()

    def tamper(request: bytes, response: bytes) -> bytes:
        if b"command=ls-refs" in request:
            return _pkt(b"%s HEAD\n" % _oid(b"commit", commit).encode()) + b"0000"
        if b"deepen" in request:
            return _pkt(b"packfile\n") + _pkt(b"\x01" + _pack((1, commit), (2, tree))) + b"0000"
        return response

    with SmartHttp(root, tamper=tamper) as hostile:
        with pytest.raises(RuntimeError, match=r"^the server's answer is malformed \(UnicodeDecodeError\)$"):
            DirectReader().read(f"{hostile.url}/plain.git", None, NAME)
