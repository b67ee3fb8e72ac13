"""`exit_order` over REST (`POST /api/kite/execute`) against the sandbox: a cover order's stop-loss
leg is exited at the market and audited with its id; Kite's refusal (exiting an order that is not a
cover order) reaches the caller in Kite's words; bad arguments are a 400 that sends nothing.

The cover order is placed through the registry's `place_order` (variety co, a stop-loss trigger_price),
as a user would; the official client on the account's own session reads the book."""
from __future__ import annotations

import pytest
from kiteconnect import KiteConnect

from accounts.models import Account
from kite.models import OrderAudit
from tests.kite.test_flow import error_of, execute, ok
from tests.kite.test_more_tools import tick


def official(account: Account, sandbox) -> KiteConnect:
    account.refresh_from_db()
    return KiteConnect(api_key=account.api_key, access_token=account.access_token, root=sandbox.url)


def cover_order(kite: KiteConnect, api_client, account: Account) -> tuple[str, str]:
    """A filled BUY cover order on ITC placed through `place_order`: (entry id, stop-loss leg id)."""
    last = kite.ltp("NSE:ITC")["NSE:ITC"]["last_price"]
    entry = ok(execute(api_client, "place_order", account_id=account.id, variety="co", exchange="NSE",
                       tradingsymbol="ITC", transaction_type="BUY", quantity=5, product="CO", order_type="MARKET",
                       trigger_price=tick(last * 0.99)))["order_id"]
    (leg,) = [o for o in kite.orders() if o["parent_order_id"] == entry]
    return entry, leg["order_id"]


def test_exit_order_squares_a_cover_order_and_is_audited_with_the_leg_id(api_client, trading, kite_settings):
    kite = official(trading, kite_settings)
    entry, leg = cover_order(kite, api_client, trading)
    answer = ok(execute(api_client, "exit_order", account_id=trading.id, order_id=leg, parent_order_id=entry))
    assert answer == {"order_id": leg}
    exited = next(o for o in kite.orders() if o["order_id"] == leg)
    assert (exited["status"], exited["order_type"], exited["filled_quantity"]) == ("COMPLETE", "MARKET", 5)
    assert [p["quantity"] for p in kite.positions()["net"] if p["product"] == "CO"] == [0]
    audits = list(OrderAudit.objects.order_by("id").values_list("tool", "outcome", "order_id"))
    assert audits == [("place_order", "sent", entry), ("exit_order", "sent", leg)]


def test_exiting_a_regular_order_is_kites_refusal_and_changes_nothing(api_client, trading, kite_settings):
    kite = official(trading, kite_settings)
    last = kite.ltp("NSE:ITC")["NSE:ITC"]["last_price"]
    regular = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                               quantity=1, product="MIS", order_type="LIMIT", price=tick(last * 0.95))
    error = error_of(execute(api_client, "exit_order", account_id=trading.id, order_id=regular), 400)
    assert error["type"] == "InputException" and "not a cover order" in error["message"]
    assert error["message"].startswith("Kite: ")
    assert next(o for o in kite.orders() if o["order_id"] == regular)["status"] == "OPEN"
    assert list(OrderAudit.objects.values_list("tool", "outcome")) == [("exit_order", "failed")]


def test_exit_order_without_the_parent_of_a_leg_is_refused_by_kite(api_client, trading, kite_settings):
    kite = official(trading, kite_settings)
    _, leg = cover_order(kite, api_client, trading)
    error = error_of(execute(api_client, "exit_order", account_id=trading.id, order_id=leg), 400)
    assert "Missing `parent_order_id`" in error["message"]
    assert next(o for o in kite.orders() if o["order_id"] == leg)["status"] == "TRIGGER PENDING"


@pytest.mark.parametrize("args, field", [
    ({"order_id": "1", "variety": "regular"}, "variety"),
    ({}, "order_id"),
    ({"order_id": "1; DROP", "parent_order_id": "2"}, "order_id"),
    ({"order_id": "1", "parent_order_id": ""}, "parent_order_id"),
])
def test_bad_exit_order_arguments_are_a_400_naming_the_field_and_send_nothing(api_client, trading, args, field):
    error = error_of(execute(api_client, "exit_order", account_id=trading.id, **args), 400)
    assert error["type"] == "invalid" and field in error["fields"], error
    assert not OrderAudit.objects.exclude(outcome="refused").exists()


def test_exit_order_is_refused_without_trading(api_client, connected_account):
    error = error_of(execute(api_client, "exit_order", account_id=connected_account.id, order_id="1"), 403)
    assert error["type"] == "trading_disabled"


@pytest.mark.parametrize("args, words", [
    ({"order_type": "SL", "price": 100, "trigger_price": 99}, "MARKET or LIMIT"),
    ({"order_type": "MARKET"}, "stop-loss trigger_price"),
    ({"order_type": "MARKET", "trigger_price": 99, "product": "CNC"}, "intraday"),
    ({"order_type": "MARKET", "trigger_price": 99, "validity": "IOC"}, "DAY"),
])
def test_a_malformed_cover_order_is_refused_before_sending(api_client, trading, args, words):
    base = {"variety": "co", "exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY", "quantity": 5,
            "product": "CO"}
    error = error_of(execute(api_client, "place_order", account_id=trading.id, **{**base, **args}), 400)
    assert words in error["message"]
    assert list(OrderAudit.objects.values_list("tool", "outcome", "order_id")) == [("place_order", "refused", "")]


def test_product_co_outside_a_cover_order_is_refused(api_client, trading):
    error = error_of(execute(api_client, "place_order", account_id=trading.id, exchange="NSE", tradingsymbol="ITC",
                             transaction_type="BUY", quantity=1, product="CO", order_type="LIMIT", price=100), 400)
    assert "variety co" in error["message"]
