"""ASGI entry point of the web app: `make serve` (gunicorn with uvicorn workers) and `python manage.py runserver`.

A small router: `/mcp` is the remote MCP server (mcp_bridge.http: MCP streamable HTTP behind OAuth); a URL
whose view is async (the live pages' Server-Sent Events, `/kite/stream`) goes to Django's ASGI handler; every
other request, every synchronous page and API call, to Django's WSGI handler on a fixed pool of threads
(config.threaded: the whole request in one thread, as fast as gunicorn's threaded worker, where the ASGI
handler spent about 4 ms a request hopping threads). The router answers the ASGI lifespan itself: the MCP
session manager starts with the server and stops with it. It refuses to load on a configuration the checks
reject (config.startup).

Database connections: the pool's threads keep theirs (CONN_MAX_AGE; at most WEB_THREADS of them). A request
Django's ASGI handler serves runs on a new thread (asgiref's ThreadSensitiveContext), and a connection kept
there stayed with the dead thread: they piled up (82 PostgreSQL backends after 400 requests from 8 clients to
one worker, when every request went that way). So such a request's connections are closed when it finishes.
"""
from __future__ import annotations

import inspect
import json
from functools import lru_cache
from typing import Any

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished
from django.core.wsgi import get_wsgi_application
from django.db import connections
from django.urls import Resolver404, resolve

from config.startup import checked_application
from config.threaded import WEB_THREADS, ThreadedWsgi

MCP_PATHS = frozenset({"/mcp", "/mcp/"})
MAX_BODY = 10 * 1024 * 1024  # bytes of a request body read before a thread is taken; more: 413
MAX_REQUEST_LINE = 65536


def _close_request_thread_connections(**kwargs: Any) -> None:
    """At the end of a request of Django's ASGI handler, on that request's own thread: close its connections
    (CONN_MAX_AGE would keep each, with a thread that is gone). On PostgreSQL they go back to the pool."""
    for connection in connections.all(initialized_only=True):
        connection.close()


@lru_cache(maxsize=4096)
def is_async_view(path: str) -> bool:
    """Whether the URL's view is a coroutine function (it must stream, so Django's ASGI handler serves it)."""
    try:
        view = resolve(path).func
    except Resolver404:
        return False
    return inspect.iscoroutinefunction(view) or inspect.iscoroutinefunction(getattr(view, "__wrapped__", None))


async def _refuse(send: Any, status: int, message: str) -> None:
    kind = "request_too_large" if status == 413 else "url_too_long"
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class Router:
    def __init__(self, django_asgi: Any, django_wsgi: Any) -> None:
        from mcp_bridge.http import RemoteMcp  # after django.setup(): it reads the models

        self.django_asgi = django_asgi
        self.django = ThreadedWsgi(django_wsgi, threads=WEB_THREADS, max_body=MAX_BODY,
                                   max_request_line=MAX_REQUEST_LINE, refuse=_refuse, name="web-http")
        self.mcp = RemoteMcp()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] != "http":
            await self.django_asgi(scope, receive, send)  # Django's handler answers what it does not take
        elif scope["path"] in MCP_PATHS:
            await self.mcp(scope, receive, send)
        elif is_async_view(scope["path"]):
            await self.django_asgi(scope, receive, send)
        else:
            await self.django(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.mcp.start()
                except Exception as exc:  # noqa: BLE001 - reported to the server, which then refuses to start
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.mcp.stop()
                self.django.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _build() -> Router:
    django_asgi = get_asgi_application()  # django.setup(): the settings are read here
    request_finished.connect(_close_request_thread_connections, sender=ASGIHandler,
                             dispatch_uid="kite-desk-asgi-connections")
    return Router(django_asgi, get_wsgi_application())


application = checked_application(_build)
