"""Mutual funds through the official client over HTTP: the scheme list, orders allotted at the next
business day's NAV as the clock moves (cash and units exactly), redemptions, cancels, and SIPs whose
instalments are placed on their dates."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, Decimal

import pytest
from kiteconnect import exceptions as kex

FUND = "INF789F01XA0"  # UTI Nifty 50 Index Fund - Direct Plan - Growth
LIQUID = "INF179KB1HP9"  # HDFC Liquid Fund - Direct Plan - Growth
# The keys of Kite's official mocks (kiteconnect-mocks mf_orders.json, mf_holdings.json, mf_sips.json).
ORDER_KEYS = {"status", "purchase_type", "folio", "order_timestamp", "average_price", "exchange_order_id",
              "last_price", "tradingsymbol", "settlement_id", "transaction_type", "order_id", "amount", "tag",
              "placed_by", "exchange_timestamp", "variety", "last_price_date", "status_message", "fund", "quantity"}
HOLDING_KEYS = {"folio", "average_price", "last_price", "last_price_date", "pledged_quantity", "fund",
                "tradingsymbol", "pnl", "quantity"}
SIP_KEYS = {"status", "sip_reg_num", "created", "dividend_type", "instalment_amount", "fund", "instalments",
            "next_instalment", "transaction_type", "trigger_price", "step_up", "tradingsymbol", "tag", "frequency",
            "last_instalment", "pending_instalments", "instalment_day", "sip_type", "completed_instalments", "sip_id"}


def relogin(sandbox, kite) -> None:
    app = kite.sandbox_app
    kite.set_access_token(kite.generate_session(sandbox.login(app["api_key"]), api_secret=app["api_secret"])
                          ["access_token"])


def move_to(sandbox, kite, moment: dt.datetime) -> None:
    sandbox.set_clock(moment)
    relogin(sandbox, kite)


def nav(kite, isin: str) -> tuple[Decimal, dt.date]:
    row = next(r for r in kite.mf_instruments() if r["tradingsymbol"] == isin)
    return Decimal(str(row["last_price"])), row["last_price_date"]


def cash(kite) -> Decimal:
    return Decimal(str(kite.margins("equity")["net"]))


def test_the_scheme_list_reads_like_kites(sandbox):
    kite = sandbox.connect()
    rows = kite.mf_instruments()
    assert 20 <= len(rows) <= 40 and len({r["tradingsymbol"] for r in rows}) == len(rows)
    fund = next(r for r in rows if r["tradingsymbol"] == FUND)
    assert fund["name"].startswith("UTI Nifty 50 Index Fund") and fund["purchase_allowed"] is True
    assert fund["last_price"] > 0 and fund["last_price_date"] == sandbox.clock().date() - dt.timedelta(days=1)
    assert {r["scheme_type"] for r in rows} >= {"equity", "debt", "elss"}


def test_a_buy_is_allotted_at_the_next_business_days_nav_and_a_sell_credits_its_proceeds(sandbox):
    wednesday = sandbox.clock()
    kite = sandbox.connect(holdings=[], starting_cash=100000)
    before = cash(kite)
    order_id = kite.place_mf_order(tradingsymbol=FUND, transaction_type="BUY", amount=5000, tag="nifty")["order_id"]
    placed = kite.mf_orders(order_id)
    assert set(placed) == ORDER_KEYS and placed["status"] == "OPEN" and placed["amount"] == 5000
    assert placed["purchase_type"] == "FRESH" and placed["quantity"] == 0 and placed["tag"] == "nifty"
    assert cash(kite) == before - 5000 and kite.mf_holdings() == []

    move_to(sandbox, kite, wednesday + dt.timedelta(days=1, hours=4))  # Thursday 15:00: its NAV is not struck yet
    assert kite.mf_orders(order_id)["status"] == "OPEN"

    move_to(sandbox, kite, wednesday + dt.timedelta(days=2))  # Friday: allotted at Thursday's NAV
    thursday_nav, nav_date = nav(kite, FUND)
    assert nav_date == wednesday.date() + dt.timedelta(days=1)
    units = (Decimal(5000) / thursday_nav).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    allotted = kite.mf_orders(order_id)
    assert allotted["status"] == "COMPLETE" and allotted["exchange_timestamp"] == str(nav_date)
    assert Decimal(str(allotted["average_price"])) == thursday_nav and Decimal(str(allotted["quantity"])) == units
    (holding,) = kite.mf_holdings()
    assert set(holding) == HOLDING_KEYS and holding["tradingsymbol"] == FUND and holding["folio"]
    assert Decimal(str(holding["quantity"])) == units and Decimal(str(holding["average_price"])) == thursday_nav
    assert cash(kite) == before - 5000

    half = (units / 2).quantize(Decimal("0.001"), rounding=ROUND_DOWN)
    sell_id = kite.place_mf_order(tradingsymbol=FUND, transaction_type="SELL", quantity=float(half))["order_id"]
    with pytest.raises(kex.GeneralException, match="Insufficient holdings"):  # the rest is all that is left
        kite.place_mf_order(tradingsymbol=FUND, transaction_type="SELL", quantity=float(units - half + 1))
    move_to(sandbox, kite, wednesday + dt.timedelta(days=6))  # Tuesday: redeemed at Monday's NAV
    monday_nav, _ = nav(kite, FUND)
    sold = kite.mf_orders(sell_id)
    proceeds = (half * monday_nav).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    assert sold["status"] == "COMPLETE" and Decimal(str(sold["amount"])) == proceeds
    assert cash(kite) == before - 5000 + proceeds
    assert Decimal(str(kite.mf_holdings()[0]["quantity"])) == units - half


def test_an_open_order_can_be_cancelled_and_its_money_comes_back(sandbox):
    kite = sandbox.connect(holdings=[], starting_cash=50000)
    before = cash(kite)
    order_id = kite.place_mf_order(tradingsymbol=LIQUID, transaction_type="BUY", amount=2500)["order_id"]
    assert kite.cancel_mf_order(order_id) == {"order_id": order_id}
    assert kite.mf_orders(order_id)["status"] == "CANCELLED" and cash(kite) == before
    with pytest.raises(kex.InputException, match="cancelled"):
        kite.cancel_mf_order(order_id)
    with pytest.raises(kex.GeneralException, match="Insufficient funds"):
        kite.place_mf_order(tradingsymbol=LIQUID, transaction_type="BUY", amount=60000)
    with pytest.raises(kex.InputException, match="minimum"):
        kite.place_mf_order(tradingsymbol=LIQUID, transaction_type="BUY", amount=10)
    with pytest.raises(kex.InputException, match="tradingsymbol"):
        kite.place_mf_order(tradingsymbol="INF000000000", transaction_type="BUY", amount=1000)
    assert [o["status"] for o in kite.mf_orders()] == ["CANCELLED"]


def test_a_sips_instalments_are_placed_as_orders_on_their_dates(sandbox):
    wednesday = sandbox.clock()
    kite = sandbox.connect(holdings=[], starting_cash=100000)
    before = cash(kite)
    sip_id = kite.place_mf_sip(tradingsymbol=FUND, amount=1000, instalments=3, frequency="weekly",
                              tag="weekly")["sip_id"]
    sip = kite.mf_sips(sip_id)
    assert set(sip) == SIP_KEYS | {"fund_source"} and sip["status"] == "ACTIVE"
    assert sip["next_instalment"] == str(wednesday.date() + dt.timedelta(days=7)) and sip["pending_instalments"] == 3
    assert kite.mf_orders() == [] and cash(kite) == before

    move_to(sandbox, kite, wednesday + dt.timedelta(days=7))
    (first,) = kite.mf_orders()
    assert first["variety"] == "sip" and first["amount"] == 1000 and first["tag"] == "weekly"
    assert first["order_timestamp"].date() == wednesday.date() + dt.timedelta(days=7)
    assert cash(kite) == before - 1000
    sip = kite.mf_sips(sip_id)
    assert sip["completed_instalments"] == 1 and sip["pending_instalments"] == 2
    assert sip["next_instalment"] == str(wednesday.date() + dt.timedelta(days=14))

    move_to(sandbox, kite, wednesday + dt.timedelta(days=14))
    latest = kite.mf_orders()[0]
    assert latest["variety"] == "sip" and latest["order_timestamp"].date() == wednesday.date() + dt.timedelta(days=14)
    assert kite.mf_sips(sip_id)["completed_instalments"] == 2 and cash(kite) == before - 2000


def test_a_paused_sip_places_nothing_and_a_cancelled_one_is_gone(sandbox):
    wednesday = sandbox.clock()
    kite = sandbox.connect(holdings=[], starting_cash=100000)
    sip_id = kite.place_mf_sip(tradingsymbol=FUND, amount=1500, instalments=-1, frequency="monthly",
                               instalment_day=wednesday.day % 28 + 1)["sip_id"]
    assert kite.modify_mf_sip(sip_id, status="paused", amount=2000) == {"sip_id": sip_id}
    paused = kite.mf_sips(sip_id)
    assert paused["status"] == "PAUSED" and paused["instalment_amount"] == 2000 and paused["instalments"] == -1
    move_to(sandbox, kite, wednesday + dt.timedelta(days=40))
    assert kite.mf_orders() == [] and kite.mf_sips(sip_id)["completed_instalments"] == 0
    assert dt.date.fromisoformat(kite.mf_sips(sip_id)["next_instalment"]) > wednesday.date() + dt.timedelta(days=40)
    assert kite.cancel_mf_sip(sip_id) == {"sip_id": sip_id}
    assert kite.mf_sips() == [] and kite.mf_sips(sip_id)["status"] == "CANCELLED"
    with pytest.raises(kex.InputException, match="frequency"):
        kite.place_mf_sip(tradingsymbol=FUND, amount=1000, instalments=-1, frequency="daily")
