"""Encryption of credentials at rest, with the keys from settings.FIELD_ENCRYPTION_KEYS.

django-encrypted-model-fields builds its crypter once at import and, when a value does not decrypt,
quietly hands back the ciphertext. Here the crypter follows the settings (rotation and tests work),
a bad key configuration refuses to encrypt anything, and a value that does not decrypt raises
(accounts.fields turns that into an unreadable value for the one row; accounts.checks refuses a key
that reads none of the stored values).
"""
from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class EncryptionKeyError(ImproperlyConfigured):
    """FIELD_ENCRYPTION_KEY is missing or malformed."""


class DecryptionError(Exception):
    """A stored value does not decrypt with any configured key."""


@lru_cache(maxsize=8)
def _crypter_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def crypter() -> MultiFernet:
    error = getattr(settings, "FIELD_ENCRYPTION_KEY_ERROR", "")
    keys = tuple(getattr(settings, "FIELD_ENCRYPTION_KEYS", ()) or ())
    if error or not keys:
        raise EncryptionKeyError(error or "FIELD_ENCRYPTION_KEY is not set.")
    return _crypter_for(keys)


def encrypt(plaintext: str) -> str:
    return crypter().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, label: str = "a stored credential") -> str:
    try:
        return crypter().decrypt(token.encode("utf-8")).decode("utf-8")
    except InvalidToken:
        raise DecryptionError(
            f"{label} could not be decrypted with the configured FIELD_ENCRYPTION_KEY "
            "(wrong key, or an old key was removed before `manage.py rotate_encryption_keys` ran)."
        ) from None


def decrypts(token: str) -> bool:
    """Whether a stored token decrypts with one of the configured keys (for the start-up key check)."""
    try:
        crypter().decrypt(token.encode("utf-8"))
    except InvalidToken:
        return False
    return True


def rotate(token: str, *, label: str = "a stored credential") -> str:
    """Re-encrypt a stored token with the first configured key."""
    try:
        return crypter().rotate(token.encode("utf-8")).decode("ascii")
    except InvalidToken:
        raise DecryptionError(f"{label} could not be decrypted with any configured key.") from None
