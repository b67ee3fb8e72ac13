"""The registry is the whole truth about a tool: each write tool describes itself to the human in one
sentence with every parameter that will be sent, names the field of its answer that identifies what it
created, and says what to do when its answer is lost."""
from __future__ import annotations

import pytest

from accounts.models import Account
from kite.tools import TOOLS

LIVE = Account(pk=7, name="Main", environment="live")
PAPER = Account(pk=8, name="Paper", environment="sandbox")

# One sample argument set per write tool: a new write tool without one fails the first test below.
SAMPLES: dict[str, dict[str, object]] = {
    "place_order": dict(exchange="NFO", tradingsymbol="NIFTY24DECFUT", transaction_type="SELL", quantity=50,
                        product="NRML", order_type="SL", price=23950.5, trigger_price=24000, variety="regular",
                        validity="TTL", validity_ttl=15, disclosed_quantity=10, tag="hedge1"),
    "modify_order": dict(order_id="240611000123", trigger_price=99.5, order_type="SL-M"),
    "cancel_order": dict(order_id="240611000123", variety="amo"),
    "exit_order": dict(order_id="240611000124", parent_order_id="240611000123"),
    "place_gtt": dict(trigger_type="two-leg", exchange="NSE", tradingsymbol="INFY", trigger_values=[1455.0, 1715.0],
                      last_price=1600.0, orders=[dict(transaction_type="SELL", quantity=10, price=1450.0),
                                                 dict(transaction_type="SELL", quantity=10, price=1720.0)]),
    "modify_gtt": dict(trigger_id=123, trigger_type="single", exchange="NSE", tradingsymbol="INFY",
                       trigger_values=[1455.0], last_price=1600.0,
                       orders=[dict(transaction_type="SELL", quantity=10, price=1450.0)]),
    "delete_gtt": dict(trigger_id=123),
    "place_mf_order": dict(tradingsymbol="INF209K01157", transaction_type="BUY", amount=5000.0),
    "cancel_mf_order": dict(order_id="3bb085d1-5038-450e-a807-6543fef6c9ae"),
    "place_mf_sip": dict(tradingsymbol="INF209K01157", amount=2000.0, instalments=12, frequency="monthly",
                         instalment_day=5, initial_amount=5000.0),
    "modify_mf_sip": dict(sip_id="986124545877922", status="paused"),
    "cancel_mf_sip": dict(sip_id="986124545877922"),
    "convert_position": dict(exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", position_type="day",
                             quantity=5, old_product="MIS", new_product="CNC"),
}
WRITES = [t for t in TOOLS.values() if t.write is not None]


def summary(name: str, account: Account = LIVE, **arguments: object) -> str:
    tool = TOOLS[name]
    return tool.summary(tool.validate({"account_id": account.pk, **arguments}), account)


@pytest.mark.parametrize("tool", WRITES, ids=lambda t: t.name)
def test_every_write_tool_describes_itself_in_one_sentence_naming_the_account(tool):
    assert tool.name in SAMPLES, f"add a sample argument set for the write tool {tool.name}"
    text = summary(tool.name, **SAMPLES[tool.name])
    assert "\n" not in text and text.endswith(".")
    assert text.startswith(f'{tool.title} on Kite account "Main" (LIVE account: real money): ')
    assert tool.write.unknown_outcome and (tool.write.creates or tool.name == "convert_position")
    # Kite's "orders" class is its order routes; GTT and mutual-fund routes are its "other" class.
    assert tool.rate_class == ("orders" if tool.name.endswith("_order") and "mf" not in tool.name else "other")


def test_a_stop_loss_order_shows_every_parameter_and_that_money_is_real():
    text = summary("place_order", **SAMPLES["place_order"])
    for shown in ("SELL 50 × NFO:NIFTY24DECFUT", "SL at 23,950.50", "trigger price 24,000.00", "product NRML",
                  "variety regular", "validity TTL (15 min)", "disclosed quantity 10", "tag hedge1"):
        assert shown in text, shown
    assert "paper money" in summary("place_order", PAPER, **SAMPLES["place_order"])


def test_a_market_order_shows_kites_default_validity_and_no_price():
    text = summary("place_order", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY", quantity=1,
                   product="CNC", order_type="MARKET")
    assert "BUY 1 × NSE:INFY, MARKET," in text and "validity DAY (Kite default)" in text and "price" not in text


def test_modify_shows_only_the_changes_and_cancel_the_order_id():
    modify = summary("modify_order", **SAMPLES["modify_order"])
    assert "order 240611000123 (regular): " in modify
    assert "trigger price → 99.50" in modify and "order type → SL-M" in modify and "quantity" not in modify
    assert summary("cancel_order", **SAMPLES["cancel_order"]).endswith(": order 240611000123 (amo).")


def test_reads_have_no_write_spec_and_spend_kites_read_classes():
    reads = {t.name: t for t in TOOLS.values() if t.read_only}
    assert {"list_accounts", "login", "get_holdings", "get_quotes"} <= set(reads)
    assert (reads["get_quotes"].rate_class, reads["get_ltp"].rate_class) == ("quote", "quote")
    assert reads["get_historical_data"].rate_class == "historical"
    assert reads["get_holdings"].rate_class == "other"
    assert not reads["list_accounts"].needs_account and not reads["login"].needs_session
    with pytest.raises(AssertionError):
        reads["get_holdings"].summary(reads["get_holdings"].validate({"account_id": 1}), LIVE)


def test_a_gtt_says_what_fires_when():
    assert summary("place_gtt", **SAMPLES["place_gtt"]).endswith(
        ": SELL 10 NSE:INFY at 1,450.00 (LIMIT, CNC) if the price falls to 1,455.00; or SELL 10 at 1,720.00 if "
        "it rises to 1,715.00 (last price 1,600.00).")
    assert "trigger 123: SELL 10 NSE:INFY at 1,450.00" in summary("modify_gtt", **SAMPLES["modify_gtt"])


def test_mutual_fund_writes_say_amounts_in_rupees():
    assert summary("place_mf_order", **SAMPLES["place_mf_order"]).endswith(": BUY ₹5,000.00 of INF209K01157.")
    assert summary("place_mf_sip", **SAMPLES["place_mf_sip"]).endswith(
        ": ₹2,000.00 monthly on day 5 into INF209K01157, 12 instalments, ₹5,000.00 at once.")
    assert summary("modify_mf_sip", **SAMPLES["modify_mf_sip"]).endswith(": SIP 986124545877922: status → paused.")


@pytest.mark.parametrize("changes, problem", [
    ({"trigger_values": [1715.0, 1455.0]}, "ascending"),
    ({"trigger_type": "single"}, "takes 1 trigger value"),
    ({"orders": [dict(transaction_type="SELL", quantity=10, price=1450.0, product="MIS")] * 2}, "product"),
])
def test_gtt_arguments_follow_kites_rules(changes, problem):
    from kite.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        TOOLS["place_gtt"].validate({"account_id": 1, **SAMPLES["place_gtt"], **changes})
    assert problem in str(caught.value.fields)


@pytest.mark.parametrize("arguments", [
    dict(tradingsymbol="INF209K01157", transaction_type="BUY", quantity=5.0),
    dict(tradingsymbol="INF209K01157", transaction_type="SELL", amount=500.0),
])
def test_mutual_fund_orders_take_an_amount_to_buy_and_units_to_sell(arguments):
    from kite.errors import InvalidInput

    with pytest.raises(InvalidInput):
        TOOLS["place_mf_order"].validate({"account_id": 1, **arguments})
