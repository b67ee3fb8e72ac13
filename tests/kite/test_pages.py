"""The Kite pages (connect, disconnect, portfolio, orders) with Django's test Client.

The first tests need no Kite at all (refusals happen before any call); the rest talk to the sandbox over HTTP.
"""
from __future__ import annotations

import re
import socket
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from kite.models import OrderAudit
from kite.services.execution import tool_execute
from tests.conftest import complete_login
from tests.factories import AccountFactory

SECRET, TOKEN = "SECRETneverShown0042", "TOKENneverShown0077"


@pytest.fixture
def client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def problem(page: str, account: Account) -> str:
    match = re.search(rf'<div class="notice[^"]*" data-account-problem="{account.id}">.*?</div>', page, re.S)
    assert match, page
    return match.group(0)


def total(page: str, name: str) -> float:
    match = re.search(rf'data-total="{name}">(?:<span[^>]*>)?[₹+]*([-\d,.]+)', page)
    assert match, name
    return float(match.group(1).replace(",", ""))


# --- Without Kite ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/portfolio/", "/portfolio/data?account=all", "/orders/"])
def test_an_expired_session_offers_log_in_again_not_an_error_page(client, user, path):
    account = AccountFactory(user=user, name="Main", access_token=TOKEN,
                             token_expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(path)
    assert response.status_code == 200
    notice = problem(response.content.decode(), account)
    assert "the Kite session has expired" in notice
    assert f'action="/settings/accounts/{account.id}/connect/"' in notice and "Log in again" in notice
    assert 'name="csrfmiddlewaretoken"' in notice


def test_a_never_connected_account_offers_log_in(client, user):
    account = AccountFactory(user=user, name="Fresh")
    notice = problem(client.get("/portfolio/").content.decode(), account)
    assert "not connected to Kite yet" in notice and ">Log in<" in notice


def test_other_tool_errors_are_shown_inline(client, user, settings):
    settings.KITE_API_ROOT = closed_port_url()  # Kite unreachable: a service error that is not session_expired
    account = AccountFactory(user=user, name="Main", access_token=TOKEN,
                             token_expires_at=timezone.now() + timedelta(hours=2))
    response = client.get(f"/portfolio/?account={account.id}")
    assert response.status_code == 200
    notice = problem(response.content.decode(), account)
    assert "error-text" in notice and "Log in" not in notice
    assert re.search(r"(?i)unreachable|could not reach|connect", notice)


def test_portfolio_without_accounts_invites_to_add_one(client):
    page = client.get("/portfolio/").content.decode()
    assert "No accounts yet" in page and 'href="/settings/accounts/add/"' in page
    assert "data-live-url" not in page


def test_portfolio_data_is_a_fragment_that_is_never_cached(client, user):
    AccountFactory(user=user, name="Main")
    response = client.get("/portfolio/data?account=all")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.content.decode()
    assert "<html" not in body and "data-fetched-at" in body


def test_portfolio_page_polls_its_fragment_every_few_seconds(client, user):
    account = AccountFactory(user=user, name="Main")
    page = client.get(f"/portfolio/?account={account.id}").content.decode()
    assert f'data-live-url="/portfolio/data?account={account.id}"' in page and 'data-live-every="5"' in page
    assert '<script src="/static/app.js" defer>' in page


@pytest.mark.parametrize("account_param", ["abc", "999999"])
def test_an_unknown_account_is_404(client, account_param):
    assert client.get(f"/portfolio/?account={account_param}").status_code == 404
    assert client.get(f"/orders/?account={account_param}").status_code == 404


def test_connect_redirects_to_the_kite_login_without_secrets(client, user, settings):
    settings.KITE_LOGIN_URL = "https://kite.example/connect/login"
    account = AccountFactory(user=user, api_key="pubkey1234", api_secret=SECRET)
    response = client.post(f"/settings/accounts/{account.id}/connect/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("https://kite.example/connect/login?")
    query = parse_qs(urlsplit(location).query)
    assert query["api_key"] == ["pubkey1234"] and "state=" in query["redirect_params"][0]
    assert SECRET not in location


def test_connect_without_credentials_comes_back_with_a_message(client, user):
    account = AccountFactory(user=user, name="NoKey", api_key=None, api_secret=None)
    response = client.post(f"/settings/accounts/{account.id}/connect/", follow=True)
    assert response.redirect_chain[-1][0] == "/settings/accounts/"
    assert "Cannot connect NoKey" in response.content.decode()


def test_connect_and_disconnect_refuse_get(client, user):
    account = AccountFactory(user=user)
    assert client.get(f"/settings/accounts/{account.id}/connect/").status_code == 405
    assert client.get(f"/settings/accounts/{account.id}/disconnect/").status_code == 405


def test_disconnect_forgets_the_session_even_when_kite_does_not_answer(client, user, settings):
    settings.KITE_API_ROOT = closed_port_url()
    account = AccountFactory(user=user, name="Main", access_token=TOKEN,
                             token_expires_at=timezone.now() + timedelta(hours=2))
    response = client.post(f"/settings/accounts/{account.id}/disconnect/", follow=True)
    account.refresh_from_db()
    assert account.access_token is None and account.status == "needs_login"
    assert "Disconnected Main (Kite did not confirm" in response.content.decode()


def test_orders_page_shows_only_the_users_audit_log_newest_first(client, user, other_user):
    account = AccountFactory(user=user, name="Main")
    arguments = {"account_id": account.id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
                 "quantity": 3, "order_type": "MARKET", "product": "CNC"}
    # ORD0 as rows were written before summaries were kept (its arguments are shown), ORD1 with its summary.
    for n, (outcome, summary) in enumerate([("refused", ""), ("sent", "Place an order: BUY 3 × NSE:INFY, MARKET.")]):
        OrderAudit.objects.create(user=user, username="alice", path="web", account=account, account_name="Main",
                                  tool="place_order", outcome=outcome, order_id=f"ORD{n}", arguments=arguments,
                                  summary=summary)
    OrderAudit.objects.create(user=other_user, username="bob", path="api", tool="cancel_order", outcome="sent",
                              order_id="BOBSORDER")
    page = client.get("/orders/").content.decode()
    assert page.index('data-audit-id') < page.index("ORD1") < page.index("ORD0")
    assert page.index("Place an order: BUY 3 × NSE:INFY, MARKET.") < page.index("ORD1")
    old_row = page[page.index("ORD1"):page.index("ORD0")]  # (PostgreSQL's jsonb keeps no key order)
    for shown in ("exchange NSE", "tradingsymbol INFY", "transaction_type BUY", "quantity 3"):
        assert shown in old_row, shown
    assert "BOBSORDER" not in page


# --- Against the sandbox -----------------------------------------------------------------------------------

@pytest.fixture
def web_connected(client, sandbox_account, kite_settings) -> Account:
    """The sandbox account, connected through the page's Connect button, the sandbox login and our callback."""
    response = client.post(f"/settings/accounts/{sandbox_account.id}/connect/")
    assert response.status_code == 302 and response["Location"].startswith(f"{kite_settings.url}/connect/login?")
    back = complete_login(client, kite_settings, response["Location"])
    assert back.status_code == 302 and back["Location"] == "/settings/accounts/"
    sandbox_account.refresh_from_db()
    assert sandbox_account.status == "connected"
    return sandbox_account


def test_connect_through_the_sandbox_login_comes_back_connected(client, web_connected):
    page = client.get("/settings/accounts/").content.decode()
    assert f"Connected {web_connected.name} (Kite user {web_connected.kite_user_id})" in page
    assert "connected until" in page


def test_portfolio_shows_holdings_and_totals_that_add_up(client, user, web_connected):
    holdings = tool_execute(user=user, tool_name="get_holdings", arguments={"account_id": web_connected.id},
                                     path="web")
    assert holdings, "a new paper user starts with holdings"
    page = client.get(f"/portfolio/?account={web_connected.id}").content.decode()
    for holding in holdings:
        assert f'data-symbol="{holding["tradingsymbol"]}"' in page
    invested = sum(h["quantity"] * h["average_price"] for h in holdings)  # quantity: net, T+1 included
    value = sum(h["quantity"] * h["last_price"] for h in holdings)
    assert total(page, "invested") == pytest.approx(invested, abs=0.01)
    assert total(page, "value") == pytest.approx(value, abs=0.02)  # prices may tick between the two reads
    assert total(page, "available") > 0
    assert "Positions" in page and "data-account-problem" not in page


def test_portfolio_for_all_accounts_adds_them_up(client, user, web_connected, kite_settings):
    one = total(client.get(f"/portfolio/?account={web_connected.id}").content.decode(), "invested")
    expired = AccountFactory(user=user, name="Stale", access_token=TOKEN,
                             token_expires_at=timezone.now() - timedelta(minutes=1))
    page = client.get("/portfolio/?account=all").content.decode()
    assert total(page, "invested") == pytest.approx(one, abs=0.01)
    assert "Totals of Paper only: the holdings of Stale could not be read" in page  # said to be partial
    assert 'data-missing="holdings"' in page and 'data-incomplete="yes"' in page
    assert "Log in again" in problem(page, expired)
    assert 'class="account-tag">Paper<' in page


def test_nothing_read_is_never_shown_as_zero_or_empty(client, user):
    AccountFactory(user=user, name="Stale", access_token=TOKEN, token_expires_at=timezone.now() - timedelta(minutes=1))
    page = client.get("/portfolio/").content.decode()
    assert "₹0.00" not in page and "No holdings." not in page and "No positions today." not in page
    assert "No totals: the holdings of Stale could not be read" in page
    assert 'data-state="error"' in page  # the status line does not say "Live"


def test_a_session_kite_refuses_turns_into_log_in_again(client, user, web_connected, kite_settings):
    Account.objects.filter(pk=web_connected.pk).update(access_token="forgedtoken0000000001",
                                                       session_version=web_connected.session_version + 1)
    page = client.get("/portfolio/").content.decode()
    assert "Log in again" in problem(page, web_connected)
    web_connected.refresh_from_db()
    assert web_connected.status == "expired"


def test_orders_page_shows_todays_orders_trades_and_the_audit_entry(client, user, web_connected):
    Account.objects.filter(pk=web_connected.pk).update(trading_enabled=True)
    placed = tool_execute(user=user, tool_name="place_order", path="web", arguments={
        "account_id": web_connected.id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
        "quantity": 2, "product": "CNC", "order_type": "MARKET"})
    page = client.get(f"/orders/?account={web_connected.id}").content.decode()
    assert f'data-order-id="{placed["order_id"]}"' in page
    assert "BUY 2 × NSE:INFY, MARKET, market protection automatic (-1), product CNC" in page
    assert "sent to Kite" in page
    orders = tool_execute(user=user, tool_name="get_orders", arguments={"account_id": web_connected.id})
    if orders[-1]["status"] == "COMPLETE":
        assert re.search(r'data-trade-id="[^"]+"', page)


def test_no_secret_or_token_in_any_kite_page(client, web_connected):
    web_connected.refresh_from_db()
    secrets = [web_connected.api_secret, web_connected.access_token]
    assert all(secrets)
    for path in ("/portfolio/", "/portfolio/data?account=all", f"/orders/?account={web_connected.id}",
                 "/settings/accounts/", f"/settings/accounts/{web_connected.id}/edit/"):
        body = client.get(path).content.decode()
        for value in secrets:
            assert value not in body, path
        assert web_connected.api_key not in body, path


def test_a_gtt_is_deleted_from_the_portfolio_page_through_the_audited_tool(client, user, web_connected):
    Account.objects.filter(pk=web_connected.pk).update(trading_enabled=True)
    last = tool_execute(user=user, tool_name="get_ltp", arguments={"account_id": web_connected.id,
                                                                  "instruments": ["NSE:ITC"]})["NSE:ITC"]["last_price"]
    trigger = round(round(last * 0.9 / 0.05) * 0.05, 2)
    trigger_id = tool_execute(user=user, tool_name="place_gtt", path="web", arguments={
        "account_id": web_connected.id, "trigger_type": "single", "exchange": "NSE", "tradingsymbol": "ITC",
        "trigger_values": [trigger], "last_price": last,
        "orders": [{"transaction_type": "BUY", "quantity": 1, "price": trigger}]})["trigger_id"]
    page = client.get("/portfolio/").content.decode()
    assert f'action="/portfolio/gtt/{web_connected.id}/{trigger_id}/delete/"' in page
    response = client.post(f"/portfolio/gtt/{web_connected.id}/{trigger_id}/delete/", follow=True)
    assert f"Deleted GTT {trigger_id}" in response.content.decode()
    assert f'data-gtt-id="{trigger_id}"' not in client.get("/portfolio/").content.decode()
    assert list(OrderAudit.objects.order_by("id").values_list("tool", "path", "outcome")) == [
        ("place_gtt", "web", "sent"), ("delete_gtt", "web", "sent")]
