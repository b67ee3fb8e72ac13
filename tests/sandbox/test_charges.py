"""The pure charges schedule (sandbox.charges) and the spread-benefit model (accounting.hedged_margin),
checked against figures worked out by hand from Zerodha's published rates."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from sandbox import accounting as acc
from sandbox import charges as fees
from sandbox.universe import derivative, instrument_by_key, monthly_expiry

D = Decimal


def note(segment: str, exchange: str, side: str, quantity: int, price: str) -> fees.Charges:
    return fees.order_charges(segment=segment, exchange=exchange, transaction_type=side, quantity=quantity,
                              price=D(price))


def test_a_delivery_buy_pays_stt_both_ways_stamp_duty_and_no_brokerage():
    c = note(fees.EQUITY_DELIVERY, "NSE", "BUY", 10, "1500")  # 15 000 of turnover
    assert (c.brokerage, c.transaction_tax, c.transaction_tax_type) == (0, D("15.000"), "stt")
    assert c.exchange_turnover_charge == D("0.44550") and c.sebi_turnover_charge == D("0.015")
    assert c.stamp_duty == D("2.25000") and c.gst == D("0.18") * D("0.4605")
    assert c.total == D("17.79339") and c.debit == D("17.79")
    assert note(fees.EQUITY_DELIVERY, "NSE", "SELL", 10, "1500").transaction_tax == D("15")
    assert note(fees.EQUITY_DELIVERY, "NSE", "SELL", 10, "1500").stamp_duty == 0


def test_intraday_brokerage_is_the_lower_of_three_basis_points_and_twenty_rupees():
    assert note(fees.EQUITY_INTRADAY, "NSE", "BUY", 100, "1000").brokerage == D("20")  # 0.03% would be 30
    assert note(fees.EQUITY_INTRADAY, "NSE", "BUY", 10, "1000").brokerage == D("3.0000")  # 0.03% of 10 000
    sell = note(fees.EQUITY_INTRADAY, "NSE", "SELL", 100, "1010")
    assert sell.transaction_tax == D("25.25") and sell.stamp_duty == 0
    assert sell.total == D("52.508826")
    assert note(fees.EQUITY_INTRADAY, "BSE", "BUY", 100, "1000").exchange_turnover_charge == D("3.75")


def test_options_pay_a_flat_twenty_and_stt_on_the_premium_sold():
    sold = note(fees.OPTIONS, "NFO", "SELL", 75, "100")
    assert sold.brokerage == 20 and sold.transaction_tax == D("11.25")  # 0.15% since 1 April 2026
    assert sold.total == D("37.959005")
    bought = note(fees.OPTIONS, "NFO", "BUY", 75, "100")
    assert bought.transaction_tax == 0 and bought.stamp_duty == D("0.225")


def test_futures_pay_the_2026_stt_and_commodities_ctt():
    sold = note(fees.FUTURES, "NFO", "SELL", 75, "24000")  # 1 800 000
    assert sold.brokerage == 20 and sold.transaction_tax == D("900") and sold.exchange_turnover_charge == D("31.14")
    gold = note(fees.COMMODITY_FUTURES, "MCX", "SELL", 1, "5862")
    assert gold.transaction_tax_type == "ctt" and gold.transaction_tax == D("0.5862")
    assert gold.brokerage == D("1.7586")
    assert note(fees.CURRENCY_FUTURES, "CDS", "SELL", 1000, "84").transaction_tax_type == ""


def test_segments_follow_the_exchange_the_instrument_and_the_product():
    assert fees.segment_for(exchange="NSE", instrument_type="EQ", product="CNC") == fees.EQUITY_DELIVERY
    assert fees.segment_for(exchange="BSE", instrument_type="EQ", product="MIS") == fees.EQUITY_INTRADAY
    assert fees.segment_for(exchange="NFO", instrument_type="PE", product="NRML") == fees.OPTIONS
    assert fees.segment_for(exchange="MCX", instrument_type="FUT", product="NRML") == fees.COMMODITY_FUTURES
    assert fees.instrument_type_of("NSE", "RELIANCE") == "EQ"  # a stock ending in CE is still a stock
    assert fees.instrument_type_of("NFO", "NIFTY2371317900PE") == "PE"


def test_the_payload_carries_kites_keys_and_exact_figures():
    payload = fees.charges_payload(note(fees.EQUITY_DELIVERY, "NSE", "BUY", 10, "1500"))
    assert payload["total"] == 17.79339 and payload["brokerage"] == 0 and payload["gst"]["cgst"] == 0
    assert payload["gst"]["igst"] == payload["gst"]["total"] == pytest.approx(0.08289)


# --- the spread-benefit model ------------------------------------------------------------------------

DAY = dt.date(2025, 1, 15)


def nifty(kind: str, index: int = 0):
    """January 2025's NIFTY contracts: strikes index 0..18 on a 500-point grid."""
    return derivative("NIFTY", monthly_expiry(2025, 1), kind, index)


def leg(inst, quantity: int, price: str = "100", spot: str = "23500") -> acc.Leg:
    return acc.Leg(inst, quantity, D(price), D(spot))


def test_a_naked_short_option_blocks_what_it_blocks_alone():
    short = nifty("CE", 9)
    alone = acc.leg_margin(short, "NRML", "SELL", 75, D("100"), D("23500"))
    assert acc.hedged_margin([leg(short, -75)]) == acc.LegMargin(span=alone.span, exposure=alone.exposure)


def test_a_call_spread_blocks_its_largest_loss():
    short, long = nifty("CE", 9), nifty("CE", 11)
    assert long.strike - short.strike == 1000
    assert acc.hedged_margin([leg(short, -75), leg(long, 75)]) == acc.LegMargin(span=D("75000"), exposure=D("0"))
    bull = acc.hedged_margin([leg(nifty("CE", 11), -75), leg(nifty("CE", 9), 75)])  # long the lower strike
    assert bull == acc.LegMargin(span=D("0"), exposure=D("0"))


def test_a_covered_call_adds_nothing_to_the_futures_margin():
    future = nifty("FUT")
    alone = acc.hedged_margin([leg(future, 75, "23600")])
    assert acc.hedged_margin([leg(future, 75, "23600"), leg(nifty("CE", 9), -75)]) == alone
    assert alone == acc.LegMargin(span=D("0.10") * 75 * D("23600"), exposure=D("0.03") * 75 * D("23600"))


def test_a_protective_put_caps_the_futures_span_at_the_loss_down_to_its_strike():
    future, put = nifty("FUT"), nifty("PE", 6)  # a 23000 put under a future at 23600: at most 600 lost
    hedged = acc.hedged_margin([leg(future, 75, "23600"), leg(put, 75)])
    assert hedged.span == D("600") * 75 < D("0.10") * D("23600") * 75
    assert hedged.exposure == D("0.03") * 75 * D("23600")


def test_legs_of_the_same_contract_net_out():
    call = nifty("CE", 9)
    assert acc.hedged_margin([leg(call, -75), leg(call, 75)]) == acc.LegMargin()
    assert instrument_by_key("NSE:INFY", DAY) is not None  # equities never enter the model
    assert acc.hedged_margin([leg(instrument_by_key("NSE:INFY", DAY), -10)]) == acc.LegMargin()
