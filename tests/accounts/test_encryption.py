"""Credentials are encrypted at rest, rotate, and a wrong key is told apart: refused at start-up when it
reads none of them, and one row that does not decrypt shows as needing credentials, not as a 500."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection, transaction
from django.test import override_settings

from accounts import crypto
from accounts.models import Account
from tests.factories import AccountFactory, UserFactory

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


def test_decrypt_of_a_value_under_another_key_raises_naming_the_problem_not_the_data(db):
    account = AccountFactory(api_secret="kitesecret987654")
    ciphertext = raw_row(account.id)[1]
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]), pytest.raises(crypto.DecryptionError) as caught:
        crypto.decrypt(ciphertext)
    message = str(caught.value)
    assert "FIELD_ENCRYPTION_KEY" in message
    assert "kitesecret" not in message and "gAAAA" not in message


def written_under(key: str, **fields: object) -> Account:
    """An account whose credentials are stored encrypted under `key`, not under the configured key."""
    with override_settings(FIELD_ENCRYPTION_KEYS=[key]):
        return AccountFactory(**fields)


def test_a_value_that_does_not_decrypt_reads_as_missing_never_as_ciphertext(user, caplog):
    account = written_under(OLD_KEY, user=user, api_key="oldkey123456", api_secret="oldsecret98765",
                            access_token="oldtoken")
    with caplog.at_level(logging.WARNING, logger="accounts.fields"):
        fresh = Account.objects.get(pk=account.pk)
    for value in (fresh.api_key, fresh.api_secret, fresh.access_token):
        assert value == "" and not value and "gAAAA" not in repr(value)
    assert fresh.status == "needs_credentials" and fresh.api_key_hint is None
    lines = [r.getMessage() for r in caplog.records if r.name == "accounts.fields"]
    assert len(lines) == 1 and f"accounts.Account id={account.id}: api_key, api_secret, access_token" in lines[0]
    stored = raw_row(account.id)
    assert not any(secret in lines[0] for secret in ("oldkey", "oldsecret", "oldtoken", *stored))


def test_saving_a_row_that_did_not_decrypt_keeps_its_stored_credentials(user):
    account = written_under(OLD_KEY, user=user, api_key="keepkey12345", api_secret="keepsecret9876")
    before = raw_row(account.id)
    fresh = Account.objects.get(pk=account.pk)
    fresh.name = "Renamed"
    fresh.save()
    assert raw_row(account.id) == before  # not overwritten with NULL or with an encrypted ""
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        restored = Account.objects.get(pk=account.pk)
    assert (restored.name, restored.api_key, restored.api_secret) == ("Renamed", "keepkey12345", "keepsecret9876")


def test_one_unreadable_account_leaves_its_owners_pages_working(user, client, caplog):
    broken = written_under(OLD_KEY, user=user, name="Broken", api_key="brokenkey999", api_secret="brokensecret1")
    good = AccountFactory(user=user, name="Good", api_key="goodkey54321", api_secret="goodsecret123")
    client.force_login(user)
    with caplog.at_level(logging.WARNING, logger="accounts.fields"):
        listed = {a["id"]: a for a in client.get("/api/accounts").json()}
        for path in ("/settings/accounts/", "/portfolio/", "/portfolio/data", f"/api/accounts/{broken.id}"):
            assert client.get(path).status_code == 200, path
    assert (listed[broken.id]["api_key_hint"], listed[broken.id]["has_api_secret"],
            listed[broken.id]["status"]) == (None, False, "needs_credentials")
    assert (listed[good.id]["api_key_hint"], listed[good.id]["has_api_secret"],
            listed[good.id]["status"]) == ("…4321", True, "needs_login")
    assert any(f"id={broken.id}:" in r.getMessage() for r in caplog.records)
    assert not any(f"id={good.id}:" in r.getMessage() for r in caplog.records)

    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    for path in ("/admin/accounts/account/", f"/admin/accounts/account/{broken.id}/change/"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "gAAAA" not in page.content.decode()


def key_check_messages() -> list:
    return [m for m in checks.run_checks(databases=["default"]) if m.id and m.id.startswith("accounts.")]


def test_the_key_check_passes_with_no_stored_credentials_and_with_the_right_key(db):
    assert key_check_messages() == []
    AccountFactory(api_key=None, api_secret=None)
    AccountFactory()
    assert key_check_messages() == []


def test_the_key_check_refuses_a_valid_key_the_credentials_were_not_written_with(db):
    written_under(OLD_KEY)
    written_under(OLD_KEY, api_key=None, api_secret=None, access_token="tok")
    messages = key_check_messages()
    assert [(m.id, m.level) for m in messages] == [("accounts.E002", checks.ERROR)]
    assert messages[0].msg == ("FIELD_ENCRYPTION_KEY does not decrypt the stored credentials "
                               "(it is not the key they were written with).")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):  # the old key listed second: fine
        assert key_check_messages() == []


def test_the_key_check_only_warns_about_a_few_unreadable_rows_naming_them(db):
    AccountFactory()
    broken = written_under(OLD_KEY)
    messages = key_check_messages()
    assert [m.id for m in messages] == ["accounts.W002"]
    assert f"id {broken.id}:" in messages[0].msg and "gAAAA" not in messages[0].msg


def test_the_key_check_is_run_by_migrate_and_refuses_there(db):
    written_under(OLD_KEY)
    with pytest.raises(SystemCheckError, match="accounts.E002"):
        call_command("migrate", "--check", verbosity=0, skip_checks=False)  # as `make serve` runs it


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
