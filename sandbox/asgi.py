"""ASGI entry point of the sandbox (`manage.py runsandbox` serves it with uvicorn).

One origin, as Kite's own hosts are two: a WebSocket upgrade is the ticker (`sandbox.ticker`,
`ws://host:port/?api_key=…&access_token=…`), anything else is Kite Connect v3 over HTTP, answered by
Django under the sandbox's own settings (`sandbox.settings`, whatever DJANGO_SETTINGS_MODULE says
for the app). A request line longer than Kite's routes need (64 KiB, the limit of the threaded
server this replaced) is answered 414 in Kite's JSON envelope.

HTTP goes to Django's WSGI handler on a fixed pool of worker threads (config.threaded), not to its ASGI
handler: the sandbox's views are all synchronous, and Django's ASGI handler runs each request on a new
thread (asgiref's ThreadSensitiveContext), which opens a new database connection per request. Measured
through the official client on this 2-core machine, `holdings()` took 10.8 ms p50 that way against
5.2 ms on the threaded server it replaced; the pool keeps each thread's connection (CONN_MAX_AGE)
and answers as fast as the old server did.
"""
from __future__ import annotations

import json
import os
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"

from config.threaded import ThreadedWsgi  # noqa: E402
from sandbox.wsgi import application as wsgi_application  # noqa: E402 - after the settings are chosen

# isort: split
from sandbox import ticker  # noqa: E402 - imports models: after django.setup()

MAX_REQUEST_LINE = 65536
MAX_BODY = 10 * 1024 * 1024
HTTP_THREADS = 32  # the threaded server it replaced had one per request; 20 parallel orders must not queue long
URL_TOO_LONG = "The request URL is too long: at most 500 instruments per quote, 1000 per ohlc or ltp."
BODY_TOO_LARGE = "The request is too large."


async def _error(send: Any, status: int, message: str) -> None:
    """A request refused before Django saw it, in Kite's JSON envelope (414: the URL; 413: the body)."""
    body = json.dumps({"status": "error", "message": URL_TOO_LONG if status == 414 else BODY_TOO_LARGE,
                       "data": None, "error_type": "InputException"}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


_http = ThreadedWsgi(wsgi_application, threads=HTTP_THREADS, max_body=MAX_BODY, max_request_line=MAX_REQUEST_LINE,
                     refuse=_error, name="sandbox-http")


async def application(scope: dict, receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "http":
        await _http(scope, receive, send)
    elif kind == "websocket":
        await ticker.ticker_application(scope, receive, send)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await ticker.hub_close()
                await send({"type": "lifespan.shutdown.complete"})
                return
