"""Reads of accounts. Every read is scoped to its owner: another user's account is simply absent."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from accounts.models import Account


def account_list(*, user: AbstractBaseUser) -> QuerySet[Account]:
    return Account.objects.filter(user=user).order_by("name", "id")


def account_get(*, user: AbstractBaseUser, account_id: object, only: tuple[str, ...] = ()) -> Account:
    """The user's account with that id; Account.DoesNotExist otherwise (including a malformed id).
    `only` loads just those columns (e.g. none of the encrypted ones)."""
    try:
        pk = int(str(account_id))
    except (TypeError, ValueError):
        raise Account.DoesNotExist(f"No account {account_id!r}.") from None
    accounts = Account.objects.only(*only) if only else Account.objects
    return accounts.get(user=user, pk=pk)
