"""Kite's per-api_key rate limits: sliding windows per category (quote 1/s, historical 3/s,
orders 10/s and 200/min, everything else 10/s). In memory, per process: the sandbox is one process."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

LIMITS: dict[str, tuple[tuple[int, float], ...]] = {
    "quote": ((1, 1.0),),
    "historical": ((3, 1.0),),
    "orders": ((10, 1.0), (200, 60.0)),
    "others": ((10, 1.0),),
}


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 limits: dict[str, tuple[tuple[int, float], ...]] | None = None) -> None:
        self.clock = clock
        self.limits = limits or LIMITS
        self.windows: dict[tuple[str, str, float], deque[float]] = {}
        self.lock = threading.Lock()
        self.calls = 0

    def allow(self, key: str, category: str) -> bool:
        """Record a request; False when it is over one of the category's limits."""
        limits = self.limits.get(category, self.limits["others"])
        with self.lock:
            now = self.clock()
            windows = []
            for limit, period in limits:
                window = self.windows.setdefault((key, category, period), deque())
                while window and window[0] <= now - period:
                    window.popleft()
                if len(window) >= limit:
                    return False
                windows.append(window)
            for window in windows:
                window.append(now)
            self.calls += 1
            if self.calls % 10_000 == 0:  # forget idle keys
                self.windows = {k: w for k, w in self.windows.items() if w and w[-1] > now - 60}
            return True


LIMITER = RateLimiter()
