"""The sandbox's ticker (`ws://host:port/`), driven by pykiteconnect's own KiteTicker, unchanged.

KiteTicker runs on Twisted's reactor, which runs once per process: it is started here on a daemon
thread, and every call into a ticker is handed to that thread (`reactor.callFromThread`). The
limits and the raw wire are checked with the `websockets` client as well.
"""
from __future__ import annotations

import contextlib
import json
import queue
import threading
import time

import pytest
from kiteconnect import KiteTicker
from twisted.internet import reactor
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

WAIT = 20.0  # generous: the machine is shared


def _reactor_running() -> None:
    if not reactor.running:
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True).start()
        deadline = time.monotonic() + WAIT
        while not reactor.running and time.monotonic() < deadline:
            time.sleep(0.01)  # start-up polling, not a test sleep
    assert reactor.running, "Twisted's reactor did not start"


class Ticker:
    """A KiteTicker on the reactor thread; what its callbacks see lands in queues."""

    def __init__(self, root: str, api_key: str, access_token: str) -> None:
        self.ticker = KiteTicker(api_key, access_token, root=root, reconnect=False)
        self.ticks: queue.Queue = queue.Queue()
        self.orders: queue.Queue = queue.Queue()
        self.errors: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.seen_ticks: list[dict] = []
        self.seen_orders: list[dict] = []
        self.ticker.on_connect = lambda ws, response: self.connected.set()
        self.ticker.on_ticks = lambda ws, ticks: [self.ticks.put(t) for t in ticks]
        self.ticker.on_order_update = lambda ws, data: self.orders.put(data)
        self.ticker.on_error = lambda ws, code, reason: self.errors.put((code, str(reason)))
        self.ticker.on_close = lambda ws, code, reason: self.closed.set()

    def start(self) -> Ticker:
        _reactor_running()
        reactor.callFromThread(self.ticker.connect)
        return self

    def call(self, method: str, *args: object) -> None:
        reactor.callFromThread(getattr(self.ticker, method), *args)

    def stop(self) -> None:
        reactor.callFromThread(self.ticker.close)
        self.closed.wait(WAIT)

    @staticmethod
    def _first(source: queue.Queue, seen: list, predicate, what: str, after: int = 0) -> dict:
        """The first item (the `after`-th seen on, or arriving within WAIT) that `predicate` accepts."""
        for item in seen[after:]:
            if predicate(item):
                return item
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                item = source.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(item)
            if predicate(item):
                return item
        raise AssertionError(f"nothing {what} within {WAIT:.0f} s; seen: {seen[-5:]}")

    def tick_where(self, predicate, what: str, after: int = 0) -> dict:
        return self._first(self.ticks, self.seen_ticks, predicate, what, after)

    def order_where(self, predicate, what: str) -> dict:
        return self._first(self.orders, self.seen_orders, predicate, what)


def ws_root(sandbox) -> str:
    return sandbox.url.replace("http://", "ws://")


@pytest.fixture
def ticker_of(sandbox):
    started: list[Ticker] = []

    def start(kite) -> Ticker:
        t = Ticker(ws_root(sandbox), kite.api_key, kite.access_token).start()
        started.append(t)
        assert t.connected.wait(WAIT), f"the ticker did not connect; errors: {list(t.errors.queue)}"
        return t

    yield start
    for t in started:
        t.stop()


def test_ticks_in_ltp_quote_and_full_modes_follow_a_price_move(sandbox, ticker_of):
    kite = sandbox.connect()
    quote = kite.quote("NSE:INFY", "NSE:TCS", "NSE:NIFTY 50")
    infy, tcs, nifty = (quote[k]["instrument_token"] for k in ("NSE:INFY", "NSE:TCS", "NSE:NIFTY 50"))
    t = ticker_of(kite)
    t.call("subscribe", [infy, tcs, nifty])
    t.call("set_mode", KiteTicker.MODE_LTP, [infy])
    t.call("set_mode", KiteTicker.MODE_FULL, [tcs, nifty])

    ltp = t.tick_where(lambda x: x["instrument_token"] == infy and x["mode"] == "ltp", "in ltp mode")
    assert ltp == {"tradable": True, "mode": "ltp", "instrument_token": infy,
                   "last_price": quote["NSE:INFY"]["last_price"]}
    full = t.tick_where(lambda x: x["instrument_token"] == tcs and x["mode"] == "full", "in full mode")
    q = quote["NSE:TCS"]
    assert full["last_price"] == q["last_price"] and full["ohlc"] == q["ohlc"]
    assert full["volume_traded"] == q["volume"] and full["average_traded_price"] == q["average_price"]
    assert (full["total_buy_quantity"], full["total_sell_quantity"]) == (q["buy_quantity"], q["sell_quantity"])
    assert full["depth"] == q["depth"] and len(full["depth"]["buy"]) == len(full["depth"]["sell"]) == 5
    assert full["exchange_timestamp"] is not None and full["last_trade_time"] is not None
    index = t.tick_where(lambda x: x["instrument_token"] == nifty and x["mode"] == "full", "of the index")
    assert index["tradable"] is False and index["last_price"] == quote["NSE:NIFTY 50"]["last_price"]
    assert index["ohlc"] == quote["NSE:NIFTY 50"]["ohlc"] and "exchange_timestamp" in index

    since = len(t.seen_ticks)
    t.call("set_mode", KiteTicker.MODE_QUOTE, [tcs])
    quoted = t.tick_where(lambda x: x["instrument_token"] == tcs and x["mode"] == "quote", "in quote mode", since)
    assert quoted["last_price"] == q["last_price"] and "depth" not in quoted

    moved = sandbox.move_price("NSE:INFY", 3)
    after = t.tick_where(lambda x: x["instrument_token"] == infy and x["last_price"] == moved, "after the move")
    assert after["mode"] == "ltp" and moved != quote["NSE:INFY"]["last_price"]


def test_order_updates_of_orders_placed_through_the_official_client(sandbox, ticker_of):
    kite = sandbox.connect()
    t = ticker_of(kite)
    order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                quantity=2, product="CNC", order_type="MARKET", market_protection=-1)
    done = t.order_where(lambda o: o["order_id"] == order_id and o["status"] == "COMPLETE", "COMPLETE")
    book = next(o for o in kite.orders() if o["order_id"] == order_id)
    assert done["filled_quantity"] == 2 and done["unfilled_quantity"] == 0 and done["user_id"] == book["placed_by"]
    assert done["average_price"] == book["average_price"] and done["tradingsymbol"] == "INFY"
    assert done["order_timestamp"] == book["order_timestamp"].strftime("%Y-%m-%d %H:%M:%S")

    price = round(round(book["average_price"] * 0.9 / 0.05) * 0.05, 2)
    waiting = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                               quantity=1, product="CNC", order_type="LIMIT", price=price)
    t.order_where(lambda o: o["order_id"] == waiting and o["status"] == "OPEN", "OPEN")
    kite.modify_order(variety="regular", order_id=waiting, quantity=3, price=price)
    modified = t.order_where(lambda o: o["order_id"] == waiting and o["status"] == "UPDATE", "UPDATE")
    assert modified["quantity"] == 3
    kite.cancel_order(variety="regular", order_id=waiting)
    cancelled = t.order_where(lambda o: o["order_id"] == waiting and o["status"] == "CANCELLED", "CANCELLED")
    assert cancelled["cancelled_quantity"] == 3

    other = sandbox.connect()  # another user's orders never reach this connection
    foreign = other.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                                quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
    marker = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                              quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
    t.order_where(lambda o: o["order_id"] == marker and o["status"] == "COMPLETE", "of the marker order")
    assert foreign not in {o["order_id"] for o in t.seen_orders}


def test_a_wrong_access_token_is_refused_with_kites_403(sandbox):
    kite = sandbox.connect()
    t = Ticker(ws_root(sandbox), kite.api_key, "not-the-token").start()
    code, reason = t.errors.get(timeout=WAIT)
    assert "403" in reason and not t.connected.is_set()
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"{ws_root(sandbox)}/?api_key={kite.api_key}&access_token=nope", open_timeout=WAIT)
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body) == {"status": "error", "data": None, "error_type": "TokenException",
                                                       "message": "Incorrect `api_key` or `access_token`."}
    with pytest.raises(InvalidStatus) as no_key:
        ws_connect(f"{ws_root(sandbox)}/?access_token={kite.access_token}", open_timeout=WAIT)
    assert no_key.value.response.status_code == 403


def _url(sandbox, kite) -> str:
    return f"{ws_root(sandbox)}/?api_key={kite.api_key}&access_token={kite.access_token}"


def _next_text(ws) -> dict:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        message = ws.recv(timeout=WAIT)
        if isinstance(message, str):
            return json.loads(message)
    raise AssertionError("no text message")


def test_three_connections_per_api_key_and_3000_instruments_per_connection(sandbox):
    kite = sandbox.connect()
    with contextlib.ExitStack() as stack:
        connections = [stack.enter_context(ws_connect(_url(sandbox, kite), open_timeout=WAIT)) for _ in range(3)]
        with pytest.raises(InvalidStatus) as fourth:
            ws_connect(_url(sandbox, kite), open_timeout=WAIT)
        assert fourth.value.response.status_code == 429
        assert "at most 3" in json.loads(fourth.value.response.body)["message"]
        connections.pop().close()
        with ws_connect(_url(sandbox, kite), open_timeout=WAIT):  # a freed slot is usable again
            pass

        ws = connections[0]
        ws.send(json.dumps({"a": "subscribe", "v": list(range(1, 3002))}))
        assert _next_text(ws) == {"type": "error",
                                  "data": "Subscription limit exceeded: at most 3000 instruments per connection."}
        ws.send(json.dumps({"a": "subscribe", "v": ["INFY"]}))
        assert _next_text(ws)["type"] == "error"
        ws.send(json.dumps({"a": "subscribe", "v": list(range(1, 3001))}))  # exactly the limit: accepted
        ws.send("not json")
        assert _next_text(ws)["data"].startswith("Invalid message")  # about the bad one, not about the limit


def test_heartbeats_when_idle_and_nothing_after_unsubscribe(sandbox):
    kite = sandbox.connect()
    infy = kite.ltp("NSE:INFY")["NSE:INFY"]["instrument_token"]
    with ws_connect(_url(sandbox, kite), open_timeout=WAIT) as ws:
        assert ws.recv(timeout=WAIT) == b"\x00"  # nothing subscribed: a 1-byte heartbeat
        ws.send(json.dumps({"a": "subscribe", "v": [infy]}))  # a new subscription is in quote mode, as on Kite
        message = ws.recv(timeout=WAIT)
        while message == b"\x00":
            message = ws.recv(timeout=WAIT)
        assert message[:4] == b"\x00\x01\x00\x2c" and len(message) == 2 + 2 + 44  # one 44-byte quote packet
        ws.send(json.dumps({"a": "unsubscribe", "v": [infy]}))
        ws.send("{}")  # answered with an error once the unsubscribe before it has been handled
        assert _next_text(ws)["type"] == "error"
        sandbox.move_price("NSE:INFY", -2)
        quiet = [ws.recv(timeout=WAIT) for _ in range(3)]
        assert quiet == [b"\x00"] * 3
