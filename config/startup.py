"""The production server's start-up: refuse to serve on a configuration the checks reject.

Management commands run Django's system checks before they do anything; a WSGI/ASGI server does not,
so a server with, say, no FIELD_ENCRYPTION_KEY would start and answer 500 on every page. Here the
application is built only after the same checks pass (with the database checks too, e.g. the key
that does not decrypt the stored credentials), and a failure stops the server at boot with one
`Configuration error:` line per problem.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

from config.env import SettingsError

try:
    # gunicorn prints an AppImportError as its message alone and stops the whole server ("App failed
    # to load."); any other exception is a traceback per worker, then "Worker failed to boot."
    from gunicorn.errors import AppImportError as _ServerLoadError
except ImportError:  # another server: the exception below is still an ImproperlyConfigured
    class _ServerLoadError(Exception):  # type: ignore[no-redef]
        pass

log = logging.getLogger(__name__)
App = TypeVar("App")


class StartupRefused(ImproperlyConfigured, _ServerLoadError):
    """The configuration is invalid: the server must not start. The message is one line per problem."""


def checked_application(build: Callable[[], App]) -> App:
    """`build()` (get_wsgi_application or get_asgi_application), once the system checks pass."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        application = build()  # django.setup(): the settings are read here
    except SettingsError as exc:
        raise StartupRefused(f"Configuration error: {exc}") from None
    # In a thread of its own: the database checks may not run in an event loop (an ASGI server imports
    # the application inside one), and the connections they open are closed before serving.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="startup-checks") as pool:
        problems = pool.submit(_check).result()
    if problems:
        raise StartupRefused("\n".join(f"Configuration error: {line}" for line in problems))
    return application


def _check() -> list[str]:
    """The one-line messages of the system checks' errors; warnings are logged, and do not stop start-up."""
    from django.core import checks
    from django.db import connections

    try:
        messages = checks.run_checks(databases=list(connections))
    finally:
        connections.close_all()
    problems = _shared_state_problems()
    for message in messages:
        if message.is_silenced():
            continue
        line = f"{message.id}: {message.msg}" + (f" {message.hint}" if message.hint else "")
        if message.level >= checks.ERROR:
            problems.append(line)
        else:
            log.warning("%s", line)
    return problems


def _shared_state_problems() -> list[str]:
    """With REDIS_URL, Redis must answer before the workers serve: else every rate-limited call (orders
    included) would answer 503 from the first request. A Redis that stops later is the same 503, saying so."""
    from django.conf import settings
    from django.core.cache import caches

    from config.env import without_password

    if not settings.REDIS_URL:
        return []
    try:
        caches["default"].get("startup-ping")
    except Exception as exc:  # redis-py's ConnectionError, TimeoutError, AuthenticationError...
        shown = without_password(settings.REDIS_URL)
        return [f"REDIS_URL={shown!r} does not answer ({type(exc).__name__}): start Redis there, or unset "
                "REDIS_URL to serve one worker on the local-memory cache (WORKERS=1)."]
    finally:
        caches["default"].close()
    return []
