"""Writes to accounts: plain keyword-only functions, each one transaction."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from accounts.models import Account, Environment


class DuplicateAccountName(ValueError):
    pass


_CREDENTIAL_FIELDS = ("api_key", "api_secret")
_EDITABLE_FIELDS = ("name", "api_key", "api_secret", "trading_enabled", "confirm_orders")


def account_create(
    *,
    user: AbstractBaseUser,
    name: str,
    environment: str = Environment.LIVE,
    api_key: str | None = None,
    api_secret: str | None = None,
) -> Account:
    try:
        with transaction.atomic():
            return Account.objects.create(
                user=user, name=name, environment=environment, api_key=api_key or None,
                api_secret=api_secret or None,
            )
    except IntegrityError:
        if Account.objects.filter(user=user, name=name).exists():
            raise DuplicateAccountName(name) from None
        raise


def account_update(*, account: Account, **changes: Any) -> Account:
    """Change the editable fields. New credentials end the current session (it belongs to the old key)."""
    unknown = set(changes) - set(_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    credentials_changed = any(
        f in changes and changes[f] != getattr(account, f) for f in _CREDENTIAL_FIELDS
    )
    for field, value in changes.items():
        setattr(account, field, value)
    if credentials_changed:
        account_reset_for_new_credentials(account=account)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        if Account.objects.filter(user=account.user, name=account.name).exclude(pk=account.pk).exists():
            raise DuplicateAccountName(account.name) from None
        raise
    return account


def account_clear_session(*, account: Account, save: bool = True) -> None:
    account.access_token = None
    account.token_expires_at = None
    account.session_version += 1
    if save:
        account.save(update_fields=["access_token", "token_expires_at", "session_version", "updated_at"])


def account_reset_for_new_credentials(*, account: Account) -> None:
    """New key or secret (not saved here): the session belonged to the old app, and the new app may
    belong to another Kite user."""
    account_clear_session(account=account, save=False)
    account.kite_user_id = ""


def account_delete(*, account: Account) -> None:
    account.delete()
