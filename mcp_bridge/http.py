"""`/mcp`: the tool registry over MCP streamable HTTP, for the user whose OAuth bearer token comes with each request.

The SDK's `StreamableHTTPSessionManager` speaks both protocol eras on the one URL: the 2025-11-25 revision (the
`initialize` handshake) and the 2026-07-28 one (a confirmation is an input-required round trip), both served
statelessly: no `Mcp-Session-Id`, every POST stands alone, so any worker process answers any request. Every
request is authenticated here before the SDK sees it: a revoked or expired token is a 401 on its next request.

One low-level `Server` serves everybody. Each handler finds the request's principal (the token's user and
scopes) and hands the call to that user's `KiteMcp` (mcp_bridge.server): the same tools, confirmations,
approvals and audit as `runmcp`, for all of the user's accounts. The Kite session belongs to the (user, account)
pair in the database, never to an MCP session: a new client, a reconnect or a second device see the account
connected as it is.

Scopes: read tools, resources and prompts need `kite:read`; write tools need `kite:trade`, and then still the
account's trading switch and the human's confirmation or approval, exactly as over stdio. A write without
`kite:trade` is refused before anything is read from Kite, and audited.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http.request import split_domain_port, validate_host
from mcp import types
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.authentication import AuthCredentials
from starlette.types import Receive, Scope, Send

from kite.errors import InsufficientScope, ServiceError
from kite.tools import TOOLS
from mcp_bridge.remote.selectors import (
    READ_SCOPE,
    TRADE_SCOPE,
    Principal,
    bearer_principal,
    mcp_resource_url,
    resource_metadata_url,
)
from mcp_bridge.scope import McpScope
from mcp_bridge.server import INSTRUCTIONS, PATH, SERVER_NAME, KiteMcp, in_thread, request_state_boundary, tool_error

log = logging.getLogger(__name__)
PRINCIPAL_KEY = "kite_desk.principal"  # where the ASGI scope carries the request's Principal


class RemoteMcp:
    """The ASGI app of `/mcp` (config.asgi routes it)."""

    def __init__(self) -> None:
        self._kites: dict[tuple[int, str], KiteMcp] = {}  # (user id, username): that user's server
        # Token checks touch the database: a fixed few threads of their own, never the event loop.
        self._auth_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mcp-auth")
        self.server: Server[Any] = Server(
            SERVER_NAME, version="0.1.0", title="Kite Desk", instructions=INSTRUCTIONS,
            on_list_tools=self._on_list_tools, on_call_tool=self._on_call_tool,
            on_list_resources=self._on_list_resources, on_list_resource_templates=self._on_list_resource_templates,
            on_read_resource=self._on_read_resource, on_list_prompts=self._on_list_prompts,
            on_get_prompt=self._on_get_prompt,
        )
        # A confirmation's requestState is sealed for this URL and the (user, OAuth client) that was asked: only
        # that client of that user can answer it, through any worker process.
        self.server.middleware.append(request_state_boundary(audience=mcp_resource_url(), principal=_principal_of))
        # Stateless: every request stands alone, so any worker process of `make serve` can answer any request
        # (gunicorn does not route a session back to the worker that opened it). A 2025-11-25 client still
        # initializes, but the server cannot ask it anything mid-call: its orders wait for the human's Approve
        # in the web app (CONTRACT section 8). A 2026-07-28 client confirms by the input-required round trip.
        self.manager = StreamableHTTPSessionManager(self.server, stateless=True)
        self._ready: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None

    # --- lifecycle: the session manager's task group lives as long as the server ------------------------

    async def start(self) -> None:
        """Start the session manager (at the ASGI lifespan's startup, or on the first request without one)."""
        if self._ready is None:
            self._ready, self._stop = asyncio.Event(), asyncio.Event()
            self._runner = asyncio.get_running_loop().create_task(self._run(), name="mcp-session-manager")
        await self._ready.wait()

    async def _run(self) -> None:
        assert self._ready is not None and self._stop is not None
        async with self.manager.run():
            self._ready.set()
            await self._stop.wait()

    async def stop(self) -> None:
        if self._stop is not None and self._runner is not None:
            self._stop.set()
            await self._runner
        for kite in self._kites.values():
            await asyncio.get_running_loop().run_in_executor(None, kite.close)
        self._auth_pool.shutdown(wait=False)

    # --- HTTP -----------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _host_allowed(scope):
            await _json(send, 400, {"error": "invalid_request", "error_description": "Host not allowed."})
            return
        token = _bearer(scope)
        principal = None
        if token:
            try:
                principal = await asyncio.get_running_loop().run_in_executor(
                    self._auth_pool, functools.partial(in_thread, bearer_principal, raw_token=token))
            except DatabaseError:  # the database is down or busy: say so, never a bare 500
                log.exception("/mcp could not check a token")
                await _json(send, 503, {"error": "temporarily_unavailable", "error_description": "The database "
                            "did not answer; nothing was done. Try again shortly."}, [(b"retry-after", b"5")])
                return
        if principal is None:
            await _unauthorized(send, presented=token is not None)
            return
        await self.start()
        user = AuthenticatedUser(AccessToken(
            token="", client_id=principal.client_id, scopes=sorted(principal.scopes), expires_at=principal.expires_at,
            subject=str(principal.user_id), claims={"iss": settings.APP_BASE_URL}))
        scope = {**scope, "user": user, "auth": AuthCredentials(sorted(principal.scopes)), PRINCIPAL_KEY: principal}
        await self.manager.handle_request(scope, receive, send)

    # --- MCP handlers: the principal's KiteMcp, behind the scope checks -----------------------------------

    async def _kite(self, ctx: ServerRequestContext[Any]) -> tuple[Principal, KiteMcp]:
        request = ctx.request
        principal = request.scope.get(PRINCIPAL_KEY) if request is not None else None
        if not isinstance(principal, Principal):  # every request is authenticated in __call__
            raise MCPError(code=types.INVALID_REQUEST, message="Not authenticated.")
        key = (principal.user_id, principal.username)
        kite = self._kites.get(key)
        if kite is None:
            user = await asyncio.get_running_loop().run_in_executor(
                self._auth_pool, functools.partial(in_thread, _user, principal.user_id))
            kite = self._kites.setdefault(key, KiteMcp(McpScope(user=user)))
        return principal, kite

    async def _on_list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                             ) -> types.ListToolsResult:
        principal, kite = await self._kite(ctx)
        listed = await kite.list_tools(ctx, params)
        allowed = [tool for tool in listed.tools if _needed(tool.name) in principal.scopes]
        return types.ListToolsResult(tools=allowed)

    async def _on_call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                            ) -> types.CallToolResult | types.InputRequiredResult:
        principal, kite = await self._kite(ctx)
        tool = TOOLS.get(params.name)
        if tool is not None and _needed(tool.name) not in principal.scopes:
            needed = _needed(tool.name)
            error = InsufficientScope(
                f"This connection was not granted {needed}, so {tool.name} was refused and nothing was read or sent. "
                f"The user can reconnect the app and allow {'proposing orders' if needed == TRADE_SCOPE else 'reading'}"
                " on Kite Desk's consent page.")
            if tool.write:
                await kite.in_db_thread(_audit_refusal, kite.scope, tool.name, dict(params.arguments or {}), error)
            return tool_error(error)
        return await kite.call_tool(ctx, params)

    async def _require_read(self, ctx: ServerRequestContext[Any]) -> KiteMcp:
        principal, kite = await self._kite(ctx)
        if READ_SCOPE not in principal.scopes:
            raise MCPError(code=types.INVALID_REQUEST, message=f"This connection was not granted {READ_SCOPE}.")
        return kite

    async def _on_list_resources(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                                 ) -> types.ListResourcesResult:
        return await (await self._require_read(ctx)).list_resources(ctx, params)

    async def _on_list_resource_templates(self, ctx: ServerRequestContext[Any],
                                          params: types.PaginatedRequestParams | None
                                          ) -> types.ListResourceTemplatesResult:
        return await (await self._require_read(ctx)).list_resource_templates(ctx, params)

    async def _on_read_resource(self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
                                ) -> types.ReadResourceResult:
        return await (await self._require_read(ctx)).read_resource(ctx, params)

    async def _on_list_prompts(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                               ) -> types.ListPromptsResult:
        return await (await self._require_read(ctx)).list_prompts(ctx, params)

    async def _on_get_prompt(self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
                             ) -> types.GetPromptResult:
        return await (await self._require_read(ctx)).get_prompt(ctx, params)


def _principal_of(ctx: ServerRequestContext[Any]) -> str | None:
    principal = ctx.request.scope.get(PRINCIPAL_KEY) if ctx.request is not None else None
    return f"user:{principal.user_id} client:{principal.client_id}" if isinstance(principal, Principal) else None


def _needed(tool_name: str) -> str:
    tool = TOOLS.get(tool_name)
    return READ_SCOPE if tool is None or tool.read_only else TRADE_SCOPE


def _user(user_id: int) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model()._default_manager.get(pk=user_id)


def _audit_refusal(scope: McpScope, tool_name: str, arguments: dict[str, Any], error: ServiceError) -> None:
    """The audit row of a write refused for its scope: an order action like any other (no Kite call, no summary)."""
    from accounts.models import Account
    from kite.models import OrderAudit

    account_id = arguments.get("account_id")
    account = (Account.objects.filter(user=scope.user, pk=account_id).only("id", "name").first()
               if isinstance(account_id, int) and not isinstance(account_id, bool) else None)
    OrderAudit.objects.create(
        user=scope.user, username=scope.user.get_username(), path=PATH, account=account,
        account_name=account.name if account else "", tool=tool_name,
        arguments=json.loads(json.dumps(arguments, default=str)), outcome=OrderAudit.Outcome.REFUSED,
        error_type=error.type, message=error.message)


def _bearer(scope: Scope) -> str | None:
    """The bearer token of the Authorization header; "" for another scheme or an empty one; None without one."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


def _host_allowed(scope: Scope) -> bool:
    """Django's ALLOWED_HOSTS, as for every other page (the SDK's own check is off: it knows nothing of them)."""
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return bool(domain) and validate_host(domain, allowed)


async def _unauthorized(send: Send, *, presented: bool) -> None:
    """RFC 6750 section 3 with RFC 9728 section 5.1: where to find out how to get a token. No error code when no
    token was presented (RFC 6750 section 3.1)."""
    challenge = f'Bearer resource_metadata="{resource_metadata_url()}"'
    body = {"error": "unauthorized", "error_description": "Authorization needed: connect with OAuth (see the "
            "WWW-Authenticate header)."}
    if presented:
        challenge = ('Bearer error="invalid_token", error_description="The access token is invalid, expired or '
                     f'revoked.", resource_metadata="{resource_metadata_url()}"')
        body = {"error": "invalid_token", "error_description": "The access token is invalid, expired or revoked."}
    await _json(send, 401, body, [(b"www-authenticate", challenge.encode())])


async def _json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
                ) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})
