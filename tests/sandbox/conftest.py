import pytest

from sandbox import pricing


@pytest.fixture(autouse=True)
def _forget_price_shifts():
    """In-process tests move prices through the test database, which is rolled back after each test:
    the process's copy of the shift table must go with it."""
    pricing.SHIFTS.table, pricing.SHIFTS.version = {}, -1
    yield
    pricing.SHIFTS.table, pricing.SHIFTS.version = {}, -1


@pytest.fixture(autouse=True)
def _sandbox_rate_limits_off(settings):
    """In-process, the sandbox runs under the app's test settings, which do not carry the sandbox's
    variables: rate limits off, as for the sandbox server the tests start (test_server turns them on)."""
    settings.KITE_SANDBOX_RATE_LIMITS = False
