from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Account
from kite import client as kite_client
from kite import instruments
from tests.factories import UserFactory

pytest_plugins = ["tests.fixtures.sandbox"]


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db):
    return UserFactory(username="bob")


@pytest.fixture
def api_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def other_client(other_user) -> APIClient:
    client = APIClient()
    client.force_login(other_user)
    return client


@pytest.fixture(autouse=True)
def _fresh_kite_caches():
    """Each test starts with no cached Kite client or instrument master (they are per process)."""
    kite_client.forget_all_clients()
    instruments.clear_cache()
    yield
    kite_client.forget_all_clients()
    instruments.clear_cache()


@pytest.fixture
def kite_settings(settings, sandbox):
    """Point both environments at the running sandbox: `live` accounts take the live code path to it."""
    settings.KITE_SANDBOX_URL = sandbox.url
    settings.KITE_API_ROOT = sandbox.url
    settings.KITE_LOGIN_URL = f"{sandbox.url}/connect/login"
    settings.APP_BASE_URL = "http://testserver"
    return sandbox


def complete_login(client: Client, sandbox, login_url: str):
    """Follow a login URL as a browser would: the sandbox's form, then our callback. Returns the response."""
    query = parse_qs(urlsplit(login_url).query)
    location = sandbox.login_redirect(query["api_key"][0], query.get("redirect_params", [None])[0])
    parts = urlsplit(location)
    return client.get(parts.path, data={k: v[0] for k, v in parse_qs(parts.query).items()})


@pytest.fixture
def connect(api_client, kite_settings):
    """connect(account) logs the account in through the login URL and the callback, like a person."""
    def _connect(account: Account, client: Client = api_client) -> Account:
        answer = client.post("/api/kite/auth", {"action": "login", "account_id": account.id}, format="json")
        assert answer.status_code == 200, answer.content
        response = complete_login(client, kite_settings, answer.json()["login_url"])
        assert response.status_code == 302, response.content
        account.refresh_from_db()
        assert account.status == "connected"
        return account
    return _connect


@pytest.fixture
def sandbox_account(user, api_client, kite_settings) -> Account:
    """A `sandbox` account, provisioned by the sandbox itself through POST /api/accounts."""
    answer = api_client.post("/api/accounts", {"name": "Paper", "environment": "sandbox"}, format="json")
    assert answer.status_code == 201, answer.content
    return Account.objects.get(pk=answer.json()["id"])


@pytest.fixture
def connected_account(sandbox_account, connect) -> Account:
    return connect(sandbox_account)
