"""Reads of accounts. Every read is scoped to its owner: another user's account is simply absent."""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Account
from kite.errors import NotFound
from kite.ist import iso_ist


def account_list(*, user: AbstractBaseUser) -> QuerySet[Account]:
    return Account.objects.filter(user=user).order_by("name", "id")


def account_get(*, user: AbstractBaseUser, account_id: object, only: tuple[str, ...] = ()) -> Account:
    """The user's account with that id; NotFound otherwise (including a malformed id, or another user's).
    `only` loads just those columns (e.g. none of the encrypted ones)."""
    text = str(account_id)
    if not (text.isascii() and text.isdigit()):  # "1_0" or " 10" is not account 10
        raise NotFound()
    pk = int(text)
    accounts = Account.objects.only(*only) if only else Account.objects
    try:
        return accounts.get(user=user, pk=pk)
    except Account.DoesNotExist:
        raise NotFound() from None


def account_status(account: Account, *, now: Any = None, switches: bool = False) -> dict[str, Any]:
    """One account's state, the same shape on every front (CONTRACT section 4's GET /api/kite/accounts row);
    times in ISO 8601, IST. `switches` adds the order switches (`trading_enabled`, `confirm_orders`)."""
    row = {
        "id": account.id, "name": account.name, "environment": account.environment,
        "status": account.status_at(now or timezone.now()), "kite_user_id": account.kite_user_id,
        "token_expires_at": iso_ist(account.token_expires_at),
    }
    if switches:
        row.update(trading_enabled=account.trading_enabled, confirm_orders=account.confirm_orders)
    return row


def account_statuses(*, user: AbstractBaseUser, account_ids: Collection[int] | None = None,
                     switches: bool = False) -> list[dict[str, Any]]:
    """The states of the user's accounts (only `account_ids` when given), in list order."""
    accounts = account_list(user=user)
    if account_ids is not None:
        accounts = accounts.filter(pk__in=list(account_ids))
    now = timezone.now()
    return [account_status(a, now=now, switches=switches) for a in accounts]
