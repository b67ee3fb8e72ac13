"""Bad settings stop every command with one line naming the variable: no traceback, no silent default."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "3bwUV6TdNJ0TpWnfUSrPvp8bBWS4sjWfnt0J3cXnsFQ="


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KITE_", "DATABASE_URL", "DEBUG"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50,
                 "FIELD_ENCRYPTION_KEY": GOOD_KEY, "DATABASE_URL": "sqlite:///:memory:"})
    base.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("KITE_RATE_LIMITS", "of", "KITE_RATE_LIMITS='of' is not on or off"),
        ("DEBUG", "maybe", "DEBUG='maybe' is not on or off"),
        ("KITE_TIMEOUT_SECONDS", "7s", "KITE_TIMEOUT_SECONDS='7s' is not a number"),
        ("KITE_TIMEOUT_SECONDS", "0", "KITE_TIMEOUT_SECONDS='0' is out of range"),
        ("KITE_SANDBOX_URL", "localhost:8765", "KITE_SANDBOX_URL='localhost:8765' is not an http:// or https:// URL"),
        ("APP_BASE_URL", "ftp://example.com", "APP_BASE_URL='ftp://example.com' is not an http"),
        ("DATABASE_URL", "mongodb://db/kite", "DATABASE_URL: unknown database scheme 'mongodb'"),
        ("DATABASE_URL", "postgres://u:hunter2@h:port/db", "DATABASE_URL is not a database URL"),
        ("KITE_API_ROOT", "ftp://kite:hunter2@proxy.example/", "KITE_API_ROOT='ftp://kite:***@proxy.example/' is not"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL='loud' is not one of"),
        ("SECURE_HSTS_SECONDS", "1.5", "SECURE_HSTS_SECONDS='1.5' is not a whole number"),
        ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS='-1' is out of range"),
        ("SECURE_SSL_REDIRECT", "sure", "SECURE_SSL_REDIRECT='sure' is not on or off"),
        ("SESSION_COOKIE_SECURE", "2", "SESSION_COOKIE_SECURE='2' is not on or off"),
        ("CSRF_COOKIE_SECURE", "y", "CSRF_COOKIE_SECURE='y' is not on or off"),
        ("TRUST_X_FORWARDED_PROTO", "always", "TRUST_X_FORWARDED_PROTO='always' is not on or off"),
        ("STATIC_ROOT", "staticfiles", "STATIC_ROOT='staticfiles' is not an absolute path"),
    ],
)
def test_a_bad_variable_is_named_in_one_line(variable, value, message):
    result = manage("check", **{variable: value})
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_the_same_for_the_long_running_commands():
    # runsandbox runs under the sandbox's own settings (even with DJANGO_SETTINGS_MODULE naming the
    # app's, as here): its variables are the sandbox's.
    for command, variable in ((["runmcp"], "KITE_RATE_LIMITS"),
                              (["runsandbox", "--port", "0"], "KITE_SANDBOX_RATE_LIMITS")):
        result = manage(*command, **{variable: "sometimes"})
        assert result.returncode == 1 and f"{variable}='sometimes'" in result.stderr, command
        assert result.stdout == ""  # (runmcp: stdout is the protocol's)


def test_good_values_pass():
    result = manage("check", KITE_RATE_LIMITS="off", KITE_TIMEOUT_SECONDS="2.5", APP_BASE_URL="https://desk.example/",
                    LOG_LEVEL="warning")
    assert result.returncode == 0, result.stderr
