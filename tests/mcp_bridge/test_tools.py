"""The registry's tools over MCP stdio: listed with their metadata, answering from the running sandbox."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.db import connection

from kite.tools import TOOLS
from mcp_bridge.server import DB_THREADS
from tests.fixtures.sandbox import TRADING_TIME


def test_tools_are_the_registrys_with_its_schemas_titles_and_hints(server_env, paper, mcp):
    paper("Paper")
    paper("Second")  # two accounts: account_id stays required, exactly as in the registry
    with mcp(server_env(user="alice")) as session:
        tools = session.tools()
    assert set(tools) == set(TOOLS)  # list_accounts and login are registry tools too
    for name, tool in TOOLS.items():
        listed = tools[name]
        assert (listed.title, listed.description) == (tool.title, tool.description), name
        assert listed.input_schema == tool.input_schema, name
        hints = listed.annotations
        if tool.read_only:
            assert hints.read_only_hint is True and not hints.destructive_hint, name
        else:
            assert (hints.read_only_hint, hints.destructive_hint) == (False, True), name
    assert tools["list_accounts"].annotations.read_only_hint is True
    assert tools["login"].input_schema["required"] == ["account_id"]


def test_with_one_account_served_account_id_may_be_left_out(server_env, paper, mcp):
    account = paper()
    with mcp(server_env()) as session:  # KITE_MCP_USER unset: alice is the only user
        schema = session.tools()["get_holdings"].input_schema
        profile = session.ok("get_profile")
    assert "account_id" not in schema.get("required", []) and "account_id" in schema["properties"]
    assert profile["user_id"] == account.kite_user_id


def test_every_read_tool_answers_from_the_sandbox_as_structured_content(server_env, paper, mcp):
    account = paper()
    a = {"account_id": account.id}
    day = TRADING_TIME.date()
    calls = {
        "get_profile": {},
        "get_margins": {"segment": "equity"},
        "get_holdings": {},
        "get_positions": {},
        "get_orders": {},
        "get_trades": {},
        "get_quotes": {"instruments": ["NSE:INFY", "NSE:SBIN"]},
        "get_ohlc": {"instruments": ["NSE:INFY"]},
        "get_ltp": {"instruments": ["NSE:INFY"]},
        "get_historical_data": {"instrument": "NSE:INFY", "interval": "day",
                                "from_date": (day - timedelta(days=30)).isoformat(), "to_date": day.isoformat()},
        "search_instruments": {"query": "INFY", "exchange": "NSE"},
        "preview_order": {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1,
                          "product": "CNC", "order_type": "LIMIT", "price": 1000.0},
        "get_order_margins": {"orders": [ORDER]},
        "get_basket_margins": {"orders": [ORDER], "consider_positions": False},
        "get_order_charges": {"orders": [ORDER | {"average_price": 1500.0}]},
        "get_gtts": {},
        "get_mf_holdings": {},
        "get_mf_orders": {},
        "get_mf_sips": {},
        "search_mf_instruments": {"query": "nifty"},
    }
    # The order history of an order the sandbox knows: one placed straight at the sandbox.
    with mcp(server_env(user="alice")) as session:
        results = {name: session.call(name, a | arguments) for name, arguments in calls.items()}
        order_id = _sandbox_order(account)
        results["get_order_history"] = session.call("get_order_history", a | {"order_id": order_id})
        results["get_order_trades"] = session.call("get_order_trades", a | {"order_id": order_id})
        trigger_id = _sandbox_gtt(account)
        results["get_gtt"] = session.call("get_gtt", a | {"trigger_id": trigger_id})
    assert set(results) == {name for name, tool in TOOLS.items() if tool.read_only and tool.reaches_kite}
    for name, result in results.items():
        assert not result.is_error, (name, result.content)
        assert isinstance(result.structured_content, dict), name
        # The same JSON as text, for clients that read only text.
        assert json.loads(result.content[0].text) in (result.structured_content,
                                                      result.structured_content.get("result")), name
    data = {name: r.structured_content for name, r in results.items()}
    assert data["get_profile"]["user_id"] == account.kite_user_id
    assert "net" in data["get_margins"]
    holdings = data["get_holdings"]["result"]  # a list answer, wrapped in an object
    assert holdings and {"tradingsymbol", "quantity", "average_price", "last_price", "pnl"} <= set(holdings[0])
    assert set(data["get_positions"]) == {"net", "day"}
    assert [o["order_id"] for o in data["get_orders"]["result"]] == []  # asked before the sandbox order
    assert data["get_quotes"]["NSE:INFY"]["last_price"] > 0 and set(data["get_quotes"]) == {"NSE:INFY", "NSE:SBIN"}
    assert data["get_ohlc"]["NSE:INFY"]["ohlc"]["open"] > 0
    assert data["get_ltp"]["NSE:INFY"]["last_price"] > 0
    candles = data["get_historical_data"]["result"]
    assert candles and {"date", "open", "high", "low", "close", "volume"} <= set(candles[0])
    assert (data["search_instruments"]["result"][0]["tradingsymbol"]) == "INFY"
    assert data["get_order_history"]["result"][-1]["order_id"] == order_id
    assert data["preview_order"]["order_value"] == 1000.0 and data["preview_order"]["guardrails"]["ok"] is True
    assert data["get_order_margins"]["result"][0]["total"] > 0
    assert data["get_gtt"]["id"] == trigger_id and data["get_gtts"]["result"] == []  # asked before it was placed
    assert data["search_mf_instruments"]["result"][0]["exchange"] == "MF"


ORDER = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC",
         "order_type": "MARKET", "quantity": 1}


def _sandbox_gtt(account) -> int:
    from kiteconnect import KiteConnect

    from kite.client import api_root

    kite = KiteConnect(api_key=account.api_key, access_token=account.access_token, root=api_root("sandbox"))
    last = kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    trigger = round(round(last * 0.9 / 0.05) * 0.05, 2)
    return kite.place_gtt(trigger_type="single", tradingsymbol="INFY", exchange="NSE", trigger_values=[trigger],
                          last_price=last, orders=[{"transaction_type": "BUY", "quantity": 1, "order_type": "LIMIT",
                                                    "product": "CNC", "price": trigger}])["trigger_id"]


def _sandbox_order(account) -> str:
    from kiteconnect import KiteConnect

    from kite.client import api_root

    account.refresh_from_db()
    kite = KiteConnect(api_key=account.api_key, access_token=account.access_token, root=api_root("sandbox"))
    return kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                            quantity=1, product="CNC", order_type="MARKET", market_protection=-1)


def test_kites_own_error_comes_back_as_a_tool_error_and_the_server_keeps_serving(server_env, paper, mcp,
                                                                                kite_settings):
    account = paper()
    with mcp(server_env(user="alice")) as session:
        session.ok("get_holdings", {"account_id": account.id})
        kite_settings.stop()
        try:
            text, error = session.error("get_holdings", {"account_id": account.id})
        finally:
            kite_settings.start()
        kite_settings.set_clock(TRADING_TIME)
        assert session.ok("get_holdings", {"account_id": account.id})["result"]  # same server, still serving
    assert error["type"] == "kite_unreachable" and text.startswith("kite_unreachable: ")
    assert kite_settings.url in error["message"]


def _server_backends(since: object) -> int:
    """Backends of the test database opened since `since` (so: the server's), other than this test's own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND backend_start >= %s", [since])
        return cursor.fetchone()[0]


def _database_now() -> object:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def test_concurrent_calls_share_a_bounded_set_of_database_connections_closed_at_exit(server_env, paper, mcp):
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL backends")
    account = paper()
    started = _database_now()  # connections left by earlier tests (in-process servers) are older
    with mcp(server_env(user="alice")) as session:
        results = session.gather([("get_profile", {})] * 3 * DB_THREADS)
        during = _server_backends(started)
    assert all(not r.is_error and r.structured_content["user_id"] == account.kite_user_id for r in results)
    assert 1 <= during <= DB_THREADS
    deadline = time.monotonic() + 10  # the server has exited; PostgreSQL notices the closed sockets
    while _server_backends(started) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _server_backends(started) == 0
