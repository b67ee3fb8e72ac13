"""Live events: the Server-Sent Events stream (`GET /kite/stream`) over a real ASGI server (uvicorn, on
loopback, in a thread of this process), the signed way in for `runticker` (`POST /kite/live/ingest`), and
`manage.py runticker` itself against the sandbox's ticker: a price moved through the sandbox's control
route reaches the user's stream as a tick.

The server's threads open the test database themselves, so these tests use `transactional_db`.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client

from accounts.models import Account
from kite import live
from tests.factories import AccountFactory, UserFactory
from tests.fixtures.sandbox import free_port
from tests.mcp_bridge.conftest import database_url

REPO = Path(__file__).resolve().parents[2]
WAIT = 30.0  # seconds: a generous bound for anything to arrive on a loaded machine

pytestmark = pytest.mark.django_db(transaction=True)


class Uvicorn:
    """config.asgi served by uvicorn on a free loopback port, in a thread, static files too (as the live
    server of pytest-django serves them); `stop()` ends it."""

    def __init__(self) -> None:
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from config.asgi import application

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(
            ASGIStaticFilesHandler(application), host="127.0.0.1", port=self.port, lifespan="off",
            log_level="warning", timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> Uvicorn:
        # Each request's database connection closed when it ends (CONN_MAX_AGE 0), or the server's threads
        # keep theirs open and PostgreSQL cannot drop the test database.
        self.settings_dict = connections["default"].settings_dict
        self.max_age = self.settings_dict.get("CONN_MAX_AGE", 0)
        self.settings_dict["CONN_MAX_AGE"] = 0
        self.thread.start()
        deadline = time.monotonic() + WAIT
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)  # start-up polling, not a test sleep
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.settings_dict["CONN_MAX_AGE"] = self.max_age


@pytest.fixture
def asgi(transactional_db, settings, monkeypatch) -> Iterator[Uvicorn]:
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    # The server (in this process) notices a closed stream at its next write: a keep-alive each second,
    # not each 15 s, so that closing a test's stream does not wait that long.
    monkeypatch.setattr("kite.views.STREAM_KEEPALIVE_SECONDS", 1)
    server = Uvicorn().start()
    try:
        yield server
    finally:
        server.stop()


def cookies_for(user: Any) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {django_settings.SESSION_COOKIE_NAME: client.cookies[django_settings.SESSION_COOKIE_NAME].value}


class Stream:
    """A browser's EventSource, roughly: reads `url` on a thread, parsed events in `events` (name, data)."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        self.http = requests.Session()
        self.response = self.http.get(url, cookies=cookies, stream=True, timeout=(5, 60),
                                      headers={"Accept": "text/event-stream"})
        self.events: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        name, data = "message", []
        try:
            for line in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if line == "":
                    if data:
                        self.events.put((name, json.loads("\n".join(data))))
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        except (requests.RequestException, AttributeError, ValueError):
            pass  # closed by the test
        finally:
            self.events.put(("closed", {}))

    def next(self, name: str, match: Any = lambda data: True, timeout: float = WAIT) -> dict[str, Any]:
        """The next event called `name` whose data `match`es (others are skipped); fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {name!r} event within {timeout} s")
            try:
                got, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if got == name and match(data):
                return data
            if got == "closed":
                raise AssertionError(f"the stream closed before a {name!r} event")

    def seen(self) -> list[tuple[str, dict[str, Any]]]:
        found = []
        while True:
            try:
                found.append(self.events.get_nowait())
            except queue.Empty:
                return found

    def close(self) -> None:
        self.response.close()
        self.http.close()


def test_the_stream_needs_a_signed_in_user(asgi):
    answer = requests.get(f"{asgi.url}/kite/stream", timeout=10)
    assert answer.status_code == 403
    assert "Sign in" in answer.text


def test_under_wsgi_the_stream_says_so_instead_of_holding_a_worker(user):
    client = Client()
    client.force_login(user)
    answer = client.get("/kite/stream")
    assert answer.status_code == 503
    assert b"ASGI" in answer.content


def test_an_event_published_for_a_user_reaches_their_stream_and_not_another_users(asgi):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    mine = AccountFactory(user=alice, name="Mine")
    theirs = AccountFactory(user=bob, name="Theirs")
    alice_stream = Stream(f"{asgi.url}/kite/stream", cookies_for(alice))
    bob_stream = Stream(f"{asgi.url}/kite/stream", cookies_for(bob))
    try:
        assert alice_stream.response.status_code == 200
        assert alice_stream.response.headers["Content-Type"].startswith("text/event-stream")
        assert alice_stream.next("hello")["accounts"] == [mine.pk]
        assert bob_stream.next("hello")["accounts"] == [theirs.pk]

        event = {"type": "order", "account_id": mine.pk, "order": {"order_id": "A1", "status": "REJECTED"}}
        live.publish(alice.pk, event)
        assert alice_stream.next("order") == event
        # Bob's stream: a marker published after Alice's event arrives, and Alice's event never came before it.
        live.publish(bob.pk, {"type": "order", "account_id": theirs.pk, "order": {"order_id": "B1"}})
        assert bob_stream.next("order")["order"]["order_id"] == "B1"
        assert not [e for e in bob_stream.seen() if e[1].get("order", {}).get("order_id") == "A1"]
        # An event naming an account that is not the user's is not sent, even on the user's own channel.
        live.publish(alice.pk, {"type": "order", "account_id": theirs.pk, "order": {"order_id": "X"}})
        live.publish(alice.pk, {"type": "tick", "account_id": mine.pk, "last_price": 101.5})
        assert alice_stream.next("tick")["last_price"] == 101.5
        assert not [e for e in alice_stream.seen() if e[1].get("order", {}).get("order_id") == "X"]
    finally:
        alice_stream.close()
        bob_stream.close()


def test_the_stream_lets_go_when_the_browser_goes_away(asgi, user):
    stream = Stream(f"{asgi.url}/kite/stream", cookies_for(user))
    stream.next("hello")
    assert user.pk in live._subscribers
    stream.close()
    deadline = time.monotonic() + WAIT
    while user.pk in live._subscribers and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the server to notice, bounded
    assert user.pk not in live._subscribers


def test_only_a_signed_batch_is_let_in(asgi, user):
    account = AccountFactory(user=user, name="Paper")
    stream = Stream(f"{asgi.url}/kite/stream", cookies_for(user))
    try:
        stream.next("hello")
        forged = json.dumps({"events": [{"user_id": user.pk, "event": {
            "type": "order", "account_id": account.pk, "order": {"order_id": "FORGED", "status": "REJECTED"}}}]})
        headers = live.ingest_headers(forged.encode())
        headers["X-Live-Signature"] = "0" * 64
        answer = requests.post(f"{asgi.url}/kite/live/ingest", data=forged, headers=headers, timeout=10)
        assert answer.status_code == 403
        assert answer.json()["error"]["message"] == "X-Live-Signature does not match."
        stale = live.ingest_headers(forged.encode(), now=time.time() - 3600)
        assert requests.post(f"{asgi.url}/kite/live/ingest", data=forged, headers=stale, timeout=10).status_code == 403
        assert requests.post(f"{asgi.url}/kite/live/ingest", data=forged, timeout=10).status_code == 403

        body = json.dumps({"events": [{"user_id": user.pk, "event": {
            "type": "order", "account_id": account.pk, "order": {"order_id": "SIGNED", "status": "OPEN"}}}]}).encode()
        answer = requests.post(f"{asgi.url}/kite/live/ingest", data=body, headers=live.ingest_headers(body), timeout=10)
        assert answer.status_code == 200, answer.text
        assert stream.next("order")["order"]["order_id"] == "SIGNED"
        assert not [e for e in stream.seen() if e[1].get("order", {}).get("order_id") == "FORGED"]
    finally:
        stream.close()


# --- runticker against the sandbox's ticker -------------------------------------------------------------------

def runticker_env(sandbox_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": database_url(),
        "FIELD_ENCRYPTION_KEY": os.environ["FIELD_ENCRYPTION_KEY"], "KITE_RATE_LIMITS": "off",
        "KITE_SANDBOX_URL": sandbox_url, "KITE_API_ROOT": sandbox_url, "KITE_LOGIN_URL": f"{sandbox_url}/connect/login",
        "APP_BASE_URL": "http://127.0.0.1:9",
    }


class Runticker:
    """`manage.py runticker` in a subprocess, pushing to the in-test web app (no Redis: the signed POST)."""

    def __init__(self, web_url: str, sandbox_url: str, log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runticker", "--web-url", web_url, "--refresh", "5"],
                cwd=REPO, env=runticker_env(sandbox_url), stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return -9


@pytest.fixture
def following(asgi, user, connected_account, kite_settings, tmp_path):
    """(stream, runticker, first holding): the user's stream open, runticker connected to the sandbox's ticker."""
    from kite.services.execution import tool_execute

    holdings = tool_execute(user=user, tool_name="get_holdings", arguments={"account_id": connected_account.pk})
    assert holdings, "the sandbox account starts with holdings"
    stream = Stream(f"{asgi.url}/kite/stream", cookies_for(user))
    ticker = Runticker(asgi.url, kite_settings.url, tmp_path / "runticker.log")
    try:
        state = stream.next("ticker", lambda d: d["account_id"] == connected_account.pk and d["state"] == "connected")
        assert state["instruments"] >= 1
        yield stream, ticker, holdings[0]
    finally:
        stream.close()
        code = ticker.stop()
    assert code == 0, ticker.log()
    assert "Kite ticker stopped." in ticker.log()
    assert connected_account.access_token not in ticker.log()  # it is in the ticker's URL: never logged


def test_runticker_turns_a_sandbox_price_move_into_a_tick_on_the_stream(following, connected_account, kite_settings):
    stream, _, held = following
    # The first tick of the held instrument (its price as subscribed), then the move.
    stream.next("tick", lambda d: d["instrument_token"] == held["instrument_token"])
    moved = kite_settings.move_price(f"{held['exchange']}:{held['tradingsymbol']}", 7.5)
    tick = stream.next("tick", lambda d: d["instrument_token"] == held["instrument_token"]
                       and abs(d["last_price"] - moved) < 0.01)
    assert tick["account_id"] == connected_account.pk
    assert (tick["exchange"], tick["tradingsymbol"]) == (held["exchange"], held["tradingsymbol"])


def test_runticker_records_an_order_update_from_the_ticker_and_streams_it(following, user, connected_account):
    from kite.models import OrderUpdate
    from kite.services.execution import tool_execute

    stream, _, held = following
    Account.objects.filter(pk=connected_account.pk).update(trading_enabled=True)
    placed = tool_execute(user=user, tool_name="place_order", path="web", arguments={
        "account_id": connected_account.pk, "exchange": held["exchange"], "tradingsymbol": held["tradingsymbol"],
        "transaction_type": "SELL", "quantity": 1, "product": "CNC", "order_type": "LIMIT",
        "price": round(held["last_price"] * 1.05, 1)})
    update = stream.next("order", lambda d: d["order"].get("order_id") == placed["order_id"])
    assert update["source"] == "ticker" and update["account_id"] == connected_account.pk
    assert OrderUpdate.objects.filter(order_id=placed["order_id"], source="ticker").exists()


def test_runticker_refuses_a_bad_web_url_in_one_line(transactional_db):
    answer = subprocess.run([sys.executable, "manage.py", "runticker", "--web-url", "ftp://x"], cwd=REPO,
                            env=runticker_env("http://127.0.0.1:9"), capture_output=True, text=True, timeout=60)
    assert answer.returncode == 1
    assert answer.stderr.strip() == "Error: --web-url 'ftp://x' is not an http(s):// URL."


# --- across processes: Redis pub/sub ----------------------------------------------------------------------------

@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    """A throw-away redis-server on a free loopback port (skipped where Redis is not installed)."""
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server) for the REDIS_URL tests")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)  # start-up polling, not a test sleep
    client.close()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def test_with_redis_an_event_from_another_process_reaches_the_users_stream_once(asgi, settings, redis_url):
    import redis

    settings.REDIS_URL = redis_url
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    mine = AccountFactory(user=alice, name="Mine")
    alice_stream = Stream(f"{asgi.url}/kite/stream", cookies_for(alice))
    bob_stream = Stream(f"{asgi.url}/kite/stream", cookies_for(bob))
    other_process = redis.Redis.from_url(redis_url)
    try:
        alice_stream.next("hello")
        bob_stream.next("hello")
        assert alice.pk not in live._subscribers  # listening on Redis, not in this process
        # What runticker (another process) sends: a message on the user's channel.
        other_process.publish(f"{live.CHANNEL_PREFIX}{alice.pk}", json.dumps(
            {"type": "tick", "account_id": mine.pk, "last_price": 99.5}))
        assert alice_stream.next("tick")["last_price"] == 99.5
        # And this process's publish goes through Redis too, once.
        live.publish(alice.pk, {"type": "order", "account_id": mine.pk, "order": {"order_id": "R1"}})
        live.publish(alice.pk, {"type": "tick", "account_id": mine.pk, "last_price": 100.0})
        assert alice_stream.next("order")["order"]["order_id"] == "R1"
        assert alice_stream.next("tick")["last_price"] == 100.0
        assert not [e for e in alice_stream.seen() if e[1].get("order", {}).get("order_id") == "R1"]
        live.publish(bob.pk, {"type": "ticker", "state": "connected"})
        assert bob_stream.next("ticker")["state"] == "connected"
        assert not [e for e in bob_stream.seen() if e[0] in ("tick", "order")]
    finally:
        other_process.close()
        alice_stream.close()
        bob_stream.close()


def test_with_redis_gone_the_stream_ends_so_the_page_polls(asgi, settings, redis_url, user):
    import redis

    settings.REDIS_URL = redis_url
    stream = Stream(f"{asgi.url}/kite/stream", cookies_for(user))
    try:
        stream.next("hello")
        redis.Redis.from_url(redis_url).shutdown(nosave=True)
        stream.next("closed")
    except redis.ConnectionError:
        stream.next("closed")  # SHUTDOWN drops the connection that sent it
    finally:
        stream.close()
