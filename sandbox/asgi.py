"""ASGI entry point of the sandbox (`manage.py runsandbox` serves it with uvicorn).

One origin, as Kite's own hosts are two: a WebSocket upgrade is the ticker (`sandbox.ticker`,
`ws://host:port/?api_key=…&access_token=…`), anything else is Kite Connect v3 over HTTP, answered by
Django under the sandbox's own settings (`sandbox.settings`, whatever DJANGO_SETTINGS_MODULE says
for the app). A request line longer than Kite's routes need (64 KiB, the limit of the threaded
server this replaced) is answered 414 in Kite's JSON envelope.

HTTP goes to Django's WSGI handler on a fixed pool of worker threads, not to its ASGI handler: the
sandbox's views are all synchronous, and Django's ASGI handler runs each request on a new thread
(asgiref's ThreadSensitiveContext), which opens a new database connection per request. Measured
through the official client on this 2-core machine, `holdings()` took 10.8 ms p50 that way against
5.2 ms on the threaded server it replaced; the pool keeps each thread's connection (CONN_MAX_AGE)
and answers as fast as the old server did.
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"

from sandbox.wsgi import application as wsgi_application  # noqa: E402 - after the settings are chosen

# isort: split
from sandbox import ticker  # noqa: E402 - imports models: after django.setup()

MAX_REQUEST_LINE = 65536
MAX_BODY = 10 * 1024 * 1024
HTTP_THREADS = 32  # the threaded server it replaced had one per request; 20 parallel orders must not queue long
URL_TOO_LONG = "The request URL is too long: at most 500 instruments per quote, 1000 per ohlc or ltp."
BODY_TOO_LARGE = "The request is too large."
_pool = ThreadPoolExecutor(max_workers=HTTP_THREADS, thread_name_prefix="sandbox-http")


def _environ(scope: dict, body: bytes) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP request (PEP 3333: paths as latin-1 strings of their bytes)."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"], "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": (scope.get("query_string") or b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0], "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0), "wsgi.url_scheme": scope.get("scheme", "http"), "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").upper().replace("-", "_"), raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _call_wsgi(environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [int(status.split(" ", 1)[0]),
                      [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]]
        return lambda data: None  # the write() callable: Django never uses it

    result = wsgi_application(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()  # Django's request_finished: old connections closed, persistent ones kept
    return started[0], started[1], body


async def _error(send: Any, status: int, message: str) -> None:
    body = json.dumps({"status": "error", "message": message, "data": None,
                       "error_type": "InputException"}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def _http(scope: dict, receive: Any, send: Any) -> None:
    if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > MAX_REQUEST_LINE:
        await _error(send, 414, URL_TOO_LONG)
        return
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            await _error(send, 413, BODY_TOO_LARGE)
            return
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    loop = asyncio.get_running_loop()
    status, headers, body = await loop.run_in_executor(_pool, _call_wsgi, _environ(scope, b"".join(chunks)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
