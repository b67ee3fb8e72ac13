"""Pure pieces of GTT and mutual funds: which leg a price fires, NAVs, units, SIP dates."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from sandbox.engine.gtt import crossed_leg, gtt_spec_parse
from sandbox.engine.mf import sip_first_instalment, sip_following_instalment, units_for
from sandbox.errors import InputError
from sandbox.funds import SCHEMES, latest_nav, nav_on, next_business_day, scheme_by_isin
from sandbox.models import GTTTrigger

WEDNESDAY = dt.datetime(2026, 11, 11, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))


def trigger(kind: str, values: list[float], last: float) -> GTTTrigger:
    return GTTTrigger(trigger_type=kind, trigger_values=values, last_price=last)


def test_a_single_trigger_waits_on_the_side_of_the_market_it_was_placed_from():
    below = trigger("single", [95.0], 100.0)
    assert crossed_leg(below, Decimal("95.05")) is None and crossed_leg(below, Decimal("95")) == 0
    above = trigger("single", [105.0], 100.0)
    assert crossed_leg(above, Decimal("104.95")) is None and crossed_leg(above, Decimal("105.5")) == 0


def test_a_two_leg_trigger_fires_the_leg_whose_side_was_crossed():
    oco = trigger("two-leg", [95.0, 105.0], 100.0)
    assert crossed_leg(oco, Decimal("100")) is None
    assert crossed_leg(oco, Decimal("94")) == 0 and crossed_leg(oco, Decimal("105")) == 1


def test_trigger_values_must_match_the_type():
    condition = '{"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": [100, 110], "last_price": 105}'
    order = '{"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 100}'
    with pytest.raises(InputError, match="one value"):
        gtt_spec_parse({"type": "single", "condition": condition, "orders": f"[{order}]"}, WEDNESDAY)
    with pytest.raises(InputError, match="2 orders"):
        gtt_spec_parse({"type": "two-leg", "condition": condition, "orders": f"[{order}]"}, WEDNESDAY)
    with pytest.raises(InputError, match="type"):
        gtt_spec_parse({"type": "oco", "condition": condition, "orders": f"[{order}]"}, WEDNESDAY)
    spec = gtt_spec_parse({"type": "two-leg", "condition": condition, "orders": f"[{order}, {order}]"}, WEDNESDAY)
    assert spec.trigger_values == [100.0, 110.0] and spec.orders[0]["result"] is None


def test_navs_are_deterministic_struck_on_business_days_and_published_the_day_after():
    scheme = scheme_by_isin("INF789F01XA0")
    friday, saturday, monday = dt.date(2026, 11, 13), dt.date(2026, 11, 14), dt.date(2026, 11, 16)
    assert nav_on(scheme, saturday) == nav_on(scheme, friday) and nav_on(scheme, friday) != nav_on(scheme, monday)
    assert latest_nav(scheme, monday) == (nav_on(scheme, friday), friday)
    assert next_business_day(friday) == monday and next_business_day(saturday) == monday
    assert all(nav_on(s, friday) > 0 and nav_on(s, friday) == nav_on(s, friday).quantize(Decimal("0.0001"))
               for s in SCHEMES)
    liquid = scheme_by_isin("INF179KB1HP9")
    assert nav_on(liquid, monday) > nav_on(liquid, friday)  # a liquid fund only accrues


def test_units_are_cut_to_the_thousandth():
    assert units_for(Decimal("5000"), Decimal("170.1234")) == Decimal("29.390")


def test_sip_dates():
    today = dt.date(2026, 11, 11)
    assert sip_first_instalment("weekly", 0, today) == dt.date(2026, 11, 18)
    assert sip_first_instalment("monthly", 5, today) == dt.date(2026, 12, 5)
    assert sip_first_instalment("monthly", 20, today) == dt.date(2026, 11, 20)
    assert sip_following_instalment("monthly", 28, dt.date(2027, 1, 28)) == dt.date(2027, 2, 28)
    assert sip_following_instalment("quarterly", 20, dt.date(2026, 11, 20)) == dt.date(2027, 2, 20)
