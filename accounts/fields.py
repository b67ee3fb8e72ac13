"""django-encrypted-model-fields' field, made strict (see accounts.crypto)."""
from __future__ import annotations

from typing import Any

from django.db import models
from encrypted_model_fields.fields import EncryptedCharField as _LibraryEncryptedCharField

from accounts import crypto


class EncryptedCharField(_LibraryEncryptedCharField):
    """Stored as Fernet ciphertext (TEXT); read back as plaintext or an error, never ciphertext."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        return crypto.decrypt(value, label=f"{self.model.__name__}.{self.name}")

    def to_python(self, value: Any) -> Any:
        # Values from forms and assignments are plaintext; only the database holds ciphertext.
        return models.CharField.to_python(self, value)

    def get_db_prep_save(self, value: Any, connection: Any) -> str | None:
        value = models.CharField.get_db_prep_save(self, value, connection)
        if value is None:
            return None
        return crypto.encrypt(str(value))
