"""MCP tests talk to `python manage.py runmcp` in a subprocess, over stdio, with the SDK's own client.

The child opens the test database itself (DATABASE_URL below), so the data must be committed: these tests use
`transactional_db`. The client runs in an event loop on a background thread (an anyio blocking portal), so the
tests stay synchronous and read the database and the sandbox directly between calls.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from django.db import connection
from kiteconnect import KiteConnect
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import stdio_client

from accounts.models import Account
from kite.services.sessions import session_create
from tests.factories import UserFactory

REPO = Path(__file__).resolve().parents[2]
CALL_TIMEOUT = 60.0  # seconds: a bounded wait for any one MCP request


def database_url() -> str:
    """The URL of the database this test runs on (the test database), for the child to open."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "") + (f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else "")
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}{port}/{s['NAME']}"


@pytest.fixture
def base_env(transactional_db) -> Callable[..., dict[str, str]]:
    """base_env(user=..., accounts=..., **more): the child's whole environment, spelled out (no sandbox)."""
    def make(*, user: str = "", accounts: str = "", **more: str) -> dict[str, str]:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": database_url(),
            # The same key as this process (config.settings_test set it), or the child cannot read credentials.
            "FIELD_ENCRYPTION_KEY": os.environ["FIELD_ENCRYPTION_KEY"],
            "KITE_RATE_LIMITS": "off",
            "APP_BASE_URL": "http://testserver",
            # Set even when empty, so a developer's .env cannot choose for the test.
            "KITE_MCP_USER": user,
            "KITE_MCP_ACCOUNTS": accounts,
        }
        return env | more
    return make


@pytest.fixture
def server_env(base_env, kite_settings) -> Callable[..., dict[str, str]]:
    """Like base_env, with both environments pointed at the running sandbox (as kite_settings does here)."""
    def make(**kwargs: str) -> dict[str, str]:
        url = kite_settings.url
        return base_env(**kwargs) | {"KITE_SANDBOX_URL": url, "KITE_API_ROOT": url,
                                     "KITE_LOGIN_URL": f"{url}/connect/login"}
    return make


@pytest.fixture
def alice(transactional_db):
    return UserFactory(username="alice")


@pytest.fixture
def paper(alice, kite_settings) -> Callable[..., Account]:
    """paper(name, trading=..., confirm=...): a sandbox account of alice's, with its own sandbox app, logged in."""
    def make(name: str = "Paper", *, trading: bool = True, confirm: bool = True, user: Any = None) -> Account:
        app = kite_settings.create_app("http://testserver/kite/callback")
        account = Account.objects.create(user=user or alice, name=name, environment="sandbox",
                                         api_key=app["api_key"], api_secret=app["api_secret"],
                                         trading_enabled=trading, confirm_orders=confirm)
        return session_create(account=account, request_token=kite_settings.login(account.api_key))
    return make


def sandbox_orders(sandbox: Any, account: Account) -> list[dict[str, Any]]:
    """The sandbox's own order book for the account, read with the official client, not through the app."""
    account.refresh_from_db()
    return KiteConnect(api_key=account.api_key, access_token=account.access_token, root=sandbox.url).orders()


# --- A synchronous face on the SDK's stdio client ---------------------------------------------------------

@dataclass
class Elicitations:
    """An elicitation callback that answers from a script and records what the human was shown."""

    answer: types.ElicitResult | None = None
    asked: list[types.ElicitRequestParams] = field(default_factory=list)

    async def __call__(self, context: ClientRequestContext, params: types.ElicitRequestParams
                       ) -> types.ElicitResult | types.ErrorData:
        self.asked.append(params)
        if self.answer is None:
            return types.ErrorData(code=types.INVALID_REQUEST, message="this test never expected to be asked")
        return self.answer


def accept(confirm: bool = True) -> Elicitations:
    return Elicitations(types.ElicitResult(action="accept", content={"confirm": confirm}))


@dataclass
class McpSession:
    portal: BlockingPortal
    session: ClientSession

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> types.CallToolResult:
        return self.portal.call(
            lambda: self.session.call_tool(name, arguments or {}, read_timeout_seconds=CALL_TIMEOUT))

    def gather(self, calls: list[tuple[str, dict[str, Any]]]) -> list[types.CallToolResult]:
        """All the calls at once, as concurrent requests on the one session."""
        async def run() -> list[types.CallToolResult]:
            results: list[Any] = [None] * len(calls)

            async def one(index: int, name: str, arguments: dict[str, Any]) -> None:
                results[index] = await self.session.call_tool(name, arguments, read_timeout_seconds=CALL_TIMEOUT)
            async with anyio.create_task_group() as tasks:
                for index, (name, arguments) in enumerate(calls):
                    tasks.start_soon(one, index, name, arguments)
            return results
        return self.portal.call(run)

    def ok(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        result = self.call(name, arguments)
        assert not result.is_error, result.content
        return result.structured_content

    def error(self, name: str, arguments: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """(text, structured error) of a call that must fail as a tool error."""
        result = self.call(name, arguments)
        assert result.is_error, result.structured_content
        return result.content[0].text, result.structured_content["error"]

    def tools(self) -> dict[str, types.Tool]:
        return {t.name: t for t in self.portal.call(self.session.list_tools).tools}


@asynccontextmanager
async def _session(params: StdioServerParameters, elicitation: Elicitations | None, errlog: Any):
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write, elicitation_callback=elicitation,
                                 read_timeout_seconds=CALL_TIMEOUT) as session:
            await session.initialize()
            yield session


def server_parameters(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["manage.py", "runmcp"], cwd=str(REPO), env=env)


@pytest.fixture
def mcp(tmp_path) -> Callable[..., Any]:
    """with mcp(env, elicitation=...) as session: a runmcp child and an initialized ClientSession on it."""
    @contextmanager
    def open_session(env: dict[str, str], *, elicitation: Elicitations | None = None) -> Iterator[McpSession]:
        with open(tmp_path / "runmcp.stderr", "a") as errlog, start_blocking_portal() as portal:
            with portal.wrap_async_context_manager(_session(server_parameters(env), elicitation, errlog)) as session:
                yield McpSession(portal, session)
    return open_session


@pytest.fixture
def server_stderr(tmp_path) -> Callable[[], str]:
    return lambda: (tmp_path / "runmcp.stderr").read_text() if (tmp_path / "runmcp.stderr").exists() else ""


# --- Raw processes, for what the SDK's client hides (stdout bytes, exit codes) -----------------------------

def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "manage.py", "runmcp"], cwd=REPO, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_line(process: subprocess.Popen[bytes], timeout: float = CALL_TIMEOUT) -> bytes:
    """One line of the child's stdout, waiting at most `timeout` seconds for it."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"no line on stdout within {timeout} s"
    return process.stdout.readline()


# --- The app's remote MCP (/mcp) -------------------------------------------------------------------------

@pytest.fixture
def no_proxy(monkeypatch) -> None:
    """Requests to the servers on 127.0.0.1 go straight there, whatever proxy the environment names."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def app_server(server_env, tmp_path, no_proxy) -> Iterator[Any]:
    """The app (runserver: ASGI under uvicorn) on a free port, on the test database, pointed at the sandbox."""
    from tests.mcp_bridge.remote import app_server_running

    with app_server_running(server_env, tmp_path / "app.log") as server:
        yield server
