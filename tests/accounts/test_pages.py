"""Settings > Accounts pages, driven with Django's test Client: what they show, what they write, and to whom."""
from __future__ import annotations

import re
import socket
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from tests.factories import AccountFactory

IST = ZoneInfo("Asia/Kolkata")
KEY, SECRET, TOKEN = "KEYvisible0000wxyz", "SECRETneverShown0042", "TOKENneverShown0077"


@pytest.fixture
def client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def account(user) -> Account:
    """A connected live account with known credential values, to look for in every page."""
    return AccountFactory(user=user, name="Main", api_key=KEY, api_secret=SECRET, access_token=TOKEN,
                          kite_user_id="AB1234", token_expires_at=timezone.now() + timedelta(hours=5))


@pytest.fixture
def others_account(other_user) -> Account:
    return AccountFactory(user=other_user, name="Bobs", api_key="bobkey00000001", api_secret="bobsecret000000001",
                          access_token="bobtoken0000001", token_expires_at=timezone.now() + timedelta(hours=5))


def closed_port_url() -> str:
    """An http URL where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- Sign-in and the list -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/settings/accounts/", "/settings/accounts/add/", "/portfolio/", "/orders/"])
def test_pages_ask_an_anonymous_visitor_to_sign_in(db, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_home_sends_a_signed_in_user_to_the_portfolio(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/portfolio/"


def test_sign_in_and_sign_out(user):
    browser = Client()
    assert "Sign in" in browser.get("/login/").content.decode()
    response = browser.post("/login/", {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert browser.get("/settings/accounts/").status_code == 200
    response = browser.post("/logout/", follow=True)
    assert "You are signed out." in response.content.decode()
    assert browser.get("/settings/accounts/").status_code == 302


def test_list_shows_each_status_badge_with_the_expiry_in_ist(client, user):
    expires = datetime(2031, 3, 4, 0, 30, tzinfo=ZoneInfo("UTC"))  # 06:00 IST
    AccountFactory(user=user, name="NoKey", api_key=None, api_secret=None)
    AccountFactory(user=user, name="Fresh")
    AccountFactory(user=user, name="Live", access_token="t", token_expires_at=expires)
    AccountFactory(user=user, name="Old", access_token="t", token_expires_at=timezone.now() - timedelta(minutes=1))
    page = client.get("/settings/accounts/").content.decode()

    def card(name: str) -> str:
        match = re.search(rf'<article[^>]*data-account-name="{name}".*?</article>', page, re.S)
        assert match, name
        return match.group(0)

    assert "needs credentials" in card("NoKey") and "Add key and secret" in card("NoKey")
    assert "needs login" in card("Fresh") and ">Connect<" in card("Fresh")
    assert "connected until 4 Mar, 06:00 IST" in card("Live") and "Disconnect" in card("Live")
    assert ">expired<" in card("Old") and "Log in again" in card("Old")


def test_list_shows_the_redirect_url_to_register_with_a_copy_button(client, settings):
    settings.APP_BASE_URL = "https://desk.example.com"
    page = client.get("/settings/accounts/").content.decode()
    assert 'id="redirect-url"' in page and 'value="https://desk.example.com/kite/callback"' in page
    assert 'data-copy="redirect-url"' in page


def test_list_warns_plainly_what_allowing_trading_does(client, account):
    page = client.get("/settings/accounts/").content.decode()
    assert "place <strong>real orders, with real money,</strong> on this live account" in page


# --- Adding -------------------------------------------------------------------------------------------

def test_add_a_live_account(client, user):
    response = client.post("/settings/accounts/add/", {"name": "Main", "environment": "live", "api_key": "abcd1234",
                                                       "api_secret": "s3cr3tvalue"}, follow=True)
    account = Account.objects.get(user=user)
    assert (account.name, account.environment, account.api_key, account.api_secret) == (
        "Main", "live", "abcd1234", "s3cr3tvalue")
    assert response.redirect_chain[-1][0] == "/settings/accounts/"
    assert any("Added Main" in m for m in messages_of(response))


@pytest.mark.parametrize("body, field, error", [
    ({"name": "Main", "environment": "live", "api_key": "abcd1234"}, "api_secret", "needs the API secret"),
    ({"name": "", "environment": "live", "api_key": "abcd1234", "api_secret": "x1"}, "name", "required"),
    ({"name": "Main", "environment": "live", "api_key": "abc d;1", "api_secret": "x1"}, "api_key", "Only letters"),
    ({"name": "Main", "environment": "paper", "api_key": "a1", "api_secret": "x1"}, "environment", "valid choice"),
    ({"name": "Main", "environment": "sandbox", "api_key": "a1"}, "api_key",
     "gets its API key and secret from the sandbox"),
])
def test_bad_input_gets_a_form_error_and_writes_nothing(client, user, body, field, error):
    response = client.post("/settings/accounts/add/", body)
    assert response.status_code == 400
    form = response.context["form"]
    assert error in " ".join(form.errors[field] if field else form.non_field_errors())
    assert not Account.objects.filter(user=user).exists()


def test_add_refuses_a_duplicate_name_and_writes_nothing(client, user, account):
    response = client.post("/settings/accounts/add/", {"name": "Main", "environment": "live", "api_key": "k1",
                                                       "api_secret": "s1"})
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == ["You already have an account named 'Main'."]
    assert Account.objects.filter(user=user).count() == 1


def test_a_rerendered_add_form_does_not_echo_the_secret(client):
    response = client.post("/settings/accounts/add/", {"name": "", "environment": "live", "api_key": "k1",
                                                       "api_secret": "EchoMeNot123"})
    assert response.status_code == 400 and "EchoMeNot123" not in response.content.decode()


def test_a_sandbox_account_is_added_even_when_the_sandbox_is_down(client, user, settings):
    settings.KITE_SANDBOX_URL = closed_port_url()
    response = client.post("/settings/accounts/add/", {"name": "Paper", "environment": "sandbox"}, follow=True)
    account = Account.objects.get(user=user, name="Paper")
    assert account.environment == "sandbox" and not account.has_credentials
    [message] = messages_of(response)
    assert "Added Paper, but it has no sandbox credentials yet" in message and "not answering" in message


# --- Editing, options, deleting -------------------------------------------------------------------------

def test_edit_shows_the_key_only_as_its_hint_and_never_the_secret(client, account):
    page = client.get(f"/settings/accounts/{account.id}/edit/").content.decode()
    assert "…wxyz" in page
    assert KEY not in page and SECRET not in page and TOKEN not in page


def test_edit_replaces_only_the_secret_and_ends_the_session(client, account):
    response = client.post(f"/settings/accounts/{account.id}/edit/", {"name": "Main", "api_key": "",
                                                                      "api_secret": "brandNewSecret9"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.api_key == KEY and account.api_secret == "brandNewSecret9"
    assert account.access_token is None and account.status == "needs_login"


def test_edit_with_empty_credentials_keeps_them_and_the_session(client, account):
    client.post(f"/settings/accounts/{account.id}/edit/", {"name": "Renamed", "api_key": "", "api_secret": ""})
    account.refresh_from_db()
    assert (account.name, account.api_key, account.api_secret, account.access_token) == ("Renamed", KEY, SECRET, TOKEN)


def test_edit_with_bad_input_writes_nothing(client, user, account):
    AccountFactory(user=user, name="Taken")
    for body in ({"name": "Taken", "api_key": "", "api_secret": ""},
                 {"name": "Main", "api_key": "bad key!", "api_secret": "s"}):
        response = client.post(f"/settings/accounts/{account.id}/edit/", body)
        assert response.status_code == 400
    account.refresh_from_db()
    assert (account.name, account.api_key, account.api_secret, account.access_token) == ("Main", KEY, SECRET, TOKEN)


def test_options_toggle_trading_and_confirmation(client, account):
    assert (account.trading_enabled, account.confirm_orders) == (False, True)
    response = client.post(f"/settings/accounts/{account.id}/options/", {"trading_enabled": "on"}, follow=True)
    account.refresh_from_db()
    assert (account.trading_enabled, account.confirm_orders) == (True, False)  # an unchecked box is "off"
    assert "Main: trading allowed; orders are not confirmed." in messages_of(response)


@pytest.mark.parametrize("value, allowed", [("off", False), ("no", False), ("0", False), ("false", False),
                                            ("true", True), ("1", True)])
def test_options_read_off_as_off(client, account, value, allowed):
    client.post(f"/settings/accounts/{account.id}/options/", {"trading_enabled": value, "confirm_orders": "on"})
    account.refresh_from_db()
    assert (account.trading_enabled, account.confirm_orders) == (allowed, True)


def test_options_refuse_what_is_neither_on_nor_off_and_change_nothing(client, account):
    response = client.post(f"/settings/accounts/{account.id}/options/", {"trading_enabled": "perhaps"}, follow=True)
    account.refresh_from_db()
    assert (account.trading_enabled, account.confirm_orders) == (False, True)
    assert any("nothing was changed" in m and "perhaps" in m for m in messages_of(response))


def test_delete_asks_first_then_deletes(client, account, settings):
    settings.KITE_API_ROOT = closed_port_url()  # the best-effort logout at Kite fails quietly
    page = client.get(f"/settings/accounts/{account.id}/delete/")
    assert page.status_code == 200 and "Delete Main?" in page.content.decode()
    assert Account.objects.filter(pk=account.pk).exists()
    response = client.post(f"/settings/accounts/{account.id}/delete/", follow=True)
    assert not Account.objects.filter(pk=account.pk).exists()
    assert "Deleted Main." in messages_of(response)


# --- Scoping, CSRF, secrets -------------------------------------------------------------------------------

SCOPED = [
    ("get", "/settings/accounts/{id}/edit/"), ("post", "/settings/accounts/{id}/edit/"),
    ("post", "/settings/accounts/{id}/options/"), ("get", "/settings/accounts/{id}/delete/"),
    ("post", "/settings/accounts/{id}/delete/"), ("post", "/settings/accounts/{id}/connect/"),
    ("post", "/settings/accounts/{id}/disconnect/"), ("get", "/portfolio/?account={id}"),
    ("get", "/portfolio/data?account={id}"), ("get", "/orders/?account={id}"),
]


@pytest.mark.parametrize("method, path", SCOPED)
def test_another_users_account_is_404_and_untouched(client, others_account, method, path):
    body = {"name": "Hijacked", "api_key": "x1", "api_secret": "y1", "trading_enabled": "on"}
    response = getattr(client, method)(path.format(id=others_account.id), body if method == "post" else None)
    assert response.status_code == 404
    others_account.refresh_from_db()
    assert (others_account.name, others_account.api_secret, others_account.access_token,
            others_account.trading_enabled) == ("Bobs", "bobsecret000000001", "bobtoken0000001", False)


def test_lists_show_only_the_users_own_accounts(client, account, others_account):
    for path in ("/settings/accounts/", "/orders/"):
        page = client.get(path).content.decode()
        assert "Main" in page and "Bobs" not in page


@pytest.mark.parametrize("path", [
    "/settings/accounts/add/", "/settings/accounts/{id}/edit/", "/settings/accounts/{id}/options/",
    "/settings/accounts/{id}/delete/", "/settings/accounts/{id}/connect/", "/settings/accounts/{id}/disconnect/",
    "/logout/",
])
def test_every_form_post_needs_the_csrf_token(user, account, path):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    body = {"name": "Changed", "environment": "live", "api_key": "k1", "api_secret": "s1", "trading_enabled": "on"}
    response = browser.post(path.format(id=account.id), body)
    assert response.status_code == 403
    assert "nothing was changed" in response.content.decode()
    account.refresh_from_db()
    assert (account.name, account.access_token, account.trading_enabled) == ("Main", TOKEN, False)
    assert Account.objects.count() == 1


def post_forms(page: str) -> list[str]:
    return re.findall(r'<form[^>]*method="post".*?</form>', page, re.S | re.I)


def test_every_post_form_on_the_pages_carries_the_csrf_token(client, account):
    seen = 0
    for path in ("/settings/accounts/", "/settings/accounts/add/", f"/settings/accounts/{account.id}/edit/",
                 f"/settings/accounts/{account.id}/delete/"):
        forms = post_forms(client.get(path).content.decode())
        assert forms, path
        for form in forms:
            assert 'name="csrfmiddlewaretoken"' in form, (path, form[:200])
        seen += len(forms)
    assert seen >= 8  # sign out on each page, plus disconnect, options, add, edit and delete


def test_no_secret_or_token_in_any_settings_page(client, account):
    pages = [client.get(path) for path in ("/settings/accounts/", "/settings/accounts/add/",
                                           f"/settings/accounts/{account.id}/edit/",
                                           f"/settings/accounts/{account.id}/delete/")]
    pages.append(client.post(f"/settings/accounts/{account.id}/edit/", {"name": "", "api_key": "",
                                                                        "api_secret": "NotEchoed55"}))
    for response in pages:
        body = response.content.decode()
        for value in (KEY, SECRET, TOKEN, "NotEchoed55"):
            assert value not in body, (response.request["PATH_INFO"], value)
        assert response.get("Location", "") == ""
