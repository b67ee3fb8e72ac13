"""Pure logic of the Kite layer: token expiry, JSON of Kite's answers, error mapping, instrument search."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kite.errors import KiteError, from_kite
from kite.instruments import InstrumentIndex
from kite.ist import iso_ist, token_expiry
from kite.tools import TOOLS, to_json

IST = ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize(
    ("login", "expires"),
    [
        (datetime(2026, 11, 27, 10, 0, tzinfo=IST), datetime(2026, 11, 28, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 27, 23, 59, tzinfo=IST), datetime(2026, 11, 28, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 28, 3, 0, tzinfo=IST), datetime(2026, 11, 28, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 28, 6, 0, tzinfo=IST), datetime(2026, 11, 29, 6, 0, tzinfo=IST)),
        # 22:00 UTC is 03:30 IST the next day: the zone decides, not the server's clock
        (datetime(2026, 11, 27, 22, 0, tzinfo=UTC), datetime(2026, 11, 28, 6, 0, tzinfo=IST)),
    ],
)
def test_token_expires_at_the_next_six_am_in_india(login, expires):
    assert token_expiry(login) == expires


def test_every_time_is_written_in_ist_whatever_zone_it_was_read_in():
    instant = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)
    assert iso_ist(instant) == "2026-11-28T06:00:00+05:30"
    assert iso_ist(None) is None


def test_to_json_gives_kites_own_timestamp_forms():
    answer = {"order_timestamp": datetime(2021, 5, 31, 9, 18, 57),
              "date": datetime(2017, 12, 15, 9, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
              "expiry": date(2026, 12, 31), "nested": [{"n": 1}]}
    assert to_json(answer) == {"order_timestamp": "2021-05-31 09:18:57", "date": "2017-12-15T09:15:00+05:30",
                               "expiry": "2026-12-31", "nested": [{"n": 1}]}


@pytest.mark.parametrize(
    ("error_type", "http", "status", "type_"),
    [
        ("InputException", 400, 400, "InputException"),
        ("OrderException", 400, 422, "OrderException"),
        ("MarginException", 400, 422, "MarginException"),
        ("HoldingException", 400, 422, "HoldingException"),
        ("PermissionException", 403, 403, "PermissionException"),
        ("TokenException", 403, 401, "session_expired"),
        ("NetworkException", 429, 429, "NetworkException"),
        ("NetworkException", 503, 502, "NetworkException"),
        ("DataException", 502, 502, "DataException"),
        ("GeneralException", 500, 502, "GeneralException"),
        ("kite_timeout", None, 504, "kite_timeout"),
        ("kite_unreachable", None, 502, "kite_unreachable"),
    ],
)
def test_kite_errors_map_to_the_contracts_status_and_keep_kites_message(error_type, http, status, type_):
    error = from_kite(KiteError(error_type, "Kite's own words.", http), account_name="Main")
    assert (error.status, error.type) == (status, type_)
    assert "Kite's own words." in error.message


def rows():
    data = [
        (408065, "INFY", "INFOSYS", "NSE"), (500209, "INFY", "INFOSYS", "BSE"),
        (779521, "SBIN", "STATE BANK OF INDIA", "NSE"), (1, "SBICARD", "SBI CARDS AND PAYMENT", "NSE"),
        (2, "INFIBEAM", "INFIBEAM AVENUES", "NSE"), (3, "BANKNIFTY26DECFUT", "", "NFO"),
        (4, "NIFTY BANK", "NIFTY BANK", "NSE"),
    ]
    return [{"instrument_token": t, "exchange_token": str(t // 256), "tradingsymbol": s, "name": n,
             "last_price": 0.0, "expiry": "", "strike": 0.0, "tick_size": 0.05, "lot_size": 1,
             "instrument_type": "EQ", "segment": e, "exchange": e} for t, s, n, e in data]


def symbols(result):
    return [(r["exchange"], r["tradingsymbol"]) for r in result]


def test_search_puts_exact_symbols_first_then_prefixes():
    index = InstrumentIndex(rows())
    assert symbols(index.search("infy"))[:2] == [("NSE", "INFY"), ("BSE", "INFY")]  # NSE before BSE
    assert ("NSE", "INFIBEAM") in symbols(index.search("inf"))


def test_search_by_company_name_words_and_exchange():
    index = InstrumentIndex(rows())
    assert symbols(index.search("state bank")) == [("NSE", "SBIN")]
    assert symbols(index.search("infy", exchange="NSE")) == [("NSE", "INFY")]
    assert index.search("zzzz") == []


def test_search_respects_the_limit():
    index = InstrumentIndex(rows())
    assert len(index.search("s", limit=1)) == 1


def test_search_is_fast_enough_to_index_a_full_kite_master():
    many = [dict(rows()[0], tradingsymbol=f"SYM{i:06d}", name=f"COMPANY {i}", instrument_token=i)
            for i in range(100_000)]
    index = InstrumentIndex(many)
    assert len(index) == 100_000
    assert symbols(index.search("SYM000042")) == [("NSE", "SYM000042")]
    assert len(index.search("company 4", limit=10)) == 10


def test_every_tool_has_a_schema_that_requires_account_id_and_forbids_unknown_keys():
    for tool in TOOLS.values():
        assert tool.needs_account == ("account_id" in tool.input_schema["properties"]), tool.name
        if tool.needs_account:
            assert "account_id" in tool.input_schema["required"], tool.name
        assert tool.input_schema.get("additionalProperties") is False, tool.name
    # The tools about all of your accounts, or about one approval, take none.
    assert {t.name for t in TOOLS.values() if not t.needs_account} == {"list_accounts", "get_approval"}
    assert {t.name for t in TOOLS.values() if not t.read_only} == {
        "place_order", "modify_order", "cancel_order", "exit_order", "place_gtt", "modify_gtt", "delete_gtt",
        "place_mf_order", "cancel_mf_order", "place_mf_sip", "modify_mf_sip", "cancel_mf_sip", "convert_position"}


def test_log_lines_never_carry_tokens_from_query_strings(caplog):
    import logging

    from config.logfilters import RedactSecrets

    record = logging.LogRecord("django.server", logging.INFO, __file__, 1, '"%s" %s %s',
                               ("DELETE /session/token?api_key=k1&access_token=SECRETTOKEN HTTP/1.1", "200", "41"),
                               None)
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert "SECRETTOKEN" not in line and "access_token=[redacted]" in line and "api_key=k1" in line
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /kite/callback?request_token=RT1&state=ST1",
                               None, None)
    RedactSecrets().filter(record)
    assert "RT1" not in record.getMessage() and "ST1" not in record.getMessage()


def test_amounts_use_indian_digit_grouping():
    from django.template import Context, Template

    rendered = Template('{{ v|floatformat:"2g" }} {{ w|floatformat:"0g" }}').render(Context({"v": 10089590.5,
                                                                                             "w": 998463}))
    assert rendered == "1,00,89,590.50 9,98,463"
