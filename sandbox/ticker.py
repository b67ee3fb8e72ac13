"""Kite's ticker (the WebSocket streaming API) on the sandbox's origin: `ws://host:port/?api_key=…&access_token=…`.

Wire-compatible with pykiteconnect's `KiteTicker(api_key, access_token, root="ws://host:port")`
(kiteconnect/ticker.py) and Kite's WebSocket docs (kite.trade/docs/connect/v3/websocket):

- The upgrade is refused with HTTP 403 (a JSON body in Kite's envelope, TokenException) when the
  api_key or access_token is wrong or expired, and with 429 past 3 connections per api_key (Kite
  documents that limit, not its answer: 429 is the sandbox's choice).
- Text messages from the client: `{"a": "subscribe", "v": [tokens]}`, `{"a": "unsubscribe", "v":
  [tokens]}`, `{"a": "mode", "v": ["ltp"|"quote"|"full", [tokens]]}`; a subscription starts in
  `quote` mode (a mode message subscribes what it names); at most 3000 instruments per connection
  (a message that would go past it changes nothing and is answered with an error). Errors are
  text `{"type": "error", "data": "<message>"}`.
- Binary messages: a 2-byte packet count, then each packet with a 2-byte length: ltp 8 bytes,
  quote 44, full 184 (five bids then five asks, 12 bytes each); an index quote 28, full 32. Prices
  are int32 in paise (CDS / 10^7, BCD and NCO / 10^4, from the token's segment byte); times Unix
  seconds. A packet goes out when a subscription or mode starts, and then whenever the
  instrument's figures change (a price moved through `POST /sandbox/prices`, the clock set or
  running); the figures are those `GET /quote` answers at the same instant.
- A 1-byte binary heartbeat after each second without a message.
- Order updates of the connection's user: text `{"type": "order", "data": {…}}`, the postback
  payload (`sandbox.postbacks`) with an empty checksum, as soon as the order's change commits.

One hub per process (the sandbox is one process) holds the connections; it hears the engine through
`sandbox.events`. Prices and the clock are read off the event loop (worker threads), once per
quarter second for all connections together.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from django.db import DatabaseError

from sandbox import events, pricing
from sandbox.clock import IST, clock_read
from sandbox.errors import BAD_SESSION, KiteError
from sandbox.selectors import quote_payload
from sandbox.universe import Instrument, instrument_by_token
from sandbox.users import session_authenticate

log = logging.getLogger("sandbox.ticker")

MODE_LTP, MODE_QUOTE, MODE_FULL = "ltp", "quote", "full"
MODES = (MODE_LTP, MODE_QUOTE, MODE_FULL)
MAX_TOKENS = 3000  # per connection (Kite's WebSocket docs)
MAX_CONNECTIONS = 3  # per api_key
HEARTBEAT_SECONDS = 1.0
POLL_SECONDS = 0.25
QUOTE_CHUNK = 500
HEARTBEAT = b"\x00"
DATABASE_BUSY = "The sandbox's database is busy or unavailable; try again."
TOO_MANY_CONNECTIONS = f"Too many connections: at most {MAX_CONNECTIONS} WebSocket connections per api_key."
_SEGMENT_CDS, _SEGMENT_BCD, _SEGMENT_INDICES, _SEGMENT_NCO = 3, 6, 9, 12
_U32 = 2**32 - 1


# --- packets (pure) ------------------------------------------------------------------------------------------

def price_divisor(instrument_token: int) -> int:
    segment = instrument_token & 0xFF
    if segment == _SEGMENT_CDS:
        return 10_000_000
    if segment in (_SEGMENT_BCD, _SEGMENT_NCO):
        return 10_000
    return 100


def _u32(value: float) -> int:
    return min(max(int(round(value)), 0), _U32)


def _i32(value: float) -> int:
    return min(max(int(round(value)), -(2**31)), 2**31 - 1)


def _epoch(kite_time: str | None) -> int:
    if not kite_time:
        return 0
    return int(dt.datetime.strptime(kite_time, "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST).timestamp())


def ltp_packet(instrument_token: int, last_price: float) -> bytes:
    return struct.pack(">II", instrument_token, _u32(last_price * price_divisor(instrument_token)))


def quote_packet(quote: dict[str, Any], *, full: bool, index: bool, now: dt.datetime) -> bytes:
    """A quote or full packet from one instrument of `GET /quote`'s answer."""
    token = quote["instrument_token"]
    div = price_divisor(token)
    ohlc = quote["ohlc"]
    if index:
        out = struct.pack(">IIIIIIi", token, _u32(quote["last_price"] * div), _u32(ohlc["high"] * div),
                          _u32(ohlc["low"] * div), _u32(ohlc["open"] * div), _u32(ohlc["close"] * div),
                          _i32((quote["last_price"] - ohlc["close"]) * div))
        return out + struct.pack(">I", int(now.timestamp())) if full else out
    out = struct.pack(">11I", token, _u32(quote["last_price"] * div), _u32(quote["last_quantity"]),
                      _u32(quote["average_price"] * div), _u32(quote["volume"]), _u32(quote["buy_quantity"]),
                      _u32(quote["sell_quantity"]), _u32(ohlc["open"] * div), _u32(ohlc["high"] * div),
                      _u32(ohlc["low"] * div), _u32(ohlc["close"] * div))
    if not full:
        return out
    out += struct.pack(">5I", _epoch(quote["last_trade_time"]), _u32(quote["oi"]), _u32(quote["oi_day_high"]),
                       _u32(quote["oi_day_low"]), int(now.timestamp()))
    for side in ("buy", "sell"):
        for level in quote["depth"][side]:
            out += struct.pack(">IIHxx", _u32(level["quantity"]), _u32(level["price"] * div),
                               min(max(int(level["orders"]), 0), 0xFFFF))
    return out


def _signature(packet: bytes, *, full: bool, index: bool) -> bytes:
    """What a packet says apart from the time it was sent (a tick goes out when this changes)."""
    if not full:
        return packet
    if index:
        return packet[:28]
    return packet[:44] + packet[48:60] + packet[64:]


def packets_build(modes: dict[int, str], now: dt.datetime) -> dict[int, tuple[bytes, bytes]]:
    """{token: (packet, signature)} for the subscribed tokens at `now` (unknown tokens are left out)."""
    out: dict[int, tuple[bytes, bytes]] = {}
    quoted: dict[str, tuple[Instrument, str]] = {}
    for token, mode in modes.items():
        inst = instrument_by_token(token)
        if inst is None:
            continue
        if mode == MODE_LTP:
            packet = ltp_packet(token, pricing.price_at(inst, now))
            out[token] = (packet, packet)
        else:
            quoted[inst.key] = (inst, mode)
    keys = list(quoted)
    for start in range(0, len(keys), QUOTE_CHUNK):
        chunk = keys[start:start + QUOTE_CHUNK]
        for key, quote in quote_payload(keys=chunk, now=now).items():
            inst, mode = quoted[key]
            full, index = mode == MODE_FULL, inst.is_index
            packet = quote_packet(quote, full=full, index=index, now=now)
            out[inst.instrument_token] = (packet, _signature(packet, full=full, index=index))
    return out


def binary_message(packets: list[bytes]) -> bytes:
    return struct.pack(">H", len(packets)) + b"".join(struct.pack(">H", len(p)) + p for p in packets)


# --- connections --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    now: dt.datetime
    version: int


def _clock_reading() -> Reading:
    reading = clock_read()
    pricing.shifts_sync(reading.shifts_version)
    return Reading(reading.now, reading.shifts_version)


@dataclass(frozen=True)
class Who:
    api_key: str
    user_pk: int
    app_pk: int


def _authenticate(api_key: str, access_token: str) -> Who | None:
    try:
        session = session_authenticate(api_key=api_key, access_token=access_token, now=clock_read().now)
    except KiteError:
        return None
    return Who(session.app.api_key, session.app.user_id, session.app.pk)


@dataclass(eq=False)
class Connection:
    who: Who
    send: Any
    modes: dict[int, str] = field(default_factory=dict)
    signatures: dict[int, bytes] = field(default_factory=dict)
    fresh: set[int] = field(default_factory=set)  # tokens whose packet goes out next, changed or not
    texts: asyncio.Queue = field(default_factory=asyncio.Queue)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    reading: Reading | None = None
    last_sent: float = field(default_factory=time.monotonic)

    async def _send(self, message: dict) -> None:
        await self.send(message)
        self.last_sent = time.monotonic()

    async def error(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": json.dumps({"type": "error", "data": text})})

    async def handle_text(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            await self.error("Invalid message: a JSON object {\"a\": action, \"v\": value}.")
            return
        if not isinstance(message, dict) or message.get("a") not in ("subscribe", "unsubscribe", "mode"):
            await self.error("Invalid message: `a` must be subscribe, unsubscribe or mode.")
            return
        action, value = message["a"], message.get("v")
        mode = MODE_QUOTE
        if action == "mode":
            if not (isinstance(value, list) and len(value) == 2 and value[0] in MODES):
                await self.error("Invalid mode message: {\"a\": \"mode\", \"v\": [\"ltp\"|\"quote\"|\"full\", "
                                 "[instrument_token, ...]]}.")
                return
            mode, value = value
        if not isinstance(value, list) or not all(isinstance(t, int) and not isinstance(t, bool) and 0 < t <= _U32
                                                  for t in value):
            await self.error(f"Invalid {action} message: `v` must be a list of instrument tokens (whole numbers).")
            return
        tokens = set(value)
        if action == "unsubscribe":
            for token in tokens:
                self.modes.pop(token, None)
                self.signatures.pop(token, None)
                self.fresh.discard(token)
            return
        if len(self.modes.keys() | tokens) > MAX_TOKENS:
            await self.error(f"Subscription limit exceeded: at most {MAX_TOKENS} instruments per connection.")
            return
        for token in tokens:
            self.modes[token] = mode
        self.fresh |= tokens
        self.wake.set()

    async def tick(self, reading: Reading) -> None:
        """Send what changed since the last reading (everything when the clock or prices moved, the
        fresh subscriptions otherwise), or a heartbeat after a quiet second."""
        moved = (self.reading is None or reading.version != self.reading.version
                 or abs((reading.now - self.reading.now).total_seconds()) >= HEARTBEAT_SECONDS)
        tokens = dict(self.modes) if moved else {t: m for t, m in self.modes.items() if t in self.fresh}
        if moved:
            self.reading = reading
        if tokens:
            fresh, self.fresh = self.fresh, set()
            built = await asyncio.to_thread(packets_build, tokens, reading.now)
            out = []
            for token, (packet, signature) in built.items():
                if self.modes.get(token) != tokens[token]:
                    continue  # changed meanwhile: the next round sends it
                if token in fresh or self.signatures.get(token) != signature:
                    self.signatures[token] = signature
                    out.append(packet)
            if out:
                await self._send({"type": "websocket.send", "bytes": binary_message(out)})
        if time.monotonic() - self.last_sent >= HEARTBEAT_SECONDS:
            await self._send({"type": "websocket.send", "bytes": HEARTBEAT})

    async def write_loop(self, hub: Hub) -> None:
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self.wake.clear()
            while not self.texts.empty():
                await self._send({"type": "websocket.send", "text": self.texts.get_nowait()})
            await self.tick(await hub.reading())

    async def read_loop(self, receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] == "websocket.receive" and message.get("text") is not None:
                await self.handle_text(message["text"])


class Hub:
    """The process's ticker connections, and the bridge from `sandbox.events` (other threads) to them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connections: set[Connection] = set()
        self._reading: Reading | None = None
        self._read_at = 0.0
        self._read_lock = asyncio.Lock()
        events.listeners_add(on_order=self.on_order, on_prices=self.on_prices)

    def close(self) -> None:
        events.listeners_remove(on_order=self.on_order, on_prices=self.on_prices)

    def admit(self, conn: Connection) -> bool:
        if sum(1 for c in self.connections if c.who.api_key == conn.who.api_key) >= MAX_CONNECTIONS:
            return False
        self.connections.add(conn)
        return True

    def leave(self, conn: Connection) -> None:
        self.connections.discard(conn)

    async def reading(self) -> Reading:
        """The clock and price version, read at most once per POLL_SECONDS for every connection."""
        async with self._read_lock:
            if self._reading is None or time.monotonic() - self._read_at >= POLL_SECONDS:
                self._reading = await asyncio.to_thread(_clock_reading)
                self._read_at = time.monotonic()
            return self._reading

    # Called from any thread by sandbox.events:
    def on_order(self, user_pk: int, payload: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self._order, user_pk, payload)

    def on_prices(self, tokens: frozenset[int] | None) -> None:
        self.loop.call_soon_threadsafe(self._prices)

    def _order(self, user_pk: int, payload: dict[str, Any]) -> None:
        for conn in self.connections:
            if conn.who.user_pk == user_pk:
                data = {"user_id": payload["placed_by"], "unfilled_quantity": payload["pending_quantity"],
                        "app_id": conn.who.app_pk, "checksum": "", **payload}
                conn.texts.put_nowait(json.dumps({"type": "order", "data": data}))
                conn.wake.set()

    def _prices(self) -> None:
        self._reading = None
        for conn in self.connections:
            conn.wake.set()


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def _hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(loop)
    return hub


async def hub_close() -> None:
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is not None:
        hub.close()


async def _refuse(scope: dict, send: Any, status: int, message: str, error_type: str) -> None:
    """Refuse the upgrade with an HTTP answer in Kite's envelope (a bare 403 where the server cannot)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close"})
        return
    body = json.dumps({"status": "error", "message": message, "data": None, "error_type": error_type}).encode()
    await send({"type": "websocket.http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})


async def ticker_application(scope: dict, receive: Any, send: Any) -> None:
    """The ASGI application of one ticker connection."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if scope.get("path", "/") not in ("", "/"):
        await _refuse(scope, send, 404, "Route not found", "GeneralException")
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    api_key, access_token = query.get("api_key", [""])[0], query.get("access_token", [""])[0]
    try:
        who = await asyncio.to_thread(_authenticate, api_key, access_token) if api_key and access_token else None
    except DatabaseError:
        log.exception("ticker: the database could not be read")
        await _refuse(scope, send, 503, DATABASE_BUSY, "NetworkException")
        return
    if who is None:
        await _refuse(scope, send, 403, BAD_SESSION, "TokenException")
        return
    hub = _hub()
    conn = Connection(who, send)
    if not hub.admit(conn):
        await _refuse(scope, send, 429, TOO_MANY_CONNECTIONS, "NetworkException")
        return
    try:
        await send({"type": "websocket.accept"})
        writer = asyncio.create_task(conn.write_loop(hub))
        reader = asyncio.create_task(conn.read_loop(receive))
        done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in (writer, reader):
            task.cancel()
        await asyncio.gather(writer, reader, return_exceptions=True)
        for task in done:
            error = task.exception() if not task.cancelled() else None
            if error is not None and not isinstance(error, OSError) and "Disconnect" not in type(error).__name__:
                log.warning("ticker connection of %s ended: %r", who.api_key, error)
    finally:
        hub.leave(conn)

