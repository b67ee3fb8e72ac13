"""The Kite session of an account: made from a request token, ended at Kite, forgotten here."""
from __future__ import annotations

import logging

from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from kite import client as kite_client
from kite.errors import KiteError, KiteRefused, KiteUserMismatch, NeedsCredentials, RateLimited, from_kite
from kite.ist import token_expiry

log = logging.getLogger(__name__)


def session_forget(*, account: Account, save: bool = True) -> None:
    """Drop the token here (not at Kite): the account reads `needs_login`; every process drops its client."""
    account.access_token = None
    account.token_expires_at = None
    account.session_version += 1
    if save:
        account.save(update_fields=["access_token", "token_expires_at", "session_version", "updated_at"])
        kite_client.forget_client(account.pk)


def session_mark_expired(*, account: Account) -> None:
    """Kite refused the token: the account reads `expired` everywhere, and every process drops its client."""
    Account.objects.filter(pk=account.pk).update(
        token_expires_at=timezone.now(), session_version=F("session_version") + 1, updated_at=timezone.now())
    kite_client.forget_client(account.pk)


def session_create(*, account: Account, request_token: str) -> Account:
    """Exchange a request_token for an access token; keep it encrypted and cache the client."""
    if not account.has_credentials:
        raise NeedsCredentials(f"Account {account.name!r} has no API key and secret.")
    kite = kite_client.new_client(api_key=account.api_key or "", access_token=None, environment=account.environment)
    try:
        session = kite_client.call(kite, "other", "generate_session", request_token, api_secret=account.api_secret)
        kite_user_id = str(session.get("user_id") or "")[:32]
        if account.kite_user_id and kite_user_id != account.kite_user_id:
            # Someone else logged in through this account's app (its login URL leaked, or the wrong Kite
            # login was used): their session must not stand in for the account's owner.
            kite.set_access_token(session["access_token"])
            try:
                kite_client.call(kite, "other", "invalidate_access_token")
            except (KiteError, RateLimited):
                log.warning("Could not invalidate a mismatched Kite session for account %s", account.pk)
            raise KiteUserMismatch(f"Account {account.name!r} belongs to Kite user {account.kite_user_id}, but Kite "
                                   f"user {kite_user_id} logged in. Nothing was saved; log in as "
                                   f"{account.kite_user_id}.")
    except KiteError as exc:
        if exc.error_type == "TokenException":
            raise KiteRefused(f"the login was refused: {exc.message}", kite_type="TokenException") from None
        raise from_kite(exc, account_name=account.name) from None
    finally:
        kite.reqsession.close()
    account.access_token = session["access_token"]
    account.kite_user_id = kite_user_id
    account.token_expires_at = token_expiry(timezone.now())
    account.session_version += 1
    account.save(update_fields=["access_token", "kite_user_id", "token_expires_at", "session_version", "updated_at"])
    kite_client.forget_client(account.pk)
    return account


def session_delete(*, account: Account) -> bool:
    """Invalidate the token at Kite (best effort) and forget it here, whatever Kite said. True when Kite
    confirmed; when Kite did not (down, refusing, rate-limited) the token still lives there until 06:00 IST."""
    confirmed = False
    if account.access_token and account.has_credentials:
        kite = kite_client.new_client(api_key=account.api_key or "", access_token=account.access_token,
                                      environment=account.environment)
        try:
            kite_client.call(kite, "other", "invalidate_access_token")
            confirmed = True
        except KiteError as exc:
            log.warning("Kite did not confirm the logout of account %s: %s", account.pk, exc.error_type)
        except RateLimited:
            log.warning("The logout of account %s was not sent: Kite's rate limit for its key is spent", account.pk)
        finally:
            kite.reqsession.close()
    session_forget(account=account)
    return confirmed
