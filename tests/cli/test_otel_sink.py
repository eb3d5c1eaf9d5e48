"""`paved otel-sink` as a real process: bad bodies get 400, a reset connection
does not hurt it, Ctrl-C stops it cleanly."""

from __future__ import annotations

import http.client
import re
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PAVED = str(Path(sys.executable).with_name("paved"))


@pytest.fixture
def sink():
    proc = subprocess.Popen([PAVED, "otel-sink", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = proc.stdout.readline()
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)", first).group(1))
    yield proc, port
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def _post(port: int, body: bytes, headers: dict | None = None, path: str = "/v1/traces") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=body, headers={"Content-Type": "application/x-protobuf", **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def _valid_request() -> bytes:
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add()
    span.name, span.trace_id, span.span_id = "GET /ok", b"\x01" * 16, b"\x02" * 8
    span.start_time_unix_nano, span.end_time_unix_nano = 1_000_000, 3_000_000
    return req.SerializeToString()


@pytest.mark.parametrize("body,headers,expected", [
    (b"\x0a\xff\x01truncated", {}, b"not a valid ExportTraceServiceRequest"),
    (b"not gzip at all", {"Content-Encoding": "gzip"}, b"body is not valid gzip"),
    (b"{not json", {"Content-Type": "application/json"}, b"not a valid ExportTraceServiceRequest"),
])
def test_a_bad_body_gets_400_with_a_reason_and_the_sink_keeps_serving(sink, body, headers, expected):
    proc, port = sink
    status, data = _post(port, body, headers)
    assert status == 400 and expected in data
    assert _post(port, _valid_request())[0] == 200
    assert proc.poll() is None


def test_a_connection_reset_mid_request_is_survived_quietly(sink):
    proc, port = sink
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
              b"Content-Length: 100000\r\n\r\npartial")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    s.close()
    assert _post(port, _valid_request())[0] == 200
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "GET /ok" in out
    assert err == ""  # no traceback for the reset


def test_host_and_port_have_help():
    out = subprocess.run([PAVED, "otel-sink", "--help"], capture_output=True, text=True).stdout
    flat = " ".join(out.split())
    assert "--host HOST address to listen on (default: 127.0.0.1" in flat
    assert "--port PORT TCP port, 0-65535; 0 picks a free one (default: 4318" in flat
