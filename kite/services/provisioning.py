"""A sandbox account's own key and secret, asked of the sandbox (`POST /sandbox/apps`)."""
from __future__ import annotations

import requests
from django.conf import settings

from accounts.models import Account
from kite.errors import SandboxRefused, SandboxUnreachable


def sandbox_provision(*, account: Account) -> Account:
    """Ask the sandbox for a paper app for this account; any session it had belonged to the old app."""
    url = f"{settings.KITE_SANDBOX_URL}/sandbox/apps"
    try:
        answer = requests.post(url, json={"redirect_url": f"{settings.APP_BASE_URL}/kite/callback",
                                          "user_name": account.name[:40]}, timeout=10)
        data = answer.json().get("data") if answer.headers.get("content-type", "").startswith("application/json") \
            else None
    except (requests.RequestException, ValueError):
        raise SandboxUnreachable(f"The sandbox at {settings.KITE_SANDBOX_URL} is not answering; start it with "
                                 "`python manage.py runsandbox` (make run does).") from None
    if answer.status_code >= 400 or not isinstance(data, dict) or "api_key" not in data:
        raise SandboxRefused(f"The sandbox refused to create an app (HTTP {answer.status_code}).")
    account.api_key, account.api_secret = data["api_key"], data["api_secret"]
    account.access_token, account.token_expires_at = None, None
    account.kite_user_id = ""
    account.session_version += 1
    account.save()
    return account
