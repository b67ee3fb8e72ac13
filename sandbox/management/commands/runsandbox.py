"""`python manage.py runsandbox`: the Kite-compatible sandbox on its own origin.

Runs under the sandbox's own settings (`sandbox.settings`: manage.py picks them for this command).
Modelled on Django's runserver (without the autoreloader): runs the system checks itself, closes
the connections they opened, serves threaded, explains OS errors in one line (exit 1), and exits 0
on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import errno
import json
import signal
import socket
import sys
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer, get_internal_wsgi_application, run
from django.db import connections

from sandbox import conf

ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}


class SandboxRequestHandler(WSGIRequestHandler):
    """Errors the HTTP layer answers by itself (a request line over 64 KiB, bad syntax) come back in
    Kite's JSON envelope too, not as an HTML page."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short = self.responses.get(code, ("Error",))[0]
        text = {414: "The request URL is too long: at most 500 instruments per quote, 1000 per ohlc or ltp."}.get(
            code, message or short)
        error_type = "InputException" if 400 <= code < 500 else "GeneralException"
        body = json.dumps({"status": "error", "message": text, "data": None, "error_type": error_type}).encode()
        self.send_response(code, short)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(body)


class SandboxServer(WSGIServer):
    """Django's dev server, answering without Nagle's delay: a keep-alive client (requests.Session,
    the official client) would otherwise wait ~40 ms per call for a delayed ACK."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.RequestHandlerClass = SandboxRequestHandler

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Serve the Kite Connect v3 sandbox (paper trading) at the root of its own origin."
    requires_system_checks: list = []  # run below, as runserver does

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
        parser.add_argument("--market-always-open", action="store_true",
                            help="keep the paper market open around the clock (as KITE_SANDBOX_MARKET_ALWAYS_OPEN)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["market_always_open"]:
            conf.market_always_open_set(True)
        if not 0 <= options["port"] <= 65535:
            self.stderr.write(f"Error: {options['port']} is not a port number (0-65535).")
            sys.exit(1)
        self.check(display_num_errors=False)
        # The sandbox owns its database (KITE_SANDBOX_DATABASE_URL): bring it up to date itself, so that
        # starting it needs no other step.
        call_command("migrate", interactive=False, verbosity=0)
        for connection in connections.all(initialized_only=True):
            connection.close()
        handler = get_internal_wsgi_application()  # sandbox.wsgi, as runserver loads the app's

        signal.signal(signal.SIGTERM, _stop)
        addr, always_open = options["addr"], conf.market_always_open()

        def on_bind(port: int) -> None:
            market = "market always open" if always_open else "market hours 09:15-15:30 IST, Mon-Fri"
            limits = "on" if conf.rate_limits_enabled() else "off"
            self.stdout.write(f"Kite sandbox listening on http://{addr}:{port}/ ({market}; rate limits {limits}). "
                              "Quit with CONTROL-C.")
            self.stdout.flush()

        try:
            run(addr, options["port"], handler, ipv6=":" in addr, threading=True, on_bind=on_bind,
                server_cls=SandboxServer)
        except OSError as exc:
            self.stderr.write(f"Error: {ERRORS.get(exc.errno, exc.strerror or str(exc))}")
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(0)
        finally:
            connections.close_all()
