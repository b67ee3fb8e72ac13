"""The sandbox as a real server (`manage.py runsandbox`), driven by the official kiteconnect client."""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from sandbox.universe import MONTHS, monthly_expiries
from tests.fixtures.sandbox import PROJECT_ROOT, TRADING_TIME, SandboxHandle, free_port, start_sandbox

WEDNESDAY = TRADING_TIME.date()
FRONT_EXPIRY = monthly_expiries(WEDNESDAY, 1)[0]
FRONT_FUTURE = f"NIFTY{FRONT_EXPIRY:%y}{MONTHS[FRONT_EXPIRY.month - 1]}FUT"

ORDER_KEYS = {"placed_by", "order_id", "exchange_order_id", "parent_order_id", "status", "status_message",
              "status_message_raw", "order_timestamp", "exchange_update_timestamp", "exchange_timestamp", "variety",
              "modified", "exchange", "tradingsymbol", "instrument_token", "order_type", "transaction_type",
              "validity", "product", "quantity", "disclosed_quantity", "price", "trigger_price", "average_price",
              "filled_quantity", "pending_quantity", "cancelled_quantity", "market_protection", "meta", "tag", "guid"}
HOLDING_KEYS = {"tradingsymbol", "exchange", "instrument_token", "isin", "product", "price", "quantity",
                "used_quantity", "t1_quantity", "realised_quantity", "authorised_quantity", "authorised_date",
                "authorisation", "opening_quantity", "short_quantity", "collateral_quantity", "collateral_type",
                "discrepancy", "average_price", "last_price", "close_price", "pnl", "day_change",
                "day_change_percentage", "mtf"}
POSITION_KEYS = {"tradingsymbol", "exchange", "instrument_token", "product", "quantity", "overnight_quantity",
                 "multiplier", "average_price", "close_price", "last_price", "value", "pnl", "m2m", "unrealised",
                 "realised", "buy_quantity", "buy_price", "buy_value", "buy_m2m", "sell_quantity", "sell_price",
                 "sell_value", "sell_m2m", "day_buy_quantity", "day_buy_price", "day_buy_value", "day_sell_quantity",
                 "day_sell_price", "day_sell_value"}
MARGIN_KEYS = {"adhoc_margin", "cash", "opening_balance", "live_balance", "collateral", "intraday_payin"}
UTILISED_KEYS = {"debits", "exposure", "m2m_realised", "m2m_unrealised", "option_premium", "payout", "span",
                 "holding_sales", "turnover", "liquid_collateral", "stock_collateral", "delivery"}
QUOTE_KEYS = {"instrument_token", "timestamp", "last_trade_time", "last_price", "last_quantity", "buy_quantity",
              "sell_quantity", "volume", "average_price", "oi", "oi_day_high", "oi_day_low", "net_change",
              "lower_circuit_limit", "upper_circuit_limit", "ohlc", "depth"}
TRADE_KEYS = {"trade_id", "order_id", "exchange", "tradingsymbol", "instrument_token", "product", "average_price",
              "quantity", "exchange_order_id", "transaction_type", "fill_timestamp", "order_timestamp",
              "exchange_timestamp"}


def infy_price(kite: KiteConnect) -> float:
    return kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]


def test_official_client_reads_everything_in_kites_shapes(sandbox):
    kite = sandbox.connect(user_name="Meera Iyer")
    profile = kite.profile()
    assert profile["user_name"] == "Meera Iyer" and profile["user_id"] == kite.sandbox_app["user_id"]
    margins = kite.margins()
    assert set(margins) == {"equity", "commodity"} and set(margins["equity"]["available"]) == MARGIN_KEYS
    assert set(margins["equity"]["utilised"]) == UTILISED_KEYS and kite.margins("equity") == margins["equity"]
    holdings = kite.holdings()
    assert len(holdings) >= 5 and all(set(h) == HOLDING_KEYS for h in holdings)
    assert kite.positions() == {"net": [], "day": []} and kite.orders() == [] and kite.trades() == []
    quote = kite.quote("NSE:INFY", "NSE:NIFTY 50", f"NFO:{FRONT_FUTURE}")
    assert QUOTE_KEYS <= set(quote["NSE:INFY"]) and isinstance(quote["NSE:INFY"]["timestamp"], dt.datetime)
    assert quote["NSE:INFY"]["timestamp"] == TRADING_TIME.replace(tzinfo=None)
    assert quote[f"NFO:{FRONT_FUTURE}"]["oi"] > 0
    assert set(kite.ohlc("NSE:INFY")["NSE:INFY"]["ohlc"]) == {"open", "high", "low", "close"}
    rows = kite.instruments()
    infy = next(r for r in rows if r["exchange"] == "NSE" and r["tradingsymbol"] == "INFY")
    assert infy["instrument_token"] == 408065 and infy["lot_size"] == 1 and infy["expiry"] == ""
    future = next(r for r in kite.instruments("NFO") if r["tradingsymbol"] == FRONT_FUTURE)
    assert future["expiry"] == FRONT_EXPIRY and future["lot_size"] == 75
    opening = dt.datetime.combine(WEDNESDAY, dt.time(9, 15))
    candles = kite.historical_data(408065, opening, opening + dt.timedelta(minutes=5), "minute", oi=True)
    assert len(candles) == 6 and candles[0]["date"].replace(tzinfo=None) == opening
    assert candles[0]["date"].utcoffset() == dt.timedelta(hours=5, minutes=30) and "oi" in candles[0]


def test_official_client_places_modifies_and_cancels(sandbox):
    kite = sandbox.connect()
    market = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                              quantity=2, product="CNC", order_type="MARKET", market_protection=-1, tag="flow")
    history = kite.order_history(market)
    assert [h["status"] for h in history][-2:] == ["OPEN", "COMPLETE"] and all(ORDER_KEYS <= set(h) for h in history)
    assert isinstance(history[-1]["order_timestamp"], dt.datetime)
    trades = kite.order_trades(market)
    assert len(trades) == 1 and set(trades[0]) == TRADE_KEYS and trades[0]["quantity"] == 2
    price = round(round(infy_price(kite) * 0.9 / 0.05) * 0.05, 2)
    limit = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                             quantity=1, product="CNC", order_type="LIMIT", price=price)
    assert kite.modify_order(variety="regular", order_id=limit, quantity=3, price=price) == limit
    assert kite.order_history(limit)[-1]["quantity"] == 3
    assert kite.cancel_order(variety="regular", order_id=limit) == limit
    book = {o["order_id"]: o for o in kite.orders()}
    assert book[market]["status"] == "COMPLETE" and book[limit]["status"] == "CANCELLED"
    position = kite.positions()["net"][0]
    assert set(position) == POSITION_KEYS and position["quantity"] == 2 and position["product"] == "CNC"
    with pytest.raises(kex.InputException, match="already cancelled"):
        kite.cancel_order(variety="regular", order_id=limit)


def test_errors_reach_the_client_as_kite_exceptions(sandbox):
    kite = sandbox.connect(starting_cash=10000, holdings=[])
    with pytest.raises(kex.TokenException) as bad_token:
        KiteConnect(api_key=kite.api_key, access_token="nope", root=sandbox.url).profile()
    assert bad_token.value.code == 403
    with pytest.raises(kex.InputException) as negative:
        kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                         quantity=-5, product="CNC", order_type="MARKET", market_protection=-1)
    assert negative.value.code == 400
    with pytest.raises(kex.InputException):
        kite.quote([f"NSE:X{n}" for n in range(10_000)])
    rejected = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                quantity=100, product="CNC", order_type="MARKET", market_protection=-1)
    last = kite.order_history(rejected)[-1]
    assert last["status"] == "REJECTED" and last["status_message"].startswith("Insufficient funds. Required margin is")
    assert kite.margins("equity")["net"] == 10000 and kite.positions()["net"] == []


def test_books_follow_the_clock_across_days(sandbox):
    kite = sandbox.connect(holdings=[])
    kite.place_order(variety="regular", exchange="NSE", tradingsymbol="TCS", transaction_type="BUY", quantity=3,
                     product="CNC", order_type="MARKET", market_protection=-1)
    assert kite.holdings() == []
    sandbox.set_clock(TRADING_TIME + dt.timedelta(hours=23))  # Thursday 10:00
    kite.set_access_token(kite.generate_session(sandbox.login(kite.api_key), kite.sandbox_app["api_secret"])
                          ["access_token"])  # yesterday's token expired at 06:00
    holding = kite.holdings()[0]
    assert (holding["tradingsymbol"], holding["t1_quantity"], holding["quantity"]) == ("TCS", 3, 3)
    assert kite.orders() == [] and kite.positions()["net"] == []


def test_moving_a_price_fills_a_waiting_order(sandbox):
    kite = sandbox.connect()
    price = round(round(infy_price(kite) * 0.95 / 0.05) * 0.05, 2)
    order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                quantity=1, product="MIS", order_type="LIMIT", price=price)
    new_price = sandbox.move_price("NSE:INFY", -8)
    assert infy_price(kite) == new_price <= price
    assert kite.order_history(order_id)[-1]["status"] == "COMPLETE"


def test_stopped_sandbox_is_unreachable_then_restarts_with_its_books(sandbox):
    kite = sandbox.connect()
    order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                                quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
    sandbox.stop()
    assert sandbox.returncode == 0  # SIGTERM is a clean stop
    with pytest.raises(requests.ConnectionError):
        kite.orders()
    sandbox.start()
    assert [o["order_id"] for o in kite.orders()] == [order_id]


def test_runsandbox_reports_a_busy_port_in_one_line(sandbox):
    env = {**sandbox.env}
    done = subprocess.run([sys.executable, "manage.py", "runsandbox", "--port", str(sandbox.port)], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "Error: That port is already in use."
    assert "Traceback" not in done.stderr and "listening" not in done.stdout  # no banner before the bind


@pytest.mark.parametrize("variable", ["SANDBOX_PORT", "APP_PORT"])
def test_make_run_refuses_a_busy_port_before_starting_anything(sandbox, variable):
    ports = {"SANDBOX_PORT": str(free_port()), "APP_PORT": str(free_port()), variable: str(sandbox.port)}
    done = subprocess.run(["bash", "bin/run-dev.sh"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                          env={**sandbox.env, **ports, "PYTHON": sys.executable})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"Error: {variable}={sandbox.port}: that port is already in use (or not yours to use); choose another, "
        f"e.g. make run {variable}={sandbox.port + 1}."]


def test_make_run_names_a_port_that_is_not_one(sandbox):
    done = subprocess.run(["bash", "bin/run-dev.sh"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                          env={**sandbox.env, "SANDBOX_PORT": "87x5", "PYTHON": sys.executable})
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == ["Error: SANDBOX_PORT=87x5 is not a port number (1-65535)."]


def _listed_keys(kite: KiteConnect) -> list[str]:
    return sorted({f"{row['exchange']}:{row['tradingsymbol']}" for row in kite.instruments()})


def test_quotes_of_500_and_ltp_and_ohlc_of_1000_instruments(sandbox):
    kite = sandbox.connect()
    keys = _listed_keys(kite)
    if len(keys) < 500:
        pytest.skip(f"the sandbox lists {len(keys)} instruments, fewer than the 500 a full quote takes")
    quote = kite.quote(keys[:500])
    assert len(quote) == 500 and all(q["last_price"] > 0 for q in quote.values())
    if len(keys) < 1000:
        pytest.skip(f"the sandbox lists {len(keys)} instruments, fewer than the 1,000 of a full ltp/ohlc call")
    assert len(kite.ltp(keys[:1000])) == 1000 and len(kite.ohlc(keys[:1000])) == 1000


def test_a_request_line_of_1000_instruments_is_served_and_a_far_longer_one_is_414(sandbox):
    kite = sandbox.connect()
    keys = sorted(_listed_keys(kite), key=len, reverse=True)[:50]
    long_query = (keys * 20)[:1000]  # the sandbox takes repeats, as Kite does: a ~30 KB request line
    assert set(kite.ltp(long_query)) == set(keys)
    answer = requests.get(f"{sandbox.url}/quote/ltp", params={"i": (keys * 200)[:4000]}, timeout=30,
                          headers={"X-Kite-Version": "3"})
    assert answer.status_code == 414 and answer.json() == {
        "status": "error", "data": None, "error_type": "InputException",
        "message": "The request URL is too long: at most 500 instruments per quote, 1000 per ohlc or ltp."}


def test_a_request_the_server_cannot_read_is_answered_in_kites_envelope(sandbox):
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=20) as raw:
        raw.sendall(b"NOT AN HTTP REQUEST\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head.lower()
    assert json.loads(body) == {"status": "error", "message": "Bad request.", "data": None,
                                "error_type": "InputException"}


def test_gunicorn_serves_long_quote_lines_with_the_documented_flag(tmp_path, sandbox):
    env = {**sandbox.env, "KITE_SANDBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'wsgi.sqlite3'}"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=PROJECT_ROOT, env=env,
                   check=True, timeout=120)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                               "--limit-request-line", "0", "sandbox.wsgi:application"],
                              cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        handle = SandboxHandle(tmp_path, port, env)
        handle.process = server
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                handle.clock()
                break
            except requests.ConnectionError:
                time.sleep(0.05)  # start-up polling, not a test sleep
        handle.set_clock(TRADING_TIME)
        kite = handle.connect()
        keys = sorted(_listed_keys(kite), key=len, reverse=True)[:50]
        assert set(kite.ltp((keys * 20)[:1000])) == set(keys)
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_rate_limits_answer_429_network_exception(tmp_path):
    handle = start_sandbox(tmp_path, extra_env={"KITE_SANDBOX_RATE_LIMITS": "on"})
    try:
        handle.set_clock(TRADING_TIME)
        kite = handle.connect()
        kite.ltp("NSE:INFY")
        with pytest.raises(kex.NetworkException) as limited:
            kite.ltp("NSE:INFY")  # quotes: one a second per api_key
        assert limited.value.code == 429 and str(limited.value) == "Too many requests"
        assert kite.profile()["user_id"]  # other categories keep their own budget
    finally:
        handle.stop()
    assert os.path.exists(handle.log_path)
