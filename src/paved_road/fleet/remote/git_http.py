"""One file from a git remote over smart HTTP, protocol v2 spoken by paved itself (stdlib only).

`paved catalog --repos-file` reads each service's answers file from its git remote. Real git costs about
nine client processes and five HTTP requests per repository (docs/fleet.md); this reader costs no process
and two requests against the same server (`git http-backend` + `git upload-pack`):

1. ``command=ls-refs`` (``symrefs``, ``peel``, ``ref-prefix HEAD`` or the repos file's ``ref``) -> the commit id;
2. ``command=fetch`` of that commit with ``deepen 1`` and ``filter combine:tree:2+blob:limit=8192`` -> a pack
   of the commit, its root tree, the trees directly under it and the small files beside the answers file,
   the answers file among them (an answers file is about 1 KB). rev-list's ``tree:<depth>`` "omits all blobs
   and trees whose depth from the root tree is >= <depth>": the root tree is at depth 0, its entries at 1.

A server may refuse ``tree:<depth>`` filters (``uploadpackfilter.tree.allow``/``maxDepth``: GitHub serves
``tree:0`` only) or not know ``combine:`` (git before 2.24); from then on that host is read the blob-less way
(a 429/502/503/504 or a dropped connection reads only that repository so: `Unavailable`),
one request more: the fetch filtered by ``blob:none`` (the commit and all its trees; a repository whose trees
exceed the bounds is read again with ``filter tree:0``: the commit, then its root tree wanted by id), then
``command=fetch`` of ``want <blob>`` (an any-SHA want, as git's own partial-clone lazy fetch does) -> the blob.
An answers file larger than the limit is fetched that way too.

gitprotocol-v2 ("HTTP Transport") has the client first GET ``info/refs?service=git-upload-pack`` for the
capability advertisement, then POST each command to ``$GIT_URL/git-upload-pack``. This reader skips the GET:
v2 "is stateless by default ... Clients MUST NOT require state management on the server side" (so every POST
stands alone), and `git http-backend` runs ``git upload-pack --stateless-rpc`` for each POST with
``GIT_PROTOCOL`` from the ``Git-Protocol`` header (git-http-backend.txt shows web servers passing it on),
which serves the command at once
(measured against git 2.39's http-backend: tests/catalog/test_git_http_direct.py). Without the advertisement
the reader sends no capability the server may lack: no ``agent`` (which "MUST NOT" be sent unadvertised) and
no ``object-format`` (SHA-1, the default); the ``filter`` and ``shallow`` features it relies on are checked by
the server's answer: a server without them (or without v2) answers with an error or not as v2, and that
remote is left to git. ``want <oid>`` may name any object in v2 ("Wants can be anything and are not limited
to advertised objects"), which is what step 3 uses.

Protocol documents (git/git Documentation/): gitprotocol-v2.txt (commands ls-refs and fetch, sections
``shallow-info``/``packfile``), gitprotocol-common.txt (pkt-line: 4 hex digits of length including themselves,
``0000`` flush, ``0001`` delim), gitprotocol-pack.txt (sideband-64k: band 1 pack data, 2 progress, 3 error),
gitformat-pack.txt (``PACK``, version, object count; per object a type/size varint header and a zlib stream;
OFS_DELTA = 6 with a negative offset, REF_DELTA = 7 with a base id; the delta instructions copy and insert;
a trailing SHA-1 of the pack). An object's id is SHA-1 of ``"<type> <size>\\0" + content``
(gitformat-loose / hash-function-transition), recomputed here for every object used.

The remote is untrusted (docs/security.md): responses, packs, objects, delta results and delta chains are
bounded; each request has a timeout and the read an overall deadline; no redirect is followed (one to
another host is refused); no credential is sent (a URL with userinfo, a 401/403, any `http.*`/`url.*` git
setting or a proxy in the environment is left to git, which knows the user's helpers and headers); a tree
entry with mode 120000 (a symbolic link) is not a file; a SHA-256 repository is left to git.
Anything this reader does not handle raises `Fallback`, and the caller reads that repository with git.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
import zlib

from paved_road.untrusted import MAX_ANSWERS_BYTES

MAX_PACK_BYTES = 4 * 1024 * 1024       # a response's pack data: the commit and trees of one revision
MAX_OBJECT_BYTES = 1024 * 1024         # one commit or tree, inflated (or a delta's result)
MAX_INFLATED_BYTES = 16 * 1024 * 1024  # all objects of one pack, inflated
MAX_OBJECTS = 20_000                   # objects in one pack
MAX_DELTA_DEPTH = 50                   # git's own default pack.depth
MAX_LS_REFS_BYTES = 256 * 1024
ROOT_BLOB_LIMIT = 8 * 1024             # files at the root smaller than this come with the commit (step 2)
REQUEST_TIMEOUT = 20.0                 # seconds one request may wait for bytes
READ_TIMEOUT = 60.0                    # seconds one repository may take in all (catalog.GIT_TIMEOUT)

_OBJ_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
_HEX40 = re.compile(r"[0-9a-f]{40}")


class _NotYet(Exception):
    """A REF_DELTA whose base has not been resolved yet."""


class TooLarge(RuntimeError):
    """An answer over one of the bounds (a repository with many trees, or one tree over the bound for an object:
    read again by the root tree alone)."""


class Fallback(Exception):
    """This reader does not handle that remote or answer (the caller uses git)."""


class Unavailable(Fallback):
    """No answer from git this time: the connection failed or was reset, or HTTP 429/502/503/504 (RFC 9110: the
    server or a gateway before it is unavailable, not the request refused). Not a sign of what the server
    supports: the root-level filter is not given up for that host."""


_UNAVAILABLE = (429, 502, 503, 504)


def _host(parts: urllib.parse.SplitResult) -> tuple:
    """What a kept-alive connection and the blob-less choice are per: scheme, host and port."""
    return parts.scheme, parts.hostname, parts.port


class DirectReader:
    """`read(url, ref)` -> the answers file's text, RuntimeError (one line) when the remote answered and the
    file cannot be read, Fallback when git should try. Thread-safe: one kept-alive connection per thread
    and host."""

    def __init__(self, max_bytes: int = MAX_ANSWERS_BYTES, request_timeout: float = REQUEST_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT, https: bool = True, cafile: str | None = None):
        self.max_bytes = max_bytes
        self.https, self.cafile = https, cafile
        self.request_timeout = request_timeout
        self.read_timeout = read_timeout
        self._local = threading.local()
        self._opened: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None
        self._blobless_hosts: set[tuple] = set()  # hosts that refused the root-level filter: read blob-less

    @classmethod
    def from_environment(cls, max_bytes: int = MAX_ANSWERS_BYTES) -> DirectReader:
        """A reader that verifies TLS as git would in this environment: GIT_SSL_CAINFO is the only CA bundle
        (as git's http.sslCAInfo); any other GIT_SSL_* variable (no verification, a client certificate, a CA
        directory, a TLS version) leaves https remotes to git."""
        other = [name for name in os.environ if name.startswith("GIT_SSL_") and name != "GIT_SSL_CAINFO"]
        return cls(max_bytes, https=not other, cafile=os.environ.get("GIT_SSL_CAINFO") or None)

    def handles(self, url: str) -> bool:
        """http(s) URLs without credentials, query, fragment or characters HTTP cannot carry as they are (git
        would quote them): the ones this reader may try."""
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 (ValueError when not a number)
        except ValueError:
            return False
        return (parts.scheme in (("http", "https") if self.https else ("http",)) and bool(parts.hostname) and "@" not in parts.netloc
                and not parts.query and not parts.fragment and not re.search(r"[\x00-\x20\x7f-\uffff]", url))

    def close(self) -> None:
        """Close every kept-alive connection (any thread's)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()

    def read(self, url: str, ref: str | None, name: str) -> str:
        """The text of file `name` at the root of `ref` (default: HEAD) in the repository at `url`."""
        try:
            return self._read(url, ref, name)
        except (ValueError, LookupError, TypeError) as exc:  # objects that hash right but say nothing sensible
            raise RuntimeError(f"the server's answer is malformed ({exc.__class__.__name__})") from None

    def _read(self, url: str, ref: str | None, name: str) -> str:
        if not self.handles(url):
            raise Fallback("not a plain http(s) URL")
        deadline = time.monotonic() + self.read_timeout
        parts = urllib.parse.urlsplit(url)
        endpoint = parts.path.rstrip("/") + "/git-upload-pack"
        call = lambda body, limit, first=None: self._post(parts, endpoint, body, limit, deadline, first)  # noqa: E731
        if ref and _HEX40.fullmatch(ref.lower()):  # a full id, in any case (git's get_oid_hex)
            commit = ref.lower()
        else:
            commit = _ls_refs(call, ref)
        host = _host(parts)
        objects = None
        try:
            if host not in self._blobless_hosts:
                root_filter = f"combine:tree:2+blob:limit={min(ROOT_BLOB_LIMIT, self.max_bytes + 1)}"
                try:  # the commit, the root tree and the small files at the root: usually the answers file too
                    objects = _unpack(_fetch(call, [commit], root_filter, deepen=True, limit=MAX_PACK_BYTES))
                except Fallback as exc:  # blob-less for this repository; from now on if git refused the filter
                    if not isinstance(exc, Unavailable):  # a blip (a 503, a reset) says nothing of the filter
                        with self._lock:
                            self._blobless_hosts.add(host)
            if objects is None:  # the commit and all its trees in one answer: small for a service repository
                objects = _unpack(_fetch(call, [commit], "blob:none", deepen=True, limit=MAX_PACK_BYTES))
        except TooLarge:  # a repository of many trees or root files: the commit alone, then its root tree alone
            objects = _unpack(_fetch(call, [commit], "tree:0", deepen=True, limit=MAX_OBJECT_BYTES))
        kind, data = _get(objects, commit, "commit")
        tree_id = _commit_tree(data)
        if tree_id not in objects:  # an object wanted by id is sent whatever the filter (rev-list --filter)
            objects = _unpack(_fetch(call, [tree_id], "tree:0", deepen=False, limit=2 * MAX_OBJECT_BYTES))
        _, tree = _get(objects, tree_id, "tree")
        mode, blob_id = _tree_entry(tree, name)
        if mode is None:
            raise RuntimeError(f"no {name} on that branch")
        if mode == "120000":
            raise RuntimeError(f"{name} is a symbolic link, not a file")
        if mode not in ("100644", "100755", "100664"):
            what = {"40000": "directory", "160000": "submodule"}.get(mode, f"tree entry of mode {mode}")
            raise RuntimeError(f"{name} is a {what}, not a file")
        max_bytes = self.max_bytes

        def too_big(pack: bytes) -> None:  # the object's header gives its size before its content arrives
            if len(pack) >= 12 and pack[:4] == b"PACK":
                header = _object_header(pack, 12)
                if header and header[0] == 3 and header[1] > max_bytes:
                    raise RuntimeError(f"{name} is {header[1]} bytes; at most {max_bytes} are read")

        if blob_id not in objects:  # refused the root filter, or over its size limit: wanted by its id
            pack = _fetch(call, [blob_id], None, deepen=False, limit=max_bytes + 64 * 1024, first=too_big)
            objects = _unpack(pack, max_object=max_bytes)
        if blob_id not in objects:
            raise RuntimeError(f"the server's answer for {name} does not hash to its id {blob_id} "
                               "(tampered or corrupt)")
        kind, data = objects[blob_id]
        if kind != 3:
            raise RuntimeError(f"{name} is not a file")
        if len(data) > max_bytes:
            raise RuntimeError(f"{name} is {len(data)} bytes; at most {max_bytes} are read")
        return data.decode("utf-8", errors="replace")

    # -- HTTP -----------------------------------------------------------------------------------------
    def _connection(self, parts: urllib.parse.SplitResult, timeout: float, fresh: bool = False):
        key = _host(parts)
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(key)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            if parts.scheme == "https":
                with self._lock:
                    self._tls = self._tls or ssl.create_default_context(cafile=self.cafile)
                conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=self._tls)
            else:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            conns[key] = conn
            with self._lock:
                self._opened.append(conn)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _post(self, parts, endpoint: str, body: bytes, limit: int, deadline: float, first=None) -> bytes:
        """The response body (at most `limit` bytes) of one POST to git-upload-pack, by the deadline: socket
        timeouts bound each read, not their sum (http.client reads a status line, up to 100 header lines of
        64 KB and chunk-size lines byte by byte), so a watchdog shuts the connection down at the deadline."""
        expired = threading.Event()
        used: list[http.client.HTTPConnection] = []

        def expire() -> None:
            expired.set()
            for conn in used:
                sock = conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            answer = self._post_once(parts, endpoint, body, limit, deadline, first, used)
        except BaseException:
            if not expired.is_set():
                raise
            answer = None
        finally:
            watchdog.cancel()
        if expired.is_set():  # whatever the shutdown left (an error, or an answer cut short): no answer
            for conn in used:
                conn.close()
            raise RuntimeError(f"the server gave no answer within {self.read_timeout:g} s")
        return answer

    def _post_once(self, parts, endpoint: str, body: bytes, limit: int, deadline: float, first,
                   used: list) -> bytes:
        headers = {"Content-Type": "application/x-git-upload-pack-request",
                   "Accept": "application/x-git-upload-pack-result", "Git-Protocol": "version=2",
                   "User-Agent": "git/paved", "Content-Length": str(len(body))}
        for attempt in (0, 1):  # a kept-alive connection the server closed meanwhile: once more on a new one
            timeout = min(self.request_timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise RuntimeError(f"the server gave no answer within {self.read_timeout:g} s")
            conn = self._connection(parts, timeout, fresh=attempt == 1)
            used.append(conn)
            try:
                conn.request("POST", endpoint, body=body, headers=headers)
                resp = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                if attempt:
                    raise Unavailable(f"connection closed: {exc}") from exc
            except TimeoutError:
                conn.close()
                raise RuntimeError(f"the server gave no answer within {timeout:g} s") from None
            except ssl.SSLError as exc:  # git may know CAs we do not (http.sslCAInfo, its own bundle)
                conn.close()
                raise Fallback(f"TLS: {exc}") from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                conn.close()
                raise Unavailable(f"cannot connect: {exc}") from exc
        try:
            if 300 <= resp.status < 400:
                target = urllib.parse.urljoin(f"{parts.scheme}://{parts.netloc}{endpoint}",
                                              resp.getheader("Location") or "")
                there = urllib.parse.urlsplit(target)
                if (there.scheme, there.hostname, there.port) != (parts.scheme, parts.hostname, parts.port):
                    raise RuntimeError(f"the server redirects to another host ({there.scheme}://{there.hostname}"
                                       f"{':' + str(there.port) if there.port else ''}); not followed")
                raise Fallback(f"redirect {resp.status}")
            if resp.status != 200:
                raise (Unavailable if resp.status in _UNAVAILABLE else Fallback)(f"HTTP {resp.status}")
            if resp.getheader("Content-Type", "").split(";")[0].strip() != "application/x-git-upload-pack-result":
                raise Fallback(f"content type {resp.getheader('Content-Type')!r}")
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > limit and first is None:
                raise TooLarge(f"the server's answer is {int(length)} bytes; at most {limit} are read")
            out = bytearray()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"the server gave no answer within {self.read_timeout:g} s")
                if conn.sock is not None:  # a server that drips bytes is stopped at the deadline, not later
                    conn.sock.settimeout(min(self.request_timeout, left))
                chunk = resp.read1(65536)
                if not chunk:
                    resp.read()  # the end of this answer: the connection is ready for the next request
                    break
                out += chunk
                if first is not None:
                    first(_pack_prefix(out))
                if len(out) > limit:
                    if len(_pack_prefix(out)) <= limit // 2:   # mostly progress (band 2) or other chatter
                        raise Fallback(f"the server's answer is over {limit} bytes, mostly not pack data")
                    raise TooLarge(f"the server's answer is over {limit} bytes; not read further")
            return bytes(out)
        except TimeoutError:
            resp.close()
            conn.close()
            waited = self.read_timeout if time.monotonic() >= deadline - 0.05 else self.request_timeout
            raise RuntimeError(f"the server gave no answer within {waited:g} s") from None
        except (http.client.HTTPException, ConnectionError) as exc:  # a broken answer (bad chunking, a reset)
            resp.close()
            conn.close()
            raise Unavailable(f"broken answer: {exc}") from exc
        except BaseException:
            resp.close()
            conn.close()
            raise


# -- pkt-line (gitprotocol-common) -----------------------------------------------------------------------
def pkt(data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return b"%04x" % (len(data) + 4) + data


FLUSH, DELIM = b"0000", b"0001"


def pkt_lines(data: bytes):
    """(kind, payload): kind "data", "flush", "delim" or "response-end"; Fallback when not pkt-lines."""
    pos = 0
    while pos < len(data):
        head = data[pos:pos + 4]
        try:
            size = int(head, 16)
        except ValueError:
            raise Fallback("not a pkt-line answer") from None
        if size in (0, 1, 2):
            yield ("flush", "delim", "response-end")[size], b""
            pos += 4
            continue
        if size < 4 or pos + size > len(data):
            raise Fallback("truncated pkt-line")
        yield "data", data[pos + 4:pos + size]
        pos += size


def _command(name: str, args: list[str]) -> bytes:
    # no capabilities (none was advertised to us): object-format sha1 is the default; a SHA-256 repository
    # refuses the request or answers with 64-digit ids (-> Fallback)
    return pkt(f"command={name}\n") + DELIM + b"".join(pkt(a + "\n") for a in args) + FLUSH


def _ls_refs(call, ref: str | None) -> str:
    """The commit that HEAD (or `ref`, resolved as `git fetch` resolves a name: as given, refs/NAME,
    refs/tags/NAME, refs/heads/NAME) points to; an annotated tag is peeled."""
    rules = ["HEAD"] if not ref else [ref, f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}"]
    answer = call(_command("ls-refs", ["symrefs", "peel", *(f"ref-prefix {r}" for r in rules)]), MAX_LS_REFS_BYTES)
    refs: dict[str, str] = {}
    ended = False
    for kind, line in pkt_lines(answer):
        if kind == "flush":
            ended = True
            break
        if kind != "data":
            raise Fallback("unexpected ls-refs answer")
        fields = line.decode(errors="replace").rstrip("\n").split(" ")
        if len(fields) < 2 or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}|unborn", fields[0]):
            raise Fallback("not a protocol v2 ls-refs answer")
        if len(fields[0]) == 64:
            raise Fallback("a SHA-256 repository")
        peeled = [f[len("peeled:"):] for f in fields[2:] if f.startswith("peeled:")]
        refs[fields[1]] = peeled[0] if peeled else fields[0]
    if not ended:
        raise Fallback("ls-refs answer without its end")
    for rule in rules:
        if rule in refs and refs[rule] != "unborn":
            return refs[rule]
    if not ref:
        raise RuntimeError("HEAD names no commit (an empty repository)")
    raise RuntimeError(f"no branch or tag named {ref!r}")


def _fetch(call, wants: list[str], filter_spec: str | None, deepen: bool, limit: int, first=None) -> bytes:
    """The pack of one v2 fetch of `wants` (`filter FILTER_SPEC`, `deepen 1` when `deepen`)."""
    args = [f"want {w}" for w in wants] + ["ofs-delta", "no-progress"]
    if deepen:
        args.append("deepen 1")
    if filter_spec:
        args.append(f"filter {filter_spec}")
    answer = call(_command("fetch", args + ["done"]), limit, first)
    return _pack_prefix(answer, complete=True)


def _pack_prefix(answer: bytes | bytearray, complete: bool = False) -> bytes:
    """The pack data of a fetch answer (as far as it has arrived, unless `complete`): the sections before
    `packfile` are skipped, band 1 of its sideband is the pack, band 2 progress, band 3 an error."""
    pack = bytearray()
    in_pack = ended = False
    pos = 0
    while pos + 4 <= len(answer):
        try:
            size = int(answer[pos:pos + 4], 16)
        except ValueError:
            raise Fallback("not a pkt-line answer") from None
        if size in (0, 1, 2):
            pos += 4
            if size == 0 and in_pack:
                ended = True
                break
            continue
        if size < 5 or pos + size > len(answer):
            if size < 5:
                raise Fallback("bad pkt-line")
            break  # not all here yet
        line = bytes(answer[pos + 4:pos + size])
        pos += size
        if not in_pack:
            if line.startswith(b"ERR "):
                raise Fallback(f"server error: {line[4:].decode(errors='replace').strip()}")
            if line.rstrip(b"\n") == b"packfile":
                in_pack = True
            continue
        band = line[0]
        if band == 1:
            pack += line[1:]
        elif band == 3:
            raise Fallback(f"server error: {line[1:].decode(errors='replace').strip()}")
    if complete and not ended:
        raise Fallback("fetch answer without a complete packfile section")
    return bytes(pack)


# -- packs (gitformat-pack) ------------------------------------------------------------------------------
def _object_header(pack: bytes, pos: int) -> tuple[int, int, int] | None:
    """(type, size, position after the header) of the object at `pos`, None when not all here."""
    if pos >= len(pack):
        return None
    byte = pack[pos]
    kind, size, shift = (byte >> 4) & 7, byte & 15, 4
    pos += 1
    while byte & 0x80:
        if pos >= len(pack) or shift > 60:
            return None if pos >= len(pack) else (kind, 1 << 62, pos)
        byte = pack[pos]
        size |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
    return kind, size, pos


def _inflate(view: memoryview, pos: int, size: int) -> tuple[bytes, int]:
    """The `size` bytes of the zlib stream at `pos`, and the position after it (fed in slices: no copy of
    the rest of the pack per object)."""
    d = zlib.decompressobj()
    out = bytearray()
    while not d.eof:
        if pos >= len(view):
            raise RuntimeError("the server's pack is truncated")
        chunk = view[pos:pos + 16384]
        try:
            out += d.decompress(chunk, size + 1 - len(out))
        except zlib.error as exc:
            raise RuntimeError(f"the server's pack holds a corrupt object ({exc})") from None
        if len(out) > size:
            raise RuntimeError("the server's pack holds an object larger than it says")
        if d.unconsumed_tail:
            raise RuntimeError("the server's pack holds an object larger than it says")
        pos += len(chunk) - len(d.unused_data)
    if len(out) != size:
        raise RuntimeError("the server's pack holds an object smaller than it says")
    return bytes(out), pos


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 56:
            raise RuntimeError("the server's pack holds a corrupt delta")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
        if not byte & 0x80:
            return value, pos


def apply_delta(base: bytes, delta: bytes, max_size: int = MAX_OBJECT_BYTES) -> bytes:
    """gitformat-pack "Deltified representation": base size, result size, then copy/insert instructions."""
    base_size, pos = _varint(delta, 0)
    size, pos = _varint(delta, pos)
    if base_size != len(base):
        raise RuntimeError("the server's pack holds a delta against a base of another size")
    if size > max_size:
        raise TooLarge(f"the server's pack holds an object of {size} bytes; at most {max_size} are read")
    out = bytearray()
    while pos < len(delta):
        op = delta[pos]
        pos += 1
        if op & 0x80:  # copy from the base: offset and size bytes named by the low bits
            offset = length = 0
            for i in range(4):
                if op & (1 << i):
                    offset |= delta[pos] << (8 * i)
                    pos += 1
            for i in range(3):
                if op & (0x10 << i):
                    length |= delta[pos] << (8 * i)
                    pos += 1
            length = length or 0x10000
            if offset + length > len(base):
                raise RuntimeError("the server's pack holds a delta copying past its base")
            out += base[offset:offset + length]
        elif op:  # insert the next `op` bytes
            out += delta[pos:pos + op]
            pos += op
        else:
            raise RuntimeError("the server's pack holds a delta with a reserved instruction")
        if len(out) > size:
            raise RuntimeError("the server's pack holds a delta larger than it says")
    if len(out) != size:
        raise RuntimeError("the server's pack holds a delta of the wrong size")
    return bytes(out)


def object_id(kind: int, data: bytes) -> str:
    return hashlib.sha1(_OBJ_NAMES[kind] + b" %d\0" % len(data) + data).hexdigest()


def _unpack(pack: bytes, max_object: int = MAX_OBJECT_BYTES) -> dict[str, tuple[int, bytes]]:
    """{object id: (type, content)} of every object in `pack`, ids recomputed from the content, deltas
    resolved (chains at most MAX_DELTA_DEPTH), the pack's own trailing SHA-1 checked."""
    try:
        return _objects(pack, max_object)
    except IndexError:  # a header, offset or delta instruction cut short
        raise RuntimeError("the server's pack is truncated or corrupt") from None


def _objects(pack: bytes, max_object: int) -> dict[str, tuple[int, bytes]]:
    if len(pack) < 32 or pack[:4] != b"PACK" or int.from_bytes(pack[4:8], "big") not in (2, 3):
        raise RuntimeError("the server's answer holds no pack")
    if hashlib.sha1(pack[:-20]).digest() != pack[-20:]:
        raise RuntimeError("the server's pack does not match its checksum (tampered or corrupt)")
    count = int.from_bytes(pack[8:12], "big")
    if count > MAX_OBJECTS:
        raise TooLarge(f"the server's pack holds {count} objects; at most {MAX_OBJECTS} are read")
    view = memoryview(pack)[:-20]
    entries: dict[int, tuple[int, object, bytes]] = {}  # offset -> (type, base offset or id, data)
    pos, inflated = 12, 0
    for _ in range(count):
        start = pos
        header = _object_header(pack, pos)
        if header is None or header[0] in (0, 5):
            raise RuntimeError("the server's pack holds a corrupt object header")
        kind, size, pos = header
        if size > max_object:  # TooLarge: a directory's tree this wide is read again by the root tree alone
            raise TooLarge(f"the server's pack holds an object of {size} bytes; at most {max_object} are read")
        base: object = None
        if kind == 6:  # OFS_DELTA: the base is that many bytes before this object (gitformat-pack's offset encoding)
            byte = pack[pos]
            offset = byte & 0x7F
            pos += 1
            while byte & 0x80:
                if offset >= start:  # already past the pack's start: refused now, not grown byte by byte
                    raise RuntimeError("the server's pack holds a delta with a bad base offset")
                byte = pack[pos]
                offset = ((offset + 1) << 7) | (byte & 0x7F)
                pos += 1
            base = start - offset
            if base < 12 or base >= start:
                raise RuntimeError("the server's pack holds a delta with a bad base offset")
        elif kind == 7:  # REF_DELTA: the base by its id
            base = bytes(view[pos:pos + 20]).hex()
            pos += 20
        data, pos = _inflate(view, pos, size)
        inflated += len(data)
        if inflated > MAX_INFLATED_BYTES:
            raise TooLarge(f"the server's pack inflates to over {MAX_INFLATED_BYTES} bytes; not read further")
        entries[start] = (kind, base, data)
    if pos != len(view):
        raise RuntimeError("the server's pack has data after its objects")
    objects: dict[str, tuple[int, bytes]] = {}
    resolved: dict[int, tuple[int, bytes, int]] = {}  # offset -> (type, content, delta chain depth)

    def resolve(offset: int, hops: int = 0) -> tuple[int, bytes, int]:
        nonlocal inflated
        if offset in resolved:
            return resolved[offset]
        if hops > MAX_DELTA_DEPTH:  # before recursing further: a chain of 20,000 OFS_DELTAs is not followed
            raise RuntimeError(f"the server's pack holds a delta chain over {MAX_DELTA_DEPTH} deep")
        kind, base, data = entries[offset]
        if kind in _OBJ_NAMES:
            return kind, data, 0
        if kind == 6 and base not in entries:
            raise RuntimeError("the server's pack holds a delta with a bad base offset")
        at = base if kind == 6 else by_id.get(base)
        if at is None:
            raise _NotYet
        # the depth is the chain's own, whether its links name their bases by offset or by id (a REF_DELTA's
        # base resolved in an earlier pass counts with its depth)
        base_kind, base_data, depth = resolve(at, hops + 1)
        if depth + 1 > MAX_DELTA_DEPTH:
            raise RuntimeError(f"the server's pack holds a delta chain over {MAX_DELTA_DEPTH} deep")
        content = apply_delta(base_data, data, max_object)
        inflated += len(content)  # a delta of a few bytes may copy 64 KB a byte: its result counts as inflated
        if inflated > MAX_INFLATED_BYTES:
            raise TooLarge(f"the server's pack inflates to over {MAX_INFLATED_BYTES} bytes; not read further")
        resolved[offset] = result = (base_kind, content, depth + 1)
        return result

    by_id: dict[str, int] = {}
    pending = list(entries)
    while pending:  # a REF_DELTA's base may itself be a delta further on: resolve until nothing is left
        left = []
        for offset in pending:
            try:
                kind, data, _ = resolve(offset)
            except _NotYet:
                left.append(offset)
                continue
            oid = object_id(kind, data)
            objects[oid] = (kind, data)
            by_id.setdefault(oid, offset)
        if len(left) == len(pending):
            raise Fallback("a delta against an object not in the pack")  # a thin pack: left to git
        pending = left
    return objects


def _get(objects: dict, oid: str, what: str) -> tuple[int, bytes]:
    found = objects.get(oid)
    if found is None:
        raise RuntimeError(f"the server's pack holds no {what} {oid} (or content that does not hash to that id)")
    if _OBJ_NAMES[found[0]].decode() != what:
        raise RuntimeError(f"{oid} is a {_OBJ_NAMES[found[0]].decode()}, not a {what}")
    return found


def _commit_tree(commit: bytes) -> str:
    match = re.match(rb"tree ([0-9a-f]{40})\n", commit)
    if not match:
        raise RuntimeError("the server's commit names no tree")
    return match[1].decode()


def _tree_entry(tree: bytes, name: str) -> tuple[str | None, str | None]:
    """(mode, id) of `name` in a tree object (entries: "<mode> <name>\\0<20-byte id>")."""
    wanted = name.encode()
    pos = 0
    while pos < len(tree):
        space = tree.find(b" ", pos)
        nul = tree.find(b"\0", space + 1)
        if space < 0 or nul < 0 or nul + 21 > len(tree):
            raise RuntimeError("the server's tree is corrupt")
        if tree[space + 1:nul] == wanted:
            return tree[pos:space].decode(), tree[nul + 1:nul + 21].hex()
        pos = nul + 21
    return None, None
