"""Kite's ticker for the pages: one official `KiteTicker` connection per connected account, following the
instruments of the account's holdings and positions, its ticks and order updates handed to `kite.live`.

Threads: Twisted's reactor (KiteTicker's) runs on a thread of its own and only ever queues what it hears;
the control loop (`TickerHub.run`, the caller's thread) does everything that touches the database or Kite's
HTTP API: it reads the accounts and their instruments every `refresh_seconds`, opens, re-subscribes and
closes connections (through `reactor.callFromThread`), records order updates (kite.services.history, once
each) and publishes ticks, coalesced to the latest per instrument, plus each connection's state every few
seconds (the pages say "Live" only while it is "connected").

KiteTicker reconnects by itself with exponential backoff (up to `RECONNECT_MAX_DELAY` s between tries); a
connection that gives up is opened afresh at the next refresh. Kite allows 3 connections per API key and
3,000 instruments per connection (kite.trade/docs/connect/v3/websocket); this opens one per account.
The access token is in the WebSocket URL (Kite's protocol): it is never logged here, and the client's own
logger (kiteconnect.ticker) is kept quiet.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from accounts.models import Account, Environment, Status

log = logging.getLogger(__name__)

LIVE_TICKER_URL = "wss://ws.kite.trade"  # KiteTicker.ROOT_URI
MAX_TOKENS = 3000  # per connection
RECONNECT_MAX_DELAY = 60  # seconds, KiteTicker's default (and its ceiling on backoff)
RECONNECT_MAX_TRIES = 300  # KiteTicker's maximum; past it the next refresh opens a new connection
CONNECTED, CONNECTING, RECONNECTING, STOPPED = "connected", "connecting", "reconnecting", "stopped"


def ticker_url(environment: str) -> str:
    """Where an account's ticker is: Kite's, or the sandbox's origin (KITE_SANDBOX_URL, http -> ws)."""
    if environment != Environment.SANDBOX:
        return LIVE_TICKER_URL
    parts = urlsplit(settings.KITE_SANDBOX_URL)
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"


@dataclass
class Watch:
    """What one account's connection follows: token -> (exchange, tradingsymbol)."""

    account_id: int
    user_id: int
    environment: str
    api_key: str
    access_token: str = field(repr=False)
    session_version: int
    instruments: dict[int, tuple[str, str]]


def _instruments(reads: Any) -> dict[int, tuple[str, str]] | None:
    """The tokens of the holdings and net positions read; None when neither could be read."""
    holdings, positions = reads.data.get("get_holdings"), reads.data.get("get_positions")
    if holdings is None and positions is None:
        return None
    found: dict[int, tuple[str, str]] = {}
    for row in [*(holdings or []), *((positions or {}).get("net") or [])]:
        try:
            token = int(row.get("instrument_token"))
        except (TypeError, ValueError):
            continue
        found[token] = (str(row.get("exchange", "")), str(row.get("tradingsymbol", "")))
    return dict(list(found.items())[:MAX_TOKENS])


def watches_read(*, previous: dict[int, Watch] | None = None) -> list[Watch]:
    """Every connected account with what it holds (read from Kite now). An account whose holdings and
    positions could not be read keeps the instruments it had, so a failed read does not unsubscribe them."""
    from kite import selectors  # the tool pipeline: imported late, as runticker's checks come first

    previous = previous or {}
    now = timezone.now()
    watches = []
    for account in Account.objects.filter(access_token__isnull=False, token_expires_at__gt=now).select_related(
            "user"):
        if account.status_at(now) != Status.CONNECTED or not account.api_key:
            continue
        reads = selectors.account_reads(user=account.user, account=account,
                                        tool_names=("get_holdings", "get_positions"))
        if reads.expired:
            continue
        instruments = _instruments(reads)
        if instruments is None:
            old = previous.get(account.pk)
            instruments = old.instruments if old else {}
        watches.append(Watch(account_id=account.pk, user_id=account.user_id, environment=account.environment,
                             api_key=account.api_key, access_token=account.access_token,
                             session_version=account.session_version, instruments=instruments))
    return watches


@dataclass
class _Connection:
    watch: Watch
    ticker: Any  # KiteTicker
    state: str = CONNECTING
    since: float = field(default_factory=time.monotonic)


def _quiet_client_logs() -> None:
    # KiteTicker logs every close and retry at ERROR (kiteconnect.ticker); we say it once, our way.
    logging.getLogger("kiteconnect.ticker").setLevel(logging.CRITICAL)


class TickerHub:
    """The connections of every connected account, run by `run(stop)` until `stop` is set."""

    def __init__(self, *, publish_many: Callable[[list[tuple[int, dict[str, Any]]]], Any],
                 record_order: Callable[[int, dict[str, Any]], None] | None = None,
                 read_watches: Callable[..., list[Watch]] = watches_read,
                 refresh_seconds: float = 60.0, status_seconds: float = 5.0,
                 say: Callable[[str], None] = log.info) -> None:
        self.publish_many, self.record_order, self.read_watches = publish_many, record_order, read_watches
        self.refresh_seconds, self.status_seconds, self.say = refresh_seconds, status_seconds, say
        self._heard: queue.Queue = queue.Queue()
        self._connections: dict[int, _Connection] = {}
        self._reactor: Any = None
        self._reactor_thread: threading.Thread | None = None

    # --- the reactor ---------------------------------------------------------------------------------------
    def start_reactor(self) -> None:
        from twisted.internet import reactor

        _quiet_client_logs()
        self._reactor = reactor
        if not reactor.running:
            self._reactor_thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False},
                                                    name="kite-ticker-reactor", daemon=True)
            self._reactor_thread.start()

    def stop_reactor(self, timeout: float = 5.0) -> None:
        if self._reactor is not None and self._reactor_thread is not None:
            self._reactor.callFromThread(self._reactor.stop)
            self._reactor_thread.join(timeout)

    # --- the control loop -------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        if self._reactor is None:
            self.start_reactor()
        next_refresh = next_status = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_refresh:
                    self.refresh()
                    next_refresh = time.monotonic() + self.refresh_seconds
                if now >= next_status:
                    self.publish_states()
                    next_status = time.monotonic() + self.status_seconds
                self.drain(wait=0.2)
        finally:
            self.close_all()

    def refresh(self) -> None:
        """Open, re-subscribe and close connections to match the connected accounts and their instruments."""
        try:
            watches = {w.account_id: w for w in self.read_watches(
                previous={pk: c.watch for pk, c in self._connections.items()})}
        except Exception as error:  # noqa: BLE001 - a database or Kite hiccup: try again at the next refresh
            self.say(f"Could not read the accounts to follow ({type(error).__name__}: {error}); trying again later.")
            return
        finally:
            close_old_connections()
        for account_id, connection in list(self._connections.items()):
            watch = watches.get(account_id)
            if (watch is None or watch.session_version != connection.watch.session_version
                    or watch.access_token != connection.watch.access_token or connection.state == STOPPED):
                self._close(account_id)
        for account_id, watch in watches.items():
            connection = self._connections.get(account_id)
            if connection is None:
                self._open(watch)
            elif watch.instruments != connection.watch.instruments:
                connection.watch = watch
                self._reactor.callFromThread(self._apply, connection, connection.ticker, True)

    def _open(self, watch: Watch) -> None:
        from kiteconnect import KiteTicker

        ticker = KiteTicker(watch.api_key, watch.access_token, root=ticker_url(watch.environment), reconnect=True,
                            reconnect_max_tries=RECONNECT_MAX_TRIES, reconnect_max_delay=RECONNECT_MAX_DELAY,
                            connect_timeout=10)
        connection = _Connection(watch=watch, ticker=ticker)
        account_id = watch.account_id
        heard = self._heard

        def on_connect(ws: Any, response: Any) -> None:
            heard.put(("state", account_id, CONNECTED, ""))
            self._apply(connection, ws, False)

        def on_close(ws: Any, code: Any, reason: Any) -> None:
            heard.put(("state", account_id, RECONNECTING, f"closed ({code})"))

        def on_error(ws: Any, code: Any, reason: Any) -> None:
            heard.put(("error", account_id, str(reason or code)[:200], ""))

        ticker.on_connect = on_connect
        ticker.on_close = on_close
        ticker.on_error = on_error
        ticker.on_reconnect = lambda ws, attempts: heard.put(("state", account_id, RECONNECTING, f"try {attempts}"))
        ticker.on_noreconnect = lambda ws: heard.put(("state", account_id, STOPPED, "gave up"))
        ticker.on_ticks = lambda ws, ticks: heard.put(("ticks", account_id, ticks, ""))
        ticker.on_order_update = lambda ws, data: heard.put(("order", account_id, data, ""))
        self._connections[account_id] = connection
        self.say(f"Account {account_id}: connecting to the ticker at {ticker_url(watch.environment)} "
                 f"({len(watch.instruments)} instruments).")
        self._reactor.callFromThread(ticker.connect)

    @staticmethod
    def _apply(connection: _Connection, ticker: Any, check_open: bool) -> None:
        """On the reactor thread: subscribe what the watch has and the connection lacks, drop the rest."""
        if check_open and not ticker.is_connected():
            return  # on_connect applies it
        wanted = set(connection.watch.instruments)
        have = set(ticker.subscribed_tokens)
        try:
            if wanted - have:
                tokens = sorted(wanted - have)
                ticker.subscribe(tokens)
                ticker.set_mode(ticker.MODE_QUOTE, tokens)  # last price and the day's OHLC (its close)
            if have - wanted:
                ticker.unsubscribe(sorted(have - wanted))
        except Exception as error:  # noqa: BLE001 - the client closes the connection itself; it reconnects
            log.warning("Account %s: could not update the ticker subscription (%s)", connection.watch.account_id,
                        type(error).__name__)

    def _close(self, account_id: int) -> None:
        connection = self._connections.pop(account_id)
        self._reactor.callFromThread(connection.ticker.close)
        self.say(f"Account {account_id}: ticker closed (session ended or changed).")
        self.publish_many([(connection.watch.user_id, self._state_event(connection, STOPPED))])

    def close_all(self) -> None:
        for account_id in list(self._connections):
            try:
                self._close(account_id)
            except Exception:  # noqa: BLE001 - closing on the way out: the rest still close
                log.exception("Account %s: closing the ticker failed", account_id)

    # --- what the reactor heard ---------------------------------------------------------------------------------
    def drain(self, wait: float) -> None:
        """Handle what was heard (waiting up to `wait` s for the first): states, orders, ticks (coalesced)."""
        try:
            items = [self._heard.get(timeout=wait)]
        except queue.Empty:
            return
        while len(items) < 10_000:
            try:
                items.append(self._heard.get_nowait())
            except queue.Empty:
                break
        latest: dict[tuple[int, int], dict[str, Any]] = {}
        states: list[tuple[int, dict[str, Any]]] = []
        for kind, account_id, payload, note in items:
            connection = self._connections.get(account_id)
            if connection is None:
                continue  # closed meanwhile
            if kind == "state":
                if payload != connection.state:
                    connection.state, connection.since = payload, time.monotonic()
                    self.say(f"Account {account_id}: ticker {payload}{f' ({note})' if note else ''}.")
                    states.append((connection.watch.user_id, self._state_event(connection, payload)))
            elif kind == "error":
                self.say(f"Account {account_id}: ticker error: {self._redact(payload, connection)}")
            elif kind == "ticks":
                for tick in payload:
                    token = tick.get("instrument_token")
                    if token in connection.watch.instruments:
                        latest[(account_id, token)] = tick
            elif kind == "order" and self.record_order is not None and isinstance(payload, dict):
                try:
                    self.record_order(account_id, payload)  # stored once, and published by the history service
                except Exception as error:  # noqa: BLE001 - one bad update must not stop the others
                    self.say(f"Account {account_id}: an order update was not recorded ({type(error).__name__}).")
                finally:
                    close_old_connections()
        events = [*states]
        for (account_id, token), tick in latest.items():
            connection = self._connections[account_id]
            exchange, symbol = connection.watch.instruments[token]
            ohlc = tick.get("ohlc") or {}
            events.append((connection.watch.user_id, {
                "type": "tick", "account_id": account_id, "instrument_token": token, "exchange": exchange,
                "tradingsymbol": symbol, "last_price": tick.get("last_price"), "close": ohlc.get("close"),
                "change": tick.get("change")}))
        if events:
            self.publish_many(events)

    def publish_states(self) -> None:
        """Every connection's state, to its owner: the pages trust "connected" only while it keeps coming."""
        events = [(c.watch.user_id, self._state_event(c, c.state)) for c in self._connections.values()]
        if events:
            self.publish_many(events)

    def _state_event(self, connection: _Connection, state: str) -> dict[str, Any]:
        return {"type": "ticker", "account_id": connection.watch.account_id, "state": state,
                "instruments": len(connection.watch.instruments), "every": self.status_seconds}

    @staticmethod
    def _redact(text: str, connection: _Connection) -> str:
        token = connection.watch.access_token
        return text.replace(token, "…") if token else text
