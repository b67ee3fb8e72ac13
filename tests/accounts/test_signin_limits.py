"""Sign-in limits (django-axes): after SIGNIN_FAILURE_LIMIT failures for a username or from an address,
sign-in pauses for SIGNIN_COOLOFF_MINUTES, on the login page and the admin's, with a plain message that
is the same whether or not the username exists. API tokens are not affected."""
from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.test import Client
from rest_framework.test import APIClient

from accounts.tokens import api_token_create
from tests.config.test_settings import manage
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery-9"
LOCKED = "Too many failed sign-ins"


@pytest.fixture
def carol(db):
    return UserFactory(username="carol", password=PASSWORD, is_staff=True, is_superuser=True)


def sign_in(client: Client, username: str, password: str, path: str = "/login/", ip: str = "10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client: Client, username: str, times: int = 5, **kwargs) -> list[int]:
    """Sign in with a wrong password `times` times; the statuses (the one that reaches the limit is
    already answered with the lockout page)."""
    return [sign_in(client, username, "wrong-password", **kwargs).status_code for _ in range(times)]


def test_a_good_sign_in_works(carol):
    client = Client()
    answer = sign_in(client, "carol", PASSWORD)
    assert answer.status_code == 302 and client.session["_auth_user_id"] == str(carol.pk)


def test_four_failures_then_the_right_password_still_works(carol):
    client = Client()
    assert fail(client, "carol", times=4) == [200] * 4
    assert sign_in(client, "carol", PASSWORD).status_code == 302


def test_five_failures_lock_the_username_even_with_the_right_password(carol):
    client = Client()
    assert fail(client, "carol") == [200, 200, 200, 200, 429]
    answer = sign_in(client, "carol", PASSWORD)
    assert answer.status_code == 429
    page = answer.content.decode()
    assert LOCKED in page and "15 minutes" in page and "Traceback" not in page
    assert "_auth_user_id" not in client.session
    # From another address too: the username itself is paused.
    other = Client()
    assert sign_in(other, "carol", PASSWORD, ip="10.9.9.9").status_code == 429


def test_five_failures_from_one_address_lock_that_address_for_every_username(carol):
    UserFactory(username="dave", password=PASSWORD)
    client = Client()
    statuses = [fail(client, name, times=1, ip="10.0.0.7")[0] for name in ("x1", "x2", "x3", "x4", "x5")]
    assert statuses == [200, 200, 200, 200, 429]
    assert sign_in(client, "dave", PASSWORD, ip="10.0.0.7").status_code == 429
    assert sign_in(Client(), "dave", PASSWORD, ip="10.0.0.8").status_code == 302


def test_the_refusal_does_not_tell_whether_the_username_exists(carol):
    answers = []
    for index, name in enumerate(("carol", "nobody-by-this-name")):
        client = Client()
        fail(client, name, ip=f"10.1.0.{index}")
        answers.append(sign_in(client, name, PASSWORD, ip=f"10.1.0.{index}"))
    assert [a.status_code for a in answers] == [429, 429]
    bodies = [a.content.decode().replace("nobody-by-this-name", "carol") for a in answers]
    assert bodies[0].split("csrfmiddlewaretoken")[0] == bodies[1].split("csrfmiddlewaretoken")[0]


def test_after_the_cool_off_the_right_password_works_again(carol, settings):
    client = Client()
    fail(client, "carol")
    assert sign_in(client, "carol", PASSWORD).status_code == 429
    # The cool-off is measured from the last failure: move the failures back past it.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    assert sign_in(client, "carol", PASSWORD).status_code == 302


def test_axes_reset_lifts_a_lock(carol):
    client = Client()
    fail(client, "carol")
    assert sign_in(client, "carol", PASSWORD).status_code == 429
    reset(username="carol")
    reset(ip="10.0.0.1")
    assert sign_in(client, "carol", PASSWORD).status_code == 302


def test_the_admin_sign_in_is_limited_too(carol):
    client = Client()
    assert fail(client, "carol", path="/admin/login/?next=/admin/") == [200, 200, 200, 200, 429]
    answer = sign_in(client, "carol", PASSWORD, path="/admin/login/?next=/admin/")
    assert answer.status_code == 429 and LOCKED in answer.content.decode()
    assert client.get("/admin/").status_code == 302  # still signed out


def test_api_tokens_and_signed_in_sessions_are_unaffected_by_a_lock(carol):
    token, _ = api_token_create(user=carol)
    browser = Client()
    browser.force_login(carol)
    fail(Client(), "carol")
    assert sign_in(Client(), "carol", PASSWORD).status_code == 429
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR="10.0.0.1").get(
        "/api/accounts").status_code == 200
    assert browser.get("/settings/accounts/", REMOTE_ADDR="10.0.0.1").status_code == 200


def test_the_limits_follow_the_settings(carol, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    assert fail(client, "carol", times=2) == [200, 429]
    assert sign_in(client, "carol", PASSWORD).status_code == 429


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("SIGNIN_FAILURE_LIMIT", "five", "SIGNIN_FAILURE_LIMIT='five' is not a whole number"),
    ("SIGNIN_FAILURE_LIMIT", "0", "SIGNIN_FAILURE_LIMIT='0' is out of range"),
    ("SIGNIN_COOLOFF_MINUTES", "1.5", "SIGNIN_COOLOFF_MINUTES='1.5' is not a whole number"),
    ("SIGNIN_COOLOFF_MINUTES", "-5", "SIGNIN_COOLOFF_MINUTES='-5' is out of range"),
])
def test_bad_limit_settings_stop_start_up_naming_the_variable(variable, value, message):
    result = manage("check", **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
