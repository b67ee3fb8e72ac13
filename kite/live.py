"""Live events for the pages: what the postback view, the ticker and others publish, and what the stream
(Server-Sent Events, `GET /kite/stream`) hands on to the browser of the user whose account it is.

`publish(user_id, event)` calls every subscriber registered in this process for that user (a subscriber
must not block: it queues the event and returns). `user_id` is the Kite Desk user (the account's owner),
never a Kite user id. Beyond this process, an event travels:

- with `REDIS_URL` set: over Redis pub/sub (channel `kitedesk:live:<user_id>`), to every process that
  streams to a browser — any number of web processes and `runticker`, on any machine sharing the Redis;
- without Redis, from `runticker` (a process with no browsers): by `forward_to(url)`, an HTTP POST of the
  batch to the web app's `POST /kite/live/ingest`, signed with an HMAC of `SECRET_KEY` (both processes read
  the same `.env`). One web process then (`make run`); with more, set `REDIS_URL`.

Events are small JSON objects with a "type": "order" (kite.services.history.order_event), "tick"
(kite.ticker) and "ticker" (a connection's state, re-sent every few seconds while it lasts).
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import requests
from django.conf import settings
from django.utils.crypto import salted_hmac

from kite.errors import LiveIngestRefused

log = logging.getLogger(__name__)

Subscriber = Callable[[dict[str, Any]], None]

_subscribers: dict[int, set[Subscriber]] = {}
_lock = threading.Lock()

CHANNEL_PREFIX = "kitedesk:live:"
QUEUE_SIZE = 1000  # events waiting for one browser; past it the oldest are dropped and the page re-reads
INGEST_PATH = "/kite/live/ingest"
INGEST_MAX_BYTES = 1024 * 1024
INGEST_MAX_SKEW_SECONDS = 30
_INGEST_SALT = "kite.live.ingest"
UNAVAILABLE = "unavailable"  # a listener's own event: its source stopped, the stream should end


def subscribe(user_id: int, subscriber: Subscriber) -> Callable[[], None]:
    """Register `subscriber` for the user's events; returns the function that unregisters it."""
    with _lock:
        _subscribers.setdefault(user_id, set()).add(subscriber)

    def unsubscribe() -> None:
        with _lock:
            found = _subscribers.get(user_id)
            if found is not None:
                found.discard(subscriber)
                if not found:
                    _subscribers.pop(user_id, None)
    return unsubscribe


def publish(user_id: int, event: dict[str, Any]) -> int:
    """Hand `event` (JSON-serialisable, with a "type") to every subscriber of the user; returns how many in
    this process. It goes on to Redis or the web app as configured (module docstring).

    A subscriber that fails is logged and skipped, and so is Redis or the web app being unreachable:
    publishing never fails the caller (a postback is stored whether or not a page is watching)."""
    return publish_many([(user_id, event)])


def publish_many(items: Iterable[tuple[int, dict[str, Any]]]) -> int:
    """`publish` for a batch (one Redis pipeline or one POST); returns how many local deliveries."""
    items = list(items)
    delivered = sum(_deliver_local(user_id, event) for user_id, event in items)
    if not items:
        return delivered
    if settings.REDIS_URL:
        _redis_publish(items)
    elif _forward["url"]:
        _forward_post(items)
    return delivered


def _deliver_local(user_id: int, event: dict[str, Any]) -> int:
    with _lock:
        targets = list(_subscribers.get(user_id, ()))
    for subscriber in targets:
        try:
            subscriber(event)
        except Exception:  # noqa: BLE001 - one broken subscriber must not stop the others
            log.exception("A live subscriber of user %s failed on a %s event", user_id, event.get("type"))
    return len(targets)


# --- Redis ---------------------------------------------------------------------------------------------------

_redis: dict[str, Any] = {"url": None, "client": None}


def _redis_publish(items: list[tuple[int, dict[str, Any]]]) -> None:
    import redis

    try:
        if _redis["url"] != settings.REDIS_URL:
            _redis["client"] = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
            _redis["url"] = settings.REDIS_URL
        pipe = _redis["client"].pipeline(transaction=False)
        for user_id, event in items:
            pipe.publish(f"{CHANNEL_PREFIX}{user_id}", json.dumps(event))
        pipe.execute()
    except redis.RedisError as error:
        # The URL may hold a password: the error's class only.
        log.warning("Live events not sent to Redis (%s): the pages fall back to polling", type(error).__name__)


# --- Forwarding to the web app (runticker without Redis) -------------------------------------------------------

_forward: dict[str, Any] = {"url": None, "http": None}


def forward_to(base_url: str | None) -> None:
    """From now on (or, with None, no longer) also POST every published event to the web app at `base_url`."""
    _forward["url"] = base_url.rstrip("/") + INGEST_PATH if base_url else None
    if _forward["http"] is not None:
        _forward["http"].close()
    _forward["http"] = requests.Session() if base_url else None
    if _forward["http"] is not None:
        _forward["http"].trust_env = False  # loopback: never through a proxy


def _ingest_signature(timestamp: str, body: bytes) -> str:
    return salted_hmac(_INGEST_SALT, timestamp.encode() + b"." + body, algorithm="sha256").hexdigest()




def ingest_headers(body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {"Content-Type": "application/json", "X-Live-Timestamp": timestamp,
            "X-Live-Signature": _ingest_signature(timestamp, body)}


def ingest_check(*, body: bytes, timestamp: str, signature: str) -> list[tuple[int, dict[str, Any]]]:
    """The events of a signed batch from `forward_to`; LiveIngestRefused naming what is wrong otherwise."""
    try:
        moment = int(timestamp)
    except ValueError:
        raise LiveIngestRefused("X-Live-Timestamp is missing or not a number.") from None
    if abs(time.time() - moment) > INGEST_MAX_SKEW_SECONDS:
        raise LiveIngestRefused("X-Live-Timestamp is too old or in the future.")
    if not hmac.compare_digest(_ingest_signature(timestamp, body), signature or ""):
        raise LiveIngestRefused("X-Live-Signature does not match.")
    try:
        batch = json.loads(body)
        items = [(int(item["user_id"]), dict(item["event"])) for item in batch["events"]]
    except (ValueError, TypeError, KeyError):
        raise LiveIngestRefused("The body is not {\"events\": [{\"user_id\", \"event\"}, ...]}.") from None
    if any(not isinstance(event.get("type"), str) for _, event in items):
        raise LiveIngestRefused("Every event needs a \"type\".")
    return items


def _forward_post(items: list[tuple[int, dict[str, Any]]]) -> None:
    body = json.dumps({"events": [{"user_id": u, "event": e} for u, e in items]}).encode()
    try:
        answer = _forward["http"].post(_forward["url"], data=body, headers=ingest_headers(body), timeout=5)
    except requests.RequestException as error:
        log.warning("Live events not delivered to the web app at %s (%s)", _forward["url"], type(error).__name__)
        return
    if answer.status_code != 200:
        log.warning("The web app at %s refused live events: HTTP %s", _forward["url"], answer.status_code)


# --- Listening (the stream view) -----------------------------------------------------------------------------

class Listener:
    """One browser's events: `await listener.get(timeout)` is the next event, or None after `timeout` s.

    An {"type": "overflow"} event stands for events dropped because the browser fell behind (the page then
    re-reads everything)."""

    def __init__(self, queue: asyncio.Queue) -> None:
        self._queue = queue

    async def get(self, timeout: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None


def _offer(queue: asyncio.Queue, event: dict[str, Any]) -> None:
    """On the listener's loop: queue the event; when full, drop the oldest and say so once."""
    if queue.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
        queue.put_nowait({"type": "overflow"})
    queue.put_nowait(event)


@contextlib.asynccontextmanager
async def listen(user_id: int) -> AsyncIterator[Listener]:
    """The user's events, for as long as the context lasts (Redis with REDIS_URL, this process otherwise)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_SIZE)
    if not settings.REDIS_URL:
        def subscriber(event: dict[str, Any]) -> None:  # any thread: hand over to the listener's loop
            loop.call_soon_threadsafe(_offer, queue, event)
        unsubscribe = subscribe(user_id, subscriber)
        try:
            yield Listener(queue)
        finally:
            unsubscribe()
        return

    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.subscribe(f"{CHANNEL_PREFIX}{user_id}")

        async def pump() -> None:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        with contextlib.suppress(ValueError):
                            _offer(queue, json.loads(message["data"]))
            except aioredis.RedisError as error:
                log.warning("Live events from Redis stopped (%s)", type(error).__name__)
                _offer(queue, {"type": UNAVAILABLE})

        task = asyncio.create_task(pump())
        try:
            yield Listener(queue)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()
        with contextlib.suppress(Exception):
            await client.aclose()
