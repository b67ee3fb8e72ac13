"""The Django admin manages accounts without ever showing a credential."""
from __future__ import annotations

from accounts.models import Account
from tests.factories import AccountFactory, UserFactory


def test_list_and_change_pages_never_show_secrets(admin_client):
    account = AccountFactory(api_key="visiblekey9876", api_secret="neverseenSECRET", access_token="neverseenTOKEN")
    for url in ("/admin/accounts/account/", f"/admin/accounts/account/{account.id}/change/"):
        page = admin_client.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "neverseenSECRET" not in html and "neverseenTOKEN" not in html
        assert "visiblekey9876" not in html
    assert "…9876" in admin_client.get(f"/admin/accounts/account/{account.id}/change/").content.decode()


def form_data(account: Account, **overrides) -> dict:
    data = {"user": account.user_id, "name": account.name, "environment": account.environment, "api_key": "",
            "api_secret": "", "confirm_orders": "on"}
    data.update(overrides)
    return data


def test_empty_secret_fields_keep_the_stored_credentials(admin_client):
    account = AccountFactory(api_key="keepkey1", api_secret="keepsecret1", access_token="tok")
    response = admin_client.post(f"/admin/accounts/account/{account.id}/change/", form_data(account, name="Renamed"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.api_key, account.api_secret, account.access_token) == (
        "Renamed", "keepkey1", "keepsecret1", "tok")


def test_new_secret_from_the_admin_is_stored_and_ends_the_session(admin_client):
    account = AccountFactory(api_key="keepkey1", api_secret="oldsecret1", access_token="tok")
    response = admin_client.post(f"/admin/accounts/account/{account.id}/change/",
                                 form_data(account, api_secret="newsecret2"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.api_secret == "newsecret2" and account.access_token is None


def test_admin_can_add_an_account_with_credentials(admin_client):
    owner = UserFactory(username="owner")
    response = admin_client.post("/admin/accounts/account/add/", {
        "user": owner.id, "name": "Added", "environment": "live", "api_key": "newkey123", "api_secret": "newsecret456",
        "confirm_orders": "on",
    })
    assert response.status_code == 302
    account = Account.objects.get(name="Added")
    assert (account.user, account.api_key, account.api_secret) == (owner, "newkey123", "newsecret456")


def test_moving_an_account_to_another_environment_ends_its_session(admin_client):
    account = AccountFactory(api_key="keepkey1", api_secret="keepsecret1", access_token="tok", kite_user_id="AB1234")
    response = admin_client.post(f"/admin/accounts/account/{account.id}/change/",
                                 form_data(account, environment="sandbox"))
    assert response.status_code == 302
    account.refresh_from_db()
    # The next call goes to another server: the old token (and Kite user) must not follow it there.
    assert (account.environment, account.access_token, account.kite_user_id) == ("sandbox", None, "")


def test_the_admin_refuses_a_name_the_owner_has_in_another_case(admin_client):
    account = AccountFactory(name="Main")
    response = admin_client.post("/admin/accounts/account/add/", {
        "user": account.user_id, "name": "MAIN", "environment": "live", "api_key": "k1", "api_secret": "s1"})
    assert response.status_code == 200 and b"You already have an account named" in response.content
    assert Account.objects.filter(user=account.user).count() == 1
