"""`python manage.py runserver`: Django's development server, serving the ASGI app (config.asgi) through uvicorn,
so that `/mcp` (MCP streamable HTTP) and the pages' event streams work under it as under `make serve`.

Everything else is Django's own runserver: the same options, the autoreloader, the system checks and the
migrations warning, the start-up lines, the OS errors as messages, static files under DEBUG (unless
--nostatic), exit 0 on Ctrl-C. (daphne's runserver would do this too, but daphne 4 needs a newer autobahn than
kiteconnect pins.) --nothreading has no meaning here: one event loop serves every request, and Django runs
each sync view in a thread of its own.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.db import connections
from django.utils import autoreload

from config.logfilters import RedactSecrets

ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}


class Command(StaticfilesRunserver):
    help = "Starts the development web server (the ASGI app under uvicorn: pages, API and /mcp)."

    def get_asgi_application(self, **options: Any) -> Any:
        from config.asgi import application

        if options.get("use_static_handler", True) and (settings.DEBUG or options.get("insecure_serving")):
            from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

            return ASGIStaticFilesHandler(application)
        return application

    def inner_run(self, *args: Any, **options: Any) -> None:
        autoreload.raise_last_exception()
        shutdown_message = options.get("shutdown_message", "")
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            check_kwargs = super(StaticfilesRunserver, self).get_check_kwargs(options)
            check_kwargs["display_num_errors"] = True
            self.check(**check_kwargs)
        self.check_migrations()
        for conn in connections.all(initialized_only=True):
            conn.close()
        try:
            sock = _bind(self.addr, int(self.port), ipv6=self.use_ipv6)
        except OSError as e:
            self.stderr.write(f"Error: {ERRORS.get(e.errno, e)}")
            os._exit(1)  # as Django's: sys.exit does not work in the reloader's thread
        try:
            app = self.get_asgi_application(**options)
            self.on_bind(sock.getsockname()[1])
            _serve(app, sock)
        except KeyboardInterrupt:
            if shutdown_message:
                self.stdout.write(shutdown_message)
            sys.exit(0)


def _bind(addr: str, port: int, *, ipv6: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((addr, port))
    sock.set_inheritable(True)
    return sock


def _serve(app: Any, sock: socket.socket) -> None:
    import uvicorn

    # Request lines as Django's server writes them ("django.server": [date] "GET / HTTP/1.1" 200), with
    # secrets in query strings redacted; uvicorn's own start-up chatter stays quiet (the lines above say it).
    config = uvicorn.Config(app, lifespan="on", log_config=None, access_log=True, server_header=False,
                            proxy_headers=False, ws="none", timeout_graceful_shutdown=5)
    access = logging.getLogger("uvicorn.access")
    access.addFilter(RedactSecrets())
    if not access.handlers and not logging.getLogger("uvicorn").handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%d/%b/%Y %H:%M:%S"))
        handler.addFilter(RedactSecrets())
        access.addHandler(handler)
        access.propagate = False
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if server.should_exit and not server.started:
        raise SystemExit(1)
