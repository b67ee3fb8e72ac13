"""django-encrypted-model-fields' field, made strict (see accounts.crypto).

A stored value that does not decrypt (a row written under a key that is no longer configured, or
damaged) must not take down every page that lists accounts, nor be handed out as ciphertext, nor be
lost. It reads back as an `UnreadableCredential`: empty, so the account shows as needing its
credentials again, and written back unchanged if the row is saved, so the right key still reads it.
Start-up refuses a key that decrypts none of the stored values (accounts.E002 in accounts/checks.py).
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import models
from django.db.models import signals
from encrypted_model_fields.fields import EncryptedCharField as _LibraryEncryptedCharField

from accounts import crypto

log = logging.getLogger(__name__)


class UnreadableCredential(str):
    """A stored value that did not decrypt: equal to "" for every reader, its ciphertext kept only for saving."""

    ciphertext: str

    def __new__(cls, ciphertext: str) -> UnreadableCredential:
        value = super().__new__(cls, "")
        value.ciphertext = ciphertext
        return value

    def __reduce__(self) -> tuple[type[UnreadableCredential], tuple[str]]:
        return UnreadableCredential, (self.ciphertext,)

    def __repr__(self) -> str:
        return "<unreadable credential>"  # never the ciphertext


class EncryptedCharField(_LibraryEncryptedCharField):
    """Stored as Fernet ciphertext (TEXT); read back as plaintext or as unreadable, never as ciphertext."""

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        if not cls._meta.abstract:
            # One receiver per model (not per field): one log line per row that has unreadable values.
            signals.post_init.connect(_report_unreadable, sender=cls, dispatch_uid=f"unreadable:{cls._meta.label}")

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        try:
            return crypto.decrypt(value, label=f"{self.model.__name__}.{self.name}")
        except crypto.DecryptionError:
            return UnreadableCredential(value)

    def to_python(self, value: Any) -> Any:
        # Values from forms and assignments are plaintext; only the database holds ciphertext.
        return models.CharField.to_python(self, value)

    def get_db_prep_save(self, value: Any, connection: Any) -> str | None:
        if isinstance(value, UnreadableCredential):
            return value.ciphertext  # untouched: nothing is lost by saving a row we could not read
        value = models.CharField.get_db_prep_save(self, value, connection)
        if value is None:
            return None
        return crypto.encrypt(str(value))


def _report_unreadable(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Name the row and the fields (never a value) when a loaded row has values that did not decrypt."""
    values = instance.__dict__
    unreadable = [
        field.name for field in sender._meta.concrete_fields
        if isinstance(field, EncryptedCharField) and isinstance(values.get(field.attname), UnreadableCredential)
    ]
    if unreadable:
        log.warning(
            "%s id=%s: %s could not be decrypted with the configured FIELD_ENCRYPTION_KEY; the account is shown "
            "as needing its credentials again (the stored value is kept).",
            sender._meta.label, instance.pk, ", ".join(unreadable),
        )
