"""gunicorn's settings for the production server: `make serve`, which runs
`python -m gunicorn -c config/gunicorn_conf.py config.asgi:application`.

- uvicorn workers (the `uvicorn-worker` package; uvicorn's own `uvicorn.workers` is deprecated): each
  worker is an event loop, so a slow client costs a socket, never a thread, and fifty of them do not
  stop anyone else being served. Django runs each sync view in a thread of its own.
- WORKERS processes on BIND (default 127.0.0.1:8000). Several need REDIS_URL, and without it the server
  refuses to start: each worker would pace Kite's rate limits on its own (together they go over them) and
  the live events would reach one of them. Default: 2 with
  REDIS_URL, 1 without. Like the settings, these are read from the environment, then from `.env`.
- The access log (stdout) goes through the same redaction as every other log line: no `request_token`,
  `state`, token or secret of a query string is written (config.logfilters).
- X-Forwarded-* headers are not trusted by the server itself: Django decides (TRUST_X_FORWARDED_PROTO),
  and behind a proxy every client has the proxy's address, as the README says.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import environ
from uvicorn_worker import UvicornWorker

from config.logfilters import RedactSecrets


def _whole(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        sys.exit(f"Configuration error: {name}={raw!r} is not a whole number from {minimum} to {maximum}.")
    return value


class Worker(UvicornWorker):
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For/-Proto from any local process.
    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, "proxy_headers": False, "server_header": False}


# The same `.env` beside manage.py the settings read (variables already in the environment win).
environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)
_shared_state = bool(os.environ.get("REDIS_URL", "").strip())
bind = os.environ.get("BIND", "127.0.0.1:8000").strip() or "127.0.0.1:8000"
workers = _whole("WORKERS", 2 if _shared_state else 1, 1, 64)
if workers > 1 and not _shared_state:
    sys.exit(f"Configuration error: WORKERS={workers} needs REDIS_URL: without it each worker paces Kite's rate "
             f"limits on its own (1 quote call a second, 10 orders: {workers} workers together go over them and meet "
             "Kite's 429) and live events reach only one of them. Set REDIS_URL, or WORKERS=1.")
worker_class = Worker
keepalive = 30  # seconds an idle keep-alive connection stays open
timeout = 60  # a worker silent this long (a stuck event loop) is restarted
graceful_timeout = 30
control_socket_disable = True  # gunicorn's control socket is one per user: two servers would share it
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").strip().lower() or "info"


def post_worker_init(worker: Any) -> None:
    """The worker's loggers are set up by now (uvicorn's go to gunicorn's handlers): redact what they write."""
    for name in ("uvicorn.access", "uvicorn.error", "gunicorn.access", "gunicorn.error"):
        logging.getLogger(name).addFilter(RedactSecrets())
