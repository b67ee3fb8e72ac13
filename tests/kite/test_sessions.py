"""Login, callback and logout when Kite's rate limit for the key is spent on our side: a clear 429 (or a
message on the page), never a 500; a logout still forgets the token here."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.models import Account
from kite import client as kite_client
from kite.ratelimit import RateLimitExceeded
from tests.conftest import complete_login


@pytest.fixture
def spent_budget(settings):
    """spend(account): takes every lane of the key's "other" budget (calls that never come back), so that
    the next call cannot get one within the limiter's wait bound."""
    settings.KITE_RATE_LIMITS = True
    spent: list[str] = []

    def spend(account: Account) -> None:
        spent.append(account.api_key)
        with pytest.raises(RateLimitExceeded):
            for _ in range(100):
                kite_client._limiter.claim(account.api_key, "other")
    yield spend
    for key in spent:
        kite_client._limiter.forget(key)


def test_a_session_exchange_refused_by_our_pacing_is_a_429_with_retry_after(api_client, sandbox_account,
                                                                           kite_settings, spent_budget):
    request_token = kite_settings.login(sandbox_account.api_key)
    spent_budget(sandbox_account)
    answer = api_client.post("/api/kite/auth", {"action": "session", "account_id": sandbox_account.id,
                                                "request_token": request_token}, format="json")
    assert answer.status_code == 429, answer.content
    assert answer.json()["error"]["type"] == "rate_limited" and "Nothing was sent" in answer.json()["error"]["message"]
    assert int(answer["Retry-After"]) >= 1
    sandbox_account.refresh_from_db()
    assert sandbox_account.status == "needs_login"


def test_a_callback_refused_by_our_pacing_says_so_on_the_page(api_client, sandbox_account, kite_settings,
                                                             spent_budget):
    answer = api_client.post("/api/kite/auth", {"action": "login", "account_id": sandbox_account.id}, format="json")
    login_url = answer.json()["login_url"]
    query = parse_qs(urlsplit(login_url).query)
    location = kite_settings.login_redirect(query["api_key"][0], query["redirect_params"][0])
    spent_budget(sandbox_account)
    parts = urlsplit(location)
    response = api_client.get(parts.path, data={k: v[0] for k, v in parse_qs(parts.query).items()}, follow=True)
    messages = [m.message for m in response.context["messages"]]
    assert any("Kite allows 10 other call(s) a second" in m for m in messages), messages
    sandbox_account.refresh_from_db()
    assert sandbox_account.status == "needs_login"


def test_a_logout_refused_by_our_pacing_still_forgets_the_token_here(api_client, connected_account,
                                                                    spent_budget):
    spent_budget(connected_account)
    answer = api_client.post("/api/kite/auth", {"action": "logout", "account_id": connected_account.id},
                             format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"status": "needs_login", "invalidated_at_kite": False}
    connected_account.refresh_from_db()
    assert connected_account.access_token is None


def test_the_login_tool_and_list_accounts_are_served_over_rest(api_client, sandbox_account, kite_settings, connect):
    listed = api_client.post("/api/kite/execute", {"tool": "list_accounts", "args": {}}, format="json")
    assert listed.status_code == 200, listed.content
    rows = listed.json()["data"]["accounts"]
    assert [(r["id"], r["status"], r["trading_enabled"]) for r in rows] == [(sandbox_account.id, "needs_login", False)]
    login = api_client.post("/api/kite/execute", {"tool": "login", "args": {"account_id": sandbox_account.id}},
                            format="json")
    assert login.status_code == 200, login.content
    assert complete_login(api_client, kite_settings, login.json()["data"]["login_url"]).status_code == 302
    rows = api_client.post("/api/kite/execute", {"tool": "list_accounts", "args": {}},
                           format="json").json()["data"]["accounts"]
    assert rows[0]["status"] == "connected" and rows[0]["token_expires_at"].endswith("+05:30")
    assert rows[0]["token_expires_at"] == api_client.get("/api/kite/accounts").json()[0]["token_expires_at"]
    bad = api_client.post("/api/kite/execute", {"tool": "list_accounts", "args": {"account_id": 1}}, format="json")
    assert bad.status_code == 400 and "account_id" in bad.json()["error"]["fields"]
