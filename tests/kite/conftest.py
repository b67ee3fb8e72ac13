"""Fixtures of the Kite tests: `trading`, the connected sandbox account with trading allowed."""
from __future__ import annotations

import pytest

from accounts.models import Account


@pytest.fixture
def trading(connected_account) -> Account:
    Account.objects.filter(pk=connected_account.pk).update(trading_enabled=True)
    connected_account.refresh_from_db()
    return connected_account
