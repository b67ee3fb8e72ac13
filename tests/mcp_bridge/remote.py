"""Helpers of the remote MCP tests (`/mcp` over streamable HTTP): the app as `manage.py runserver` (our
override: the ASGI app under uvicorn) in a subprocess on a free port, tokens minted directly in the table the
server reads, and the SDK's streamable HTTP client driven from a synchronous test."""
from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import requests
from anyio.from_thread import start_blocking_portal
from django.utils import timezone
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from oauth2_provider.models import AccessToken, Application, set_token_value

from tests.fixtures.sandbox import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
CALL_TIMEOUT = 60.0


@dataclass
class AppServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"

    def log_tail(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""


@contextmanager
def app_server_running(env_for: Callable[..., dict[str, str]], log: Path, *, base_url: str | None = None
                       ) -> Iterator[AppServer]:
    """`manage.py runserver --noreload --insecure` (static files with DEBUG off) on a free port. APP_BASE_URL is
    `base_url` when given (several servers behind one public URL, as `make serve`'s workers are), else its own."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = env_for(APP_BASE_URL=base_url or url, ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="INFO")
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", "--insecure",
                                    f"127.0.0.1:{port}"],
                                   cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = AppServer(url=url, process=process, log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"the app server exited:\n{server.log_tail()}"
            assert time.monotonic() < deadline, f"the app server did not start:\n{server.log_tail()}"
            try:
                if requests.get(f"{url}/.well-known/oauth-authorization-server", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def mint_token(user: Any, *, scope: str = "kite:read kite:trade", expires_in: float = 3600,
               resource: str | None = None) -> str:
    """An OAuth access token made directly (the same table and checksum the server reads), for a new client."""
    app = Application.objects.create(name=f"minted for {user.username}", client_type="public",
                                     authorization_grant_type="authorization-code",
                                     redirect_uris="http://127.0.0.1:9/callback")
    raw = secrets.token_urlsafe(30)
    token = AccessToken(user=user, application=app, scope=scope, expires=timezone.now() + timedelta(seconds=expires_in),
                        resource=[resource] if resource else [])
    set_token_value(token, raw)
    token.save()
    return raw


class Bearer(httpx2.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx2.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def run_with(server: AppServer, token: str, mode: str, work: Callable[[Client], Any], **client: Any) -> Any:
    """Connect the SDK's Client to the server's /mcp with a bearer token and run `await work(client)`."""
    async def go() -> Any:
        async with httpx2.AsyncClient(auth=Bearer(token), timeout=CALL_TIMEOUT) as http:
            transport = streamable_http_client(server.mcp, http_client=http)
            async with Client(transport, mode=mode, read_timeout_seconds=CALL_TIMEOUT, **client) as session:
                return await work(session)
    with start_blocking_portal() as portal:
        return portal.call(go)
