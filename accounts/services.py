"""Writes to accounts: the one account lifecycle used by the REST API, the pages, the admin and `demo`.

Plain keyword-only functions, each write one transaction. A sandbox account gets its key and secret
from the sandbox; deleting an account ends its Kite session first.
"""
from __future__ import annotations

import unicodedata
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from accounts.models import Account, Environment
from kite.errors import InvalidInput, ServiceError

# kite.services.sessions and .provisioning are imported where they are used: they bring in the official
# client (kiteconnect imports its ticker, Twisted and Autobahn: ~0.3 s), and this module is loaded at every
# start (the admin imports it), including runmcp's, which must answer `initialize` quickly.

_CREDENTIAL_FIELDS = ("api_key", "api_secret")
_EDITABLE_FIELDS = ("name", "api_key", "api_secret", "trading_enabled", "confirm_orders", "max_order_value",
                    "max_orders_per_day")


def _duplicate(name: str) -> InvalidInput:
    message = f"You already have an account named {name!r}."
    return InvalidInput(message, fields={"name": [message]})


# Names are shown to the human in every confirmation: no control or bidi-formatting characters (U+202E can
# make "Main" read as "niaM", or hide text), and one name per user whatever its case.
_UNSAFE_NAME = {"Cc", "Cf", "Cs", "Co", "Cn"}


def account_name_check(*, user: AbstractBaseUser, name: str, exclude_pk: int | None = None) -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in _UNSAFE_NAME})
    if bad:
        message = f"The name has invisible or text-direction characters ({', '.join(bad)}); type it plainly."
        raise InvalidInput(message, fields={"name": [message]})
    if not name.strip():
        raise InvalidInput("The name is empty.", fields={"name": ["The name is empty."]})
    same = Account.objects.filter(user=user, name__iexact=name)
    if exclude_pk is not None:
        same = same.exclude(pk=exclude_pk)
    if same.exists():
        raise _duplicate(name)


def account_credentials_check(*, environment: str, api_key: str | None, api_secret: str | None) -> None:
    """The credential rule of a new account; InvalidInput naming the field otherwise.

    A sandbox account gets its key and secret from the sandbox, so it is added with none. A live account
    takes its Kite Connect app's key and secret together (or neither yet: it reads `needs_credentials`).
    Later changes replace one or both (accounts.services.account_update), so the pair stays whole.
    """
    if environment == Environment.SANDBOX:
        given = [f for f, v in (("api_key", api_key), ("api_secret", api_secret)) if v]
        if given:
            message = "A sandbox account gets its API key and secret from the sandbox: leave both empty."
            raise InvalidInput(message, fields={f: [message] for f in given})
    elif bool(api_key) != bool(api_secret):
        missing = "api_secret" if api_key else "api_key"
        message = f"A live account needs both the API key and the API secret of your Kite Connect app ({missing} " \
                  "is missing)."
        raise InvalidInput(message, fields={missing: [message]})


def account_create(*, user: AbstractBaseUser, name: str, environment: str = Environment.LIVE,
                   api_key: str | None = None, api_secret: str | None = None) -> tuple[Account, str | None]:
    """Create an account; a sandbox account is provisioned by the sandbox.

    Returns the account and, when the sandbox could not provision it, why (it is asked again at the
    account's first login). A duplicate name or a credential that breaks the rule is InvalidInput.
    """
    account_name_check(user=user, name=name)
    account_credentials_check(environment=environment, api_key=api_key, api_secret=api_secret)
    try:
        with transaction.atomic():
            account = Account.objects.create(user=user, name=name, environment=environment, api_key=api_key or None,
                                             api_secret=api_secret or None)
    except IntegrityError:
        if Account.objects.filter(user=user, name=name).exists():
            raise _duplicate(name) from None
        raise
    return account, account_provision(account=account)


def account_provision(*, account: Account) -> str | None:
    """A sandbox account without credentials asks the sandbox for them; None when done (or not needed),
    else why not (the sandbox is down: the first login asks again)."""
    if account.environment != Environment.SANDBOX or account.has_credentials:
        return None
    from kite.services.provisioning import sandbox_provision

    try:
        sandbox_provision(account=account)
    except ServiceError as error:
        return error.message
    return None


def account_update(*, account: Account, **changes: Any) -> Account:
    """Change the editable fields. New credentials end the current session (it belongs to the old key)."""
    unknown = set(changes) - set(_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    credentials_changed = any(f in changes and changes[f] != getattr(account, f) for f in _CREDENTIAL_FIELDS)
    if "name" in changes and changes["name"] != account.name:
        account_name_check(user=account.user, name=changes["name"], exclude_pk=account.pk)
    for name, value in changes.items():
        setattr(account, name, value)
    if credentials_changed:
        account_reset_for_new_credentials(account=account)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        if Account.objects.filter(user=account.user, name=account.name).exclude(pk=account.pk).exists():
            raise _duplicate(account.name) from None
        raise
    return account


def account_reset_for_new_credentials(*, account: Account) -> None:
    """New key or secret (not saved here): the session belonged to the old app, and the new app may
    belong to another Kite user."""
    from kite.services.sessions import session_forget

    session_forget(account=account, save=False)
    account.kite_user_id = ""


def account_delete(*, account: Account) -> None:
    """Delete an account, ending its Kite session first (best effort: else it lives until 06:00 IST)."""
    if account.access_token:
        from kite.services.sessions import session_delete

        session_delete(account=account)
    account.delete()
