"""The login flow and every tool, over HTTP, against the running sandbox, through the official client."""
from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kiteconnect import KiteConnect
from rest_framework.test import APIClient

from accounts.models import Account
from accounts.tokens import api_token_create
from kite import client as kite_client
from kite.models import OrderAudit
from tests.conftest import complete_login
from tests.factories import AccountFactory

IST = ZoneInfo("Asia/Kolkata")


def execute(client, tool, **args):
    return client.post("/api/kite/execute", {"tool": tool, "args": args}, format="json")


def ok(response):
    assert response.status_code == 200, response.content
    return response.json()["data"]


def error_of(response, status):
    assert response.status_code == status, response.content
    return response.json()["error"]


def login_url_for(client, account: Account) -> str:
    answer = client.post("/api/kite/auth", {"action": "login", "account_id": account.id}, format="json")
    assert answer.status_code == 200, answer.content
    return answer.json()["login_url"]


def sandbox_orders(sandbox, account: Account) -> list[dict]:
    """The sandbox's own order book for the account, read with the official client (not through the app)."""
    account.refresh_from_db()
    return KiteConnect(api_key=account.api_key, access_token=account.access_token, root=sandbox.url).orders()


# --- Login ------------------------------------------------------------------------------------------

def test_sandbox_account_gets_credentials_from_the_sandbox(sandbox_account):
    assert sandbox_account.has_credentials
    assert sandbox_account.status == "needs_login"


def test_login_url_carries_a_signed_state_and_the_callback_connects(api_client, sandbox_account, kite_settings):
    login_url = login_url_for(api_client, sandbox_account)
    assert login_url.startswith(f"{kite_settings.url}/connect/login?")
    query = parse_qs(urlsplit(login_url).query)
    assert query["v"] == ["3"] and query["api_key"] == [sandbox_account.api_key]
    assert "state=" in query["redirect_params"][0]
    response = complete_login(api_client, kite_settings, login_url)
    assert response.status_code == 302 and response["Location"] == "/settings/accounts/"
    sandbox_account.refresh_from_db()
    assert sandbox_account.status == "connected" and sandbox_account.kite_user_id
    assert timezone.localtime(sandbox_account.token_expires_at).time().hour == 6


def test_live_account_takes_the_live_code_path(api_client, kite_settings, connect):
    app = kite_settings.create_app("http://testserver/kite/callback")
    created = api_client.post("/api/accounts", {"name": "Zerodha", "environment": "live", "api_key": app["api_key"],
                                                "api_secret": app["api_secret"]}, format="json")
    account = connect(Account.objects.get(pk=created.json()["id"]))
    assert ok(execute(api_client, "get_profile", account_id=account.id))["user_id"] == account.kite_user_id


def test_session_action_exchanges_a_request_token(api_client, sandbox_account, kite_settings):
    request_token = kite_settings.login(sandbox_account.api_key)
    answer = api_client.post("/api/kite/auth", {"action": "session", "account_id": sandbox_account.id,
                                                "request_token": request_token}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "connected"
    again = api_client.post("/api/kite/auth", {"action": "session", "account_id": sandbox_account.id,
                                               "request_token": request_token}, format="json")
    assert error_of(again, 401)["type"] == "TokenException"  # a request token works once


def test_logout_invalidates_the_token_at_kite_and_here(api_client, connected_account, kite_settings):
    old_token = connected_account.access_token
    answer = api_client.post("/api/kite/auth", {"action": "logout", "account_id": connected_account.id}, format="json")
    assert answer.status_code == 200 and answer.json()["invalidated_at_kite"] is True
    connected_account.refresh_from_db()
    assert connected_account.access_token is None and connected_account.status == "needs_login"
    with pytest.raises(Exception, match="Incorrect"):
        KiteConnect(api_key=connected_account.api_key, access_token=old_token, root=kite_settings.url).profile()
    assert error_of(execute(api_client, "get_holdings", account_id=connected_account.id), 401)["type"] == \
        "session_expired"
    # the sandbox logged DELETE /session/token?...&access_token=... without the token
    log = kite_settings.log_tail(100_000)
    assert "/session/token" in log and old_token not in log


def test_forged_state_is_refused(api_client, sandbox_account, kite_settings):
    request_token = kite_settings.login(sandbox_account.api_key)
    response = api_client.get("/kite/callback", {"request_token": request_token, "status": "success",
                                                 "state": "forged.state.value"})
    assert response.status_code == 302
    sandbox_account.refresh_from_db()
    assert sandbox_account.access_token is None


def test_replayed_state_is_refused(api_client, sandbox_account, kite_settings):
    login_url = login_url_for(api_client, sandbox_account)
    query = parse_qs(urlsplit(login_url).query)
    first = kite_settings.login_redirect(sandbox_account.api_key, query["redirect_params"][0])
    complete = parse_qs(urlsplit(first).query)
    state = complete["state"][0]
    api_client.get("/kite/callback", {k: v[0] for k, v in complete.items()})
    sandbox_account.refresh_from_db()
    token_after_first = sandbox_account.access_token
    # the same state again, with a fresh request token: refused, the session is unchanged
    replay = api_client.get("/kite/callback", {"request_token": kite_settings.login(sandbox_account.api_key),
                                               "status": "success", "state": state})
    assert replay.status_code == 302
    sandbox_account.refresh_from_db()
    assert sandbox_account.access_token == token_after_first


def test_state_for_another_users_account_is_refused_and_not_used_up(api_client, other_client, sandbox_account,
                                                                    kite_settings):
    login_url = login_url_for(api_client, sandbox_account)
    query = parse_qs(urlsplit(login_url).query)
    location = kite_settings.login_redirect(sandbox_account.api_key, query["redirect_params"][0])
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    response = other_client.get("/kite/callback", params)  # bob's browser brings alice's state back
    assert response.status_code == 302
    sandbox_account.refresh_from_db()
    assert sandbox_account.access_token is None
    # The state still works for its owner, with a fresh request token (Kite's are single-use).
    owner = api_client.get("/kite/callback", params | {"request_token": kite_settings.login(sandbox_account.api_key)})
    assert owner.status_code == 302
    sandbox_account.refresh_from_db()
    assert sandbox_account.status == "connected"


def test_a_browser_not_signed_in_is_sent_to_sign_in_first_and_the_state_kept(sandbox_account, kite_settings,
                                                                            api_client, user):
    login_url = login_url_for(api_client, sandbox_account)
    query = parse_qs(urlsplit(login_url).query)
    location = kite_settings.login_redirect(sandbox_account.api_key, query["redirect_params"][0])
    parts = urlsplit(location)
    stranger = Client()  # e.g. the login link leaked, or was opened in another browser
    response = stranger.get(parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()})
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/kite/callback")
    sandbox_account.refresh_from_db()
    assert sandbox_account.access_token is None and sandbox_account.kite_user_id == ""  # nobody got bound
    stranger.force_login(user)  # the owner signs in, and the login finishes
    assert stranger.get(f"{parts.path}?{parts.query}").status_code == 302
    sandbox_account.refresh_from_db()
    assert sandbox_account.status == "connected"


def test_a_wrong_request_token_does_not_use_up_the_state(api_client, sandbox_account, kite_settings):
    login_url = login_url_for(api_client, sandbox_account)
    query = parse_qs(urlsplit(login_url).query)
    location = kite_settings.login_redirect(sandbox_account.api_key, query["redirect_params"][0])
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    api_client.get("/kite/callback", params | {"request_token": "wrongtoken"})
    sandbox_account.refresh_from_db()
    assert sandbox_account.access_token is None
    assert api_client.get("/kite/callback", params).status_code == 302
    sandbox_account.refresh_from_db()
    assert sandbox_account.status == "connected"


def test_kite_accounts_lists_live_statuses(api_client, connected_account, user):
    AccountFactory(user=user, name="No login yet")
    AccountFactory(user=user, name="Expired", access_token="t", token_expires_at=timezone.now() - timedelta(hours=1))
    rows = {r["name"]: r for r in api_client.get("/api/kite/accounts").json()}
    assert {n: r["status"] for n, r in rows.items()} == {"Paper": "connected", "No login yet": "needs_login",
                                                         "Expired": "expired"}
    assert set(rows["Paper"]) == {"id", "name", "environment", "status", "kite_user_id", "token_expires_at"}


# --- Tools ------------------------------------------------------------------------------------------

def test_tools_are_listed_with_schemas(api_client):
    tools = {t["name"]: t for t in api_client.get("/api/kite/tools").json()}
    assert {"get_profile", "get_margins", "get_holdings", "get_positions", "get_orders", "get_order_history",
            "get_trades", "get_quotes", "get_ohlc", "get_ltp", "get_historical_data", "search_instruments",
            "place_order", "modify_order", "cancel_order", "list_accounts", "login", "preview_order",
            "get_approval", "exit_order", "get_order_trades", "get_order_margins", "get_basket_margins",
            "get_order_charges", "get_gtts", "get_gtt", "place_gtt", "modify_gtt", "delete_gtt", "get_mf_holdings",
            "get_mf_orders", "get_mf_sips", "search_mf_instruments", "place_mf_order", "cancel_mf_order",
            "place_mf_sip", "modify_mf_sip", "cancel_mf_sip", "convert_position", "get_trade_history",
            "get_portfolio_history"} == set(tools)
    assert tools["place_order"]["read_only"] is False and tools["get_holdings"]["read_only"] is True
    assert tools["get_quotes"]["input_schema"]["properties"]["instruments"]["type"] == "array"


def test_every_read_tool_answers_with_kites_data(api_client, connected_account, kite_settings):
    aid = connected_account.id
    assert ok(execute(api_client, "get_profile", account_id=aid))["user_id"] == connected_account.kite_user_id
    assert "equity" in ok(execute(api_client, "get_margins", account_id=aid))
    assert "net" in ok(execute(api_client, "get_margins", account_id=aid, segment="equity"))
    holdings = ok(execute(api_client, "get_holdings", account_id=aid))
    assert holdings and {"tradingsymbol", "quantity", "average_price", "last_price", "pnl"} <= set(holdings[0])
    assert set(ok(execute(api_client, "get_positions", account_id=aid))) == {"net", "day"}
    assert isinstance(ok(execute(api_client, "get_orders", account_id=aid)), list)
    assert isinstance(ok(execute(api_client, "get_trades", account_id=aid)), list)
    quotes = ok(execute(api_client, "get_quotes", account_id=aid, instruments=["NSE:INFY", "NSE:SBIN"]))
    assert set(quotes) == {"NSE:INFY", "NSE:SBIN"} and quotes["NSE:INFY"]["last_price"] > 0
    assert isinstance(quotes["NSE:INFY"]["timestamp"], str)  # JSON, in Kite's own form
    assert ok(execute(api_client, "get_ohlc", account_id=aid, instruments=["NSE:INFY"]))["NSE:INFY"]["ohlc"]["open"]
    assert ok(execute(api_client, "get_ltp", account_id=aid, instruments=["NSE:INFY"]))["NSE:INFY"]["last_price"] > 0
    now = kite_settings.clock()
    candles = ok(execute(api_client, "get_historical_data", account_id=aid, instrument="NSE:INFY",
                         from_date=(now - timedelta(days=30)).strftime("%Y-%m-%d"),
                         to_date=now.strftime("%Y-%m-%d"), interval="day"))
    assert candles and {"date", "open", "high", "low", "close", "volume"} <= set(candles[0])
    found = ok(execute(api_client, "search_instruments", account_id=aid, query="INFY", exchange="NSE"))
    assert (found[0]["exchange"], found[0]["tradingsymbol"]) == ("NSE", "INFY")


def test_quotes_split_long_lists_into_kites_caps_and_merge(api_client, connected_account):
    found = ok(execute(api_client, "search_instruments", account_id=connected_account.id, query="A", exchange="NSE",
                       limit=100))
    wanted = [f"NSE:{r['tradingsymbol']}" for r in found]
    many = (wanted * 30)[:1200] + [f"NSE:NOSUCH{i}" for i in range(600)]  # over the 1000 cap, with duplicates
    answer = ok(execute(api_client, "get_ltp", account_id=connected_account.id, instruments=many))
    assert set(answer) == set(wanted)


def test_place_modify_cancel_with_trading_enabled_and_every_action_audited(api_client, connected_account,
                                                                          kite_settings):
    Account.objects.filter(pk=connected_account.pk).update(trading_enabled=True)
    aid = connected_account.id
    market = ok(execute(api_client, "place_order", account_id=aid, exchange="NSE", tradingsymbol="INFY",
                        transaction_type="BUY", quantity=1, product="CNC", order_type="MARKET"))
    ltp = ok(execute(api_client, "get_ltp", account_id=aid, instruments=["NSE:INFY"]))["NSE:INFY"]["last_price"]
    price = round(round(ltp * 0.9 / 0.05) * 0.05, 2)  # inside the circuit band, far from a fill
    limit = ok(execute(api_client, "place_order", account_id=aid, exchange="NSE", tradingsymbol="INFY",
                       transaction_type="BUY", quantity=1, product="CNC", order_type="LIMIT", price=price))
    ok(execute(api_client, "modify_order", account_id=aid, order_id=limit["order_id"], quantity=2, price=price))
    ok(execute(api_client, "cancel_order", account_id=aid, order_id=limit["order_id"]))
    history = ok(execute(api_client, "get_order_history", account_id=aid, order_id=limit["order_id"]))
    assert history[-1]["status"] == "CANCELLED" and history[-1]["quantity"] == 2
    book = {o["order_id"]: o for o in sandbox_orders(kite_settings, connected_account)}
    assert book[market["order_id"]]["status"] == "COMPLETE"
    audits = list(OrderAudit.objects.order_by("id").values_list("tool", "outcome", "path", "order_id"))
    assert audits == [
        ("place_order", "sent", "api", market["order_id"]),
        ("place_order", "sent", "api", limit["order_id"]),
        ("modify_order", "sent", "api", limit["order_id"]),
        ("cancel_order", "sent", "api", limit["order_id"]),
    ]


def test_kite_rejection_reaches_the_caller_with_kites_type_and_message(api_client, connected_account):
    Account.objects.filter(pk=connected_account.pk).update(trading_enabled=True)
    response = execute(api_client, "place_order", account_id=connected_account.id, exchange="NSE",
                       tradingsymbol="NOSUCHSTOCK", transaction_type="BUY", quantity=1, product="CNC",
                       order_type="MARKET")
    assert response.status_code in (400, 422)
    error = response.json()["error"]
    assert error["type"].endswith("Exception") and error["message"].startswith("Kite: ")
    audit = OrderAudit.objects.get()
    assert (audit.outcome, audit.error_type) == ("failed", error["type"])


def test_trading_disabled_refuses_orders_sends_nothing_and_audits(api_client, connected_account, kite_settings):
    before = sandbox_orders(kite_settings, connected_account)
    response = execute(api_client, "place_order", account_id=connected_account.id, exchange="NSE",
                       tradingsymbol="INFY", transaction_type="BUY", quantity=1, product="CNC", order_type="MARKET")
    assert error_of(response, 403)["type"] == "trading_disabled"
    assert sandbox_orders(kite_settings, connected_account) == before
    audit = OrderAudit.objects.get()
    assert (audit.tool, audit.outcome, audit.error_type, audit.path) == ("place_order", "refused",
                                                                         "trading_disabled", "api")


def test_another_users_account_is_a_404_for_every_kite_endpoint(other_client, connected_account):
    Account.objects.filter(pk=connected_account.pk).update(trading_enabled=True)
    assert error_of(execute(other_client, "get_holdings", account_id=connected_account.id), 404)["type"] == \
        "not_found"
    assert error_of(execute(other_client, "place_order", account_id=connected_account.id, exchange="NSE",
                            tradingsymbol="INFY", transaction_type="BUY", quantity=1, product="CNC",
                            order_type="MARKET"), 404)["type"] == "not_found"
    for action in ("login", "logout"):
        response = other_client.post("/api/kite/auth", {"action": action, "account_id": connected_account.id},
                                     format="json")
        assert error_of(response, 404)["type"] == "not_found"
    connected_account.refresh_from_db()
    assert connected_account.status == "connected"


def test_expired_token_by_our_clock_is_a_401_without_calling_kite(api_client, connected_account):
    Account.objects.filter(pk=connected_account.pk).update(token_expires_at=timezone.now() - timedelta(minutes=1))
    error = error_of(execute(api_client, "get_holdings", account_id=connected_account.id), 401)
    assert error["type"] == "session_expired" and "login" in error["message"]


def test_token_kite_refuses_past_six_am_marks_the_account_expired(api_client, connected_account, kite_settings):
    ok(execute(api_client, "get_holdings", account_id=connected_account.id))  # a cached, working client
    next_morning = kite_settings.clock().replace(hour=6, minute=1) + timedelta(days=1)
    kite_settings.set_clock(next_morning)
    error = error_of(execute(api_client, "get_holdings", account_id=connected_account.id), 401)
    assert error["type"] == "session_expired" and "Incorrect" in error["message"]  # Kite's words are kept
    connected_account.refresh_from_db()
    assert connected_account.status == "expired"


def test_kite_down_is_a_502_with_a_clear_message(api_client, connected_account, kite_settings):
    ok(execute(api_client, "get_holdings", account_id=connected_account.id))
    kite_settings.stop()
    try:
        error = error_of(execute(api_client, "get_holdings", account_id=connected_account.id), 502)
    finally:
        kite_settings.start()
    assert error["type"] == "kite_unreachable" and kite_settings.url in error["message"]


def test_order_when_kite_is_down_says_nothing_was_sent(api_client, connected_account, kite_settings):
    Account.objects.filter(pk=connected_account.pk).update(trading_enabled=True)
    ok(execute(api_client, "get_holdings", account_id=connected_account.id))
    kite_settings.stop()
    try:
        response = execute(api_client, "place_order", account_id=connected_account.id, exchange="NSE",
                           tradingsymbol="INFY", transaction_type="BUY", quantity=1, product="CNC",
                           order_type="MARKET")
    finally:
        kite_settings.start()
    error = error_of(response, 502)
    assert error["type"] == "kite_unreachable" and "nothing was sent" in error["message"]
    assert OrderAudit.objects.get().outcome == "failed"
    assert sandbox_orders(kite_settings, connected_account) == []


# --- Sessions: cached, shared between processes ------------------------------------------------------

def test_a_cached_read_costs_at_most_two_queries(user, connected_account):
    token, _ = api_token_create(user=user)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    ok(execute(client, "get_holdings", account_id=connected_account.id))  # warm the session cache
    with CaptureQueriesContext(connection) as queries:
        ok(execute(client, "get_holdings", account_id=connected_account.id))
    assert 1 <= len(queries) <= 2, [q["sql"] for q in queries]


def test_a_token_saved_by_another_process_is_used_here(api_client, connected_account, kite_settings):
    ok(execute(api_client, "get_holdings", account_id=connected_account.id))  # cached with the first token
    # Another worker logs in again: new token in the row, old one dead at Kite. Nothing here is told.
    fresh = KiteConnect(api_key=connected_account.api_key, root=kite_settings.url)
    new_token = fresh.generate_session(kite_settings.login(connected_account.api_key),
                                       api_secret=connected_account.api_secret)["access_token"]
    KiteConnect(api_key=connected_account.api_key, access_token=connected_account.access_token,
                root=kite_settings.url).invalidate_access_token()
    row = Account.objects.get(pk=connected_account.pk)
    row.access_token = new_token
    row.session_version += 1
    row.save()
    assert kite_client.cached_client_count() == 1
    ok(execute(api_client, "get_holdings", account_id=connected_account.id))


# --- Bad input --------------------------------------------------------------------------------------

BAD_ARGS = [
    ("get_profile", {}, "account_id"),
    ("get_profile", {"account_id": "1"}, "account_id"),
    ("get_profile", {"account_id": 1, "extra": True}, "extra"),
    ("get_margins", {"segment": "fx"}, "segment"),
    ("get_holdings", {"account_id": 1.5}, "account_id"),
    ("get_positions", {"account_id": -1}, "account_id"),
    ("get_orders", {"account_id": None}, "account_id"),
    ("get_order_history", {}, "order_id"),
    ("get_order_history", {"order_id": 123}, "order_id"),
    ("get_trades", {"account_id": [1]}, "account_id"),
    ("get_quotes", {"instruments": "NSE:INFY"}, "instruments"),
    ("get_quotes", {"instruments": []}, "instruments"),
    ("get_quotes", {"instruments": ["INFY"]}, "instruments.0"),
    ("get_quotes", {"instruments": ["NSE:INFY"] * 2001}, "instruments"),
    ("get_ohlc", {"instruments": [1]}, "instruments.0"),
    ("get_ltp", {"instruments": ["XYZ:INFY"]}, "instruments.0"),
    ("get_historical_data", {"instrument": "NSE:INFY", "from_date": "2026-01-01", "to_date": "2026-01-05"},
     "interval"),
    ("get_historical_data", {"instrument": "NSE:INFY", "from_date": "yesterday", "to_date": "2026-01-05",
                             "interval": "day"}, "from_date"),
    ("get_historical_data", {"from_date": "2026-01-01", "to_date": "2026-01-05", "interval": "day"}, "args"),
    ("get_historical_data", {"instrument": "NSE:INFY", "from_date": "2026-01-09", "to_date": "2026-01-05",
                             "interval": "day"}, "args"),
    ("get_historical_data", {"instrument": "NSE:INFY", "from_date": "2026-01-01", "to_date": "2026-01-05",
                             "interval": "2minute"}, "interval"),
    ("search_instruments", {"query": ""}, "query"),
    ("search_instruments", {"query": "INFY", "limit": 0}, "limit"),
    ("search_instruments", {"query": "INFY", "exchange": "NYSE"}, "exchange"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": -5,
                     "product": "CNC", "order_type": "MARKET"}, "quantity"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "HOLD", "quantity": 1,
                     "product": "CNC", "order_type": "MARKET"}, "transaction_type"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "1",
                     "product": "CNC", "order_type": "MARKET"}, "quantity"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1,
                     "product": "CNC", "order_type": "LIMIT"}, "args"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1,
                     "product": "CNC", "order_type": "MARKET", "variety": "bracket"}, "variety"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1,
                     "product": "CNC", "order_type": "MARKET", "tag": "x" * 21}, "tag"),
    ("modify_order", {"order_id": "1"}, "args"),
    ("modify_order", {"order_id": "1", "price": -1.0}, "price"),
    ("cancel_order", {}, "order_id"),
    ("cancel_order", {"order_id": "1; DROP TABLE"}, "order_id"),
]


@pytest.mark.parametrize(("tool", "args", "field"), BAD_ARGS, ids=[f"{t}-{f}-{i}" for i, (t, _, f) in
                                                                   enumerate(BAD_ARGS)])
def test_bad_arguments_are_a_400_naming_the_field_and_send_nothing(api_client, connected_account, tool, args,
                                                                   field):
    Account.objects.filter(pk=connected_account.pk).update(trading_enabled=True)
    if field != "account_id":
        args = {"account_id": connected_account.id, **args}
    response = api_client.post("/api/kite/execute", {"tool": tool, "args": args}, format="json")
    error = error_of(response, 400)
    assert error["type"] == "invalid" and field in error["fields"], error
    assert kite_client.cached_client_count() == 0  # nothing reached Kite


def test_unknown_tool_and_malformed_bodies_are_400s(api_client):
    assert error_of(execute(api_client, "rm_rf"), 400)["type"] == "unknown_tool"
    assert error_of(api_client.post("/api/kite/execute", {"args": {}}, format="json"), 400)["fields"]["tool"]
    assert error_of(api_client.post("/api/kite/execute", {"tool": "get_profile", "args": [1]}, format="json"),
                    400)["type"] == "invalid"
    assert error_of(api_client.post("/api/kite/execute", "{nope", content_type="application/json"),
                    400)["type"] == "parse_error"


def test_unknown_instrument_is_a_400(api_client, connected_account):
    aid = connected_account.id
    assert error_of(execute(api_client, "get_ltp", account_id=aid, instruments=["NSE:NOSUCH"]), 400)["type"] == \
        "unknown_instrument"
    assert error_of(execute(api_client, "get_historical_data", account_id=aid, instrument="NSE:NOSUCH",
                            from_date="2026-01-01", to_date="2026-01-05", interval="day"), 400)["type"] == \
        "unknown_instrument"


def test_historical_range_over_kites_limit_passes_kites_input_exception_on(api_client, connected_account):
    error = error_of(execute(api_client, "get_historical_data", account_id=connected_account.id,
                             instrument="NSE:INFY", from_date="2020-01-01", to_date="2026-01-01",
                             interval="minute"), 400)
    assert error["type"] == "InputException"


@pytest.mark.parametrize("body", [{"action": "dance", "account_id": 1}, {"action": "login"},
                                  {"action": "login", "account_id": "1"},
                                  {"action": "session", "account_id": 1},
                                  {"action": "login", "account_id": 1, "evil": 1}])
def test_bad_auth_requests_are_400s(api_client, body):
    assert error_of(api_client.post("/api/kite/auth", body, format="json"), 400)["type"] == "invalid"


def test_deleting_a_connected_account_ends_its_kite_session(api_client, connected_account, kite_settings):
    key, token = connected_account.api_key, connected_account.access_token
    assert api_client.delete(f"/api/accounts/{connected_account.id}").status_code == 204
    assert not Account.objects.filter(pk=connected_account.pk).exists()
    with pytest.raises(Exception, match="Incorrect"):
        KiteConnect(api_key=key, access_token=token, root=kite_settings.url).profile()


def test_a_login_by_another_kite_user_is_refused_and_its_token_invalidated(api_client, sandbox_account,
                                                                           kite_settings):
    Account.objects.filter(pk=sandbox_account.pk).update(kite_user_id="ZZ0000")  # bound to another Kite user
    seen = len(kite_settings.log_tail(1_000_000).splitlines())
    login_url = login_url_for(api_client, sandbox_account)
    response = complete_login(api_client, kite_settings, login_url)
    assert response.status_code == 302
    sandbox_account.refresh_from_db()
    assert sandbox_account.access_token is None and sandbox_account.kite_user_id == "ZZ0000"
    messages = [m.message for m in response.wsgi_request._messages]
    assert any("belongs to Kite user ZZ0000" in m for m in messages), messages
    # The stranger's session was ended at Kite. (The sandbox writes a request's log line after answering it,
    # so the line may land a moment after our answer: read the log until it does, for a bounded while.)
    deadline = time.monotonic() + 10
    while True:
        since = kite_settings.log_tail(1_000_000).splitlines()[seen:]
        exchanged = next((i for i, line in enumerate(since) if "POST /session/token" in line), None)
        if exchanged is not None and any("DELETE /session/token" in line for line in since[exchanged:]):
            break
        assert time.monotonic() < deadline, since
        time.sleep(0.05)


def test_new_credentials_unbind_the_kite_user(api_client, connected_account):
    response = api_client.patch(f"/api/accounts/{connected_account.id}", {"api_key": "anotherapp1"}, format="json")
    assert response.status_code == 200 and response.json()["kite_user_id"] == ""


def test_times_read_the_same_in_every_endpoint(api_client, connected_account):
    from_accounts = api_client.get(f"/api/accounts/{connected_account.id}").json()["token_expires_at"]
    from_kite = api_client.get("/api/kite/accounts").json()[0]["token_expires_at"]
    assert from_accounts == from_kite and from_kite.endswith("06:00:00+05:30")
