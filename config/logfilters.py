"""Logging filters that keep secrets out of log lines.

Request lines logged by Django's development server (the web app's `runserver` and the sandbox's
`runsandbox`) carry query strings, and Kite puts tokens in some: `DELETE /session/token?access_token=`,
`/kite/callback?request_token=`. Their values are replaced before any handler writes the line.
"""
from __future__ import annotations

import logging
import re

_SECRET_PARAMS = re.compile(
    r"((?:access_token|refresh_token|request_token|enctoken|public_token|checksum|api_secret|state|password)"
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
