"""Kite's per-API-key rate limits, kept on our side so that normal use never earns a 429.

A sliding window per (api key, endpoint class): at most `rate` calls in any `window` seconds. A call
that would exceed it waits for its slot (up to `max_wait`), instead of being sent and refused.
Per process: several worker processes share Kite's budget, so each keeps a safety margin.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from kite.errors import RateLimited

# Kite's published limits (requests per second per API key).
KITE_LIMITS: dict[str, int] = {"quote": 1, "historical": 3, "orders": 10, "other": 10}


class RateLimitExceeded(RateLimited):
    """Nothing was sent: the call would have waited more than `max_wait` for its slot."""

    def __init__(self, endpoint_class: str, wait: float) -> None:
        super().__init__(f"Kite allows {KITE_LIMITS.get(endpoint_class, '?')} {endpoint_class} call(s) a second "
                         f"per API key; the next slot is {wait:.1f} s away. Nothing was sent: try again then.",
                         retry_after=wait)
        self.endpoint_class = endpoint_class
        self.wait = wait


class SlidingWindowLimiter:
    def __init__(self, limits: dict[str, int] | None = None, *, window: float = 1.05, max_wait: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.limits = dict(limits or KITE_LIMITS)
        self.window = window  # a little over a second: Kite's clock and ours are not the same
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self._sent: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, endpoint_class: str) -> float:
        """Book the next slot; return how long to wait for it (0 when free now)."""
        rate = self.limits[endpoint_class]
        with self._lock:
            now = self.clock()
            sent = self._sent.setdefault((key, endpoint_class), deque())
            while sent and sent[0] <= now - self.window:
                sent.popleft()
            if len(sent) < rate:
                slot = now
            else:
                slot = sent[-rate] + self.window  # when the oldest call of the last `rate` leaves the window
            wait = slot - now
            if wait > self.max_wait:
                raise RateLimitExceeded(endpoint_class, wait)
            sent.append(slot)
            return max(0.0, wait)

    def forget(self, key: str) -> None:
        """Drop what was booked for an API key (its budget is whole again)."""
        with self._lock:
            for booked in [k for k in self._sent if k[0] == key]:
                del self._sent[booked]

    def acquire(self, key: str, endpoint_class: str) -> None:
        wait = self.reserve(key, endpoint_class)
        if wait > 0:
            self.sleep(wait)
