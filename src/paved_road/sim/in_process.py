"""Calls to the simulator from inside its own process, without a socket.

botocore's `before-send` event lets a handler answer a prepared request itself (moto's own in-process
mock does this: moto/core/botocore_stubber.py). Here the handler passes the request to the simulator's
WSGI app, so a call still goes through botocore's serialiser, SimApp (the ECS deployment layer and its
checks) and moto's parser; only TCP and the HTTP server are skipped. Seeding a large world spends most of
its time there (about two thirds of it for a fleet's year of releases: bench/dora_scale.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse  # the raw body botocore reads (read, stream)
from werkzeug.test import EnvironBuilder, run_wsgi_app


def attach(client, app) -> None:
    """Answer every call `client` makes with `app` (a WSGI app) in this process."""

    def send(request, **_kwargs) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        environ = EnvironBuilder(path=url.path or "/", query_string=url.query, method=request.method,
                                 base_url=f"{url.scheme}://{url.netloc}", headers=headers,
                                 data=body or b"").get_environ()
        app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
        payload = b"".join(app_iter)
        return AWSResponse(request.url, int(status.split(" ", 1)[0]),
                           dict(headers.items()), MockRawResponse(payload))

    client.meta.events.register("before-send", send)
