"""Bounds shared by paved's local HTTP servers (`paved otel-sink`, `paved sim`), docs/security.md.

Anything that can reach their port can send to them: at most MAX_CONNECTIONS connections are
served at once (one more is closed at once), and a connection that sends nothing for
IDLE_TIMEOUT seconds is closed (the handler's socket timeout).
"""

from __future__ import annotations

import threading

IDLE_TIMEOUT = 10.0  # seconds a connection may send nothing
MAX_CONNECTIONS = 64


class BoundedThreads:
    """A mixin for a socketserver.ThreadingMixIn server: one thread per connection, at most
    MAX_CONNECTIONS of them."""

    request_queue_size = 128  # listen backlog (socketserver's 5 made a burst of clients wait on SYN retries)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
