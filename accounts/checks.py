from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError, connections

from accounts import crypto
from accounts.fields import EncryptedCharField
from config import checks as _config_checks  # noqa: F401  (registers the project-wide checks, e.g. SECRET_KEY)

# The key check reads this many of the most recent rows holding credentials: enough to tell a wrong
# key (none decrypt) from a few damaged rows (some do), cheap enough for every start-up.
CANARY_ROWS = 50


@register()
def encryption_key_check(app_configs: Any = None, **kwargs: Any) -> list:
    error = getattr(settings, "FIELD_ENCRYPTION_KEY_ERROR", "")
    if error:
        return [
            Error(
                error,
                hint=("Set FIELD_ENCRYPTION_KEY in the environment or in .env beside manage.py "
                      "(`make run` writes one). Kite credentials are encrypted with it."),
                id="accounts.E001",
            )
        ]
    if getattr(settings, "FIELD_ENCRYPTION_KEY_IS_DEV_FALLBACK", False):
        return [
            Warning(
                "FIELD_ENCRYPTION_KEY is not set; DEBUG is on, so a key derived from SECRET_KEY is used.",
                hint="Set FIELD_ENCRYPTION_KEY before storing real credentials.",
                id="accounts.W001",
            )
        ]
    return []


@register(Tags.database)
def encryption_key_matches_stored_credentials_check(
    app_configs: Any = None, databases: list[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """A valid key that is not the one the stored credentials were written with.

    The stored credentials are their own canary: no extra row or file to keep in step. If the most
    recent ones all fail to decrypt, the key is wrong (E002, start-up stops before new accounts get
    written under it); if only some fail, those rows are damaged or from a removed key (W002): they
    show as needing credentials again and the rest work. With no stored credentials any key is right.
    Like Django's own database checks it runs only when asked for databases (migrate, `check
    --database`, config.startup), so `manage.py check` works without a database.
    """
    if not databases or getattr(settings, "FIELD_ENCRYPTION_KEY_ERROR", ""):
        return []
    messages: list[CheckMessage] = []
    models = apps.get_models() if app_configs is None else [m for c in app_configs for m in c.get_models()]
    for alias in databases:
        for model in models:
            columns = [f.column for f in model._meta.concrete_fields if isinstance(f, EncryptedCharField)]
            if not columns:
                continue
            try:
                rows = _recent_rows(alias, model, columns)
            except DatabaseError as exc:
                messages.append(Warning(
                    f"Could not read {model._meta.label} in database {alias!r} to check FIELD_ENCRYPTION_KEY "
                    f"({type(exc).__name__}).", id="accounts.W003"))
                continue
            readable = 0
            unreadable: list[Any] = []
            for pk, *values in rows:
                results = [crypto.decrypts(v) for v in values if v]
                readable += sum(results)
                if not all(results):
                    unreadable.append(pk)
            if unreadable and not readable:
                messages.append(Error(
                    "FIELD_ENCRYPTION_KEY does not decrypt the stored credentials (it is not the key they were "
                    "written with).",
                    hint=("Set the key they were written with. To change keys, set FIELD_ENCRYPTION_KEY=new,old, "
                          "run `manage.py rotate_encryption_keys`, then drop the old one."),
                    id="accounts.E002",
                ))
            elif unreadable:
                ids = ", ".join(str(pk) for pk in sorted(unreadable))
                messages.append(Warning(
                    f"{model._meta.label} id {ids}: stored credentials do not decrypt with FIELD_ENCRYPTION_KEY; "
                    "those accounts show as needing their credentials again.",
                    id="accounts.W002",
                ))
    return messages


def _recent_rows(alias: str, model: Any, columns: list[str]) -> list[tuple]:
    """The stored ciphertext of the most recent rows that hold any (raw: no decryption on the way)."""
    connection = connections[alias]
    table = model._meta.db_table
    if table not in connection.introspection.table_names():
        return []  # not migrated yet: nothing stored
    q = connection.ops.quote_name
    where = " OR ".join(f"{q(c)} IS NOT NULL" for c in columns)
    cols = ", ".join(q(c) for c in [model._meta.pk.column, *columns])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {cols} FROM {q(table)} WHERE {where} ORDER BY {q(model._meta.pk.column)} DESC "  # noqa: S608
            f"LIMIT {CANARY_ROWS}"
        )
        return list(cursor.fetchall())
