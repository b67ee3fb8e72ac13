"""Strict reading of the environment: a value that is not what a variable takes stops start-up with
a message naming the variable, instead of quietly meaning something else (django-environ reads
`KITE_RATE_LIMITS=of` as off, and a bad number as a traceback)."""
from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingsError(ImproperlyConfigured):
    """A variable of the environment (or of .env) has a value it cannot take."""


class StrictEnv:
    def __init__(self, env: environ.Env) -> None:
        self.env = env

    def _raw(self, name: str) -> str | None:
        value = self.env.ENVIRON.get(name)
        return None if value is None else value.strip()

    def bool(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(f"{name}={raw!r} is not on or off (use on/off, true/false, yes/no or 1/0).")

    def number(self, name: str, default: float, *, minimum: float, maximum: float) -> float:
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number.") from None
        if not minimum <= value <= maximum:
            raise SettingsError(f"{name}={raw!r} is out of range ({minimum:g} to {maximum:g}).")
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        """A whole number in range: `SECURE_HSTS_SECONDS=1.5` or `=1y` is refused, not rounded or ignored."""
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a whole number.") from None
        if not minimum <= value <= maximum:
            raise SettingsError(f"{name}={raw!r} is out of range ({minimum} to {maximum}).")
        return value

    def path(self, name: str, default: str) -> str:
        """An absolute path: a relative one would depend on the directory the server happens to start in."""
        raw = self._raw(name)
        value = default if raw is None or raw == "" else raw
        if not os.path.isabs(value):
            raise SettingsError(f"{name}={value!r} is not an absolute path.")
        return value

    def url(self, name: str, default: str) -> str:
        raw = self._raw(name)
        value = default if raw is None or raw == "" else raw
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"{name}={without_password(value)!r} is not an http:// or https:// URL.")
        return value.rstrip("/")

    def redis_url(self, name: str) -> str:
        """A Redis URL (redis://, rediss:// or unix://) or "" when unset; a malformed one is refused by name."""
        raw = self._raw(name)
        if not raw:
            return ""
        try:
            parts = urlsplit(raw)
            port = parts.port  # raises on a port that is not a number
        except ValueError:
            raise SettingsError(f"{name}={without_password(raw)!r} is not a Redis URL (e.g. "
                                "redis://127.0.0.1:6379/0).") from None
        if parts.scheme in ("redis", "rediss"):
            database = parts.path.strip("/")
            if not parts.hostname or (database and not database.isdigit()) or port == 0:
                raise SettingsError(f"{name}={without_password(raw)!r} is not a Redis URL: it needs a host, and "
                                    "its path, if any, is a database number (e.g. redis://127.0.0.1:6379/0).")
        elif parts.scheme == "unix":
            if not parts.path:
                raise SettingsError(f"{name}={without_password(raw)!r} is not a Redis URL: a unix:// URL needs "
                                    "the socket's path (e.g. unix:///run/redis/redis.sock).")
        else:
            raise SettingsError(f"{name}={without_password(raw)!r} is not a Redis URL (redis://, rediss:// or "
                                "unix://, e.g. redis://127.0.0.1:6379/0).")
        return raw

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        if raw.upper() not in choices:
            raise SettingsError(f"{name}={raw!r} is not one of {', '.join(choices)}.")
        return raw.upper()

    def db(self, name: str, default: str) -> dict[str, Any]:
        raw = self._raw(name) or default
        scheme = urlsplit(raw).scheme
        if scheme not in environ.Env.DB_SCHEMES:
            raise SettingsError(f"{name}: unknown database scheme {scheme!r} (e.g. sqlite:///db.sqlite3 or "
                                "postgres://user@host:5432/name).")
        try:
            config = environ.Env.db_url_config(raw)
        except Exception as exc:  # django-environ raises several kinds
            detail = str(exc)
            password = urlsplit(raw).password
            if password and password in detail:
                detail = "malformed"  # never echo a password
            raise SettingsError(f"{name} is not a database URL Django supports "
                                f"(e.g. sqlite:///db.sqlite3 or postgres://user@host:5432/name): {detail}") from None
        return config


def without_password(value: str) -> str:
    """A URL as an error message may show it: a password in it becomes ***."""
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return "(not shown: not a well-formed URL)"
    if not password:
        return value
    return value.replace(f":{password}@", ":***@", 1)
