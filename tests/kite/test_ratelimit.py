"""Our side of Kite's per-key rate limits, on a fake clock (no sleeping)."""
from __future__ import annotations

import pytest

from kite.ratelimit import RateLimitExceeded, SlidingWindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(clock: FakeClock, **kwargs) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(clock=clock, sleep=clock.sleep, window=1.0, **kwargs)


def sent_times(clock: FakeClock, limiter: SlidingWindowLimiter, key: str, cls: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        limiter.acquire(key, cls)
        times.append(clock.now)
    return times


@pytest.mark.parametrize(("cls", "rate"), [("quote", 1), ("historical", 3), ("orders", 10), ("other", 10)])
def test_no_one_second_window_ever_holds_more_than_kites_limit(cls, rate):
    clock = FakeClock()
    limiter = make(clock, max_wait=60)
    times = sent_times(clock, limiter, "key", cls, rate * 4)
    for t in times:
        assert sum(1 for u in times if t <= u < t + 1.0) <= rate
    # and it is not slower than it must be: rate*4 calls take about 3 windows
    assert times[-1] - times[0] == pytest.approx(3.0)


def test_calls_within_the_limit_do_not_wait():
    clock = FakeClock()
    limiter = make(clock)
    sent_times(clock, limiter, "key", "other", 10)
    assert clock.slept == []


def test_keys_and_classes_have_separate_budgets():
    clock = FakeClock()
    limiter = make(clock)
    limiter.acquire("a", "quote")
    limiter.acquire("b", "quote")
    limiter.acquire("a", "other")
    assert clock.slept == []
    limiter.acquire("a", "quote")
    assert clock.slept == [pytest.approx(1.0)]


def test_a_wait_longer_than_max_wait_is_refused_without_booking_a_slot():
    clock = FakeClock()
    limiter = make(clock, max_wait=1.5)
    assert limiter.reserve("k", "quote") == 0.0
    assert limiter.reserve("k", "quote") == pytest.approx(1.0)  # queued behind the first
    with pytest.raises(RateLimitExceeded, match="1 quote call"):
        limiter.reserve("k", "quote")  # would wait 2 s
    clock.now += 0.6
    assert limiter.reserve("k", "quote") == pytest.approx(1.4)  # the refused call took no slot
