"""Resources (kite://accounts/{id}/{kind}) and prompts over MCP stdio: registry read tools, read the same way."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from accounts.models import Account
from kite.tools import TOOLS
from tests.factories import UserFactory
from tests.mcp_bridge.test_tools import _sandbox_gtt

KINDS = {"holdings": "get_holdings", "positions": "get_positions", "orders": "get_orders", "gtt": "get_gtts"}


def _list_resources(session) -> dict[str, Any]:
    return {r.uri: r for r in session.portal.call(session.session.list_resources).resources}


def _read(session, uri: str) -> Any:
    result = session.portal.call(session.session.read_resource, uri)
    [contents] = result.contents
    assert (contents.uri, contents.mime_type) == (uri, "application/json")
    return json.loads(contents.text)


def _read_error(session, uri: str) -> MCPError:
    with pytest.raises(MCPError) as raised:
        session.portal.call(session.session.read_resource, uri)
    return raised.value


def _prompt(session, name: str, arguments: dict[str, str] | None = None) -> str:
    result = session.portal.call(lambda: session.session.get_prompt(name, arguments or {}))
    [message] = result.messages
    assert message.role == "user"
    return message.content.text


def _prompt_error(session, name: str, arguments: dict[str, str] | None = None) -> MCPError:
    with pytest.raises(MCPError) as raised:
        session.portal.call(lambda: session.session.get_prompt(name, arguments or {}))
    return raised.value


def _tool_json(session, name: str, arguments: dict[str, Any]) -> Any:
    result = session.call(name, arguments)
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


# --- resources ----------------------------------------------------------------------------------------------

def test_resources_are_the_four_kinds_of_each_served_account_and_one_template(server_env, paper, mcp):
    first, second, unserved = paper("Paper"), paper("Second"), paper("Unserved")
    with mcp(server_env(user="alice", accounts=f"{first.id},{second.id}")) as session:
        listed = _list_resources(session)
        templates = session.portal.call(session.session.list_resource_templates).resource_templates
    assert set(listed) == {f"kite://accounts/{a.id}/{kind}" for a in (first, second) for kind in KINDS}
    assert not any(f"/{unserved.id}/" in uri for uri in listed)
    holdings = listed[f"kite://accounts/{first.id}/holdings"]
    assert holdings.mime_type == "application/json" and holdings.title == f"Paper: {TOOLS['get_holdings'].title}"
    [template] = templates
    assert template.uri_template == "kite://accounts/{account_id}/{kind}" and template.mime_type == "application/json"
    assert all(kind in template.description for kind in KINDS)


def test_each_resource_is_the_json_of_its_tool_and_gtt_lists_a_gtt_placed_at_the_sandbox(server_env, paper, mcp):
    account = paper()
    with mcp(server_env(user="alice")) as session:
        for kind, tool in KINDS.items():
            uri = f"kite://accounts/{account.id}/{kind}"
            assert _read(session, uri) == _tool_json(session, tool, {"account_id": account.id}), kind
        holdings = _read(session, f"kite://accounts/{account.id}/holdings")
        assert _read(session, f"kite://accounts/{account.id}/gtt") == []
        account.refresh_from_db()
        trigger_id = _sandbox_gtt(account)
        gtts = _read(session, f"kite://accounts/{account.id}/gtt")
    assert holdings and {"tradingsymbol", "quantity", "last_price", "pnl"} <= set(holdings[0])
    assert [g["id"] for g in gtts] == [trigger_id] and gtts[0]["condition"]["tradingsymbol"] == "INFY"


def test_an_unserved_foreign_unknown_or_malformed_uri_is_an_error_naming_it_and_revealing_nothing(
        server_env, paper, mcp):
    served, unserved = paper("Paper"), paper("Secret name")
    foreign = paper("Bob's account", user=UserFactory(username="bob"))
    missing = max(served.id, unserved.id, foreign.id) + 100
    with mcp(server_env(user="alice", accounts=str(served.id))) as session:
        refused = {a: _read_error(session, f"kite://accounts/{a}/holdings") for a in (unserved.id, foreign.id, missing)}
        unknown_kind = _read_error(session, f"kite://accounts/{served.id}/trades")
        malformed = {uri: _read_error(session, uri) for uri in (
            "kite://accounts/abc/holdings", f"kite://accounts/{served.id}", f"kite://accounts/{served.id}/holdings/x",
            f"http://accounts/{served.id}/holdings", "kite://accounts/0/holdings", "")}
        assert _read(session, f"kite://accounts/{served.id}/holdings")  # and the server still serves
    for account_id, error in refused.items():
        assert error.code == INVALID_PARAMS
        # An unserved account of alice's, bob's and one that does not exist are answered alike.
        assert error.message == (f"Unknown resource 'kite://accounts/{account_id}/holdings': account {account_id} "
                                 "is not served here (resources/list lists the resources, list_accounts the "
                                 "accounts).")
        assert "Secret" not in str(error.data) and "Bob" not in str(error.data)
    assert unknown_kind.code == INVALID_PARAMS and "Unknown resource kind 'trades'" in unknown_kind.message
    assert "holdings, positions, orders, gtt" in unknown_kind.message
    for uri, error in malformed.items():
        assert error.code == INVALID_PARAMS and error.message.startswith(f"Malformed resource URI {uri!r}"), uri


def test_an_expired_session_is_an_error_carrying_the_services_message_that_names_login(server_env, paper, mcp):
    account = paper()
    Account.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() - timedelta(minutes=1))
    with mcp(server_env(user="alice")) as session:
        error = _read_error(session, f"kite://accounts/{account.id}/positions")
        tool_text, tool_error = session.error("get_positions", {"account_id": account.id})
    assert error.data["error"]["type"] == "session_expired" == tool_error["type"]
    assert error.message == tool_error["message"] and "`login` tool" in error.message


# --- prompts ------------------------------------------------------------------------------------------------

def test_prompts_are_listed_with_their_arguments(server_env, paper, mcp):
    paper()
    with mcp(server_env(user="alice")) as session:
        one = {p.name: p for p in session.portal.call(session.session.list_prompts).prompts}
    paper("Second")
    with mcp(server_env(user="alice")) as session:
        two = {p.name: p for p in session.portal.call(session.session.list_prompts).prompts}
    assert set(one) == set(two) == {"morning_brief", "review_order"}
    assert [(a.name, a.required) for a in one["morning_brief"].arguments] == [("account_id", False)]
    assert [(a.name, a.required) for a in two["morning_brief"].arguments] == [("account_id", True)]
    assert [(a.name, a.required) for a in two["review_order"].arguments] == [
        ("account_id", True), ("exchange", True), ("tradingsymbol", True), ("transaction_type", True),
        ("quantity", True), ("order_type", False), ("price", False), ("product", False)]


def test_morning_brief_names_the_registrys_read_tools_for_the_account(server_env, paper, mcp):
    account = paper("Paper")
    with mcp(server_env(user="alice")) as session:
        text = _prompt(session, "morning_brief")  # one account served: account_id may be left out
        same = _prompt(session, "morning_brief", {"account_id": str(account.id)})
        unserved = _prompt_error(session, "morning_brief", {"account_id": str(account.id + 100)})
        unknown = _prompt_error(session, "evening_brief")
    assert text == same and f"account_id {account.id}" in text and "'Paper'" in text
    for name in ("list_accounts", "get_holdings", "get_positions", "get_margins", "get_orders", "get_gtts",
                 "get_mf_holdings", "login"):
        assert f"{name} ({TOOLS[name].title})" in text, name
    for topic in ("value", "day's P&L", "open orders", "GTTs near their trigger", "cash"):
        assert topic in text, topic
    assert unserved.code == INVALID_PARAMS and "account_id" in unserved.message
    assert unknown.code == INVALID_PARAMS and "'evening_brief'" in unknown.message


def test_review_order_carries_the_exact_arguments_for_preview_order_and_checks_them(server_env, paper, mcp):
    account, second = paper("Paper"), paper("Second")
    order = {"account_id": str(account.id), "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
             "quantity": "3", "order_type": "LIMIT", "price": "1234.5", "product": "CNC"}
    with mcp(server_env(user="alice")) as session:
        text = _prompt(session, "review_order", order)
        [line] = [line for line in text.splitlines() if line.startswith("{")]
        preview = session.ok("preview_order", json.loads(line))  # the prompt's arguments are a valid call
        without_product = _prompt(session, "review_order", {**order, "product": "", "price": "", "order_type": ""})
        missing = {name: _prompt_error(session, "review_order", {k: v for k, v in order.items() if k != name})
                   for name in ("account_id", "exchange", "quantity")}
        bad = [(name, _prompt_error(session, "review_order", {**order, name: value}))
               for name, value in (("quantity", "0"), ("quantity", "two"), ("transaction_type", "HOLD"))]
        stray = _prompt_error(session, "review_order", {**order, "validity": "DAY"})
        brief_needs_account = _prompt_error(session, "morning_brief")  # two accounts served now
    assert json.loads(line) == {"account_id": account.id, "exchange": "NSE", "tradingsymbol": "INFY",
                                "transaction_type": "BUY", "order_type": "LIMIT", "quantity": 3, "price": 1234.5,
                                "product": "CNC"}
    assert preview["order_value"] == pytest.approx(3 * 1234.5)
    for name in ("preview_order", "get_ltp", "get_quotes", "get_positions", "get_holdings", "place_order"):
        assert f"{name} ({TOOLS[name].title})" in text, name
    assert "Do not call place_order" in text and "I confirm or approve every order" in text
    assert f"account_id {second.id}" not in text
    [line] = [line for line in without_product.splitlines() if line.startswith("{")]
    assert json.loads(line)["order_type"] == "MARKET" and "product" not in json.loads(line)
    assert "product was not given: ask me" in without_product
    for name, error in missing.items():
        assert error.code == INVALID_PARAMS and f"needs the argument {name!r}" in error.message, name
    for name, error in bad:
        assert error.code == INVALID_PARAMS and f"{name} " in error.message and "not valid for preview_order" in \
            error.message, name
    assert "'validity'" in stray.message and stray.code == INVALID_PARAMS
    assert "needs the argument 'account_id'" in brief_needs_account.message
