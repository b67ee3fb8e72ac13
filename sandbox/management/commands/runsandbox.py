"""`python manage.py runsandbox`: the Kite-compatible sandbox on its own origin.

Runs under the sandbox's own settings (`sandbox.settings`: manage.py picks them for this command).
Modelled on Django's runserver (without the autoreloader): runs the system checks itself, migrates
the sandbox's own database, closes the connections that opened, binds the port (an OS error is one
line, exit 1, and no banner), prints the banner, then serves `sandbox.asgi` with uvicorn: Kite
Connect v3 over HTTP (Django's ASGI handler, each request on a thread of its own) and the ticker
(WebSocket) on the same origin. Exits 0 on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import errno
import json
import logging
import signal
import socket
import sys
from typing import Any

import h11
import uvicorn
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections
from uvicorn.protocols.http.h11_impl import H11Protocol

from sandbox import conf

ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}
# How long open connections (tickers, keep-alive clients) get to finish on Ctrl-C / SIGTERM.
SHUTDOWN_SECONDS = 3


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class KiteH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1, answering a request it cannot read in Kite's JSON envelope rather than plain
    text: a request head over the 4 MiB h11 reads is 414 (as one over 64 KiB, `sandbox.asgi`), any
    other malformed request 400."""

    def send_400_response(self, msg: str) -> None:
        from sandbox.asgi import MAX_REQUEST_LINE, URL_TOO_LONG  # it loads Django: not at import time

        unread = len(self.conn.trailing_data[0])  # what h11 holds: over its limit when the head was too long
        status, text = (414, URL_TOO_LONG) if unread > MAX_REQUEST_LINE else (400, "Bad request.")
        body = json.dumps({"status": "error", "message": text, "data": None,
                           "error_type": "InputException"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        reason = b"URI Too Long" if status == 414 else b"Bad Request"
        for event in (h11.Response(status_code=status, headers=headers, reason=reason), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class _RefusedUpgrades(logging.Filter):
    """uvicorn's sans-I/O WebSocket protocol logs an error after every upgrade the application refuses
    with an HTTP answer (the ticker's 403 and 429), though it sent that answer: not an error here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def listening_socket(addr: str, port: int) -> socket.socket:
    """A bound, listening TCP socket (OSError when the port is busy, forbidden or the address foreign)."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without it a
    # keep-alive client (the official client) waits ~40 ms per answer for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver: TIME_WAIT is no obstacle
        sock.bind((addr.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class Command(BaseCommand):
    help = "Serve the Kite Connect v3 sandbox (paper trading, and its ticker) at the root of its own origin."
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
        addr = options["addr"]
        try:
            sock = listening_socket(addr, options["port"])
        except OSError as exc:
            self.stderr.write(f"Error: {ERRORS.get(exc.errno, exc.strerror or str(exc))}")
            sys.exit(1)

        from sandbox.asgi import application

        # uvicorn restores these after its graceful shutdown and raises the signal again: ours ends
        # the process with 0 (SIGINT's default handler raises KeyboardInterrupt too).
        signal.signal(signal.SIGTERM, _stop)
        uvicorn_log = logging.getLogger("uvicorn.error")
        uvicorn_log.setLevel(logging.WARNING)  # the banner below says it all
        uvicorn_log.addFilter(_RefusedUpgrades())
        config = uvicorn.Config(
            application, http=KiteH11Protocol, ws="websockets-sansio", lifespan="on", log_config=None,
            access_log=True, server_header=False, date_header=True, timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            # Kite's quote routes take 500 (ltp/ohlc 1000) instruments in the query string: h11 reads a
            # request head of up to 4 MiB (httptools refuses ~64 KiB with a plain-text 400), and
            # sandbox.asgi answers one over 64 KiB with 414 in Kite's envelope, as the old server did.
            h11_max_incomplete_event_size=4 * 1024 * 1024)
        server = uvicorn.Server(config)
        port = sock.getsockname()[1]
        market = "market always open" if conf.market_always_open() else "market hours 09:15-15:30 IST, Mon-Fri"
        limits = "on" if conf.rate_limits_enabled() else "off"
        host = f"[{addr}]" if ":" in addr else addr
        self.stdout.write(f"Kite sandbox listening on http://{host}:{port}/ (ticker ws://{host}:{port}/; {market}; "
                          f"rate limits {limits}). Quit with CONTROL-C.")
        self.stdout.flush()
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            sys.exit(0)
        finally:
            sock.close()
            connections.close_all()
        if not server.started:
            sys.exit(1)
