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
        procs.append(subprocess.Popen([*gunicorn, "--bind", f"127.0.0.1:{sandbox_port}", "sandbox.wsgi:application"],
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
        from rest_framework.authtoken.models import Token

        from accounts.models import Account
        from kite import client as kite_client
        from kite.instruments import InstrumentIndex
        from kite.services.provisioning import sandbox_provision
        from kite.services.sessions import session_create

        user = get_user_model().objects.create_user("bench", password="bench-password-1")
        token = Token.objects.create(user=user).key
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

        results = {
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
        }
        targets = [
            ("execute p50 - direct p50 <= 3 ms", a50 - d50 <= 3.0),
            ("<= 2 queries per cached read", len(queries) <= 2),
            ("1 TCP connection per account per process", connections == 1),
            ("search p50 < 5 ms on 100,000 rows", s50 < 5.0),
            ("MCP get_holdings p50 - direct p50 <= 3 ms", m50 - d50 <= 3.0),
            ("MCP start-up to initialize < 1.5 s", startup < 1.5),
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
    sys.exit(main())
