"""One place that turns an account into a ready Kite client.

- Clients are cached in-process per account, built (and credentials decrypted) once, and reused, so
  their pooled HTTP connection to Kite stays open across calls.
- Each account row carries `session_version`, bumped on every change of session. A cached client
  whose version differs from the row is stale (another process logged in or out): it is rebuilt.
  `forget_client` also bumps the account's generation in Django's cache (Redis with REDIS_URL), so
  every process drops its client of that account at its next call, whatever changed.
- Kite's per-key rate limits are paced in `kite.ratelimit`, shared by every process the same way.
- Every response passes through `_raise_for_kite_error`, which turns Kite's error envelope into a
  `KiteError` carrying Kite's own `error_type` (pykiteconnect loses some of them).
"""
from __future__ import annotations

import logging
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from django.conf import settings
from django.core.cache import cache
from kiteconnect import KiteConnect
from kiteconnect.exceptions import KiteException

from accounts.models import Account, Environment
from kite.errors import KiteError
from kite.ratelimit import SharedLimiter, SharedStateUnavailable

log = logging.getLogger(__name__)
# A lane of a call whose process died mid-call frees once that call would surely have timed out.
_limiter = SharedLimiter(stale_after=2 * settings.KITE_TIMEOUT_SECONDS + 5)


def api_root(environment: str) -> str:
    return settings.KITE_SANDBOX_URL if environment == Environment.SANDBOX else settings.KITE_API_ROOT


def login_base_url(environment: str) -> str:
    if environment == Environment.SANDBOX:
        return f"{settings.KITE_SANDBOX_URL}/connect/login"
    return settings.KITE_LOGIN_URL


_answers = threading.local()  # whether the call in this thread got an HTTP answer (see `call`)


def _note_answer(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    _answers.got = True


def _raise_for_kite_error(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """requests response hook: an error answer becomes a KiteError with Kite's error_type."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            raise KiteError(str(body.get("error_type") or "GeneralException"),
                            str(body.get("message") or "no message"), response.status_code)
    if response.status_code >= 500:
        # A proxy or gateway in front of Kite (502, 504...) may answer after the request went on to Kite.
        raise KiteError("kite_bad_answer", f"Kite (or a gateway in front of it) answered HTTP {response.status_code} "
                        "without Kite's error body.", response.status_code)
    raise KiteError("DataException", f"Kite answered HTTP {response.status_code} without an error body.",
                    response.status_code)


_PROXY_ENVIRONMENT = bool(urllib.request.getproxies())


def new_client(*, api_key: str, access_token: str | None, environment: str) -> KiteConnect:
    kite = KiteConnect(api_key=api_key, access_token=access_token, root=api_root(environment),
                       timeout=settings.KITE_TIMEOUT_SECONDS)
    kite.reqsession.hooks["response"].extend([_note_answer, _raise_for_kite_error])
    if not _PROXY_ENVIRONMENT:
        # requests re-reads every proxy variable of the environment on each call (~0.4 ms); with none
        # set there is nothing to find. With a proxy configured, the default behaviour stays.
        kite.reqsession.trust_env = False
    return kite


@dataclass
class _Cached:
    version: int
    generation: int
    root: str
    kite: KiteConnect


_clients: dict[int, _Cached] = {}
_clients_lock = threading.Lock()


def client_for(account: Account) -> KiteConnect:
    """A client with the account's current session; `account` may have its credentials deferred."""
    root = api_root(account.environment)
    cached = _clients.get(account.pk)
    generation = _generation(account.pk)
    if (cached is not None and cached.version == account.session_version and cached.root == root
            and cached.generation == generation):
        return cached.kite
    full = Account.objects.get(pk=account.pk)  # the one place credentials are decrypted
    kite = new_client(api_key=full.api_key or "", access_token=full.access_token, environment=full.environment)
    with _clients_lock:
        old = _clients.get(account.pk)
        _clients[account.pk] = _Cached(version=full.session_version, generation=generation, root=root, kite=kite)
    if old is not None:
        old.kite.reqsession.close()
    return kite


def _generation_key(account_id: int) -> str:
    return f"kite-client:{account_id}"


def _generation(account_id: int) -> int:
    try:
        return int(cache.get(_generation_key(account_id), 0))
    except Exception as exc:  # the cache's own errors (Redis down): say so, never a 500
        raise SharedStateUnavailable(type(exc).__name__) from None


def forget_client(account_id: int) -> None:
    """Drop the account's client here, and in every other process at its next call (Django's cache)."""
    try:
        key = _generation_key(account_id)
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception as exc:  # its session changed anyway: session_version still tells the other processes
        log.warning("Could not tell the other processes to drop account %s's client: %s", account_id,
                    type(exc).__name__)
    _forget_here(account_id)


def _forget_here(account_id: int) -> None:
    with _clients_lock:
        old = _clients.pop(account_id, None)
    if old is not None:
        old.kite.reqsession.close()


def forget_all_clients() -> None:
    """Drop every client of this process (tests, benchmarks); the shared generations stay."""
    for account_id in list(_clients):
        _forget_here(account_id)


def cached_client_count() -> int:
    return len(_clients)


def call(kite: KiteConnect, endpoint_class: str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call one client method inside Kite's rate limit; transport failures become KiteErrors."""
    if not settings.KITE_RATE_LIMITS:
        return _send(kite, method, *args, **kwargs)
    with _limiter.slot(kite.api_key, endpoint_class):  # held until the answer is back (kite.ratelimit)
        return _send(kite, method, *args, **kwargs)


def _send(kite: KiteConnect, method: str, *args: Any, **kwargs: Any) -> Any:
    _answers.got = False
    try:
        return getattr(kite, method)(*args, **kwargs)
    except KiteError:
        raise
    except requests.ConnectTimeout:
        raise KiteError("kite_unreachable", f"Could not connect to Kite at {kite.root} (timed out); "
                        "nothing was sent.") from None
    except requests.Timeout:
        raise KiteError("kite_timeout", f"Kite did not answer within {settings.KITE_TIMEOUT_SECONDS:g} s "
                        f"({kite.root}).") from None
    except requests.ConnectionError as exc:
        if _never_connected(exc):
            raise KiteError("kite_unreachable", f"Could not connect to Kite at {kite.root}; nothing was sent."
                            ) from None
        raise KiteError("kite_connection_lost", f"The connection to Kite at {kite.root} broke before Kite "
                        "answered.") from None
    except requests.RequestException as exc:
        raise KiteError("kite_connection_lost", f"The request to Kite at {kite.root} failed: "
                        f"{type(exc).__name__}.") from None
    except (KiteException, KeyError, TypeError, ValueError, AttributeError) as exc:
        if not _answers.got:
            raise  # nothing came back, so nothing was read wrong: a bug here, before sending
        # Kite answered, but not in its own shape (no content type, HTML, broken JSON, a 200 that says error,
        # no "data"): whatever the request did at Kite is not known. The answer itself is never repeated (it
        # may carry a token).
        raise KiteError("kite_bad_answer", f"Kite at {kite.root} answered in a shape that could not be read "
                        f"({type(exc).__name__}).") from None


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when no TCP connection was made (refused, no route, DNS): then no request byte left here."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)

