"""Re-encrypt every stored credential with the first key of FIELD_ENCRYPTION_KEY.

Rotation: set FIELD_ENCRYPTION_KEY=new,old; run this command; then drop the old key.
"""
from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import crypto
from accounts.fields import EncryptedCharField


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the first key in FIELD_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        try:
            with transaction.atomic():
                for model in apps.get_models():
                    fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedCharField)]
                    if not fields:
                        continue
                    columns = [f.column for f in fields]
                    # Read the stored ciphertext as it is (no from_db_value), rotate it, write it back.
                    for pk, *values in _raw_rows(model, columns):
                        rotated = {
                            column: crypto.rotate(value, label=f"{model.__name__} {pk} {column}") if value else value
                            for column, value in zip(columns, values, strict=True)
                        }
                        _raw_update(model, pk, rotated)
                        total += 1
        except (crypto.DecryptionError, crypto.EncryptionKeyError) as exc:
            raise CommandError(f"{exc} Nothing was changed.") from None
        self.stdout.write(f"Re-encrypted {total} row(s) with the first key of FIELD_ENCRYPTION_KEY.")


def _raw_rows(model: Any, columns: list[str]) -> list[tuple]:
    from django.db import connection

    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in [model._meta.pk.column, *columns])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {cols} FROM {table}")  # noqa: S608 (names come from the model)
        return list(cursor.fetchall())


def _raw_update(model: Any, pk: Any, values: dict[str, Any]) -> None:
    from django.db import connection

    q = connection.ops.quote_name
    assignments = ", ".join(f"{q(c)} = %s" for c in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {q(model._meta.db_table)} SET {assignments} WHERE {q(model._meta.pk.column)} = %s",  # noqa: S608
            [*values.values(), pk],
        )
