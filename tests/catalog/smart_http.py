"""git's own smart-HTTP server (`git http-backend`, a CGI) on 127.0.0.1, for tests and benches.

    with SmartHttp(root) as server:          # serves every bare repository under `root`
        url = f"{server.url}/svc-0000.git"

    python tests/catalog/smart_http.py ROOT [LATENCY]  # the same, in its own process: prints the URL,
                     # serves until stdin closes (bench/catalog_remote.py measures its CPU), answers each line
                     # it reads with the number of requests served so far; LATENCY seconds
                     # are added to each request, as a network round trip would

Like GitHub, the server honours partial-clone filters and wants of any object it has
(`uploadpack.allowFilter`, `uploadpack.allowAnySHA1InWant`): `git clone --filter=blob:none` really is
blob-less here and reads a blob later by a second fetch. Each request runs `git http-backend` once, as
a web server runs a CGI; the server is threaded (one thread per connection), so it serves as many
clients at a time as they open connections. `route` maps a request to (PATH_INFO, QUERY_STRING): the
default is the request's own path; a hostile host in the tests answers every path with one repository.
`tamper(request body, response body) -> response body` stands between git and the client (a hostile or
broken server in the tests); `server_config` replaces SERVER_CONFIG (a plain git server: `{}`); `chunked`
answers with chunked transfer encoding, as GitHub does; `tls` (an ssl.SSLContext) serves https.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

_TARGET = re.compile(r"^(/[^?]*)(?:\?(.*))?$")
# GitHub's behaviour (partial clone, fetch of a blob by id), given to git http-backend's upload-pack.
SERVER_CONFIG = {"uploadpack.allowFilter": "true", "uploadpack.allowAnySHA1InWant": "true"}


def own_path(target: str, method: str) -> tuple[str, str]:
    match = _TARGET.match(target)
    return (match[1], match[2] or "") if match else (target, "")


class SmartHttp:
    def __init__(self, root: Path, route: Callable[[str, str], tuple[str, str]] = own_path, latency: float = 0.0,
                 record: bool = False, server_config: dict[str, str] | None = None,
                 tamper: Callable[[bytes, bytes], bytes] | None = None, chunked: bool = False, tls=None):
        backend = Path(subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                                      check=True).stdout.strip()) / "git-http-backend"
        settings = {**SERVER_CONFIG, **(server_config or {})}  # server_config: a test's hostile or plain server
        config = {"GIT_CONFIG_COUNT": str(len(settings))}
        for i, (key, value) in enumerate(settings.items()):
            config |= {f"GIT_CONFIG_KEY_{i}": key, f"GIT_CONFIG_VALUE_{i}": value}
        self.requests = 0
        self.busy = self.peak = 0  # requests being served now, and the most at one time
        self.posts: list[tuple[str, bytes]] = []  # with record=True: (path, body) of each POST, what git told us
        lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: git reuses its connection for the next request
            # headers and body go out in two writes: without TCP_NODELAY the body waits for the client's
            # delayed ACK (40 ms on Linux) on every request of a kept-alive connection
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _cgi(self, body: bytes = b""):
                with lock:
                    server.requests += 1
                    server.busy += 1
                    server.peak = max(server.peak, server.busy)
                try:
                    self._respond(body)
                finally:
                    with lock:
                        server.busy -= 1

            def _respond(self, body: bytes):
                if latency:
                    time.sleep(latency)  # the network's round trip, added to each request (bench --git-latency)
                path_info, query = route(self.path, self.command)
                env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
                       "PATH_INFO": path_info, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
                       "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                       "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                       "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""), **config}
                out = subprocess.run([backend], input=body, env=env, capture_output=True).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                if tamper is not None:
                    payload = tamper(body, payload)
                headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
                self.send_response(int(headers.pop("Status", "200").split()[0]))
                for name, value in headers.items():
                    self.send_header(name, value)
                if chunked:  # as GitHub answers a fetch: chunks of at most 8 KB, no Content-Length
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for at in range(0, len(payload), 8192):
                        part = payload[at:at + 8192]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                self._cgi()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if record:
                    with lock:
                        server.posts.append((self.path, body))
                self._cgi(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:  # an ssl.SSLContext: served over https
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls is not None else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SmartHttp:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    with SmartHttp(Path(sys.argv[1]), latency=float(sys.argv[2]) if len(sys.argv) > 2 else 0.0) as served:
        print(served.url, flush=True)
        for _ in sys.stdin:  # each line from the parent: the requests served so far; until stdin closes
            print(served.requests, flush=True)
        print(served.requests, flush=True)
