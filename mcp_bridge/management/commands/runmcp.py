"""`python manage.py runmcp`: the Kite tools over MCP on stdio, for one user's accounts.

Stdout is the protocol channel, so nothing else may reach it: the command's own output goes to stderr, the
system checks run here and report to stderr, logging goes to stderr, and handle() returns None. Closing
stdin or Ctrl-C (SIGINT, SIGTERM) ends the server with exit code 0.
"""
from __future__ import annotations

import io
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db import DatabaseError, connections

SIGNAL_GRACE_SECONDS = 10.0


class Command(BaseCommand):
    help = ("Serve the Kite tools over MCP on stdio (for Claude Desktop and other MCP clients). "
            "KITE_MCP_USER picks the user, KITE_MCP_ACCOUNTS the accounts (default: all of that user's).")
    # The checks run in handle(), reporting to stderr: Django's own run could write to stdout.
    requires_system_checks: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stdout = OutputWrapper(sys.stderr)

    def execute(self, *args: Any, **options: Any) -> None:
        options["stdout"] = None  # whatever a caller passes, nothing of ours goes to stdout
        try:
            super().execute(*args, **options)
        except KeyboardInterrupt:  # Ctrl-C during start-up
            _exit_now()

    def handle(self, *args: Any, **options: Any) -> None:
        # From here on fd 1 is stderr: a stray print, a check, a C library or a child process cannot reach the
        # wire. The protocol gets its own duplicate of the real stdout.
        wire = _take_stdout()
        if not options.get("skip_checks"):
            with _without_web_only_checks():
                self.check(display_num_errors=False)
        from mcp_bridge.scope import ScopeError, mcp_scope_resolve

        try:
            self.check_migrations()
            scope = mcp_scope_resolve(username=settings.KITE_MCP_USER, accounts=settings.KITE_MCP_ACCOUNTS)
            served = scope.served_ids()
        except ScopeError as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError as exc:
            raise CommandError(f"Cannot read the database ({connections['default'].settings_dict['NAME']}): "
                               f"{exc}. Check DATABASE_URL, and run `python manage.py migrate`.") from None
        who = scope.user.get_username()
        if not served:
            self.stderr.write(f"runmcp: {who!r} has no Kite accounts yet; add one in Kite Desk (the tools answer "
                              "not_found until then).")
        self.stderr.write(f"runmcp: serving {who!r}, accounts {served or '(none yet)'}"
                          f"{'' if scope.account_ids is not None else ' (all of theirs)'}; MCP on stdio.")
        # Like runserver: the connections the checks opened are not the ones the tool calls will use.
        connections.close_all()

        from mcp_bridge.server import KiteMcp

        app = KiteMcp(scope)
        _serve(app, wire)
        app.close()
        connections.close_all()


# Checks of what only the web app serves: its URLconf (importing every view), the admin's classes and the
# templates (importing every template tag library). The web app's start-up runs them; here they cost a fifth
# of the start-up an MCP client waits for (1.30 s -> 1.05 s to `initialize`, median of 7, one machine).
WEB_ONLY_CHECKS = frozenset({"urls", "admin", "templates"})


@contextmanager
def _without_web_only_checks() -> Iterator[None]:
    """Every registered check (the project's, third parties', untagged ones) but those tagged only web-only."""
    from django.core.checks.registry import registry

    registered = registry.registered_checks
    registry.registered_checks = {check for check in registered
                                  if not (set(getattr(check, "tags", ())) and set(check.tags) <= WEB_ONLY_CHECKS)}
    try:
        yield
    finally:
        registry.registered_checks = registered


def _take_stdout() -> BinaryIO:
    """Keep the real stdout for the protocol alone, and point fd 1 (and so sys.stdout) at stderr."""
    sys.stdout.flush()
    wire = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return wire


DRAIN_SECONDS = 660.0  # after stdin closes, how long requests still running may take to answer (a confirmation)


def _serve(app: Any, wire: BinaryIO) -> None:
    import anyio
    from mcp.server.stdio import stdio_server

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_exit_on_signal, app)
            stdout = anyio.wrap_file(io.TextIOWrapper(wire, encoding="utf-8", newline="\n"))
            async with stdio_server(stdout=stdout) as (stdin_stream, stdout_stream):
                async with _Draining(stdin_stream, stdout_stream) as (read_stream, write_stream):
                    await app.server.run(read_stream, write_stream, app.server.create_initialization_options())
            tasks.cancel_scope.cancel()  # stdin closed and every request answered: the normal end

    try:
        anyio.run(main)
    except KeyboardInterrupt:  # Ctrl-C before the signal watcher was in place
        _exit_now()


class _Draining:
    """Between the stdio transport and the server. When stdin closes (a client piping requests in, then
    EOF), the server is told only once every request it was given has been answered: an order that went to
    Kite is never left without its reply. A line that is not JSON-RPC is answered -32700 (parse error)."""

    def __init__(self, stdin_stream: Any, stdout_stream: Any) -> None:
        self.stdin, self.stdout = stdin_stream, stdout_stream
        self.waiting: set[Any] = set()  # ids of requests not answered yet

    async def __aenter__(self) -> tuple[Any, Any]:
        import anyio

        self.to_server, read_stream = anyio.create_memory_object_stream(100)
        write_stream, self.from_server = anyio.create_memory_object_stream(100)
        self.answered = anyio.Event()
        self.tasks = anyio.create_task_group()
        await self.tasks.__aenter__()
        self.tasks.start_soon(self._in)
        self.tasks.start_soon(self._out)
        return read_stream, write_stream

    async def __aexit__(self, *exc: Any) -> bool | None:
        self.tasks.cancel_scope.cancel()
        try:
            return await self.tasks.__aexit__(*exc)
        finally:
            await self.stdout.aclose()  # the transport's writer ends with it

    async def _in(self) -> None:
        import anyio
        import mcp_types as types
        from mcp.shared.message import SessionMessage

        async with self.to_server:
            async for item in self.stdin:
                if isinstance(item, Exception):
                    error = types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(
                        code=types.PARSE_ERROR, message="Parse error: the line is not a JSON-RPC message."))
                    await self.stdout.send(SessionMessage(error))
                    continue
                if isinstance(item.message, types.JSONRPCRequest):
                    self.waiting.add(item.message.id)
                await self.to_server.send(item)
            with anyio.move_on_after(DRAIN_SECONDS):  # stdin closed: let what runs answer first
                while self.waiting:
                    self.answered = anyio.Event()
                    await self.answered.wait()

    async def _out(self) -> None:
        import mcp_types as types

        async with self.from_server:
            async for item in self.from_server:
                await self.stdout.send(item)
                if isinstance(item.message, (types.JSONRPCResponse, types.JSONRPCError)):
                    self.waiting.discard(item.message.id)
                    self.answered.set()


async def _exit_on_signal(app: Any) -> None:
    """Ctrl-C or SIGTERM (what an MCP client sends when closing stdin was not enough): let a tool call that is
    talking to Kite finish (bounded), then leave at once, with 0. Not a KeyboardInterrupt unwinding the loop:
    a worker thread stays blocked reading stdin, and Python would wait for it at exit."""
    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            with anyio.move_on_after(SIGNAL_GRACE_SECONDS):
                await app.idle()
            _exit_now()


def _exit_now() -> None:
    sys.stderr.flush()
    os._exit(0)
