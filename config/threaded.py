"""Django's WSGI handler behind an ASGI server, on a fixed pool of threads: the web app's synchronous pages and
API under `make serve`, and the sandbox's Kite API under `runsandbox`.

Why not Django's ASGI handler for synchronous views: it runs each request on a new thread (asgiref's
ThreadSensitiveContext) and each `MiddlewareMixin` hook of the middleware chain as a hop to that thread, about
fifteen hops a request here. Measured on one 2-core machine, sequential GETs of `/login/` took 6.2 ms p50 that
way against 2.3 ms under gunicorn's threaded WSGI worker, with the same middleware; the sandbox's `holdings()`
10.8 ms against 5.2 ms. Here the whole request (middleware, view, response) runs in one pool thread, once.

The event loop keeps what it is good at: slow clients cost a socket, not a thread. The request's body is read
in full in the event loop before a thread is taken (at most `max_body` bytes, else 413), and the answer is
built in full in the thread before it is sent: a streaming response is joined, so endless streams (the app's
Server-Sent Events) must go to the ASGI handler instead (config.asgi routes async views there).

Pure: no settings, no models (the sandbox runs on its own settings).
"""
from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

WEB_THREADS = 16  # the web app's pool per worker process (config.asgi): requests at once; each may wait for Kite

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
# (send, status, message): answer a request refused before the application saw it (413, 414).
Refusal = Callable[[Send, int, str], Awaitable[None]]


def wsgi_environ(scope: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP request (PEP 3333: paths as latin-1 strings of their bytes)."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"], "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": (scope.get("query_string") or b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]), "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0], "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0), "wsgi.url_scheme": scope.get("scheme", "http"), "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").upper().replace("-", "_"), raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class ThreadedWsgi:
    """An ASGI application (HTTP only) that answers each request with `wsgi_app` in one of `threads` threads."""

    def __init__(self, wsgi_app: Callable[..., Any], *, threads: int, max_body: int, max_request_line: int,
                 refuse: Refusal, name: str) -> None:
        self.wsgi_app = wsgi_app
        self.max_body = max_body
        self.max_request_line = max_request_line
        self.refuse = refuse
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > self.max_request_line:
            await self.refuse(send, 414, "The request URL is too long.")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self.refuse(send, 413, "The request is too large.")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        loop = asyncio.get_running_loop()
        status, headers, body = await loop.run_in_executor(self.pool, self._call, wsgi_environ(scope, b"".join(chunks)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _call(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # Django's WSGI handler writes Set-Cookie values with a leading space (`cookie.output(header="")`),
            # which WSGI servers strip and an ASGI server's HTTP layer refuses.
            started[:] = [int(status.split(" ", 1)[0]),
                          [(k.lower().encode("latin-1"), v.strip().encode("latin-1")) for k, v in headers]]
            return lambda data: None  # the write() callable: Django never uses it

        result = self.wsgi_app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django's request_finished: connections past CONN_MAX_AGE closed
        return started[0], started[1], body

    def close(self) -> None:
        self.pool.shutdown(wait=False)
