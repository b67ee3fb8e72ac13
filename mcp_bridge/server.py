"""The MCP server: the one tool registry (kite.tools.TOOLS) served over MCP. No tool is defined here.

Built on the SDK's low-level `Server`, not `MCPServer`: `MCPServer` derives each tool's schema from a Python
signature, while here the registry already holds the name, title, description and JSON schema, and the Kite
service validates the arguments. So every MCP tool is a registry tool, mapped 1:1.

Threads: the ORM and the Kite client are synchronous. Every piece of Django work runs in one of a few
threads of its own (`in_db_thread`), with `close_old_connections()` before and after, never in the event
loop; so the process keeps at most DB_THREADS database connections however long it runs. An order is
prepare (thread) -> ask the human (event loop) -> run (thread).

Confirmation of orders, in both protocol eras:
- up to 2025-11-25 (the `initialize` handshake, what MCP clients speak today): the server sends
  `elicitation/create` to the client in the middle of the call and waits for the answer;
- 2026-07-28 (no server-to-client requests): the call answers `InputRequiredResult` carrying the same form,
  and the client retries with the answer. The question is a row in the database (mcp_bridge.models.
  PendingConfirmation: any worker process, or a restarted `runmcp`, finishes it), named by a single-use token
  and bound to a fingerprint of the exact order shown, so an answer counts once and only for that order. On the
  wire the token is sealed by the SDK's request-state boundary (AES-GCM under a key derived from SECRET_KEY,
  bound to the tool, its arguments, the caller and an expiry): a forged, altered or foreign state is refused
  before any handler runs.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio
from django.conf import settings
from django.db import close_old_connections
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.request_state import AESGCMRequestStateCodec, RequestStateBoundary, RequestStateSecurity
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from kite.errors import (
    ConfirmationAbandoned,
    ConfirmationFailed,
    ConfirmationTimeout,
    InternalError,
    InvalidInput,
    NotConfirmed,
    NotFound,
    OrderCancelled,
    OrderDeclined,
    ServiceError,
    UnknownTool,
)
from kite.tools import TOOLS, Tool
from mcp_bridge import confirm, resources
from mcp_bridge.scope import McpScope

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVER_NAME = "kite-desk"
PATH = "mcp"  # OrderAudit.Path.MCP
CONFIRM_KEY = "confirm_order"  # the input request's key in the 2026-07-28 round trip
CONFIRM_TIMEOUT_SECONDS = 600.0  # how long a confirmation may wait for the human
URL_OPEN_TIMEOUT_SECONDS = 30.0  # how long to wait for a client to answer "open the approval page"
PENDING_TTL_SECONDS = 900.0  # how long a 2026-07-28 confirmation token stays valid
STDIO_AUDIENCE = "kite-desk/runmcp"  # the request-state audience of `runmcp` (/mcp uses its own URL)
DB_THREADS = 4  # Django's threads: at most this many tool calls touch the database (and Kite) at once

INSTRUCTIONS = (
    "Kite Desk: the user's Zerodha Kite accounts (or paper-trading sandbox accounts). Start with list_accounts "
    "to see the accounts this server may use and whether each is connected. A tool that answers session_expired "
    "needs a fresh Kite login: call `login` and give the user the URL. Orders (place_order, modify_order, "
    "cancel_order) need trading enabled on the account, and the user confirms each one before anything is sent: in "
    "the client when it can ask, else on the web app's approval page (the tool answers awaiting_approval with "
    "approve_url; get_approval tells the outcome). A declined order was not sent - do not retry it unless asked. "
    "preview_order shows an order's value, margin, charges and guardrails without placing it."
)


def _tool_annotations(tool: Tool) -> types.ToolAnnotations:
    if tool.read_only:
        return types.ToolAnnotations(title=tool.title, read_only_hint=True, idempotent_hint=tool.idempotent,
                                     open_world_hint=tool.reaches_kite)
    return types.ToolAnnotations(title=tool.title, read_only_hint=False, destructive_hint=True,
                                 idempotent_hint=False, open_world_hint=tool.reaches_kite)


def _schema_for(schema: dict[str, Any], served: list[int]) -> dict[str, Any]:
    """The registry's schema; with one served account, `account_id` becomes optional (that account)."""
    schema = json.loads(json.dumps(schema))  # a deep copy: the registry's schema is shared
    if len(served) == 1 and "account_id" in schema.get("properties", {}):
        schema["required"] = [name for name in schema.get("required", []) if name != "account_id"]
        if not schema["required"]:
            del schema["required"]
        schema["properties"]["account_id"] = {
            **schema["properties"]["account_id"],
            "description": f"Optional: this server serves one account (id {served[0]}), used when omitted.",
        }
    return schema


def _ok(data: Any) -> types.CallToolResult:
    """Success: what Kite returned, as structured content (an object) and as JSON text for older clients."""
    structured = data if isinstance(data, dict) else {"result": data}
    text = json.dumps(data, ensure_ascii=False, default=str)
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=structured)


def tool_error(error: ServiceError) -> types.CallToolResult:
    """A tool error the model can read and act on: `isError`, the type and the message, the fields if any."""
    body = error.body()
    text = f"{error.type}: {error.message}"
    if error.fields:
        others = [f"{name}: {'; '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                  for name, msgs in error.fields.items()]
        if len(others) > 1:
            text += " All problems: " + " | ".join(others)
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                structured_content={"error": body}, is_error=True)


def _can_ask(capabilities: types.ClientCapabilities | None) -> bool:
    """Form elicitation declared: `elicitation.form`, or a bare `elicitation: {}` (the pre-modes spelling)."""
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


class _SecretKeyCodec:
    """The SDK's AES-GCM codec under keys derived from SECRET_KEY (and SECRET_KEY_FALLBACKS, so that rotating it
    keeps open questions answerable for their TTL): every process of the app derives the same. Built on first
    use, so that importing the server never reads settings the start-up checks have not yet passed."""

    @functools.cached_property
    def _codec(self) -> AESGCMRequestStateCodec:
        secrets_ = dict.fromkeys([settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS])
        return AESGCMRequestStateCodec([hmac.new(secret.encode(), b"kite-desk/mcp-request-state/v1",
                                                 hashlib.sha256).digest() for secret in secrets_ if secret])

    def seal(self, payload: bytes) -> str:
        return self._codec.seal(payload)

    def unseal(self, token: str) -> bytes:
        return self._codec.unseal(token)


def request_state_boundary(*, audience: str, principal: Callable[[ServerRequestContext[Any]], str | None]
                           ) -> RequestStateBoundary:
    """The SDK's sealing of `requestState` (bound to the call, the caller and an expiry), for this app."""
    security = RequestStateSecurity(codec=_SecretKeyCodec(), ttl=PENDING_TTL_SECONDS, bind_principal=principal)
    return RequestStateBoundary(security, default_audience=audience)


class KiteMcp:
    """One MCP server for one scope (a user and the accounts it may use)."""

    def __init__(self, scope: McpScope) -> None:
        self.scope = scope
        # Django's own threads: a fixed few, so the database connections they keep (CONN_MAX_AGE) are a fixed
        # few too. anyio's shared pool would spread calls over any number of threads, each with a connection.
        self._executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="kite-mcp-db")
        self._busy = 0
        self.server: Server[Any] = Server(
            SERVER_NAME, version="0.1.0", title="Kite Desk", instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools, on_call_tool=self.call_tool,
            on_list_resources=self.list_resources, on_list_resource_templates=self.list_resource_templates,
            on_read_resource=self.read_resource,
            on_list_prompts=self.list_prompts, on_get_prompt=self.get_prompt,
        )
        # One user per process: a state minted here is answerable only by this user (any `runmcp` of theirs).
        self.server.middleware.append(request_state_boundary(
            audience=STDIO_AUDIENCE, principal=lambda ctx: f"user:{self.scope.user.pk}"))

    async def idle(self) -> None:
        """Returns once no tool call is working in a thread (talking to the database or to Kite)."""
        while self._busy:
            await anyio.sleep(0.05)

    def close(self) -> None:
        """Let Django's threads finish and end (their connections close with them)."""
        self._executor.shutdown(wait=True)

    async def in_db_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run Django work in one of Django's threads, never in the event loop. Once started it finishes, even
        if the call is abandoned: an order that reached Kite is always audited."""
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(in_thread, fn, *args, **kwargs))
        self._busy += 1
        try:
            with anyio.CancelScope(shield=True):
                return await future
        finally:
            self._busy -= 1

    # --- tools/list -----------------------------------------------------------------------------------

    async def list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                             ) -> types.ListToolsResult:
        served = await self.in_db_thread(self.scope.served_ids)
        return types.ListToolsResult(tools=self.tools(served))

    def tools(self, served: list[int]) -> list[types.Tool]:
        """Every registry tool, as the registry defines it (account_id optional when one account is served)."""
        listed = [types.Tool(name=tool.name, title=tool.title, description=tool.description,
                             input_schema=_schema_for(tool.input_schema, served), annotations=_tool_annotations(tool))
                  for tool in TOOLS.values()]
        for entry in listed:
            entry.input_schema.pop("title", None)
        return listed

    # --- tools/call -----------------------------------------------------------------------------------

    async def call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                            ) -> types.CallToolResult | types.InputRequiredResult:
        name, arguments = params.name, dict(params.arguments or {})
        try:
            tool = TOOLS.get(name)
            if tool is None:
                raise UnknownTool(f"Unknown tool {name!r}; tools/list lists them.", fields={"name": ["Unknown tool."]})
            if tool.read_only:  # one trip to a Django thread: nothing to ask the human in between
                return _ok(await self.in_db_thread(lambda: _run(self._prepare(tool, arguments))))
            call = await self.in_db_thread(self._prepare, tool, arguments)
            if call.account is not None and call.account.confirm_orders:
                if not _can_ask(ctx.session.client_capabilities):
                    return _ok(await self._await_approval(ctx, call))
                pending = await self._confirm(ctx, params, call)
                if pending is not None:
                    return pending
            return _ok(await self.in_db_thread(_run, call))
        except ServiceError as error:
            return tool_error(error)
        except Exception:
            # A bug or a database failure: logged (stderr) with its traceback; the server keeps serving.
            log.exception("MCP tool %r failed unexpectedly", name)
            return tool_error(InternalError("Something went wrong on our side; it has been logged on the server's "
                                         "stderr."))

    # --- resources and prompts (mcp_bridge.resources): registry read tools, read exactly as tools/call does ---

    async def list_resources(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                                 ) -> types.ListResourcesResult:
        accounts = await self.in_db_thread(resources.served_accounts, self.scope)
        return types.ListResourcesResult(resources=resources.resource_list(accounts))

    async def list_resource_templates(self, ctx: ServerRequestContext[Any],
                                          params: types.PaginatedRequestParams | None
                                          ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=resources.resource_templates())

    async def read_resource(self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
                                ) -> types.ReadResourceResult:
        uri = str(params.uri)
        account_id, tool = resources.resource_parse(uri)
        try:
            data = await self.in_db_thread(lambda: _run(self._prepare(tool, {"account_id": account_id})))
        except ServiceError as error:
            raise resources.resource_error(uri, account_id, error) from None
        except Exception:
            log.exception("MCP resource %r failed unexpectedly", uri)
            raise MCPError(code=types.INTERNAL_ERROR, message="Something went wrong on our side; it has been logged on "
                                                        "the server's stderr.", data={"uri": uri}) from None
        return resources.resource_contents(uri, data)

    async def list_prompts(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                               ) -> types.ListPromptsResult:
        served = await self.in_db_thread(self.scope.served_ids)
        return types.ListPromptsResult(prompts=resources.prompt_list(served))

    async def get_prompt(self, ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
                             ) -> types.GetPromptResult:
        accounts = await self.in_db_thread(resources.served_accounts, self.scope)
        return resources.prompt_get(params.name, dict(params.arguments or {}), accounts)

    # Sync parts (worker threads) ------------------------------------------------------------------------

    def _prepare(self, tool: Tool, arguments: dict[str, Any]) -> Any:
        from kite.services.execution import tool_call_prepare

        served = self.scope.served_ids()
        if tool.needs_account:
            _default_account(arguments, served)
        try:
            return tool_call_prepare(user=self.scope.user, tool_name=tool.name, arguments=arguments, path=PATH,
                                     account_ids=served)
        except ServiceError as error:
            raise _with_hint(error, served) from None

    # Confirmation (event loop) ---------------------------------------------------------------------------

    async def _confirm(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, call: Any
                       ) -> types.InputRequiredResult | None:
        """None when the human confirmed this exact order; InputRequiredResult to ask (2026-07-28); else raises."""
        message = await self.in_db_thread(confirm.describe_with_preview, call)
        if ctx.session.can_send_request:
            answer = await self._ask_now(ctx, call, message)
        else:
            answer = await self._answer_from_retry(params, call)
            if answer is None:
                return await self._ask_by_round_trip(call, message)
        if answer.action == "accept" and (answer.content or {}).get("confirm") is True:
            return None
        if answer.action == "cancel":
            await self._refuse(call, OrderCancelled("The confirmation was dismissed, so nothing was sent to Kite. "
                                                    "Do not retry unless the user asks."), "declined")
        await self._refuse(call, OrderDeclined("The user declined this in the confirmation prompt, so nothing was "
                                               "sent to Kite. Do not retry unless the user asks."), "declined")
        raise AssertionError("unreachable")

    async def _ask_now(self, ctx: ServerRequestContext[Any], call: Any, message: str) -> types.ElicitResult:
        """Handshake era: an `elicitation/create` request to the client, in the middle of the call."""
        try:
            with anyio.move_on_after(CONFIRM_TIMEOUT_SECONDS):
                return await ctx.session.elicit_form(message, confirm.CONFIRM_SCHEMA, related_request_id=ctx.request_id)
        except (MCPError, ValidationError) as exc:
            log.info("Confirmation of %s failed in the client: %s", call.tool.name, exc)
            await self._refuse(call, ConfirmationFailed(f"The client could not show the confirmation ({exc}), so "
                                                        "nothing was sent."), "refused")
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):  # the call was abandoned mid-question: still audited
                await self.in_db_thread(_refuse_quietly, call, ConfirmationAbandoned(
                    "The call was cancelled while waiting for the confirmation; nothing was sent."))
            raise
        await self._refuse(call, ConfirmationTimeout(f"No answer to the confirmation within "
                                                     f"{CONFIRM_TIMEOUT_SECONDS:g} s, so nothing was sent."), "refused")
        raise AssertionError("unreachable")

    async def _await_approval(self, ctx: ServerRequestContext[Any], call: Any) -> dict[str, Any]:
        """A client that cannot ask the human: the write waits for the human's Approve in the web app. Nothing is
        sent now. A client that declares URL-mode elicitation is also asked to open the approval page."""
        waiting = await self.in_db_thread(_approval_create, call)
        elicitation = ctx.session.client_capabilities.elicitation if ctx.session.client_capabilities else None
        if elicitation is not None and elicitation.url is not None and ctx.session.can_send_request:
            with anyio.move_on_after(URL_OPEN_TIMEOUT_SECONDS):
                try:
                    await ctx.session.elicit_url(f"Approve or decline in Kite Desk: {waiting['summary']}",
                                                 waiting["approve_url"], f"kite-desk-approval-{waiting['approval_id']}",
                                                 related_request_id=ctx.request_id)
                except (MCPError, ValidationError) as exc:
                    log.info("The client did not open the approval page: %s", exc)
        return waiting

    async def _ask_by_round_trip(self, call: Any, message: str) -> types.InputRequiredResult:
        token = await self.in_db_thread(confirm.pending_ask, call, ttl_seconds=PENDING_TTL_SECONDS)
        form = types.ElicitRequestFormParams(message=message, requested_schema=confirm.CONFIRM_SCHEMA)
        return types.InputRequiredResult(input_requests={CONFIRM_KEY: types.ElicitRequest(params=form)},
                                         request_state=token)

    async def _answer_from_retry(self, params: types.CallToolRequestParams, call: Any) -> types.ElicitResult | None:
        """The human's answer on a retry, if it answers the question this server asked about this very order
        (the question is used up, whatever happens next)."""
        if not params.request_state or not await self.in_db_thread(confirm.pending_answer, call, params.request_state):
            return None
        answer = (params.input_responses or {}).get(CONFIRM_KEY)
        return answer if isinstance(answer, types.ElicitResult) else None

    async def _refuse(self, call: Any, error: NotConfirmed, outcome: str) -> None:
        """Audit that the write was not sent (path mcp), then raise the error for the model."""
        await self.in_db_thread(_refuse_sync, call, error, outcome)
        raise error


def _approval_create(call: Any) -> dict[str, Any]:
    from kite.services.approvals import approval_create, approval_json

    approval = approval_json(approval_create(call=call))
    return {
        "status": "awaiting_approval", "approval_id": approval["id"], "approve_url": approval["approve_url"],
        "expires_at": approval["expires_at"], "summary": approval["summary"],
        "next": "Nothing was sent. This client cannot ask the user to confirm, so the order waits for their "
                "Approve in the Kite Desk web app: give them approve_url. get_approval shows what they decided; "
                "do not place the order again meanwhile.",
    }


def _run(call: Any) -> Any:
    from kite.services.execution import tool_call_run

    return tool_call_run(call)


def _refuse_sync(call: Any, error: NotConfirmed, outcome: str) -> None:
    from kite.services.execution import tool_call_refuse

    tool_call_refuse(call, error, outcome=outcome)


def _refuse_quietly(call: Any, error: NotConfirmed) -> None:
    try:
        _refuse_sync(call, error, "refused")
    except Exception:
        log.exception("Could not audit an abandoned confirmation")


def _default_account(arguments: dict[str, Any], served: list[int]) -> None:
    if "account_id" not in arguments and len(served) == 1:
        arguments["account_id"] = served[0]


def _with_hint(error: ServiceError, served: list[int]) -> ServiceError:
    """Point the model at list_accounts when the account is the problem."""
    if isinstance(error, NotFound):
        error.message += " list_accounts shows the accounts this server may use."
    elif isinstance(error, InvalidInput) and "Field required" in (error.fields or {}).get("account_id", []):
        error.message += f" This server serves {len(served)} accounts: give account_id (list_accounts shows them)."
    return error
