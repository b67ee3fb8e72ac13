"""System checks of the project's own settings (the apps' are in their checks.py).

Registered when `accounts` is ready (accounts/checks.py imports this module), so every management
command and the production server's start-up (config.startup) run them.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured


@register()
def secret_key_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """An empty SECRET_KEY with DEBUG off: without this, the server starts and every page is a 500."""
    try:
        settings.SECRET_KEY  # noqa: B018  Django raises on an empty one only when it is read
    except ImproperlyConfigured:
        return [
            Error(
                "SECRET_KEY is not set; it is required when DEBUG is off (it signs sessions and CSRF tokens).",
                hint="Set SECRET_KEY in the environment or in .env beside manage.py, e.g. to the output of "
                     "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
                id="config.E001",
            )
        ]
    return []
