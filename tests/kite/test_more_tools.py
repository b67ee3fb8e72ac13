"""The rest of Kite as tools, over REST against the sandbox: GTT, mutual funds and SIPs, margins and
charges, an order's trades, position conversion. Writes are gated, audited with the id Kite returns."""
from __future__ import annotations

import pytest

from accounts.models import Account
from kite.models import OrderAudit
from tests.kite.test_flow import error_of, execute, ok


def tick(value: float) -> float:
    return round(round(value / 0.05) * 0.05, 2)


def last_price(api_client, account, key: str = "NSE:ITC") -> float:
    return ok(execute(api_client, "get_ltp", account_id=account.id, instruments=[key]))[key]["last_price"]


def test_a_gtt_is_placed_listed_fired_by_a_price_move_and_audited_with_its_trigger_id(api_client, trading,
                                                                                      kite_settings):
    last = last_price(api_client, trading)
    trigger, price = tick(last * 0.97), tick(last * 0.975)
    placed = ok(execute(api_client, "place_gtt", account_id=trading.id, trigger_type="single", exchange="NSE",
                        tradingsymbol="ITC", trigger_values=[trigger], last_price=last,
                        orders=[{"transaction_type": "BUY", "quantity": 2, "price": price}]))
    trigger_id = placed["trigger_id"]
    assert [g["id"] for g in ok(execute(api_client, "get_gtts", account_id=trading.id))] == [trigger_id]
    audit = OrderAudit.objects.get()
    assert (audit.tool, audit.outcome, audit.order_id) == ("place_gtt", "sent", str(trigger_id))
    assert "BUY 2 NSE:ITC at" in audit.summary and "if the price falls to" in audit.summary
    kite_settings.move_price("NSE:ITC", -5)
    assert ok(execute(api_client, "get_gtt", account_id=trading.id, trigger_id=trigger_id))["status"] == "triggered"
    [order] = ok(execute(api_client, "get_orders", account_id=trading.id))
    trades = ok(execute(api_client, "get_order_trades", account_id=trading.id, order_id=order["order_id"]))
    assert trades and trades[0]["order_id"] == order["order_id"]


def test_a_gtt_is_deleted_and_refused_without_trading(api_client, trading, kite_settings):
    last = last_price(api_client, trading)
    gtt = {"trigger_type": "two-leg", "exchange": "NSE", "tradingsymbol": "ITC",
           "trigger_values": [tick(last * 0.9), tick(last * 1.1)], "last_price": last,
           "orders": [{"transaction_type": "SELL", "quantity": 1, "price": tick(last * 0.9)},
                      {"transaction_type": "SELL", "quantity": 1, "price": tick(last * 1.1)}]}
    trigger_id = ok(execute(api_client, "place_gtt", account_id=trading.id, **gtt))["trigger_id"]
    assert ok(execute(api_client, "delete_gtt", account_id=trading.id, trigger_id=trigger_id))["trigger_id"] == \
        trigger_id
    Account.objects.filter(pk=trading.pk).update(trading_enabled=False)
    assert error_of(execute(api_client, "place_gtt", account_id=trading.id, **gtt), 403)["type"] == "trading_disabled"
    bad = error_of(execute(api_client, "place_gtt", account_id=trading.id, **{**gtt, "trigger_values": [1.0]}), 400)
    assert bad["type"] == "invalid"


def test_a_mutual_fund_is_found_bought_listed_and_cancelled(api_client, trading):
    [scheme, *_] = ok(execute(api_client, "search_mf_instruments", account_id=trading.id, query="nifty"))
    assert scheme["exchange"] == "MF" and "NIFTY" in scheme["name"].upper()
    placed = ok(execute(api_client, "place_mf_order", account_id=trading.id, tradingsymbol=scheme["tradingsymbol"],
                        transaction_type="BUY", amount=5000.0))
    orders = ok(execute(api_client, "get_mf_orders", account_id=trading.id))
    assert [o["order_id"] for o in orders] == [placed["order_id"]]
    one = ok(execute(api_client, "get_mf_orders", account_id=trading.id, order_id=placed["order_id"]))
    assert one["amount"] == 5000.0
    ok(execute(api_client, "cancel_mf_order", account_id=trading.id, order_id=placed["order_id"]))
    assert ok(execute(api_client, "get_mf_orders", account_id=trading.id, order_id=placed["order_id"]))["status"] \
        == "CANCELLED"
    assert isinstance(ok(execute(api_client, "get_mf_holdings", account_id=trading.id)), list)
    assert list(OrderAudit.objects.order_by("id").values_list("tool", "outcome", "order_id")) == [
        ("place_mf_order", "sent", placed["order_id"]), ("cancel_mf_order", "sent", placed["order_id"])]


def test_a_sip_is_started_paused_and_cancelled(api_client, trading):
    [scheme, *_] = ok(execute(api_client, "search_mf_instruments", account_id=trading.id, query="nifty"))
    sip = ok(execute(api_client, "place_mf_sip", account_id=trading.id, tradingsymbol=scheme["tradingsymbol"],
                     amount=1000.0, instalments=12, frequency="monthly", instalment_day=5))
    sip_id = sip["sip_id"]
    ok(execute(api_client, "modify_mf_sip", account_id=trading.id, sip_id=sip_id, status="paused"))
    assert ok(execute(api_client, "get_mf_sips", account_id=trading.id, sip_id=sip_id))["status"] == "PAUSED"
    ok(execute(api_client, "cancel_mf_sip", account_id=trading.id, sip_id=sip_id))
    assert ok(execute(api_client, "get_mf_sips", account_id=trading.id, sip_id=sip_id))["status"] == "CANCELLED"
    assert list(OrderAudit.objects.values_list("order_id", flat=True)) == [sip_id] * 3


def test_margins_and_charges_come_from_kites_calculators(api_client, trading):
    order = {"exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY", "product": "CNC",
             "order_type": "MARKET", "quantity": 10}
    [margin] = ok(execute(api_client, "get_order_margins", account_id=trading.id, orders=[order]))
    assert margin["total"] > 0 and margin["tradingsymbol"] == "ITC"
    basket = ok(execute(api_client, "get_basket_margins", account_id=trading.id, orders=[order, order],
                        consider_positions=False))
    assert {"initial", "final", "orders"} <= set(basket)
    [note] = ok(execute(api_client, "get_order_charges", account_id=trading.id,
                        orders=[{**order, "average_price": 400.0}]))
    assert note["charges"]["total"] > 0 and {"brokerage", "stamp_duty", "gst"} <= set(note["charges"])
    assert not OrderAudit.objects.exists()  # reads


def test_an_intraday_position_is_converted_to_delivery(api_client, trading):
    ok(execute(api_client, "place_order", account_id=trading.id, exchange="NSE", tradingsymbol="ITC",
               transaction_type="BUY", quantity=5, product="MIS", order_type="MARKET"))
    converted = ok(execute(api_client, "convert_position", account_id=trading.id, exchange="NSE",
                           tradingsymbol="ITC", transaction_type="BUY", position_type="day", quantity=5,
                           old_product="MIS", new_product="CNC"))
    assert converted == {"converted": True}
    net = ok(execute(api_client, "get_positions", account_id=trading.id))["net"]
    assert [(p["product"], p["quantity"]) for p in net if p["tradingsymbol"] == "ITC" and p["quantity"]] == \
        [("CNC", 5)]
    assert OrderAudit.objects.filter(tool="convert_position", outcome="sent").exists()


@pytest.mark.parametrize("tool, args", [
    ("get_gtt", {"trigger_id": 999999}),
    ("get_order_trades", {"order_id": "999999999"}),
    ("get_mf_orders", {"order_id": "00000000-0000-0000-0000-000000000000"}),
    ("delete_gtt", {"trigger_id": 999999}),
    ("modify_gtt", {"trigger_id": 999999, "trigger_type": "single", "exchange": "NSE", "tradingsymbol": "ITC",
                    "trigger_values": [100.0], "last_price": 400.0,
                    "orders": [{"transaction_type": "BUY", "quantity": 1, "price": 100.0}]}),
    ("cancel_mf_order", {"order_id": "00000000-0000-0000-0000-000000000000"}),
    ("modify_mf_sip", {"sip_id": "999999999", "status": "paused"}),
    ("cancel_mf_sip", {"sip_id": "999999999"}),
    ("convert_position", {"exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY",
                          "position_type": "day", "quantity": 5, "old_product": "MIS", "new_product": "CNC"}),
    ("exit_order", {"order_id": "999999999"}),
    ("place_mf_order", {"tradingsymbol": "INF000000000", "transaction_type": "BUY", "amount": 500.0}),
])
def test_kites_refusal_reaches_the_caller_with_its_type_and_writes_are_audited(api_client, trading, tool, args):
    answer = execute(api_client, tool, account_id=trading.id, **args)
    assert answer.status_code in (400, 403, 404, 422), answer.content
    error = answer.json()["error"]
    assert error["type"].endswith("Exception") and error["message"].startswith("Kite: ")
    audited = list(OrderAudit.objects.values_list("tool", "outcome"))
    assert audited == ([] if tool.startswith("get_") else [(tool, "failed")])


@pytest.mark.parametrize("tool, args, field", [
    ("get_order_trades", {}, "order_id"),
    ("get_gtt", {"trigger_id": "12"}, "trigger_id"),
    ("get_mf_orders", {"order_id": "bad id!"}, "order_id"),
    ("get_mf_sips", {"sip_id": 5}, "sip_id"),
    ("search_mf_instruments", {"query": ""}, "query"),
    ("get_order_margins", {"orders": []}, "orders"),
    ("get_basket_margins", {"orders": [{"exchange": "NSE"}]}, "orders.0.tradingsymbol"),
    ("get_order_charges", {"orders": [{"exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY",
                                       "product": "CNC", "order_type": "MARKET", "quantity": 1}]},
     "orders.0.average_price"),
    ("place_gtt", {"trigger_type": "single", "exchange": "NSE", "tradingsymbol": "ITC", "trigger_values": [100.0],
                   "orders": [{"transaction_type": "BUY", "quantity": 1, "price": 100.0}]}, "last_price"),
    ("modify_gtt", {"trigger_type": "single"}, "trigger_id"),
    ("delete_gtt", {"trigger_id": 0}, "trigger_id"),
    ("place_mf_order", {"tradingsymbol": "x", "transaction_type": "BUY", "amount": 100.0}, "tradingsymbol"),
    ("cancel_mf_order", {}, "order_id"),
    ("place_mf_sip", {"tradingsymbol": "INF209K01157", "amount": 100.0, "instalments": 12, "frequency": "daily"},
     "frequency"),
    ("modify_mf_sip", {"sip_id": "1", "status": "stopped"}, "status"),
    ("cancel_mf_sip", {"sip_id": ""}, "sip_id"),
    ("convert_position", {"exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY",
                          "position_type": "intraday", "quantity": 1, "old_product": "MIS", "new_product": "CNC"},
     "position_type"),
    ("exit_order", {"order_id": "1", "variety": "regular"}, "variety"),
])
def test_bad_arguments_of_each_new_tool_are_a_400_naming_the_field_and_send_nothing(api_client, trading, tool, args,
                                                                                    field):
    error = error_of(execute(api_client, tool, account_id=trading.id, **args), 400)
    assert error["type"] == "invalid" and field in error["fields"], error
    assert not OrderAudit.objects.exclude(outcome="refused").exists()
