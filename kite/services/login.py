"""Kite's login flow: the login URL carries a signed, expiring, single-use state naming the account;
Kite's redirect brings it back to the callback, which checks it (the owner's signed-in browser only)
before a session is made, and uses it up once the session is made."""
from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.core import signing

from accounts.models import Account, Environment
from kite import client as kite_client
from kite.errors import LoginStateExpired, LoginStateInvalid, NeedsCredentials
from kite.services.provisioning import sandbox_provision

LOGIN_STATE_SALT = "kite.login.state"
LOGIN_STATE_MAX_AGE = 15 * 60  # seconds between asking for the login URL and Kite's redirect


def login_url(*, account: Account) -> str:
    """The Kite (or sandbox) login URL, carrying a signed, expiring, single-use state."""
    if account.environment == Environment.SANDBOX and not account.has_credentials:
        sandbox_provision(account=account)
    if not account.has_credentials:
        raise NeedsCredentials(f"Account {account.name!r} has no API key and secret yet; add them first.")
    nonce = secrets.token_urlsafe(16)
    Account.objects.filter(pk=account.pk).update(login_nonce_hash=_hash(nonce))
    state = signing.dumps({"a": account.pk, "u": account.user_id, "n": nonce}, salt=LOGIN_STATE_SALT, compress=True)
    query = urlencode({"v": "3", "api_key": account.api_key, "redirect_params": urlencode({"state": state})})
    return f"{kite_client.login_base_url(account.environment)}?{query}"


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def login_state_check(*, state: str, user: AbstractBaseUser) -> tuple[Account, str]:
    """The account a callback is for, and the nonce that `login_state_consume` uses up once the session is
    made. Refuses forged, expired, replayed or superseded states, and anyone but the account's signed-in
    owner; a refused or failed callback leaves the state as it was (a wrong request_token costs nothing)."""
    try:
        payload = signing.loads(state, salt=LOGIN_STATE_SALT, max_age=LOGIN_STATE_MAX_AGE)
        account_id, owner_id, nonce = int(payload["a"]), int(payload["u"]), str(payload["n"])
    except signing.SignatureExpired:
        raise LoginStateExpired("This login link has expired; start the login again.") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LoginStateInvalid("This login callback is not one we issued.") from None
    if user.pk != owner_id:
        raise LoginStateInvalid("This login was started by another user: sign in as the account's owner.")
    account = Account.objects.filter(pk=account_id, user_id=owner_id, login_nonce_hash=_hash(nonce)).first()
    if account is None:
        raise LoginStateInvalid("This login callback was already used or replaced by a newer login; start again.")
    return account, nonce


def login_state_consume(*, account: Account, nonce: str) -> None:
    """Use the state up: a replay of this callback is refused from now on."""
    Account.objects.filter(pk=account.pk, login_nonce_hash=_hash(nonce)).update(login_nonce_hash="")
