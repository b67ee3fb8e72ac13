"""The widened universe: the NIFTY 500 with Kite's real tokens, the indices, NIFTY/BANKNIFTY/FINNIFTY
F&O, MCX and CDS futures generated from the clock; and, through the official client, the instrument
master and quotes of 500 (ltp of 1000) instruments."""
from __future__ import annotations

import datetime as dt

from sandbox import pricing
from sandbox.clock import at
from sandbox.data import EQUITIES
from sandbox.universe import (
    commodity_expiry,
    decode_commodity,
    derivative,
    instrument_by_key,
    instrument_by_token,
    monthly_expiry,
    universe_for,
)

WEDNESDAY = dt.date(2025, 1, 15)
SEGMENT_IDS = {"NSE": 1, "NFO": 2, "CDS": 3, "BSE": 4, "MCX": 7}


def test_the_nifty_500_is_listed_on_nse_and_bse_with_kites_own_tokens():
    universe = universe_for(WEDNESDAY)
    nse = [i for i in universe.instruments if i.segment == "NSE"]
    bse = [i for i in universe.instruments if i.segment == "BSE"]
    assert len(nse) == 500 and len(EQUITIES) == 500
    assert len(bse) == 500 - sum(1 for e in EQUITIES if e.bse_source == "none")
    # Tokens as Kite's instrument master has them (its May 2025 NSE dump; BSE's scrip codes).
    assert universe.by_key["NSE:INFY"].instrument_token == 408065
    assert universe.by_key["NSE:RELIANCE"].instrument_token == 738561
    assert universe.by_key["NSE:ETERNAL"].instrument_token == 1304833
    assert universe.by_key["NSE:SWIGGY"].instrument_token == 6928897
    assert universe.by_key["BSE:RELIANCE"].instrument_token == 128083204
    assert universe.by_key["NSE:MRF"].tick_size == 5.0  # Kite's tick, not a blanket 0.05
    assert "BSE:BSE" not in universe.by_key  # BSE Ltd is listed on NSE only


def test_every_token_is_in_kites_layout_unique_and_fits_an_int32():
    for day in (WEDNESDAY, dt.date(2026, 12, 2), dt.date(2031, 6, 4)):
        instruments = universe_for(day).instruments
        tokens = [i.instrument_token for i in instruments]
        assert len(tokens) == len(set(tokens))
        assert max(tokens) < 2**31
        for inst in instruments:
            expected = 9 if inst.is_index else SEGMENT_IDS[inst.exchange]
            assert inst.instrument_token == inst.exchange_token * 256 + expected, inst.key


def test_generated_tokens_are_flagged_and_kept_clear_of_real_ones():
    generated = [e for e in EQUITIES if e.nse_source == "generated"]
    assert generated and all(e.nse_token >= 990001 for e in generated)
    real = [e for e in EQUITIES if e.nse_source == "kite"]
    assert all(e.nse_token < 990001 for e in real)
    assert all(e.bse_code >= 990001 for e in EQUITIES if e.bse_source == "generated")


def test_the_main_indices_are_listed():
    universe = universe_for(WEDNESDAY)
    for key, token in (("NSE:NIFTY 50", 256265), ("NSE:NIFTY BANK", 260105), ("NSE:NIFTY FIN SERVICE", 257801),
                       ("NSE:INDIA VIX", 264969), ("BSE:SENSEX", 265)):
        assert universe.by_key[key].instrument_token == token and universe.by_key[key].is_index


def test_finnifty_has_monthly_futures_and_options_and_only_nifty_has_weeklies():
    universe = universe_for(WEDNESDAY)
    future = universe.by_key["NFO:FINNIFTY25JANFUT"]
    assert (future.lot_size, future.expiry, future.freeze_quantity) == (65, monthly_expiry(2025, 1), 1800)
    finnifty_expiries = {i.expiry for i in universe.instruments if i.name == "FINNIFTY" and i.is_option}
    assert finnifty_expiries == {dt.date(2025, 1, 28)}
    assert "NFO:NIFTY2512124500CE" in universe.by_key  # NIFTY's weekly
    option = next(i for i in universe.instruments if i.name == "FINNIFTY" and i.is_option)
    assert instrument_by_token(option.instrument_token) == option
    assert pricing.price_at(option, at(WEDNESDAY, dt.time(11, 0))) > 0


def test_adding_finnifty_did_not_renumber_the_contracts_already_listed():
    # The encoding of NIFTY/BANKNIFTY contracts before FINNIFTY (positions in a database hold these).
    expiry = monthly_expiry(2025, 1)
    old = ((1_000_000 + (((expiry.toordinal() - 730_000) * 2 + 0) * 3 + 0) * 32) * 256) + 2
    assert derivative("NIFTY", expiry, "FUT").instrument_token == old


def test_mcx_and_cds_futures_roll_with_the_clock_and_are_priced_on_their_tick():
    universe = universe_for(WEDNESDAY)
    futures = [i for i in universe.instruments if i.exchange in ("MCX", "CDS")]
    assert {"MCX:CRUDEOIL25JANFUT", "MCX:GOLDM25FEBFUT", "CDS:USDINR25JANFUT"} <= {i.key for i in futures}
    crude = universe.by_key["MCX:CRUDEOIL25JANFUT"]
    assert crude.expiry == commodity_expiry("CRUDEOIL", 2025, 1) == dt.date(2025, 1, 17)  # the 19th is a Sunday
    assert commodity_expiry("USDINR", 2025, 1) == dt.date(2025, 1, 29)  # two weekdays before the 31st
    assert (crude.lot_size, crude.segment, crude.is_derivative, crude.is_derived) == (100, "MCX-FUT", True, False)
    moment = at(WEDNESDAY, dt.time(11, 0))
    for inst in futures:
        assert decode_commodity(inst.instrument_token) == inst == instrument_by_token(inst.instrument_token)
        price = pricing.price_at(inst, moment)
        assert price > 0 and abs(round(price / inst.tick_size) - price / inst.tick_size) < 1e-6
    after = {i.key for i in universe_for(dt.date(2025, 1, 20)).instruments}
    assert "MCX:CRUDEOIL25JANFUT" not in after and "MCX:CRUDEOIL25APRFUT" in after
    assert instrument_by_key("MCX:CRUDEOIL25JANFUT", dt.date(2025, 1, 20)) is None
    assert instrument_by_token(crude.instrument_token) == crude  # still known after expiry


def test_the_official_client_lists_and_quotes_the_wide_universe(sandbox):
    kite = sandbox.connect()
    nse = [r for r in kite.instruments("NSE") if r["segment"] == "NSE"]
    assert len(nse) == 500
    mcx = kite.instruments("MCX")
    assert mcx and all(r["exchange"] == "MCX" and r["instrument_type"] == "FUT" for r in mcx)
    assert {r["name"] for r in kite.instruments("CDS")} == {"USDINR", "EURINR"}
    keys = [f"NSE:{r['tradingsymbol']}" for r in nse]
    quotes = kite.quote(keys)
    assert set(quotes) == set(keys)
    assert all(len(q["depth"]["buy"]) == 5 and q["last_price"] > 0 for q in quotes.values())
    others = [f"{r['exchange']}:{r['tradingsymbol']}" for r in kite.instruments() if r["exchange"] != "NSE"]
    ltps = kite.ltp(keys + others[:500])
    assert len(ltps) == 1000
    assert all(ltps[k]["last_price"] == quotes[k]["last_price"] for k in keys)
