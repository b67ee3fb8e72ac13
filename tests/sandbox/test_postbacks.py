"""Kite's postbacks from the sandbox: an app's `postback_url` gets every update of the orders it placed, signed."""
from __future__ import annotations

import hashlib
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fixtures.sandbox import free_port

WAIT = 20.0
# The postback payload's keys (Kite's postback docs and zerodha/kiteconnect-mocks postback.json).
POSTBACK_KEYS = {"user_id", "unfilled_quantity", "app_id", "checksum", "placed_by", "order_id", "exchange_order_id",
                 "parent_order_id", "status", "status_message", "status_message_raw", "order_timestamp",
                 "exchange_update_timestamp", "exchange_timestamp", "variety", "exchange", "tradingsymbol",
                 "instrument_token", "order_type", "transaction_type", "validity", "product", "quantity",
                 "disclosed_quantity", "price", "trigger_price", "average_price", "filled_quantity",
                 "pending_quantity", "cancelled_quantity", "market_protection", "meta", "tag", "guid"}


class Receiver:
    """A local HTTP server that keeps what is POSTed to it; `hold()` makes it sit on each request."""

    def __init__(self) -> None:
        self.bodies: queue.Queue = queue.Queue()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.arrived.set()
                receiver.release.wait(WAIT)
                receiver.bodies.put((self.path, self.headers.get("Content-Type"), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kite/postback?src=sandbox"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, status: str) -> dict:
        while True:
            path, content_type, body = self.bodies.get(timeout=WAIT)
            assert path == "/kite/postback?src=sandbox" and content_type == "application/json"
            payload = json.loads(body)
            if payload["status"] == status:
                return payload

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def checksum(payload: dict, api_secret: str) -> str:
    return hashlib.sha256((payload["order_id"] + payload["order_timestamp"] + api_secret).encode()).hexdigest()


def test_every_order_update_is_posted_with_kites_checksum(sandbox, receiver):
    kite = sandbox.connect(postback_url=receiver.url, starting_cash=200_000, holdings=[])
    secret = kite.sandbox_app["api_secret"]
    order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
    done = receiver.next("COMPLETE")
    assert set(done) >= POSTBACK_KEYS and done["order_id"] == order_id
    assert done["checksum"] == checksum(done, secret) and len(done["checksum"]) == 64
    assert done["user_id"] == done["placed_by"] == kite.sandbox_app["user_id"] and done["unfilled_quantity"] == 0
    assert done["filled_quantity"] == 1 and isinstance(done["app_id"], int)

    rejected_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                   quantity=1000, product="CNC", order_type="MARKET", market_protection=-1)
    rejected = receiver.next("REJECTED")
    assert rejected["order_id"] == rejected_id and rejected["status_message"].startswith("Insufficient funds")
    assert rejected["checksum"] == checksum(rejected, secret)
    assert checksum(rejected, "another-secret") != rejected["checksum"]


def test_only_the_app_that_placed_an_order_gets_its_postbacks(sandbox, receiver):
    """Kite: "Only orders placed using the app's api_key are notified", though both apps act for one user."""
    other = Receiver()
    try:
        first = sandbox.connect(postback_url=receiver.url, starting_cash=500_000, holdings=[])
        second = sandbox.connect(postback_url=other.url, user_id=first.sandbox_app["user_id"])
        order = {"variety": "regular", "exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY",
                 "quantity": 1, "product": "CNC", "order_type": "MARKET", "market_protection": -1}
        by_first = first.place_order(**order)
        assert receiver.next("COMPLETE")["order_id"] == by_first
        by_second = second.place_order(**order)
        seen = []
        while not seen or seen[-1]["order_id"] != by_second:
            seen.append(json.loads(other.bodies.get(timeout=WAIT)[2]))
        assert by_first not in {p["order_id"] for p in seen}
        assert seen[-1]["checksum"] == checksum(seen[-1], second.sandbox_app["api_secret"])
        # Both orders are the one user's: each app's order book shows both.
        assert {o["order_id"] for o in second.orders()} == {by_first, by_second}
        with pytest.raises(queue.Empty):
            receiver.bodies.get(timeout=1.0)  # and the first app heard nothing of the second's order
    finally:
        other.close()


def test_a_postback_receiver_that_hangs_or_is_down_never_holds_an_order(sandbox, receiver):
    receiver.release.clear()  # the receiver sits on every postback until released
    kite = sandbox.connect(postback_url=receiver.url)
    first = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                             quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
    assert receiver.arrived.wait(WAIT)
    # The order was answered while its postback is still waiting for the receiver.
    assert receiver.bodies.empty() and kite.order_history(first)[-1]["status"] == "COMPLETE"
    receiver.release.set()
    assert receiver.next("COMPLETE")["order_id"] == first

    down = sandbox.connect(postback_url=f"http://127.0.0.1:{free_port()}/nobody-listens")
    second = down.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                              quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
    assert down.order_history(second)[-1]["status"] == "COMPLETE"
    assert sandbox.clock()  # the sandbox answers on


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", 42, "http://"])
def test_a_bad_postback_url_is_refused_naming_the_field(sandbox, url):
    answer = sandbox.http.post(f"{sandbox.url}/sandbox/apps",
                               json={"redirect_url": "http://127.0.0.1:9/cb", "postback_url": url}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error_type"] == "InputException" and "`postback_url`" in answer.json()["message"]
