"""One account lifecycle for every front: the REST API, the pages and the admin create (with the
sandbox's credential rule and provisioning) and delete (ending the Kite session first) alike."""
from __future__ import annotations

import pytest
from kiteconnect import KiteConnect

from accounts.models import Account


def token_works(sandbox, key: str, token: str) -> bool:
    try:
        KiteConnect(api_key=key, access_token=token, root=sandbox.url).profile()
    except Exception as exc:  # the official client's TokenException
        assert "Incorrect" in str(exc), exc
        return False
    return True


@pytest.mark.parametrize("keys, fields", [({"api_key": "a1b2c3"}, {"api_key"}),
                                          ({"api_key": "a1", "api_secret": "s1"}, {"api_key", "api_secret"})])
def test_the_api_refuses_a_sandbox_account_with_keys_and_creates_nothing(api_client, user, keys, fields):
    answer = api_client.post("/api/accounts", {"name": "Paper", "environment": "sandbox", **keys}, format="json")
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert error["type"] == "invalid" and set(error["fields"]) == fields
    assert "from the sandbox" in error["message"]
    assert not Account.objects.filter(user=user).exists()


def test_the_api_refuses_a_live_key_without_its_secret(api_client, user):
    answer = api_client.post("/api/accounts", {"name": "Main", "api_key": "a1b2c3"}, format="json")
    assert answer.status_code == 400 and set(answer.json()["error"]["fields"]) == {"api_secret"}
    assert not Account.objects.filter(user=user).exists()


def test_deleting_a_connected_account_in_the_admin_ends_its_kite_session(admin_client, connected_account,
                                                                        kite_settings):
    key, token = connected_account.api_key, connected_account.access_token
    assert token_works(kite_settings, key, token)
    response = admin_client.post(f"/admin/accounts/account/{connected_account.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Account.objects.filter(pk=connected_account.pk).exists()
    assert not token_works(kite_settings, key, token)


def test_the_admins_bulk_delete_ends_every_kite_session_too(admin_client, connected_account, kite_settings):
    key, token = connected_account.api_key, connected_account.access_token
    response = admin_client.post("/admin/accounts/account/", {"action": "delete_selected", "post": "yes",
                                                              "_selected_action": [connected_account.id]})
    assert response.status_code == 302
    assert not Account.objects.filter(pk=connected_account.pk).exists()
    assert not token_works(kite_settings, key, token)


def test_a_sandbox_account_added_in_the_admin_is_provisioned_by_the_sandbox(admin_client, user, kite_settings):
    response = admin_client.post("/admin/accounts/account/add/", {"user": user.id, "name": "Paper",
                                                                  "environment": "sandbox", "confirm_orders": "on"})
    assert response.status_code == 302
    account = Account.objects.get(user=user, name="Paper")
    assert account.has_credentials and account.status == "needs_login"


def test_the_admin_refuses_a_sandbox_account_with_keys(admin_client, user):
    response = admin_client.post("/admin/accounts/account/add/", {"user": user.id, "name": "Paper",
                                                                  "environment": "sandbox", "api_key": "a1"})
    assert response.status_code == 200 and b"from the sandbox" in response.content
    assert not Account.objects.filter(user=user).exists()
