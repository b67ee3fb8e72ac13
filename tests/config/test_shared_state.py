"""State shared across processes: with REDIS_URL, Django's cache is Redis and holds Kite's rate limits and the
client-cache invalidation for every worker; without it, local memory (one process).

The multi-worker test is issue 14's: the app as 3 worker processes (`make serve`'s command) on PostgreSQL
and Redis, 40 orders in one second from 8 clients, at a sandbox that enforces Kite's limits. It needs a
Redis and a PostgreSQL server (127.0.0.1 by default; TEST_REDIS_URL and TEST_POSTGRES_URL to point
elsewhere) and is skipped, saying so, where there is none (a laptop); CI's machine has both.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from kiteconnect import KiteConnect

from tests.config.test_production import (
    ROOT,
    api_user,
    environment,
    free_port,
    gunicorn,
    hammer,
    manage,
    stop,
    wait_until_serving,
)
from tests.fixtures.sandbox import TRADING_TIME, SandboxHandle, start_sandbox

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def redis_answers(url: str) -> str:
    """"" when a Redis answers PING at `url`, else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return "" if s.recv(16).startswith(b"+PONG") else "it did not answer PING"
    except OSError as exc:
        return str(exc)


def postgres_answers(url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3):
            return ""
    except Exception as exc:  # psycopg's OperationalError, or no psycopg
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def settings_of(env: dict[str, str], *names: str) -> dict:
    code = ("import json; from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))")
    return json.loads(manage(env, "shell", "-c", code).stdout.splitlines()[-1])


# --- Which cache, and a bad REDIS_URL --------------------------------------------------------------------

def test_without_redis_url_the_cache_is_local_memory_and_with_it_djangos_redis_backend(tmp_path):
    local = settings_of(environment(tmp_path), "CACHES")["CACHES"]["default"]
    assert local["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    shared = settings_of(environment(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3"), "CACHES")["CACHES"]["default"]
    assert shared["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert shared["LOCATION"] == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(("value", "shown"), [
    ("127.0.0.1:6379", "'127.0.0.1:6379' is not a Redis URL"),
    ("redis://", "'redis://' is not a Redis URL: it needs a host"),
    ("redis://127.0.0.1:6379/cache", "its path, if any, is a database number"),
    ("redis://127.0.0.1:port/0", "is not a Redis URL"),
    ("redis://:hunter2pass@127.0.0.1:6379/x", "redis://:***@127.0.0.1:6379/x"),
])
def test_a_malformed_redis_url_stops_every_command_naming_it_and_never_its_password(tmp_path, value, shown):
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                            env=environment(tmp_path, REDIS_URL=value), timeout=120)
    assert result.returncode != 0
    assert "Configuration error: REDIS_URL=" in result.stderr and shown in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2pass" not in result.stderr


# --- Client-cache invalidation across processes -------------------------------------------------------

@pytest.fixture
def redis_cache(settings):
    why = redis_answers(REDIS_URL)
    if why:
        pytest.skip(f"no Redis at {REDIS_URL} ({why}); set TEST_REDIS_URL to run the shared-state tests")
    # The same cache the app builds from REDIS_URL (config/settings.py), so another process shares it.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                                   "KEY_PREFIX": "kitedesk", "OPTIONS": {"socket_connect_timeout": 2}}}
    return REDIS_URL


def test_a_client_dropped_in_another_process_is_rebuilt_here(db, tmp_path, redis_cache):
    from kite import client as kite_client
    from tests.factories import AccountFactory

    account = AccountFactory(environment="sandbox", api_key="invalidationkey1", api_secret="s" * 16)
    first = kite_client.client_for(account)
    assert kite_client.client_for(account) is first  # cached here
    # Another process (as another worker would, on a logout there) drops the account's client.
    manage(environment(tmp_path, REDIS_URL=redis_cache), "shell", "-c",
           f"from kite.client import forget_client; forget_client({account.pk})")
    assert kite_client.client_for(account) is not first


# --- Issue 14's multi-worker test -----------------------------------------------------------------------

ORDERS, CLIENTS, WORKERS = 40, 8, 3
ORDER = {"exchange": "NSE", "tradingsymbol": "ITC", "transaction_type": "BUY", "product": "CNC",
         "order_type": "LIMIT", "price": 100.0}  # far below the market: nothing fills


@pytest.fixture
def postgres():
    """new(): the URL of a fresh PostgreSQL database, dropped at the end."""
    why = postgres_answers(POSTGRES_URL)
    if why:
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({why}); set TEST_POSTGRES_URL to run the multi-worker test")
    import psycopg

    made: list[str] = []

    def new() -> str:
        name = f"kd_multiworker_{secrets.token_hex(4)}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl()

    yield new
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        for name in made:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database(postgres) -> str:
    return postgres()


@pytest.fixture
def limited_sandbox(tmp_path, postgres):
    # On PostgreSQL too: ten orders at once are ten writers, more than one SQLite file takes in a second.
    handle = start_sandbox(tmp_path / "sandbox", extra_env={"KITE_SANDBOX_RATE_LIMITS": "on",
                                                            "KITE_SANDBOX_DATABASE_URL": postgres()})
    handle.set_clock(TRADING_TIME)
    yield handle
    handle.stop()


SETUP = """
import json
from django.contrib.auth import get_user_model
from accounts.models import Account
from kite.services.provisioning import sandbox_provision
user = get_user_model().objects.create_user("trader", password="pw-123456789")
account = sandbox_provision(account=Account.objects.create(user=user, name="Main", environment="sandbox",
                                                           trading_enabled=True))
print(json.dumps({"account_id": account.pk, "api_key": account.api_key}))
"""
CONNECT = """
import json
from accounts.models import Account
from accounts.tokens import api_token_create
from kite.services.sessions import session_create
account = session_create(account=Account.objects.get(pk={account_id}), request_token={request_token!r})
token, _ = api_token_create(user=account.user)
print(json.dumps({{"token": token, "access_token": account.access_token}}))
"""


def last_json(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_three_workers_share_kites_order_limit_and_no_order_is_lost_or_doubled(
        tmp_path: Path, postgres_database: str, limited_sandbox: SandboxHandle, redis_cache: str):
    port = free_port()
    env = environment(tmp_path, DATABASE_URL=postgres_database, REDIS_URL=redis_cache, KITE_RATE_LIMITS="on",
                      KITE_SANDBOX_URL=limited_sandbox.url, APP_BASE_URL=f"http://127.0.0.1:{port}")
    manage(env, "migrate", "--noinput", "-v", "0")
    made = last_json(manage(env, "shell", "-c", SETUP))
    request_token = limited_sandbox.login(made["api_key"])
    connected = last_json(manage(env, "shell", "-c", CONNECT.format(account_id=made["account_id"],
                                                                    request_token=request_token)))
    server = gunicorn(env, port, workers=WORKERS)
    answers: dict[int, requests.Response] = {}
    lock = threading.Lock()
    try:
        wait_until_serving(server, port)
        start = time.monotonic() + 1.0

        def client(index: int) -> None:
            http = requests.Session()
            http.headers["Authorization"] = f"Token {connected['token']}"
            for n in range(index, ORDERS, CLIENTS):  # 40 orders spread over one second, 8 clients
                time.sleep(max(0.0, start + n / ORDERS - time.monotonic()))
                answer = http.post(f"http://127.0.0.1:{port}/api/kite/execute", timeout=120,
                                   headers={"Idempotency-Key": f"multiworker-{n}"},
                                   json={"tool": "place_order", "args": {"account_id": made["account_id"],
                                                                         "quantity": n + 1, **ORDER}})
                with lock:
                    answers[n] = answer

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        stop(server)
    assert len(answers) == ORDERS

    sent = {n: a.json()["data"]["order_id"] for n, a in answers.items() if a.status_code == 200}
    refused = {n for n, a in answers.items() if a.status_code == 429 and a.json()["error"]["type"] == "rate_limited"}
    others = {n: (a.status_code, a.text[:200]) for n, a in answers.items() if n not in sent and n not in refused}
    assert not others, limited_sandbox.log_tail(80)  # each is sent, or refused by our pacing before sending
    assert all(answers[n].headers.get("Retry-After") for n in refused)
    assert len(sent) >= 10  # the first second's budget was used
    print(f"{ORDERS} orders from {CLIENTS} clients, {WORKERS} workers: {len(sent)} sent, {len(refused)} refused here")

    # Kite (the sandbox, which enforces Kite's 10 orders a second) never had to refuse one.
    log = limited_sandbox.log_tail(1_000_000)
    assert log.count("POST /orders/regular HTTP/1.1") >= len(sent)  # its request log is read right
    assert not re.findall(r'HTTP/1\.1" 429(?!\d)', log)
    # None lost, none doubled: Kite holds exactly the orders answered as sent, each once.
    kite = KiteConnect(api_key=made["api_key"], access_token=connected["access_token"], root=limited_sandbox.url)
    book = [o for o in kite.orders() if o["tradingsymbol"] == "ITC"]
    assert sorted(str(o["order_id"]) for o in book) == sorted(str(i) for i in sent.values())
    assert sorted(o["quantity"] for o in book) == sorted(n + 1 for n in sent)

    # Audited either way: one row per order, sent with its id, or refused as rate limited.
    import psycopg

    with psycopg.connect(postgres_database) as db:
        rows = db.execute("SELECT arguments, outcome, order_id, error_type FROM kite_orderaudit "
                          "WHERE tool = 'place_order'").fetchall()
    by_quantity: dict[int, list[tuple[str, str, str]]] = {}
    for arguments, outcome, order_id, error_type in rows:
        by_quantity.setdefault(int(arguments["quantity"]), []).append((outcome, order_id, error_type))
    for n in range(ORDERS):
        audit = by_quantity.get(n + 1)
        assert audit is not None and len(audit) == 1, (n, audit)
        outcome, order_id, error_type = audit[0]
        if n in sent:
            assert (outcome, order_id) == ("sent", str(sent[n]))
        else:
            assert outcome in ("refused", "failed") and error_type == "rate_limited", audit


# --- PostgreSQL connections under the ASGI server: psycopg's pool -----------------------------------------

def test_on_postgresql_connections_come_from_a_pool_of_database_pool_size(tmp_path):
    nowhere = "postgres://kd@127.0.0.1:1/kd"  # the settings only: nothing connects
    pooled = settings_of(environment(tmp_path, DATABASE_URL=nowhere), "DATABASES")["DATABASES"]["default"]
    assert pooled["OPTIONS"]["pool"]["max_size"] == 20 and pooled["CONN_MAX_AGE"] == 0
    sized = settings_of(environment(tmp_path, DATABASE_URL=nowhere, DATABASE_POOL_SIZE="3"), "DATABASES")
    assert sized["DATABASES"]["default"]["OPTIONS"]["pool"]["max_size"] == 3
    kept = settings_of(environment(tmp_path, DATABASE_URL=nowhere, DATABASE_POOL_SIZE="0"), "DATABASES")
    assert "pool" not in kept["DATABASES"]["default"].get("OPTIONS", {})
    assert kept["DATABASES"]["default"]["CONN_MAX_AGE"] == 60
    sqlite = settings_of(environment(tmp_path), "DATABASES")["DATABASES"]["default"]
    assert "pool" not in sqlite.get("OPTIONS", {})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                            env=environment(tmp_path, DATABASE_POOL_SIZE="some"), timeout=120)
    assert result.returncode != 0 and "DATABASE_POOL_SIZE='some' is not a whole number." in result.stderr


def test_under_the_asgi_server_postgresql_backends_stay_within_the_pool(tmp_path: Path, postgres_database: str):
    """Each request's view runs on a thread of its own under ASGI: with kept connections (CONN_MAX_AGE) instead
    of the pool, one worker left 82 backends open after 400 requests from 8 clients, and kept them."""
    import psycopg

    port = free_port()
    env = environment(tmp_path, DATABASE_URL=postgres_database, DATABASE_POOL_SIZE="4")
    manage(env, "migrate", "--noinput", "-v", "0")
    token, _ = api_user(env, "pooled")
    name = urlsplit(postgres_database).path.lstrip("/")

    def backends() -> int:
        with psycopg.connect(POSTGRES_URL) as admin:
            return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()[0]

    server = gunicorn(env, port, workers=1)
    try:
        wait_until_serving(server, port)
        failures = hammer(port, token, calls=40)
        assert not failures, failures[:3]
        assert 1 <= backends() <= 4
    finally:
        stop(server)
