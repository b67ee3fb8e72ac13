"""The accounts REST API: shape, scoping to the caller, and strict input."""
from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts.models import Account
from accounts.tokens import api_token_create
from tests.factories import AccountFactory

READ_KEYS = {"id", "name", "environment", "api_key_hint", "has_api_secret", "status", "kite_user_id",
             "token_expires_at", "trading_enabled", "confirm_orders", "max_order_value", "max_orders_per_day"}


def create(client, **body):
    return client.post("/api/accounts", body, format="json")


def test_create_and_read_shape_never_reveals_credentials(api_client):
    response = create(api_client, name="Main", api_key="abcdefgh1234", api_secret="topsecretvalue99")
    assert response.status_code == 201
    data = response.json()
    assert set(data) == READ_KEYS
    assert data["api_key_hint"] == "…1234"
    assert data["has_api_secret"] is True
    assert data["environment"] == "live"  # the default
    assert data["status"] == "needs_login"
    assert data["trading_enabled"] is False and data["confirm_orders"] is True
    body = response.content.decode()
    assert "abcdefgh1234" not in body and "topsecretvalue99" not in body
    listed = api_client.get("/api/accounts").json()
    assert [a["id"] for a in listed] == [data["id"]]
    assert "topsecretvalue99" not in json.dumps(listed)


def test_account_without_credentials_needs_them(api_client):
    data = create(api_client, name="Later").json()
    assert data["status"] == "needs_credentials" and data["api_key_hint"] is None


def test_token_authentication_works_for_scripts(user):
    token, _ = api_token_create(user=user)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/accounts").status_code == 200


def test_anonymous_caller_gets_401_error_body(db):
    response = APIClient().get("/api/accounts")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "not_authenticated"


def test_patch_changes_flags_and_new_credentials_end_the_session(api_client, user):
    account = AccountFactory(user=user, access_token="tok", kite_user_id="AB1234")
    response = api_client.patch(f"/api/accounts/{account.id}", {"trading_enabled": True}, format="json")
    assert response.status_code == 200 and response.json()["trading_enabled"] is True
    account.refresh_from_db()
    assert account.access_token == "tok"  # flags alone keep the session
    response = api_client.patch(f"/api/accounts/{account.id}", {"api_secret": "brandnewsecret1"}, format="json")
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.api_secret == "brandnewsecret1" and account.access_token is None


def test_delete_removes_the_account(api_client, user):
    account = AccountFactory(user=user)
    assert api_client.delete(f"/api/accounts/{account.id}").status_code == 204
    assert not Account.objects.filter(pk=account.pk).exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_another_users_account_is_indistinguishable_from_a_missing_one(api_client, other_user, method):
    theirs = AccountFactory(user=other_user, name="Theirs", trading_enabled=False)
    missing_id = theirs.id + 1000
    answers = []
    for account_id in (theirs.id, missing_id):
        call = getattr(api_client, method)
        kwargs = {"data": {"trading_enabled": True}, "format": "json"} if method == "patch" else {}
        response = call(f"/api/accounts/{account_id}", **kwargs)
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404 and answers[0][1]["error"]["type"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.trading_enabled is False and theirs.name == "Theirs"


def test_list_shows_only_the_callers_accounts(api_client, user, other_user):
    AccountFactory(user=other_user, name="Theirs")
    mine = AccountFactory(user=user, name="Mine")
    assert [a["id"] for a in api_client.get("/api/accounts").json()] == [mine.id]


def test_same_name_is_allowed_for_different_users(api_client, other_user):
    AccountFactory(user=other_user, name="Main")
    assert create(api_client, name="Main").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 123}, "name"),
        ({"name": ["Main"]}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Main", "environment": "paper"}, "environment"),
        ({"name": "Main", "environment": 1}, "environment"),
        ({"name": "Main", "api_key": 12345}, "api_key"),
        ({"name": "Main", "api_key": "has spaces"}, "api_key"),
        ({"name": "Main", "api_secret": "s" * 10_000}, "api_secret"),
        ({"name": "Main", "access_token": "injected"}, "access_token"),
        ({"name": "Main", "trading_enabled": True}, "trading_enabled"),
        ({"name": "Main", "user": 2}, "user"),
    ],
)
def test_bad_create_input_is_a_400_with_field_errors_and_writes_nothing(api_client, body, field):
    response = create(api_client, **body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid" and field in error["fields"]
    assert Account.objects.count() == 0


def test_duplicate_name_is_a_400_on_name(api_client, user):
    AccountFactory(user=user, name="Main")
    response = create(api_client, name="Main")
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]
    assert Account.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trading_enabled": "yes"}, "trading_enabled"),
        ({"confirm_orders": 0}, "confirm_orders"),
        ({"environment": "sandbox"}, "environment"),
        ({"name": ""}, "name"),
        ({"api_secret": None}, "api_secret"),
        ({"kite_user_id": "ZZ9999"}, "kite_user_id"),
    ],
)
def test_bad_patch_input_is_a_400_and_changes_nothing(api_client, user, body, field):
    account = AccountFactory(user=user, name="Main")
    response = api_client.patch(f"/api/accounts/{account.id}", body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    fresh = Account.objects.get(pk=account.pk)
    assert (fresh.name, fresh.trading_enabled, fresh.confirm_orders, fresh.environment, fresh.api_secret) == (
        "Main", False, True, "live", account.api_secret)


def test_renaming_onto_an_existing_name_is_refused(api_client, user):
    AccountFactory(user=user, name="Main")
    other = AccountFactory(user=user, name="Other")
    response = api_client.patch(f"/api/accounts/{other.id}", {"name": "Main"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]
    other.refresh_from_db()
    assert other.name == "Other"


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", '"a string"'])
def test_malformed_bodies_are_400s(api_client, payload):
    response = api_client.post("/api/accounts", payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] in {"parse_error", "invalid"}
    assert Account.objects.count() == 0


def test_unknown_api_path_answers_json_404(api_client):
    response = api_client.get("/api/nope")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


def test_non_numeric_account_id_is_a_404(api_client):
    response = api_client.get("/api/accounts/abc")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


def test_djangos_own_refusals_under_api_answer_the_error_body_not_html(api_client, user, settings):
    bad_host = api_client.get("/api/accounts", HTTP_HOST="evil.example")
    assert bad_host.status_code == 400 and bad_host["Content-Type"] == "application/json"
    assert bad_host.json()["error"]["type"] == "bad_request"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    too_big = api_client.post("/api/accounts", {"name": "x" * 5000}, format="json")
    assert too_big.status_code == 400 and too_big.json()["error"]["type"] == "bad_request"
    assert not Account.objects.filter(user=user).exists()


@pytest.mark.parametrize("name", ["paper", "PAPER", "Pa\u202eper", "Paper\u200b", "Tab\there"])
def test_names_are_one_per_user_whatever_the_case_and_plain_text(api_client, user, name):
    assert api_client.post("/api/accounts", {"name": "Paper"}, format="json").status_code == 201
    answer = api_client.post("/api/accounts", {"name": name}, format="json")
    assert answer.status_code == 400 and "name" in answer.json()["error"]["fields"]
    assert Account.objects.filter(user=user).count() == 1


@pytest.mark.parametrize("spell", [lambda n: f"0_{n}", lambda n: f"+{n}", lambda n: f"%20{n}",
                                   lambda n: "".join(chr(0xFF10 + int(d)) for d in str(n))],
                         ids=["underscore", "plus", "space", "fullwidth"])
def test_an_account_id_is_plain_digits(api_client, user, spell):
    from tests.factories import AccountFactory

    account = AccountFactory(user=user, name="Ten")
    assert int(spell(account.id).replace("%20", " ")) == account.id  # what int() alone would have accepted
    assert api_client.get(f"/api/accounts/{account.id}").status_code == 200
    assert api_client.get(f"/api/accounts/{spell(account.id)}").status_code == 404
