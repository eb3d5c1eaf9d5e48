"""A small OTLP/HTTP receiver: real protobuf on the wire, decoded with opentelemetry-proto.

Used by `make demo` (`paved demo`), by `paved otel-sink` for a laptop, and by
the tests as the receiver that telemetry must reach. The Node exporter sends
`Transfer-Encoding: chunked` without Content-Length and may gzip, so both are
handled.

Bounded, because anything that can reach the port can send to it (--host 0.0.0.0):
bodies and their decompressed size are capped (MAX_BODY, the OpenTelemetry
Collector's confighttp default `max_request_body_size`, 20 MiB), a negative or
malformed length is refused, an idle connection is closed after IDLE_TIMEOUT
seconds and a request that trickles in (slowloris) after REQUEST_DEADLINE, at most MAX_CONNECTIONS are served at once (more are closed at once),
and received text is printed without control characters.
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import re
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest, ExportLogsServiceResponse)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest, ExportMetricsServiceResponse)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest, ExportTraceServiceResponse)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from paved_road import cli_options
from paved_road.bounded_http import IDLE_TIMEOUT, MAX_CONNECTIONS, BoundedThreads  # noqa: F401 (re-exported)

MAX_BODY = 20 * 1024 * 1024  # bytes, on the wire and decompressed
REQUEST_DEADLINE = 30.0  # seconds for a whole request (a byte every 9 s is not idle, yet held a thread forever)
# C0/C1 controls (escape sequences, CR, BEL, NUL) and the bidirectional overrides that reorder a line
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class BodyError(ValueError):
    """A request body the sink refuses: (HTTP status, one-line reason)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def printable(value: Any) -> str:
    """`value` as text for a terminal: control characters (escape sequences, CR, NUL) removed."""
    return _CONTROL.sub("", str(value)).replace("\n", " ")


def gunzip(body: bytes, limit: int = MAX_BODY) -> bytes:
    """Decompress gzip without ever holding more than `limit` bytes of output (a gzip bomb is refused)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyError(413, f"decompressed body exceeds {limit} bytes")
    if not inflater.eof:
        raise BodyError(400, "body is not valid gzip: truncated")
    return out


SIGNALS = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


def any_value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attributes(kvs) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass
class Received:
    spans: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    logs: list[dict] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)  # path, encoding, chunked


def flatten(path: str, msg) -> tuple[str, list[dict]]:
    out: list[dict] = []
    if path == "/v1/traces":
        for rs in msg.resource_spans:
            res = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out.append({
                        "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(), "name": s.name,
                        "kind": Span.SpanKind.Name(s.kind).removeprefix("SPAN_KIND_"),
                        "start_ns": s.start_time_unix_nano, "end_ns": s.end_time_unix_nano,
                        "duration_ms": (s.end_time_unix_nano - s.start_time_unix_nano) / 1e6,
                        "status": Status.StatusCode.Name(s.status.code).removeprefix("STATUS_CODE_"),
                        "attributes": attributes(s.attributes), "resource": res,
                        "scope": ss.scope.name,
                        "events": [{"name": e.name, "attributes": attributes(e.attributes)} for e in s.events],
                    })
        return "spans", out
    if path == "/v1/metrics":
        for rm in msg.resource_metrics:
            res = attributes(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    data = json_format.MessageToDict(m)
                    out.append({"name": m.name, "unit": m.unit, "type": m.WhichOneof("data"),
                                "resource": res, "scope": sm.scope.name, "data": data})
        return "metrics", out
    for rl in msg.resource_logs:
        res = attributes(rl.resource.attributes)
        for sl in rl.scope_logs:
            for r in sl.log_records:
                out.append({"trace_id": r.trace_id.hex(), "span_id": r.span_id.hex(),
                            "severity": r.severity_text, "body": any_value(r.body),
                            "attributes": attributes(r.attributes), "resource": res,
                            "scope": sl.scope.name})
    return "logs", out


class _DeadlineReader(io.RawIOBase):
    """The socket as a raw stream whose every read ends by `handler.deadline` (and after IDLE_TIMEOUT of
    silence): TimeoutError otherwise, which closes the connection."""

    def __init__(self, sock, handler):
        super().__init__()
        self._sock, self._handler = sock, handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        remaining = self._handler.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"request not received within {REQUEST_DEADLINE:g} s")
        self._sock.settimeout(min(IDLE_TIMEOUT, remaining))
        return self._sock.recv_into(buffer)


class _QuietServer(BoundedThreads, ThreadingHTTPServer):
    """A client that goes away mid-request (a service stopping, a reset) is
    normal for a receiver: drop that connection, keep serving, no traceback.
    At most MAX_CONNECTIONS threads: a connection beyond them is closed at once."""

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        print(f"otel-sink: request from {client_address[0]} failed: {exc.__class__.__name__}: {printable(exc)}",
              file=sys.stderr)


class OtlpSink:
    """Start with `with OtlpSink() as sink:`; `sink.endpoint` is the base URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 on_receive: Callable[[str, list[dict]], None] | None = None, decode: bool = True):
        """decode=False only counts requests (benchmarks: keep the receiver cheap)."""
        self.received = Received()
        self._cond = threading.Condition()
        self._on_receive = on_receive
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = IDLE_TIMEOUT  # StreamRequestHandler: a socket timeout for every read

            def log_message(self, *args):  # quiet: the sink is a test peer
                pass

            def setup(self):
                super().setup()
                self.deadline = time.monotonic() + REQUEST_DEADLINE
                self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self))

            def handle_one_request(self):
                self.deadline = time.monotonic() + REQUEST_DEADLINE  # each request of a kept-alive connection
                super().handle_one_request()

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    body, total = bytearray(), 0  # not a list: a million 2-byte chunks took 1.3 GB
                    while True:
                        line = self.rfile.readline(66)
                        try:
                            size = int(line.split(b";")[0].strip() or b"x", 16)
                        except ValueError:
                            raise BodyError(400, "malformed chunked body") from None
                        if size < 0:
                            raise BodyError(400, "malformed chunked body")
                        total += size
                        if total > MAX_BODY:
                            raise BodyError(413, f"body exceeds {MAX_BODY} bytes")
                        if size == 0:
                            for _ in range(100):  # trailers
                                if self.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                                    break
                            break
                        chunk = self.rfile.read(size)
                        if len(chunk) < size:
                            raise BodyError(400, "body ended early")
                        body += chunk
                        self.rfile.readline(3)
                    return bytes(body)
                raw = self.headers.get("Content-Length", "0").strip()
                if not (raw.isascii() and raw.isdigit()):
                    raise BodyError(400, f"Content-Length must be a non-negative integer (got {printable(raw)[:20]!r})")
                length = int(raw)
                if length > MAX_BODY:
                    raise BodyError(413, f"body exceeds {MAX_BODY} bytes")
                body = self.rfile.read(length)
                if len(body) < length:
                    raise BodyError(400, "body ended early")
                return body

            def _reply(self, code: int, message: str = "") -> None:
                # OTLP/HTTP: a bad request gets 400 with a body; the client
                # must not retry it (opentelemetry.io/docs/specs/otlp/#failures-1).
                payload = message.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                encoding = self.headers.get("Content-Encoding", "")
                try:
                    body = self._body()
                    if encoding == "gzip":
                        body = gunzip(body)
                except BodyError as exc:
                    self.close_connection = True
                    return self._reply(exc.status, str(exc))
                types = SIGNALS.get(self.path.split("?")[0])
                if types is None:
                    return self._reply(404, f"no OTLP signal at {self.path}; use /v1/traces, /v1/metrics or /v1/logs")
                req_type, resp_type = types
                if not decode:
                    with sink._cond:
                        sink.received.requests.append({"path": self.path, "bytes": len(body)})
                        sink._cond.notify_all()
                    payload = resp_type().SerializeToString()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                msg = req_type()
                is_json = "json" in self.headers.get("Content-Type", "")
                try:
                    if is_json:
                        json_format.Parse(body, msg, ignore_unknown_fields=True)
                    else:
                        msg.ParseFromString(body)
                    kind, items = flatten(self.path, msg)
                except (json_format.ParseError, DecodeError, ValueError, UnicodeDecodeError) as exc:
                    return self._reply(400, f"not a valid {req_type.__name__}: {exc}")
                with sink._cond:
                    getattr(sink.received, kind).extend(items)
                    sink.received.requests.append({
                        "path": self.path, "encoding": encoding or "identity",
                        "chunked": "chunked" in self.headers.get("Transfer-Encoding", "").lower(),
                        "content_type": self.headers.get("Content-Type", "")})
                    sink._cond.notify_all()
                if sink._on_receive:
                    sink._on_receive(kind, items)
                payload = resp_type().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = _QuietServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "OtlpSink":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "OtlpSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[Received], Any], timeout: float = 15.0) -> Any:
        """Block until predicate(received) is truthy; return its value, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self.received)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)


def span_table(spans: list[dict]):
    """A rich table of spans, each trace as a tree: trace id, span name, kind, duration, status."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(spans)} spans received")
    for col in ("trace id", "span name", "kind", "duration", "status"):
        table.add_column(col, no_wrap=True)
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[dict]] = {}
    for s in spans:
        children.setdefault(s["parent_span_id"] if s["parent_span_id"] in ids else "", []).append(s)

    def walk(span: dict, depth: int) -> None:
        table.add_row(span["trace_id"][:16], "  " * depth + escape(printable(span["name"])), span["kind"],
                      f"{span['duration_ms']:.2f} ms", span["status"])
        for child in sorted(children.get(span["span_id"], []), key=lambda c: c["start_ns"]):
            walk(child, depth + 1)

    for root in sorted(children.get("", []), key=lambda r: r["start_ns"]):
        walk(root, 0)
    return table


def run(args: argparse.Namespace) -> int:
    try:
        sink = OtlpSink(args.host, args.port, on_receive=lambda kind, items: on_receive(kind, items))
    except OSError as exc:
        reason = "is in use by another process" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror or exc})"
        print(f"paved otel-sink: {args.host}:{args.port} {reason}; pick another with --port or --host", file=sys.stderr)
        return 2
    try:
        out = open(args.jsonl, "a") if args.jsonl else None
    except OSError as exc:
        sink._server.server_close()
        print(f"paved otel-sink: --jsonl {args.jsonl}: cannot write it ({exc.strerror or exc}); pass a writable file", file=sys.stderr)
        return 2

    def on_receive(kind: str, items: list[dict]) -> None:
        for item in items:
            if out:
                out.write(json.dumps({"signal": kind, **item}) + "\n")
                out.flush()
            if kind == "spans":
                print(f"span  {item['trace_id']} {item['kind']:<8} {item['duration_ms']:8.2f} ms  "
                      f"{printable(item['name'])}")
            elif kind == "logs":
                print(f"log   {item['trace_id'] or '-':<32} {printable(item['severity']):<6} {printable(item['body'])}")
            else:
                print(f"metric {printable(item['name'])}")
        sys.stdout.flush()

    sink.start()
    print(f"OTLP/HTTP sink listening on http://{args.host}:{sink.port} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
        if out:
            out.close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("otel-sink", help="run a local OTLP/HTTP receiver that prints what arrives")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1; 0.0.0.0 accepts other machines, e.g. containers)")
    p.add_argument("--port", type=cli_options.port, default=4318,
                   help="TCP port, 0-65535; 0 picks a free one (default: 4318, the OTLP/HTTP port)")
    p.add_argument("--jsonl", help="also append every decoded item to this JSON-lines file")
    p.set_defaults(func=run)
