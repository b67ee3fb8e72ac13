"""The confirmation text: every parameter that will be sent, in words a human checks before saying yes."""
from __future__ import annotations

from accounts.models import Account
from kite.services import ToolCall
from kite.tools import TOOLS
from mcp_bridge.confirm import describe, fingerprint


def call(tool: str, account: Account | None = None, **arguments: object) -> ToolCall:
    account = account or Account(pk=7, name="Main", environment="live")
    return ToolCall(tool=TOOLS[tool], args=TOOLS[tool].validate({"account_id": account.pk, **arguments}),
                    account=account, user=None, path="mcp")  # type: ignore[arg-type]


def test_a_stop_loss_order_shows_every_parameter_and_that_money_is_real():
    text = describe(call("place_order", exchange="NFO", tradingsymbol="NIFTY24DECFUT", transaction_type="SELL",
                         quantity=50, product="NRML", order_type="SL", price=23950.5, trigger_price=24000,
                         variety="regular", validity="TTL", validity_ttl=15, disclosed_quantity=10, tag="hedge1"))
    for shown in ('Kite account "Main" (LIVE account: real money)', "SELL 50 × NFO:NIFTY24DECFUT",
                  "order type: SL, price 23,950.50, trigger price 24,000.00", "product: NRML, variety: regular",
                  "validity: TTL (15 min)", "disclosed quantity: 10", "tag: hedge1", "Nothing is sent unless"):
        assert shown in text, shown


def test_a_market_order_shows_kites_default_validity_and_no_price():
    text = describe(call("place_order", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
                         product="CNC", order_type="MARKET"))
    assert "validity: DAY (Kite default)" in text and "price" not in text


def test_modify_shows_only_the_changes_and_cancel_the_order_id():
    modify = describe(call("modify_order", order_id="240611000123", trigger_price=99.5, order_type="SL-M"))
    assert "Modify order 240611000123 (regular)" in modify
    assert "trigger price → 99.50" in modify and "order type → SL-M" in modify and "quantity" not in modify
    assert "Cancel order 240611000123 (amo)" in describe(call("cancel_order", order_id="240611000123",
                                                              variety="amo"))


def test_the_fingerprint_changes_with_any_parameter_or_account():
    base = dict(exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1, product="CNC",
                order_type="MARKET")
    same = fingerprint(call("place_order", **base))
    assert fingerprint(call("place_order", **base)) == same
    assert fingerprint(call("place_order", **(base | {"quantity": 2}))) != same
    assert fingerprint(call("place_order", Account(pk=8, name="Other", environment="live"), **base)) != same
