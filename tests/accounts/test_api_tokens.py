"""API tokens (`Authorization: Token <key>`): hashed at rest and expiring (django-rest-knox), made by
`manage.py drf_create_token USERNAME`, and DRF's old plaintext tokens carried over by the migration."""
from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.tokens import api_token_create
from tests.config.test_production import ROOT, environment, manage


def database_text() -> str:
    """Every value of every row of the token tables, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in ("knox_authtoken",):
            cursor.execute(f"SELECT * FROM {table}")
            rows += [" ".join(map(str, row)) for row in cursor.fetchall()]
    return "\n".join(rows)


def test_drf_create_token_prints_a_working_token_of_which_only_a_hash_is_stored(db, user):
    out, err = StringIO(), StringIO()
    call_command("drf_create_token", user.username, stdout=out, stderr=err)
    words = out.getvalue().split()
    assert words[:2] == ["Generated", "token"] and words[3:] == ["for", "user", user.username]
    key = words[2]  # the README's `awk '{print $3}'`
    assert "expires at" in err.getvalue()
    answer = APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/accounts")
    assert answer.status_code == 200, answer.content
    assert key not in database_text()
    assert AuthToken.objects.get(user=user).digest == hashlib.sha512(key.encode()).hexdigest()


def test_drf_create_token_reset_revokes_the_users_other_tokens(db, user):
    first, _ = api_token_create(user=user)
    out = StringIO()
    call_command("drf_create_token", "--reset", user.username, stdout=out, stderr=StringIO())
    second = out.getvalue().split()[2]
    assert APIClient(HTTP_AUTHORIZATION=f"Token {first}").get("/api/accounts").status_code == 401
    assert APIClient(HTTP_AUTHORIZATION=f"Token {second}").get("/api/accounts").status_code == 200


def test_drf_create_token_for_a_missing_user_says_so(db):
    with pytest.raises(Exception, match="user 'nobody' does not exist"):
        call_command("drf_create_token", "nobody", stdout=StringIO(), stderr=StringIO())


def test_a_token_expires_after_api_token_ttl_days(db, user, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(days=7)}
    _, expires = api_token_create(user=user)
    assert abs((expires - timezone.now()) - timedelta(days=7)) < timedelta(minutes=1)


def test_an_expired_token_is_a_401_in_the_error_envelope_and_is_deleted(db, user):
    key, _ = api_token_create(user=user)
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    answer = APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/accounts")
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["type"] == "authentication_failed" and "expired" in error["message"]
    assert "drf_create_token" in error["message"]
    assert answer["WWW-Authenticate"] == "Token"
    assert not AuthToken.objects.filter(user=user).exists()


@pytest.mark.parametrize("header", ["Token nope", "Token " + "0" * 64, b"Token \xff\xfe"])
def test_a_wrong_or_malformed_token_is_a_401_in_the_error_envelope(db, user, header):
    api_token_create(user=user)
    answer = APIClient(HTTP_AUTHORIZATION=header).get("/api/accounts")
    assert answer.status_code == 401
    assert answer.json()["error"] == {"type": "authentication_failed", "message": "Invalid token."}


def test_api_token_ttl_days_is_checked_at_start_up(tmp_path):
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                            env=environment(tmp_path, API_TOKEN_TTL_DAYS="0"), timeout=120)
    assert result.returncode != 0
    assert "Configuration error: API_TOKEN_TTL_DAYS='0' is out of range (1 to 3650)." in result.stderr


LEGACY_KEY = "0123456789abcdef0123456789abcdef01234567"  # a DRF authtoken key: 40 hex characters
CHECK_KEY = """
from django.test import Client
answer = Client(HTTP_AUTHORIZATION="Token {key}", HTTP_HOST="127.0.0.1").get("/api/accounts")
print(answer.status_code)
"""


def test_the_migration_turns_each_plaintext_drf_token_into_a_hashed_one_the_same_key_still_opens(tmp_path):
    """A database from before: DRF's authtoken table with a token in plaintext. `migrate` keeps the key working
    and leaves no plaintext behind."""
    env = environment(tmp_path)
    manage(env, "migrate", "auth", "--noinput", "-v", "0")
    manage(env, "migrate", "accounts", "0003", "--noinput", "-v", "0")
    manage(env, "shell", "-c", "from django.contrib.auth import get_user_model; "
                               "get_user_model().objects.create_user('script', password='pw-123456789')")
    path = tmp_path / "app.sqlite3"
    with sqlite3.connect(path) as legacy:  # the table as rest_framework.authtoken's migrations leave it
        legacy.execute('CREATE TABLE "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, '
                       '"created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id"))')
        legacy.execute("INSERT INTO authtoken_token VALUES (?, '2026-01-01 00:00:00', "
                       "(SELECT id FROM auth_user WHERE username = 'script'))", (LEGACY_KEY,))
    manage(env, "migrate", "--noinput", "-v", "0")
    with sqlite3.connect(path) as after:
        assert after.execute("SELECT count(*) FROM authtoken_token").fetchone() == (0,)
        assert after.execute("SELECT digest FROM knox_authtoken").fetchall() == [
            (hashlib.sha512(LEGACY_KEY.encode()).hexdigest(),)]
        dump = "\n".join(after.iterdump())
    assert LEGACY_KEY not in dump
    assert manage(env, "shell", "-c", CHECK_KEY.format(key=LEGACY_KEY)).stdout.split()[-1] == "200"
    assert manage(env, "shell", "-c", CHECK_KEY.format(key=LEGACY_KEY[:-1] + "8")).stdout.split()[-1] == "401"
