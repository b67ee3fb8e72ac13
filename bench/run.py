#!/usr/bin/env python
"""`make bench`: the app's overhead over the official client, measured in one run on this machine.

Both servers run under gunicorn (gthread workers, keep-alive) on loopback, each on its own SQLite
file in a temporary folder, with rate limiting off on both sides (it would measure Kite's limits, not
us). Figures are percentiles of wall time per call, and ratios against the direct client, which is
the floor: nothing here is asserted by a test, because shared machines are noisy.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
N = int(os.environ.get("BENCH_N", "1000"))
WARMUP = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.95) - 1] * 1000


def timed(fn: Callable[[], object], n: int = N) -> list[float]:
    for _ in range(WARMUP):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def wait_for(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited early:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit(f"server did not start on {port}:\n{log.read_text()[-3000:]}")


class FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action") or ""
        elif tag in ("input", "button") and a.get("name") and a.get("type") != "checkbox":
            self.fields.setdefault(a["name"], a.get("value") or "")
        elif tag == "select":
            self.select = a.get("name")
        elif tag == "option" and self.select:
            if self.select not in self.fields or "selected" in a:
                self.fields[self.select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None


# --- the sandbox's reads, against the limit ------------------------------------------------------------------

# A 500-instrument quote's request line is ~8 KB, over gunicorn's default 4094 bytes.
SANDBOX_SERVER_OPTIONS = ("--limit-request-line", "0")
SANDBOX_ORDERS = int(os.environ.get("BENCH_SANDBOX_ORDERS", "1000"))
QUOTE_KEYS = 500
_BARE_BODIES: dict[str, bytes] = {}


def bare_app(environ: dict, start_response: Callable) -> list[bytes]:
    """The limit: a bare WSGI answer of the sandbox's own bytes for that path (BENCH_BARE_DIR)."""
    path = environ.get("PATH_INFO", "/")
    body = _BARE_BODIES.get(path)
    if body is None:
        name = Path(os.environ["BENCH_BARE_DIR"]) / (path.strip("/").replace("/", "_") or "root")
        body = _BARE_BODIES[path] = name.read_bytes() if name.exists() else b"{}"
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _p50_p99(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered) * 1000, 2),
            "p99": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 2)}


def sandbox_reads(sandbox_url: str, server: list[str], env: dict[str, str], work: Path) -> dict[str, object]:
    """holdings() and a 500-instrument quote() through the official client, with SANDBOX_ORDERS
    orders in the day, side by side with the same client reading the same bytes from a bare WSGI
    app under the same server (`server`, a command line ending where --bind goes): the ratio is the
    sandbox's own cost over the floor of HTTP and JSON."""
    import requests
    from kiteconnect import KiteConnect

    control = requests.Session()
    app = control.post(f"{sandbox_url}/sandbox/apps", json={"redirect_url": "http://127.0.0.1:9/cb",
                                                              "starting_cash": 1e9}).json()["data"]
    browser = requests.Session()
    page = browser.get(f"{sandbox_url}/connect/login", params={"v": "3", "api_key": app["api_key"]})
    form = FormParser()
    form.feed(page.text)
    answer = browser.post(urljoin(page.url, form.action or page.url), data=form.fields, allow_redirects=False)
    request_token = parse_qs(urlparse(answer.headers["Location"]).query)["request_token"][0]
    kite = KiteConnect(api_key=app["api_key"], root=sandbox_url)
    kite.set_access_token(kite.generate_session(request_token, api_secret=app["api_secret"])["access_token"])
    for i in range(SANDBOX_ORDERS):  # a busy day: most complete, the last ten rest in the book
        if i < SANDBOX_ORDERS - 10:
            kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                             quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
        else:
            kite.place_order(variety="regular", exchange="NSE", tradingsymbol="ITC", transaction_type="BUY",
                             quantity=1, product="CNC", order_type="LIMIT", price=100.0)
    keys = [f"NSE:{r['tradingsymbol']}" for r in kite.instruments("NSE") if r["segment"] == "NSE"][:QUOTE_KEYS]

    bare_dir = work / "bare"
    bare_dir.mkdir()
    auth = {"Authorization": f"token {app['api_key']}:{kite.access_token}", "X-Kite-Version": "3"}
    (bare_dir / "portfolio_holdings").write_bytes(requests.get(f"{sandbox_url}/portfolio/holdings",
                                                               headers=auth).content)
    (bare_dir / "quote").write_bytes(requests.get(f"{sandbox_url}/quote", params=[("i", k) for k in keys],
                                                  headers=auth).content)
    port = free_port()
    log = work / "bare.log"
    bare = subprocess.Popen([*server, "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT / "bench"), "run:bare_app"],
                            cwd=ROOT, env=dict(env, BENCH_BARE_DIR=str(bare_dir)), stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    try:
        wait_for(port, bare, log)
        floor = KiteConnect(api_key=app["api_key"], access_token=kite.access_token, root=f"http://127.0.0.1:{port}")
        n_holdings, n_quote = max(N, 200), max(N // 5, 50)
        figures: dict[str, object] = {}
        for name, client in (("sandbox", kite), ("bare_wsgi", floor)):
            figures[f"{name}_holdings_ms"] = _p50_p99(timed(client.holdings, n_holdings))
            figures[f"{name}_quote_{QUOTE_KEYS}_ms"] = _p50_p99(timed(lambda c=client: c.quote(keys), n_quote))
    finally:
        bare.send_signal(signal.SIGTERM)
        bare.wait(timeout=10)
    for call in ("holdings", f"quote_{QUOTE_KEYS}"):
        s, b = figures[f"sandbox_{call}_ms"], figures[f"bare_wsgi_{call}_ms"]
        figures[f"sandbox_over_bare_{call}_p50_ratio"] = round(s["p50"] / b["p50"], 2)
        figures[f"sandbox_minus_bare_{call}_p50_ms"] = round(s["p50"] - b["p50"], 2)
    figures["sandbox_orders_in_the_day"] = SANDBOX_ORDERS
    return figures


def sandbox_only() -> int:
    """`python bench/run.py sandbox`: just the sandbox's read figures (its own gunicorn, fresh database)."""
    work = Path(tempfile.mkdtemp(prefix="kitedesk-bench-sandbox-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "KITE_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "sandbox.settings", "KITE_SANDBOX_RATE_LIMITS": "off",
                "KITE_SANDBOX_MARKET_ALWAYS_OPEN": "on", "LOG_LEVEL": "WARNING",
                "KITE_SANDBOX_DATABASE_URL": f"sqlite:///{work / 'sandbox.sqlite3'}"})
    server = [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1", "--threads", "4",
              "--keep-alive", "30", "--log-level", "warning", *SANDBOX_SERVER_OPTIONS]
    port = free_port()
    log = work / "sandbox.log"
    proc = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        proc = subprocess.Popen([*server, "--bind", f"127.0.0.1:{port}", "sandbox.wsgi:application"], cwd=ROOT,
                                env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        wait_for(port, proc, log)
        figures = sandbox_reads(f"http://127.0.0.1:{port}", server, env, work)
        print(json.dumps(figures, indent=2))
        return 0
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


# --- the production server: 10,000 calls at 8 concurrency; one user's burst against another's latency ---------

PROD_N = int(os.environ.get("BENCH_PROD_N", "10000"))
PROD_CONCURRENCY = 8
B_CALLS = int(os.environ.get("BENCH_B_CALLS", "200"))  # the other user: one call every B_GAP s, well in its budget
B_GAP = 0.15
SERVE = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn_conf.py", "config.asgi:application"]  # make serve


def _redis_for_bench() -> str:
    """BENCH_REDIS_URL (default 127.0.0.1:6379) if a Redis answers there, else "" (then one worker, local cache)."""
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return url if s.recv(16).startswith(b"+PONG") else ""
    except OSError:
        return ""


def _connected_account(username: str, sandbox_url: str) -> tuple[str, int]:
    """A user with a connected sandbox account and an API token (in this process, on the app's database)."""
    import requests
    from django.contrib.auth import get_user_model

    from accounts.models import Account
    from accounts.tokens import api_token_create
    from kite.services.provisioning import sandbox_provision
    from kite.services.sessions import session_create

    user = get_user_model().objects.create_user(username, password="bench-password-1")
    account = sandbox_provision(account=Account.objects.create(user=user, name=username, environment="sandbox"))
    browser = requests.Session()
    page = browser.get(f"{sandbox_url}/connect/login", params={"v": "3", "api_key": account.api_key})
    form = FormParser()
    form.feed(page.text)
    answer = browser.post(urljoin(page.url, form.action or page.url), data=form.fields, allow_redirects=False)
    session_create(account=account, request_token=parse_qs(urlparse(answer.headers["Location"]).query)
                   ["request_token"][0])
    return api_token_create(user=user)[0], account.pk


def _calls(url: str, token: str, body: dict, n: int, concurrency: int, gap: float = 0.0,
           until: Callable[[], bool] | None = None) -> tuple[list[float], dict[str, int]]:
    """n POSTs of `body` to /api/kite/execute from `concurrency` clients (or until `until()`): the wall time of
    each that answered 200, and a count of every answer by status (and error type)."""
    import threading

    import requests

    samples: list[float] = []
    answers: dict[str, int] = {}
    lock = threading.Lock()
    left = iter(range(n))

    def client() -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Token {token}"
        while (until is None or not until()) and next(left, None) is not None:
            started = time.perf_counter()
            try:
                r = http.post(f"{url}/api/kite/execute", json=body, timeout=60)
                kind = str(r.status_code) if r.status_code == 200 else f"{r.status_code} {r.json()['error']['type']}"
            except (requests.RequestException, ValueError, KeyError) as exc:
                kind = type(exc).__name__
            took = time.perf_counter() - started
            with lock:
                answers[kind] = answers.get(kind, 0) + 1
                if kind == "200":
                    samples.append(took)
            if gap:
                time.sleep(gap)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples, answers


def _during_a_storm(url: str, token_a: str, account_a: int, token_b: str, holdings_b: dict
                    ) -> tuple[list[float], dict[str, int], dict[str, int]]:
    """User B's calls while user A's 8 clients ask for quotes as fast as they can."""
    import threading

    done = threading.Event()
    storm: dict[str, int] = {}
    ltp = {"tool": "get_ltp", "args": {"account_id": account_a, "instruments": ["NSE:INFY"]}}

    def burst() -> None:
        storm.update(_calls(url, token_a, ltp, 10**9, PROD_CONCURRENCY, until=done.is_set)[1])

    storm_thread = threading.Thread(target=burst)
    storm_thread.start()
    time.sleep(1.0)  # the storm is on before B starts
    during, b_answers = _calls(url, token_b, holdings_b, B_CALLS, 1, gap=B_GAP)
    done.set()
    storm_thread.join()
    return during, b_answers, storm


def production_server(*, app_env: dict[str, str], sandbox_url: str, work: Path) -> dict[str, object]:
    """The app under `make serve`'s command: PROD_N get_holdings at 8 concurrency (rate limiting off: it would
    measure Kite's limits), then, with Kite's limits paced, user B's latency alone and during user A's quote
    storm (8 clients asking get_ltp as fast as they can; Kite allows one quote a second per key)."""
    redis = _redis_for_bench()
    env = dict(app_env, WORKERS="2" if redis else "1", **({"REDIS_URL": redis} if redis else {}))
    token_a, account_a = _connected_account("bench-a", sandbox_url)
    token_b, account_b = _connected_account("bench-b", sandbox_url)
    holdings_b = {"tool": "get_holdings", "args": {"account_id": account_b}}
    figures: dict[str, object] = {"workers": int(env["WORKERS"]), "redis": bool(redis)}
    for phase, limits in (("throughput", "off"), ("burst", "on")):
        port = free_port()
        log = work / f"production-{phase}.log"
        server = subprocess.Popen(SERVE, cwd=ROOT, env=dict(env, BIND=f"127.0.0.1:{port}", KITE_RATE_LIMITS=limits,
                                                            LOG_LEVEL="WARNING"),
                                  stdout=subprocess.DEVNULL, stderr=log.open("w"))
        try:
            wait_for(port, server, log, timeout=90)
            url = f"http://127.0.0.1:{port}"
            _calls(url, token_b, holdings_b, 20, 1)  # every worker warm
            if phase == "throughput":
                started = time.perf_counter()
                samples, answers = _calls(url, token_a, {"tool": "get_holdings", "args": {"account_id": account_a}},
                                          PROD_N, PROD_CONCURRENCY)
                elapsed = time.perf_counter() - started
                figures[f"execute_get_holdings_{PROD_N}_calls_at_{PROD_CONCURRENCY}_ms"] = _p50_p99(samples)
                figures["execute_calls_per_second"] = round(len(samples) / elapsed)
                figures["execute_errors"] = sum(v for k, v in answers.items() if k != "200")
                continue
            alone, _ = _calls(url, token_b, holdings_b, B_CALLS, 1, gap=B_GAP)
            during, b_answers, storm = _during_a_storm(url, token_a, account_a, token_b, holdings_b)
            figures["user_b_get_holdings_alone_ms"] = _p50_p99(alone)
            figures["user_b_get_holdings_during_a_quote_storm_ms"] = _p50_p99(during)
            figures["user_b_errors_during_storm"] = sum(v for k, v in b_answers.items() if k != "200")
            figures["user_a_quote_storm_answers"] = storm
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    return figures


def mcp_over_http(*, app_env: dict[str, str], user: object, account_id: int, api_token: str,
                  work: Path) -> dict[str, object]:
    """`get_holdings` over the remote MCP server (`/mcp`, streamable HTTP, an OAuth bearer token) beside the
    same call over `POST /api/kite/execute`, both under `make serve`'s server (one uvicorn worker)."""
    import secrets as _secrets
    from datetime import timedelta

    import anyio
    import httpx2
    import requests
    from django.utils import timezone
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from oauth2_provider.models import AccessToken, Application, set_token_value

    app = Application.objects.create(name="bench", client_type="public", authorization_grant_type="authorization-code",
                                     redirect_uris="http://127.0.0.1:9/callback")
    bearer = _secrets.token_urlsafe(30)
    token = AccessToken(user=user, application=app, scope="kite:read", expires=timezone.now() + timedelta(hours=1))
    set_token_value(token, bearer)
    token.save()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "asgi.log"
    server = subprocess.Popen(SERVE, cwd=ROOT, env=dict(app_env, BIND=f"127.0.0.1:{port}", WORKERS="1",
                                                        APP_BASE_URL=url, ALLOWED_HOSTS="127.0.0.1"),
                              stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for(port, server, log, timeout=90)
        http = requests.Session()
        http.headers["Authorization"] = f"Token {api_token}"
        body = {"tool": "get_holdings", "args": {"account_id": account_id}}

        def via_rest() -> None:
            http.post(f"{url}/api/kite/execute", json=body).raise_for_status()

        rest = timed(via_rest)

        class Bearer(httpx2.Auth):
            def auth_flow(self, request: httpx2.Request):  # noqa: ANN202 - httpx's generator protocol
                request.headers["Authorization"] = f"Bearer {bearer}"
                yield request

        async def calls() -> list[float]:
            async with httpx2.AsyncClient(auth=Bearer(), timeout=30) as client:
                async with Client(streamable_http_client(f"{url}/mcp", http_client=client)) as session:
                    samples = []
                    for i in range(WARMUP + N):
                        started = time.perf_counter()
                        result = await session.call_tool("get_holdings", {"account_id": account_id})
                        if result.is_error:
                            raise RuntimeError(f"get_holdings over /mcp failed: {result.content}")
                        if i >= WARMUP:
                            samples.append(time.perf_counter() - started)
                    return samples

        mcp = anyio.run(calls)
        return {"asgi_execute_get_holdings_ms": _p50_p99(rest), "mcp_http_get_holdings_ms": _p50_p99(mcp)}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def production_only() -> int:
    """`python bench/run.py production`: just the production-server figures (a sandbox and app of their own)."""
    from cryptography.fernet import Fernet

    work = Path(tempfile.mkdtemp(prefix="kitedesk-bench-production-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "KITE_", "REDIS_"))}
    env.update({"DEBUG": "off", "SECRET_KEY": "bench-" + "x" * 40,
                "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(), "KITE_SANDBOX_RATE_LIMITS": "off",
                "KITE_SANDBOX_MARKET_ALWAYS_OPEN": "on", "LOG_LEVEL": "WARNING"})
    sandbox_port, app_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox_env = dict(env, DJANGO_SETTINGS_MODULE="sandbox.settings",
                       KITE_SANDBOX_DATABASE_URL=f"sqlite:///{work / 'sandbox.sqlite3'}")
    app_env = dict(env, DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=f"sqlite:///{work / 'app.sqlite3'}",
                   KITE_SANDBOX_URL=sandbox_url, APP_BASE_URL=f"http://127.0.0.1:{app_port}",
                   STATIC_ROOT=str(work / "static"))
    proc = None
    try:
        for e in (sandbox_env, app_env):
            subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=e, check=True)
        log = work / "sandbox.log"
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
                                 "--threads", "8", "--keep-alive", "30", "--log-level", "warning",
                                 "--bind", f"127.0.0.1:{sandbox_port}", "sandbox.wsgi:application"],
                                cwd=ROOT, env=sandbox_env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        wait_for(sandbox_port, proc, log)
        os.environ.update(app_env)
        import django

        django.setup()
        figures = production_server(app_env=app_env, sandbox_url=sandbox_url, work=work)
        print(json.dumps(figures, indent=2))
        return 0 if figures["execute_errors"] == 0 and figures["user_b_errors_during_storm"] == 0 else 1
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    import requests
    from cryptography.fernet import Fernet

    work = Path(tempfile.mkdtemp(prefix="kitedesk-bench-"))
    procs: list[subprocess.Popen] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "KITE_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "off", "SECRET_KEY": "bench-" + "x" * 40,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(), "KITE_RATE_LIMITS": "off",
        "KITE_SANDBOX_RATE_LIMITS": "off", "KITE_SANDBOX_MARKET_ALWAYS_OPEN": "on", "LOG_LEVEL": "WARNING",
    })
    sandbox_port, app_port = free_port(), free_port()
    sandbox_url, app_url = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{app_port}"
    # The sandbox runs under its own settings (sandbox.wsgi always does; migrate is told).
    sandbox_env = dict(env, DJANGO_SETTINGS_MODULE="sandbox.settings",
                       KITE_SANDBOX_DATABASE_URL=f"sqlite:///{work / 'sandbox.sqlite3'}")
    app_env = dict(env, DATABASE_URL=f"sqlite:///{work / 'app.sqlite3'}", KITE_SANDBOX_URL=sandbox_url,
                   APP_BASE_URL=app_url)
    python = sys.executable
    gunicorn = [python, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1", "--threads", "4",
                "--keep-alive", "30", "--log-level", "warning"]
    try:
        for e in (sandbox_env, app_env):
            subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=e, check=True)
        log = work / "sandbox.log"
        procs.append(subprocess.Popen([*gunicorn, *SANDBOX_SERVER_OPTIONS, "--bind", f"127.0.0.1:{sandbox_port}",
                                       "sandbox.wsgi:application"],
                                      cwd=ROOT, env=sandbox_env, stdout=log.open("w"), stderr=subprocess.STDOUT))
        wait_for(sandbox_port, procs[-1], log)

        # The app's side, set up in this process on the app's database.
        os.environ.update(app_env)
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from kiteconnect import KiteConnect

        from accounts.models import Account
        from accounts.tokens import api_token_create
        from kite import client as kite_client
        from kite.instruments import InstrumentIndex
        from kite.services.provisioning import sandbox_provision
        from kite.services.sessions import session_create

        user = get_user_model().objects.create_user("bench", password="bench-password-1")
        token = api_token_create(user=user)[0]
        account = sandbox_provision(account=Account.objects.create(user=user, name="Bench",
                                                                            environment="sandbox"))
        browser = requests.Session()
        page = browser.get(f"{sandbox_url}/connect/login", params={"v": "3", "api_key": account.api_key})
        form = FormParser()
        form.feed(page.text)
        answer = browser.post(urljoin(page.url, form.action or page.url), data=form.fields, allow_redirects=False)
        request_token = parse_qs(urlparse(answer.headers["Location"]).query)["request_token"][0]
        account = session_create(account=account, request_token=request_token)

        log = work / "app.log"
        procs.append(subprocess.Popen([*gunicorn, "--bind", f"127.0.0.1:{app_port}", "config.wsgi:application"],
                                      cwd=ROOT, env=app_env, stdout=log.open("w"), stderr=subprocess.STDOUT))
        wait_for(app_port, procs[-1], log)

        results: dict[str, object] = {}
        direct = KiteConnect(api_key=account.api_key, access_token=account.access_token, root=sandbox_url)
        d50, d95 = percentiles(timed(direct.holdings))

        http = requests.Session()
        http.headers["Authorization"] = f"Token {token}"
        body = {"tool": "get_holdings", "args": {"account_id": account.id}}

        def via_app() -> None:
            r = http.post(f"{app_url}/api/kite/execute", json=body)
            r.raise_for_status()

        a50, a95 = percentiles(timed(via_app))

        # Queries and TCP connections, counted in this process on the same code path.
        client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
        kite_client.forget_all_clients()

        def in_process() -> None:
            r = client.post("/api/kite/execute", body, content_type="application/json")
            assert r.status_code == 200, r.content

        in_process()
        queries: list[str] = []

        def count(execute, sql, params, many, context):  # every query this thread sends, whatever DEBUG says
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            in_process()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(timed, in_process, N)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            i50 = 0.0
        else:
            i50, _ = percentiles(timed(in_process, n=N))
        pools = kite_client.client_for(Account.objects.get(pk=account.pk)).reqsession.get_adapter(
            sandbox_url).poolmanager.pools
        connections = sum(pools[key].num_connections for key in pools.keys())

        rng = random.Random(7)
        rows = [{"instrument_token": i, "exchange_token": str(i), "tradingsymbol": "".join(
            rng.choices(string.ascii_uppercase, k=rng.randint(3, 12))), "name": " ".join(
            "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 9))) for _ in range(rng.randint(1, 4))),
            "last_price": 0.0, "expiry": "", "strike": 0.0, "tick_size": 0.05, "lot_size": 1,
            "instrument_type": "EQ", "segment": "NSE", "exchange": rng.choice(["NSE", "BSE", "NFO"])}
            for i in range(100_000)]
        started = time.perf_counter()
        index = InstrumentIndex(rows)
        build_ms = (time.perf_counter() - started) * 1000
        queries_list = [r["tradingsymbol"][: rng.randint(1, 6)] for r in rng.sample(rows, 200)] + \
            [r["name"].split()[0][:4] for r in rng.sample(rows, 100)] + ["A", "ZZZZZZZZ", "RELIANCE INDUSTRIES"]
        qi = iter(queries_list * (N // len(queries_list) + 2))
        s50, s95 = percentiles(timed(lambda: index.search(next(qi), limit=20)))

        # The MCP server over stdio, as a client sees it (mcp_bridge.bench spawns `manage.py runmcp`).
        import anyio

        from mcp_bridge import bench as mcp_bench

        os.environ["KITE_MCP_USER"] = user.get_username()
        mcp = anyio.run(mcp_bench.run, 5, N, "get_holdings", {"account_id": account.id})
        m50 = mcp["get_holdings_s"]["p50"] * 1000
        startup = mcp["startup_to_initialize_s"]["p50"]

        remote = mcp_over_http(app_env=dict(app_env, STATIC_ROOT=str(work / "static")), user=user,
                               account_id=account.id, api_token=token, work=work)
        sandbox = sandbox_reads(sandbox_url, [*gunicorn, *SANDBOX_SERVER_OPTIONS], sandbox_env, work)
        production = production_server(app_env=dict(app_env, STATIC_ROOT=str(work / "static")),
                                       sandbox_url=sandbox_url, work=work)
        results = {
            **sandbox,
            "direct_client_get_holdings_ms": {"p50": round(d50, 2), "p95": round(d95, 2)},
            "app_execute_get_holdings_ms": {"p50": round(a50, 2), "p95": round(a95, 2)},
            "execute_minus_direct_p50_ms": round(a50 - d50, 2),
            "execute_over_direct_p50_ratio": round(a50 / d50, 2),
            # The same call through Django's test client in this process: the app's own work, without the
            # extra HTTP hop (client, gunicorn, loopback) that the line above also pays.
            "in_process_execute_minus_direct_p50_ms": round(i50 - d50, 2),
            "db_queries_per_cached_read": len(queries),
            "tcp_connections_to_kite_per_account_after_calls": connections,
            "calls_on_that_account_in_process": N + WARMUP + 2,
            "search_100k_rows_ms": {"p50": round(s50, 3), "p95": round(s95, 3), "index_build_ms": round(build_ms)},
            "mcp_get_holdings_ms": {"p50": round(m50, 2), "p95": round(mcp["get_holdings_s"]["p95"] * 1000, 2)},
            "mcp_minus_direct_p50_ms": round(m50 - d50, 2),
            "mcp_startup_to_initialize_s": {"p50": round(startup, 3), "max": round(
                max(mcp["startup_to_initialize_s"]["p50"], mcp["startup_to_initialize_s"]["p95"]), 3)},
            # Under `make serve`'s ASGI server: REST and the remote MCP server side by side.
            **remote,
            "mcp_http_minus_direct_p50_ms": round(remote["mcp_http_get_holdings_ms"]["p50"] - d50, 2),
            "production_server": production,
        }
        targets = [
            ("execute p50 - direct p50 <= 3 ms", a50 - d50 <= 3.0),
            ("<= 2 queries per cached read", len(queries) <= 2),
            ("1 TCP connection per account per process", connections == 1),
            ("search p50 < 5 ms on 100,000 rows", s50 < 5.0),
            ("MCP get_holdings p50 - direct p50 <= 3 ms", m50 - d50 <= 3.0),
            ("MCP start-up to initialize < 1.5 s", startup < 1.5),
            ("sandbox holdings() p50 <= 3 ms", sandbox["sandbox_holdings_ms"]["p50"] <= 3.0),
            (f"production server: {PROD_N} execute calls at {PROD_CONCURRENCY} concurrency, 0 errors",
             production["execute_errors"] == 0),
            ("user B's p99 during user A's quote storm <= 2x its p99 alone, and no error",
             production["user_b_get_holdings_during_a_quote_storm_ms"]["p99"]
             <= 2 * production["user_b_get_holdings_alone_ms"]["p99"]
             and production["user_b_errors_during_storm"] == 0),
            (f"sandbox {QUOTE_KEYS}-instrument quote() p50 <= 30 ms",
             sandbox[f"sandbox_quote_{QUOTE_KEYS}_ms"]["p50"] <= 30.0),
        ]
        print(json.dumps(results, indent=2))
        for name, passed in targets:
            print(f"{'ok  ' if passed else 'MISS'} {name}")
        return 0 if all(p for _, p in targets) else 1
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    modes = {"sandbox": sandbox_only, "production": production_only}
    sys.exit(modes[sys.argv[1]]() if sys.argv[1:2] and sys.argv[1] in modes else main())
