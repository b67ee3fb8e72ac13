"""Our side of Kite's per-key rate limits (kite.ratelimit), in Django's cache: on a fake clock where a test
is about waiting, on real threads where it is about calls overlapping."""
from __future__ import annotations

import random
import threading
import time

import pytest
from django.core.cache import caches

from kite.ratelimit import RateLimitExceeded, SharedLimiter, SharedStateUnavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _empty_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


def make(clock: FakeClock | None = None, **kwargs) -> SharedLimiter:
    if clock is None:
        return SharedLimiter(**kwargs)
    return SharedLimiter(clock=clock, sleep=clock.sleep, **kwargs)


def test_calls_within_the_limit_do_not_wait():
    clock = FakeClock()
    limiter = make(clock)
    for _ in range(10):
        limiter.claim("key", "orders")
    assert clock.slept == []


def test_a_lane_frees_a_window_after_its_answer_not_after_its_start():
    clock = FakeClock()
    limiter = make(clock, window=1.0)
    lane = limiter.claim("key", "quote")
    clock.now += 0.8  # Kite took 0.8 s to answer: it may have counted the call at any moment of it
    limiter.release("key", "quote", lane)
    started = clock.now
    limiter.claim("key", "quote")
    assert clock.now - started == pytest.approx(1.0)  # 1.8 s after the first started, not 1.0


def test_a_call_that_would_wait_past_max_wait_is_refused_at_once_and_takes_no_lane():
    clock = FakeClock()
    limiter = make(clock, window=1.05, max_wait=0.5)
    limiter.claim("key", "quote")  # in flight
    with pytest.raises(RateLimitExceeded, match="1 quote call") as refused:
        limiter.claim("key", "quote")
    assert clock.slept == [] and refused.value.retry_after == pytest.approx(1.05)
    with pytest.raises(RateLimitExceeded):
        limiter.claim("key", "quote")  # the refused call left nothing behind: still only the first in flight


def test_waiting_is_bounded_by_max_wait():
    clock = FakeClock()
    limiter = make(clock, window=1.05, max_wait=1.5)
    for _ in range(3):
        limiter.claim("key", "historical")  # all three in flight, and they never come back
    started = clock.now
    with pytest.raises(RateLimitExceeded):
        limiter.claim("key", "historical")
    assert clock.now - started <= 1.5


def test_keys_and_classes_have_separate_budgets():
    clock = FakeClock()
    limiter = make(clock)
    limiter.claim("a", "quote")
    limiter.claim("b", "quote")  # another account's key: not delayed
    limiter.claim("a", "other")
    assert clock.slept == []


def test_two_limiters_on_one_cache_share_the_budget_as_two_processes_would():
    clock = FakeClock()
    first, second = make(clock, max_wait=0.5), make(clock, max_wait=0.5)
    for _ in range(10):
        first.claim("key", "orders")
    with pytest.raises(RateLimitExceeded, match="10 orders call"):
        second.claim("key", "orders")


def test_a_lane_of_a_call_that_never_came_back_frees_once_stale():
    clock = FakeClock()
    limiter = make(clock, stale_after=20.0, max_wait=0.5)
    limiter.claim("key", "quote")  # its process died mid-call
    with pytest.raises(RateLimitExceeded):
        limiter.claim("key", "quote")
    clock.now += 20.0
    limiter.claim("key", "quote")


def test_forget_makes_a_keys_budget_whole_again():
    clock = FakeClock()
    limiter = make(clock, max_wait=0.5)
    limiter.claim("key", "quote")
    limiter.forget("key")
    limiter.claim("key", "quote")
    assert clock.slept == []


@pytest.mark.parametrize(("cls", "rate"), [("quote", 1), ("historical", 3), ("orders", 10)])
def test_no_window_ever_holds_more_than_the_limit_as_kite_would_count_whatever_the_jitter(cls, rate):
    """Real threads, random delays before and after the moment "Kite counts" each call."""
    window = 0.2  # a short window: the property does not depend on its length
    limiter = SharedLimiter(window=window, max_wait=30.0)
    counted: list[float] = []
    lock = threading.Lock()
    rng = random.Random(cls)

    def caller(delays: tuple[float, float]) -> None:
        with limiter.slot("key", cls):
            time.sleep(delays[0])  # the request on its way
            with lock:
                counted.append(time.time())  # Kite counts it somewhere in between
            time.sleep(delays[1])  # the answer on its way back

    threads = [threading.Thread(target=caller, args=((rng.uniform(0, 0.05), rng.uniform(0, 0.05)),))
               for _ in range(rate * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(counted) == rate * 4
    counted.sort()
    for i, moment in enumerate(counted):
        assert sum(1 for other in counted[i:] if other < moment + window) <= rate


def test_a_cache_that_does_not_answer_is_a_clear_error_not_a_crash(settings):
    settings.CACHES = {**settings.CACHES, "broken": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0",
        "OPTIONS": {"socket_connect_timeout": 1}}}
    limiter = SharedLimiter(cache_alias="broken")
    with pytest.raises(SharedStateUnavailable, match="nothing was sent to Kite") as failed:
        limiter.claim("key", "orders")
    assert failed.value.status == 503


def test_a_lock_held_past_its_time_and_taken_by_another_is_not_freed_by_the_late_holder():
    limiter = make()
    cache = caches["default"]
    state_key = limiter._key("api-key", "orders")
    with limiter._locked(state_key, time.time() + 1, "orders"):
        # Our lock expired (this process was paused past LOCK_SECONDS) and another process took it.
        cache.set(state_key + ":lock", "another-process", 2)
    assert cache.get(state_key + ":lock") == "another-process"
    with pytest.raises(RateLimitExceeded):  # still the other process's: nobody else gets in meanwhile
        make(max_wait=0.0).claim("api-key", "orders")
