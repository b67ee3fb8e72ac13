"""Which accounts the server serves, expired sessions and `login`, and bad arguments of every kind."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Account
from kite.models import OrderAudit
from tests.conftest import complete_login
from tests.factories import UserFactory
from tests.fixtures.sandbox import IST, TRADING_TIME
from tests.mcp_bridge.conftest import accept, sandbox_orders


def test_two_accounts_are_served_at_once_each_with_its_own_kite_user(server_env, paper, mcp):
    first, second = paper("Paper"), paper("Second", trading=False)
    with mcp(server_env(user="alice")) as session:
        listed = session.ok("list_accounts")["accounts"]
        profiles = [session.ok("get_profile", {"account_id": a.id})["user_id"] for a in (first, second)]
        text, error = session.error("get_holdings")
    assert [(a["id"], a["name"], a["environment"], a["status"], a["trading_enabled"], a["confirm_orders"])
            for a in listed] == [(first.id, "Paper", "sandbox", "connected", True, True),
                                 (second.id, "Second", "sandbox", "connected", False, True)]
    assert profiles == [first.kite_user_id, second.kite_user_id] and profiles[0] != profiles[1]
    assert error["type"] == "invalid" and "account_id" in error["fields"] and "list_accounts" in text
    # The same instant in the same words as the REST API: ISO 8601 in IST (once it was UTC over MCP).
    rest = APIClient()
    rest.force_login(first.user)
    from_rest = {r["id"]: r["token_expires_at"] for r in rest.get("/api/kite/accounts").json()}
    assert [a["token_expires_at"] for a in listed] == [from_rest[first.id], from_rest[second.id]]
    assert listed[0]["token_expires_at"].endswith("T06:00:00+05:30")


def test_accounts_outside_the_served_set_are_refused_exactly_like_missing_ones(server_env, paper, mcp,
                                                                              kite_settings):
    served, unserved = paper("Paper"), paper("Unserved")
    bobs = paper("Bobs", user=UserFactory(username="bob"))
    human = accept()
    with mcp(server_env(user="alice", accounts=f"Paper,{served.id}"), elicitation=human) as session:
        listed = [a["id"] for a in session.ok("list_accounts")["accounts"]]
        reads = {aid: session.error("get_holdings", {"account_id": aid}) for aid in (unserved.id, bobs.id, 999999)}
        orders = {aid: session.error("place_order", {"account_id": aid, "exchange": "NSE", "tradingsymbol": "INFY",
                                                     "transaction_type": "BUY", "quantity": 1, "product": "CNC",
                                                     "order_type": "MARKET"})
                  for aid in (unserved.id, bobs.id, 999999)}
        logins = {aid: session.error("login", {"account_id": aid}) for aid in (unserved.id, bobs.id, 999999)}
    assert listed == [served.id]
    for answers in (reads, orders, logins):
        assert len({text for text, _ in answers.values()}) == 1, answers  # not a word differs
        assert all(error["type"] == "not_found" for _, error in answers.values())
    assert human.asked == []
    assert sandbox_orders(kite_settings, unserved) == []
    assert list(OrderAudit.objects.values_list("path", "outcome", "error_type", "account")) == \
        [("mcp", "refused", "not_found", None)] * 3


def test_an_expired_session_names_login_and_a_new_login_works_without_a_restart(server_env, paper, mcp,
                                                                               kite_settings):
    account = paper()
    Account.objects.filter(pk=account.pk).update(token_expires_at=timezone.now() - timedelta(minutes=1))
    with mcp(server_env(user="alice")) as session:
        text, error = session.error("get_holdings")
        assert session.ok("list_accounts")["accounts"][0]["status"] == "expired"
        login = session.ok("login")
        # The human opens the URL; Kite (the sandbox) sends the browser to the web app's callback.
        browser = Client()
        browser.force_login(account.user)  # the callback completes only in the owner's signed-in browser
        complete_login(browser, kite_settings, login["login_url"])
        holdings = session.ok("get_holdings")["result"]
    assert error["type"] == "session_expired" and "`login`" in text
    assert login["login_url"].startswith(f"{kite_settings.url}/connect/login?") and login["account"] == "Paper"
    account.refresh_from_db()
    assert account.status == "connected" and holdings


def test_a_token_kite_refuses_after_six_am_is_session_expired_naming_login(server_env, paper, mcp, kite_settings):
    account = paper()
    with mcp(server_env(user="alice")) as session:
        session.ok("get_holdings")  # a working, cached client first
        kite_settings.set_clock(datetime.combine(TRADING_TIME.date() + timedelta(days=1), time(6, 1), tzinfo=IST))
        text, error = session.error("get_holdings")
    assert error["type"] == "session_expired" and "`login`" in text and "Kite said:" in text
    account.refresh_from_db()
    assert account.status == "expired"


BAD_ARGUMENTS = [
    # (tool, arguments, the field the error must name)
    ("get_order_history", {}, "order_id"),  # missing
    ("get_order_history", {"order_id": 12345}, "order_id"),  # wrong type
    ("get_holdings", {"verbose": True}, "verbose"),  # unknown key
    ("get_holdings", {"account_id": "1"}, "account_id"),  # a string is not an id
    ("get_holdings", {"account_id": True}, "account_id"),
    ("get_quotes", {"instruments": "NSE:INFY"}, "instruments"),
    ("get_quotes", {"instruments": ["INFY"]}, "instruments.0"),  # not EXCHANGE:SYMBOL
    ("get_margins", {"segment": "forex"}, "segment"),
    ("search_instruments", {"query": "INFY", "limit": 0}, "limit"),
    ("get_historical_data", {"instrument": "NSE:INFY", "from_date": "yesterday", "to_date": "2026-01-05",
                             "interval": "day"}, "from_date"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "1",
                     "product": "CNC", "order_type": "MARKET"}, "quantity"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "HOLD", "quantity": 1,
                     "product": "CNC", "order_type": "MARKET"}, "transaction_type"),
    ("place_order", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1,
                     "product": "CNC", "order_type": "LIMIT"}, "price"),  # a rule across fields
    ("modify_order", {"order_id": "X1"}, "quantity"),  # nothing to modify
    ("list_accounts", {"account_id": 1}, "account_id"),
    ("login", {"account_id": "Paper"}, "account_id"),
]


def test_bad_arguments_of_every_kind_are_tool_errors_naming_the_field(server_env, paper, mcp, kite_settings):
    account = paper()
    human = accept()
    with mcp(server_env(user="alice"), elicitation=human) as session:
        answers = [(case, session.error(case[0], case[1])) for case in BAD_ARGUMENTS]
        unknown_text, unknown = session.error("no_such_tool", {})
        assert session.ok("get_holdings")["result"]  # the server still serves
    for (tool, _, field), (text, error) in answers:
        assert error["type"] == "invalid" and text.startswith("invalid: "), (tool, field, text)
        assert field in text, (tool, field, text)
        assert field in error["fields"] or field in error["message"], (tool, field, error)
    assert unknown["type"] == "unknown_tool" and "no_such_tool" in unknown_text
    assert human.asked == [] and sandbox_orders(kite_settings, account) == []
    # Refused orders are audited too, with path mcp.
    refused = list(OrderAudit.objects.values_list("tool", "outcome", "error_type", "path"))
    order_cases = [c for c in BAD_ARGUMENTS if c[0] in ("place_order", "modify_order")]
    assert sorted(refused) == sorted((c[0], "refused", "invalid", "mcp") for c in order_cases)
