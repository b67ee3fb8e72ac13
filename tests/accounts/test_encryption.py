"""Credentials are encrypted at rest, fail loudly with the wrong key, and rotate."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings

from accounts import crypto
from accounts.models import Account
from tests.factories import AccountFactory

ROOT = Path(__file__).resolve().parents[2]
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def raw_row(account_id: int) -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, api_secret, access_token FROM accounts_account WHERE id = %s", [account_id])
        return cursor.fetchone()


def test_database_row_holds_no_plaintext_credentials(db):
    account = AccountFactory(api_key="kitekey1234", api_secret="kitesecret987654", access_token="tok-abcdef")
    stored = raw_row(account.id)
    for plaintext, value in zip(("kitekey1234", "kitesecret987654", "tok-abcdef"), stored, strict=True):
        assert plaintext not in value
        assert crypto.decrypt(value) == plaintext  # it is ciphertext of exactly that value


def test_credentials_read_back_as_plaintext(db):
    account = AccountFactory(api_key="kitekey1234", api_secret="kitesecret987654", access_token="tok")
    fresh = Account.objects.get(pk=account.pk)
    assert (fresh.api_key, fresh.api_secret, fresh.access_token) == ("kitekey1234", "kitesecret987654", "tok")


def test_value_that_does_not_decrypt_raises_instead_of_returning_ciphertext(db):
    account = AccountFactory(api_secret="kitesecret987654")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]), pytest.raises(crypto.DecryptionError) as caught:
        Account.objects.get(pk=account.pk)
    message = str(caught.value)
    assert "FIELD_ENCRYPTION_KEY" in message
    assert "kitesecret" not in message and "gAAAA" not in message  # names the problem, not the data


def test_misconfigured_key_refuses_to_store_anything(user):
    with override_settings(FIELD_ENCRYPTION_KEY_ERROR="FIELD_ENCRYPTION_KEY is not set."):
        with pytest.raises(crypto.EncryptionKeyError), transaction.atomic():
            AccountFactory(user=user)
    assert Account.objects.count() == 0


def test_key_rotation_reads_old_rows_and_reencrypts_them(db):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        account = AccountFactory(api_key="rotatekey1", api_secret="rotatesecret1", access_token="rotatetoken")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        assert Account.objects.get(pk=account.pk).api_secret == "rotatesecret1"
        call_command("rotate_encryption_keys", stdout=open(os.devnull, "w"))
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        fresh = Account.objects.get(pk=account.pk)
    assert (fresh.api_key, fresh.api_secret, fresh.access_token) == ("rotatekey1", "rotatesecret1", "rotatetoken")
    for value in raw_row(account.id):
        Fernet(NEW_KEY.encode()).decrypt(value.encode())  # raises if not under the new key


def test_rotation_with_a_missing_old_key_changes_nothing(db):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        account = AccountFactory(api_secret="keepme123")
    before = raw_row(account.id)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        with pytest.raises(Exception, match="Nothing was changed"):
            call_command("rotate_encryption_keys")
    assert raw_row(account.id) == before


def run_check(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_", "DEBUG", "SECRET_KEY"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50, "DEBUG": "off",
                 "DATABASE_URL": "sqlite:///:memory:"})
    base.update(env)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(
    ("key", "debug", "expected"),
    [
        ("", "off", "FIELD_ENCRYPTION_KEY is not set."),
        ("not-a-fernet-key", "off", "key #1 is not a valid Fernet key"),
        (f"{NEW_KEY},garbage", "off", "key #2 is not a valid Fernet key"),
        ("not-a-fernet-key", "on", "key #1 is not a valid Fernet key"),
    ],
)
def test_bad_encryption_key_stops_startup_with_a_clear_message(key, debug, expected):
    result = run_check(FIELD_ENCRYPTION_KEY=key, DEBUG=debug)
    assert result.returncode != 0
    assert "accounts.E001" in result.stderr and expected in result.stderr
    assert "Traceback" not in result.stderr


def test_good_key_passes_the_check():
    result = run_check(FIELD_ENCRYPTION_KEY=f"{NEW_KEY},{OLD_KEY}")
    assert result.returncode == 0, result.stderr
