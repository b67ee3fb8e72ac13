"""Logging filters that keep secrets out of log lines.

Request lines logged by Django's development server (the web app's `runserver` and the sandbox's
`runsandbox`) and by the production server's access log (uvicorn's, under gunicorn: config/gunicorn_conf.py)
carry query strings, and Kite puts tokens in some: `DELETE /session/token?access_token=`,
`/kite/callback?request_token=`. Their values are replaced before any handler writes the line.
"""
from __future__ import annotations

import logging
import re

# Any parameter whose name is or ends in "token" or "secret" (access_token, request_token, enctoken,
# client_secret...), and the login's `state`, passwords, checksums and OAuth codes/verifiers; also inside a
# percent-encoded URL in another parameter (?next=/kite/callback%3Frequest_token%3D...).
_SECRET_PARAMS = re.compile(
    r"((?:(?<=%3F)|(?<=%26)|(?<![A-Za-z0-9_]))(?:[A-Za-z0-9_]*(?:token|secret)|state|password|passwd|checksum|code|code_verifier)"
    r"(?:=|%3D))[^&\s\"']+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    return _SECRET_PARAMS.sub(r"\1[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def logging_settings(level: str, loggers: dict[str, dict] | None = None) -> dict:
    """The LOGGING of every server here (the web app's, the sandbox's): to stderr, secrets redacted, and the
    development servers' request lines in their own short format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "server": {"format": "[%(asctime)s] %(message)s"},
        },
        "filters": {"redact_secrets": {"()": "config.logfilters.RedactSecrets"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
            "server": {"class": "logging.StreamHandler", "formatter": "server", "filters": ["redact_secrets"]},
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # Request lines of runserver and runsandbox, with tokens in query strings redacted.
            "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
            **(loggers or {}),
        },
    }
