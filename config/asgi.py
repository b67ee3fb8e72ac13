"""ASGI entry point of the web app: `make serve` (gunicorn with uvicorn workers) and `python manage.py runserver`.

A small router: `/mcp` is the remote MCP server (mcp_bridge.http: MCP streamable HTTP behind OAuth); every other
HTTP request is Django's. The router answers the ASGI lifespan itself (Django's app takes only HTTP): the MCP
session manager starts with the server and stops with it. It refuses to load on a configuration the checks
reject (config.startup).

Database connections end with their request here. Under ASGI, Django runs each request's sync view on a thread
of its own, and a connection kept for CONN_MAX_AGE stays with that thread: they piled up (82 PostgreSQL backends
after 400 requests from 8 clients to one worker; on SQLite, 94 open file descriptors). So CONN_MAX_AGE is 0 in
this process, and on PostgreSQL connections come from psycopg's pool (config/settings.py, DATABASE_POOL_SIZE).
"""
from __future__ import annotations

from typing import Any

from django.core.asgi import get_asgi_application

from config.startup import checked_application

MCP_PATHS = frozenset({"/mcp", "/mcp/"})


def _connections_end_with_their_request() -> None:
    """CONN_MAX_AGE 0 for every database, for the connections opened from now on (they read this same dict)."""
    from django.conf import settings

    for database in settings.DATABASES.values():
        database["CONN_MAX_AGE"] = 0


class Router:
    def __init__(self, django_app: Any) -> None:
        from mcp_bridge.http import RemoteMcp  # after django.setup(): it reads the models

        self.django = django_app
        self.mcp = RemoteMcp()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"] in MCP_PATHS:
            await self.mcp(scope, receive, send)
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
                await send({"type": "lifespan.shutdown.complete"})
                return


def _build() -> Router:
    django_app = get_asgi_application()  # django.setup(): the settings are read here
    _connections_end_with_their_request()
    return Router(django_app)


application = checked_application(_build)
