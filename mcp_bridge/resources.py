"""MCP resources and prompts, built from the tool registry (kite.tools.TOOLS): nothing here reads Kite itself.

Resources: `kite://accounts/{account_id}/{kind}`, each the JSON of one read tool for one served account (the
table RESOURCE_TOOLS). The server reads them through the same pipeline as the tools, so the served-accounts
scope, session expiry and Kite's errors behave exactly as they do for a tool call.

Prompts: `morning_brief` and `review_order`, texts naming registry tools by name and title. Every tool a
prompt names is checked against the registry at import, so a renamed tool fails at start-up, not in a chat.

Errors are MCPError (a JSON-RPC error), as the protocol has no `isError` result for resources and prompts:
INVALID_PARAMS when the request names something that is not there (a URI, an account, a prompt, an argument),
KITE_ERROR with the service's own message and body when the read itself fails (session_expired, Kite down).
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Any

from mcp import types
from mcp.shared.exceptions import MCPError
from pydantic import TypeAdapter, ValidationError

from accounts.models import Account
from kite.errors import InvalidInput, NotFound, ServiceError
from kite.tools import TOOLS, Tool
from mcp_bridge.scope import McpScope

KITE_ERROR = -32000  # JSON-RPC's implementation-defined range: the read reached the service and it refused
MIME_TYPE = "application/json"
URI_TEMPLATE = "kite://accounts/{account_id}/{kind}"
RESOURCE_TOOLS: dict[str, str] = {  # kind -> the registry's read tool whose answer the resource is
    "holdings": "get_holdings",
    "positions": "get_positions",
    "orders": "get_orders",
    "gtt": "get_gtts",
}
_URI = re.compile(r"kite://accounts/(?P<account_id>[^/]+)/(?P<kind>[^/]+)")

BRIEF_TOOLS = ("list_accounts", "get_holdings", "get_positions", "get_margins", "get_orders", "get_gtts",
               "get_mf_holdings")
REVIEW_TOOLS = ("preview_order", "get_ltp", "get_quotes", "get_positions", "get_holdings", "place_order")
_NAMED = {*RESOURCE_TOOLS.values(), *BRIEF_TOOLS, *REVIEW_TOOLS, "login"}
# Checked at import (not `assert`: that vanishes under python -O), so a renamed tool stops runmcp at start-up.
if _NAMED - set(TOOLS):
    raise RuntimeError(f"mcp_bridge.resources names tools the registry lacks: {sorted(_NAMED - set(TOOLS))}")
if {n for n in _NAMED if not TOOLS[n].read_only} != {"place_order"}:
    raise RuntimeError("mcp_bridge.resources: only place_order may be a write (the prompts call the rest freely)")
if not all(TOOLS[n].needs_account for n in RESOURCE_TOOLS.values()):
    raise RuntimeError("mcp_bridge.resources: each resource is one account's data; its tool must take account_id")


def served_accounts(scope: McpScope) -> list[tuple[int, str]]:
    """(id, name) of each served account, in the order list_accounts shows them (a database read: a thread)."""
    served = scope.served_ids()
    names = dict(Account.objects.filter(user=scope.user, pk__in=served).values_list("id", "name"))
    return [(pk, names[pk]) for pk in served if pk in names]


# --- Resources --------------------------------------------------------------------------------------------

def resource_uri(account_id: int, kind: str) -> str:
    return URI_TEMPLATE.format(account_id=account_id, kind=kind)


def resource_list(accounts: list[tuple[int, str]]) -> list[types.Resource]:
    """One resource per served account and kind."""
    listed = []
    for account_id, name in accounts:
        for kind, tool_name in RESOURCE_TOOLS.items():
            tool = TOOLS[tool_name]
            listed.append(types.Resource(
                uri=resource_uri(account_id, kind), name=f"account-{account_id}-{kind}",
                title=f"{name}: {tool.title}", description=f"{tool.description} The JSON of {tool.name}.",
                mime_type=MIME_TYPE))
    return listed


def resource_templates() -> list[types.ResourceTemplate]:
    kinds = ", ".join(f"{kind} ({TOOLS[tool].title}, as {tool})" for kind, tool in RESOURCE_TOOLS.items())
    return [types.ResourceTemplate(
        uri_template=URI_TEMPLATE, name="account-data", title="A Kite account's data",
        description=f"One served account's data as JSON, the answer of the named read tool. kind: {kinds}. "
                    "account_id: an id list_accounts shows.",
        mime_type=MIME_TYPE)]


def resource_parse(uri: str) -> tuple[int, Tool]:
    """(account id, the tool to read it with), or MCPError naming what is wrong with the URI."""
    match = _URI.fullmatch(uri)
    if match is None or not re.fullmatch(r"[1-9][0-9]{0,17}", match["account_id"]):
        raise _invalid(f"Malformed resource URI {uri!r}: expected {URI_TEMPLATE} with a numeric account_id and "
                       f"kind one of {', '.join(RESOURCE_TOOLS)}.", uri=uri)
    tool_name = RESOURCE_TOOLS.get(match["kind"])
    if tool_name is None:
        raise _invalid(f"Unknown resource kind {match['kind']!r} in {uri!r}: kinds are "
                       f"{', '.join(RESOURCE_TOOLS)}.", uri=uri)
    return int(match["account_id"]), TOOLS[tool_name]


def resource_contents(uri: str, data: Any) -> types.ReadResourceResult:
    """What the tool answered, as the same JSON text the tool's result carries."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=MIME_TYPE, text=text)])


def resource_error(uri: str, account_id: int, error: ServiceError) -> MCPError:
    """A refusal of the read. An unserved and another user's account are answered alike: not served here."""
    if isinstance(error, NotFound):
        return _invalid(f"Unknown resource {uri!r}: account {account_id} is not served here (resources/list "
                        "lists the resources, list_accounts the accounts).", uri=uri)
    code = types.INVALID_PARAMS if isinstance(error, InvalidInput) else KITE_ERROR
    return MCPError(code=code, message=error.message, data={"uri": uri, "error": error.body()})


# --- Prompts -------------------------------------------------------------------------------------------------

def _account_argument(required: bool) -> types.PromptArgument:
    why = "list_accounts shows them" if required else "optional: this server serves one account"
    return types.PromptArgument(name="account_id", description=f"The Kite account's id ({why}).", required=required)


def _argument(name: str, description: str, required: bool) -> types.PromptArgument:
    return types.PromptArgument(name=name, description=description, required=required)


def prompt_list(served: list[int]) -> list[types.Prompt]:
    """The prompts; account_id is required unless exactly one account is served."""
    account = _account_argument(len(served) != 1)
    return [
        types.Prompt(name="morning_brief", title="Morning brief",
                     description="Brief me on one account: value, day's P&L, open orders, GTTs near their trigger "
                                 "and cash, from the read-only tools.",
                     arguments=[account]),
        types.Prompt(name="review_order", title="Review an order",
                     description="Review an order before placing it: preview_order, the price now, my exposure; "
                                 "value, margin, charges and guardrails explained. Places nothing.",
                     arguments=[account,
                                _argument("exchange", "NSE, BSE, NFO, CDS, BFO, MCX or BCD.", True),
                                _argument("tradingsymbol", 'The trading symbol, e.g. "INFY".', True),
                                _argument("transaction_type", "BUY or SELL.", True),
                                _argument("quantity", "How many shares (or units: lots times lot size).", True),
                                _argument("order_type", "MARKET, LIMIT, SL or SL-M (LIMIT when a price is given, "
                                                        "else MARKET).", False),
                                _argument("price", "The limit price, for LIMIT and SL orders.", False),
                                _argument("product", "CNC, MIS, NRML or MTF (asked for when left out).", False)]),
    ]


def prompt_get(name: str, arguments: dict[str, str], accounts: list[tuple[int, str]]) -> types.GetPromptResult:
    """The prompt's one user message, or MCPError naming the unknown prompt or the bad argument."""
    prompts = {p.name: p for p in prompt_list([pk for pk, _ in accounts])}
    prompt = prompts.get(name)
    if prompt is None:
        raise _invalid(f"Unknown prompt {name!r}: prompts are {', '.join(prompts)}.", prompt=name)
    known = {a.name: a for a in prompt.arguments or []}
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        raise _invalid(f"Prompt {name!r} takes no argument {', '.join(map(repr, unknown))}; its arguments are "
                       f"{', '.join(known)}.", prompt=name, argument=unknown[0])
    missing = [a.name for a in known.values() if a.required and not (arguments.get(a.name) or "").strip()]
    if missing:
        raise _invalid(f"Prompt {name!r} needs the argument {missing[0]!r}"
                       + (" (this server serves several accounts; list_accounts shows them)."
                          if missing[0] == "account_id" else "."), prompt=name, argument=missing[0])
    account = _account(name, arguments.get("account_id"), accounts)
    text = _brief(account) if name == "morning_brief" else _review(account, _order(arguments))
    return types.GetPromptResult(description=prompt.description, messages=[
        types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))])


def _account(prompt: str, given: str | None, accounts: list[tuple[int, str]]) -> tuple[int, str]:
    if not (given or "").strip():
        return accounts[0]  # required unless exactly one is served: checked before
    assert given is not None
    names = dict(accounts)
    if not given.strip().isdigit() or int(given) not in names:
        raise _invalid(f"Prompt {prompt!r}: account_id {given!r} is not an account this server serves "
                       "(list_accounts shows them).", prompt=prompt, argument="account_id")
    return int(given), names[int(given)]


def _tool(name: str) -> str:
    return f"{name} ({TOOLS[name].title})"


def _brief(account: tuple[int, str]) -> str:
    account_id, name = account
    calls = "\n".join(f"- {_tool(tool)}" for tool in BRIEF_TOOLS)
    return (
        f"Give me my morning brief for Kite account {name!r} (account_id {account_id}). Call these read-only "
        f"tools, with account_id {account_id} where they take one:\n{calls}\n\n"
        "Then summarise, briefly and with numbers:\n"
        "- the value of my holdings (and mutual funds) at the last price, and the overall P&L;\n"
        "- the day's P&L: the holdings' day change and the positions' P&L;\n"
        "- open orders (open or trigger pending), each in one line;\n"
        "- GTTs near their trigger: active GTTs whose trigger value is within about 2% of the last price;\n"
        "- cash: what is available and what margin is used.\n"
        f"If a tool answers session_expired, call {_tool('login')} and give me the URL. This is a read-only "
        "brief: do not place, modify or cancel anything."
    )


def _order(arguments: dict[str, str]) -> dict[str, Any]:
    """The preview_order arguments the prompt was given, each checked against that tool's own field."""
    order: dict[str, Any] = {}
    for name in ("exchange", "tradingsymbol", "transaction_type", "order_type", "quantity", "price", "product"):
        raw = (arguments.get(name) or "").strip()
        if not raw:
            continue
        value: Any = raw.upper() if name != "tradingsymbol" else raw
        try:
            if name == "quantity":
                value = int(raw)
            elif name == "price":
                value = float(raw)
            order[name] = _field_adapter(name).validate_python(value)
        except (ValueError, ValidationError):
            raise _invalid(f"Prompt 'review_order': {name} {raw!r} is not valid for preview_order.",
                           prompt="review_order", argument=name) from None
    order.setdefault("order_type", "LIMIT" if "price" in order else "MARKET")
    return order


def _field_adapter(name: str) -> TypeAdapter[Any]:
    """preview_order's own field `name` (its type and constraints), to check one prompt argument with."""
    field = TOOLS["preview_order"].args.model_fields[name]
    return TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)


def _review(account: tuple[int, str], order: dict[str, Any]) -> str:
    account_id, name = account
    args = {"account_id": account_id, **order}
    instrument = f"{order['exchange']}:{order['tradingsymbol']}"
    product = "" if "product" in order else (
        "\nproduct was not given: ask me which (CNC delivery, MIS intraday, NRML F&O carry-forward, MTF) and add "
        "it to these arguments before the preview.")
    return (
        f"Review this order with me before anything is placed, on Kite account {name!r} (account_id "
        f"{account_id}): {order['transaction_type']} {order['quantity']} {instrument}, {order['order_type']}"
        + (f" at {order['price']:g}" if "price" in order else "") + ".\n\n"
        f"1. Call {_tool('preview_order')} with exactly these arguments:\n{json.dumps(args)}{product}\n"
        f"2. Call {_tool('get_ltp')} and {_tool('get_quotes')} for {instrument}: the price now, the day's range, "
        "the depth and the circuit limits.\n"
        f"3. Call {_tool('get_positions')} and {_tool('get_holdings')}: my exposure to {order['tradingsymbol']} "
        "now, and what this order would change.\n"
        "4. Explain: the order's value, the margin Kite would block, the charges, and whether the account's "
        "guardrails allow it; point out anything unusual (a price far from the last price, a large part of my "
        "available cash).\n\n"
        f"Do not call {_tool('place_order')} during this review. Only when I ask you to after it, call it with "
        "the same arguments; I confirm or approve every order myself (in this client, or on the Kite Desk "
        "approval page), and nothing is sent to Kite until I do."
    )


def _invalid(message: str, **data: Any) -> MCPError:
    return MCPError(code=types.INVALID_PARAMS, message=message, data=data)
