"""A small OTLP/HTTP receiver: real protobuf on the wire, decoded with opentelemetry-proto.

Used by `make demo` (`paved demo`), by `paved otel-sink` for a laptop, and by
the tests as the receiver that telemetry must reach. The Node exporter sends
`Transfer-Encoding: chunked` without Content-Length and may gzip, so both are
handled.
"""

from __future__ import annotations

import argparse
import errno
import gzip
import json
import sys
import threading
import time
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


class _QuietServer(ThreadingHTTPServer):
    """A client that goes away mid-request (a service stopping, a reset) is
    normal for a receiver: drop that connection, keep serving, no traceback."""

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        print(f"otel-sink: request from {client_address[0]} failed: {exc.__class__.__name__}: {exc}",
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

            def log_message(self, *args):  # quiet: the sink is a test peer
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

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
                try:
                    body = self._body()
                except ValueError:
                    self.close_connection = True
                    return self._reply(400, "malformed chunked body")
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    try:
                        body = gzip.decompress(body)
                    except (OSError, EOFError) as exc:
                        return self._reply(400, f"body is not valid gzip: {exc}")
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
    from rich.table import Table

    table = Table(title=f"{len(spans)} spans received")
    for col in ("trace id", "span name", "kind", "duration", "status"):
        table.add_column(col, no_wrap=True)
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[dict]] = {}
    for s in spans:
        children.setdefault(s["parent_span_id"] if s["parent_span_id"] in ids else "", []).append(s)

    def walk(span: dict, depth: int) -> None:
        table.add_row(span["trace_id"][:16], "  " * depth + span["name"], span["kind"],
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
                print(f"span  {item['trace_id']} {item['kind']:<8} {item['duration_ms']:8.2f} ms  {item['name']}")
            elif kind == "logs":
                print(f"log   {item['trace_id'] or '-':<32} {item['severity']:<6} {item['body']}")
            else:
                print(f"metric {item['name']}")
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


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 65535 (got '{raw}')")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("otel-sink", help="run a local OTLP/HTTP receiver that prints what arrives")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1; 0.0.0.0 accepts other machines, e.g. containers)")
    p.add_argument("--port", type=_port, default=4318,
                   help="TCP port, 0-65535; 0 picks a free one (default: 4318, the OTLP/HTTP port)")
    p.add_argument("--jsonl", help="also append every decoded item to this JSON-lines file")
    p.set_defaults(func=run)
