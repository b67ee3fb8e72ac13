import pytest

from sandbox import pricing


@pytest.fixture(autouse=True)
def _forget_price_shifts():
    """In-process tests move prices through the test database, which is rolled back after each test:
    the process's copy of the shift table must go with it."""
    pricing.SHIFTS.table, pricing.SHIFTS.version = {}, -1
    yield
    pricing.SHIFTS.table, pricing.SHIFTS.version = {}, -1
