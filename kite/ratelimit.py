"""Kite's per-API-key rate limits, kept on our side so that normal use never earns a 429, and shared by
every process of the app through Django's cache (Redis when `REDIS_URL` is set; otherwise the
local-memory cache, which holds for one process).

Kite counts a call when it arrives, somewhere between the moment we send it and the moment its answer
is back. So each (API key, rate class) has `rate` lanes: a call holds one from just before it is sent
until `window` seconds after its answer came back. Two calls of one lane are then always more than a
second apart as Kite sees them, whatever the network or the scheduler did to either, and no second
ever holds more than `rate` of them. (Spacing calls by when they *started*, as before, left only the
0.05 s margin for jitter, and 3 of 20 parallel orders met Kite's 429 on a busy machine.)

A call waits at most `max_wait` for a lane, never holding its request longer: past that it is
refused, nothing sent, with the time to the next free lane (Retry-After). Each key's budget is its
own, so one account's burst never delays another account's call.

The lanes of one key live in one cache entry, changed under a short lock (`cache.add`, atomic in
Redis and in the local-memory cache); Kite's limits are per second, so a lock held well under a
millisecond costs nothing that matters. Source of the limits: Kite Connect's docs, exceptions page,
"API rate limit" (quote 1/s, historical 3/s, orders 10/s, everything else 10/s).
"""
from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import caches

from kite.errors import RateLimited, ServiceError

# Kite's published limits (requests per second per API key).
KITE_LIMITS: dict[str, int] = {"quote": 1, "historical": 3, "orders": 10, "other": 10}
log = logging.getLogger(__name__)

WINDOW = 1.05  # seconds a lane stays taken after the answer; over 1 s: Kite's clock and ours are not one
MAX_WAIT = 1.5  # the longest a call waits for a lane before it is refused (a request is never held longer)
LOCK_SECONDS = 2  # a lock left by a process that died is free again after this (whole seconds: Django's cache)


class RateLimitExceeded(RateLimited):
    """Nothing was sent: the call would have waited more than `max_wait` for a lane."""

    def __init__(self, endpoint_class: str, wait: float) -> None:
        super().__init__(f"Kite allows {KITE_LIMITS.get(endpoint_class, '?')} {endpoint_class} call(s) a second "
                         f"per API key; the next slot is {wait:.1f} s away. Nothing was sent: try again then.",
                         retry_after=wait)
        self.endpoint_class = endpoint_class
        self.wait = wait


class SharedStateUnavailable(ServiceError):
    """The cache that holds the shared rate limits (Redis) did not answer: nothing was sent."""

    type, status = "shared_state_unavailable", 503

    def __init__(self, detail: str) -> None:
        super().__init__(f"The shared state of Kite's rate limits (the cache, REDIS_URL) did not answer ({detail}); "
                         "nothing was sent to Kite. Try again once it is back.")
        self.retry_after = 5.0


class SharedLimiter:
    """Kite's per-key limits across processes. `with limiter.slot(key, cls): <send one call>`."""

    def __init__(self, limits: dict[str, int] | None = None, *, window: float = WINDOW, max_wait: float = MAX_WAIT,
                 stale_after: float = 30.0, cache_alias: str = "default", clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limits = dict(limits or KITE_LIMITS)
        self.window = window
        self.max_wait = max_wait
        # A lane taken by a call that never said it was done (its process died mid-call) is free after this.
        self.stale_after = stale_after
        self.cache_alias = cache_alias
        self.clock = clock  # wall time: every process (on any machine sharing the cache) reads the same clock
        self.sleep = sleep

    # --- the one entry point ----------------------------------------------------------------------------
    @contextmanager
    def slot(self, key: str, endpoint_class: str) -> Iterator[None]:
        """Hold a lane of `key`'s budget for the call made inside the block (waiting up to `max_wait`)."""
        lane = self.claim(key, endpoint_class)
        try:
            yield
        finally:
            self.release(key, endpoint_class, lane)

    def claim(self, key: str, endpoint_class: str) -> str:
        """Take a lane; return its id. RateLimitExceeded (nothing taken) when none frees within `max_wait`."""
        rate = self.limits[endpoint_class]
        started = self.clock()
        deadline = started + self.max_wait
        state_key = self._key(key, endpoint_class)
        while True:
            with self._locked(state_key, deadline, endpoint_class):
                now = self.clock()
                lanes = self._live(self._get(state_key), now)
                if len(lanes) < rate:
                    lane = secrets.token_hex(8)
                    lanes[lane] = (now, True)
                    self._set(state_key, lanes)
                    return lane
                # A lane in use frees `window` after its call ends, which is not before now.
                free_at = min(now + self.window if busy else t + self.window for t, busy in lanes.values())
            if free_at > deadline:
                raise RateLimitExceeded(endpoint_class, free_at - now)
            self.sleep(max(0.002, free_at - now))

    def release(self, key: str, endpoint_class: str, lane: str) -> None:
        """The call of `lane` is over (answered, failed or timed out): its lane frees `window` from now."""
        state_key = self._key(key, endpoint_class)
        try:
            with self._locked(state_key, self.clock() + LOCK_SECONDS + 1, endpoint_class):
                now = self.clock()
                lanes = self._live(self._get(state_key), now)
                lanes[lane] = (now, False)
                self._set(state_key, lanes)
        except ServiceError as exc:
            # The call went out: never turn its answer into an error here. The lane stays taken until it is
            # stale (`stale_after`), which errs on the side of fewer calls.
            log.warning("Could not free a rate-limit lane of %s: %s", endpoint_class, exc.message)

    def forget(self, key: str) -> None:
        """Drop every lane of an API key (its budget is whole again)."""
        self._cache_call(caches[self.cache_alias].delete_many, [self._key(key, c) for c in self.limits])

    # --- the state in the cache -------------------------------------------------------------------------
    def _key(self, key: str, endpoint_class: str) -> str:
        # The API key is not a secret, but it has no business in the cache's key space either.
        return f"kite-rate:{hashlib.sha256(key.encode()).hexdigest()[:24]}:{endpoint_class}"

    def _live(self, lanes: dict[str, tuple[float, bool]], now: float) -> dict[str, tuple[float, bool]]:
        """The lanes still taken: calls in flight (unless stale) and calls that ended less than `window` ago."""
        return {lane: (t, busy) for lane, (t, busy) in lanes.items()
                if (busy and t + self.stale_after > now) or (not busy and t + self.window > now)}

    def _get(self, state_key: str) -> dict[str, tuple[float, bool]]:
        value = self._cache_call(caches[self.cache_alias].get, state_key)
        return value if isinstance(value, dict) else {}

    def _set(self, state_key: str, lanes: dict[str, tuple[float, bool]]) -> None:
        # Whole seconds (Django's cache), rounded up: the entry outlives every lane in it.
        self._cache_call(caches[self.cache_alias].set, state_key, lanes, int(self.stale_after + self.window) + 1)

    @contextmanager
    def _locked(self, state_key: str, deadline: float, endpoint_class: str) -> Iterator[None]:
        cache = caches[self.cache_alias]
        lock_key, token = state_key + ":lock", secrets.token_hex(8)
        while not self._cache_call(cache.add, lock_key, token, LOCK_SECONDS):
            if self.clock() > deadline:
                raise RateLimitExceeded(endpoint_class, 1.0)
            self.sleep(random.uniform(0.001, 0.004))  # held for well under a millisecond
        try:
            yield
        finally:
            # Only our own lock: one held past LOCK_SECONDS (a process paused that long) may be another's by now.
            # Django's cache has no compare-and-delete, so this narrows the race to the two calls, not to zero.
            if self._cache_call(cache.get, lock_key) == token:
                self._cache_call(cache.delete, lock_key)

    @staticmethod
    def _cache_call(method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except Exception as exc:  # the cache's own errors (redis.ConnectionError, TimeoutError...): no 500
            raise SharedStateUnavailable(type(exc).__name__) from None
