from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


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
