"""The sandbox's own settings (`sandbox.settings`): what `runsandbox` and `sandboxapp` always run
under, without any of the app's apps, its variables read strictly."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import RequestFactory
from kiteconnect import KiteConnect

from sandbox.middleware import KiteErrorEnvelopeMiddleware
from tests.fixtures.sandbox import PROJECT_ROOT, TRADING_TIME, SandboxHandle, free_port, start_sandbox


def _bare_env(database: Path) -> dict[str, str]:
    """The environment of a user who set nothing but where the database is (no settings module,
    no SECRET_KEY, none of the app's keys)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "KITE_", "DATABASE_URL", "DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY"))}
    env.update({"KITE_SANDBOX_DATABASE_URL": f"sqlite:///{database}", "KITE_SANDBOX_RATE_LIMITS": "off",
                "PYTHONUNBUFFERED": "1"})
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_runsandbox_brings_its_own_database_up_by_itself_apart_from_the_apps(tmp_path):
    database = tmp_path / "fresh-sandbox.sqlite3"
    env = _bare_env(database) | {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}"}  # the app's, untouched
    handle = SandboxHandle(tmp_path, free_port(), env).start()  # no migrate beforehand
    try:
        assert handle.create_app()["api_key"]
    finally:
        handle.stop()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM sandbox_app").fetchone()[0] == 1
    assert not (tmp_path / "app.sqlite3").exists()


def test_the_sandbox_runs_on_its_own_settings_without_the_apps_apps(tmp_path):
    database = tmp_path / "sandbox.sqlite3"
    env = _bare_env(database)
    migrated = _manage("migrate", "--noinput", "-v", "0", env={**env, "DJANGO_SETTINGS_MODULE": "sandbox.settings"})
    assert migrated.returncode == 0, migrated.stderr
    with sqlite3.connect(database) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "sandbox_order" in tables
    assert not {t for t in tables if not t.startswith(("sandbox_", "django_migrations", "sqlite_"))}  # no auth_user

    created = _manage("sandboxapp", "--no-holdings", env=env)  # no DJANGO_SETTINGS_MODULE, no SECRET_KEY
    assert created.returncode == 0, created.stderr
    app = json.loads(created.stdout.strip().splitlines()[-1])

    handle = SandboxHandle(tmp_path, free_port(), env).start()  # runsandbox, told no settings module either
    try:
        handle.set_clock(TRADING_TIME)
        kite = KiteConnect(api_key=app["api_key"], root=handle.url, timeout=15)
        kite.set_access_token(kite.generate_session(handle.login(app["api_key"]), app["api_secret"])["access_token"])
        assert kite.holdings() == [] and kite.margins("equity")["net"] == 1_000_000
    finally:
        handle.stop()
    assert handle.returncode == 0


@pytest.mark.parametrize(("command", "variable", "value", "message"), [
    (["runsandbox", "--port", "0"], "KITE_SANDBOX_MARKET_ALWAYS_OPEN", "sometimes",
     "KITE_SANDBOX_MARKET_ALWAYS_OPEN='sometimes' is not on or off"),
    (["runsandbox", "--port", "0"], "KITE_SANDBOX_DATABASE_URL", "mongodb://db/kite",
     "KITE_SANDBOX_DATABASE_URL: unknown database scheme"),
    (["runsandbox", "--port", "0"], "CONN_MAX_AGE", "forever", "CONN_MAX_AGE='forever' is not a number"),
    (["runsandbox", "--port", "0"], "LOG_LEVEL", "loud", "LOG_LEVEL='loud' is not one of"),
    (["sandboxapp"], "KITE_SANDBOX_RATE_LIMITS", "of", "KITE_SANDBOX_RATE_LIMITS='of' is not on or off"),
], ids=["always-open", "database", "conn-max-age", "log-level", "sandboxapp"])
def test_a_bad_sandbox_variable_is_one_line(tmp_path, command, variable, value, message):
    result = _manage(*command, env={**_bare_env(tmp_path / "unused.sqlite3"), variable: value})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("Configuration error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_market_always_open_on_the_command_line(tmp_path):
    handle = start_sandbox(tmp_path, options=("--market-always-open",))
    try:
        assert "market always open" in handle.log_tail()
        handle.set_clock(TRADING_TIME.replace(hour=21))  # Wednesday evening: Kite's market is shut
        kite = handle.connect()
        order_id = kite.place_order(variety="regular", exchange="NSE", tradingsymbol="INFY", transaction_type="BUY",
                                    quantity=1, product="CNC", order_type="MARKET", market_protection=-1)
        assert kite.order_history(order_id)[-1]["status"] == "COMPLETE"
    finally:
        handle.stop()


def test_errors_from_outside_the_views_answer_kites_envelope():
    request = RequestFactory().get("/anything")
    html = KiteErrorEnvelopeMiddleware(lambda r: HttpResponse("<h1>Not Found</h1>", status=404))(request)
    assert html["Content-Type"] == "application/json"
    assert json.loads(html.content) == {"status": "error", "message": "Route not found", "data": None,
                                        "error_type": "GeneralException"}
    unavailable = KiteErrorEnvelopeMiddleware(lambda r: HttpResponse("down", status=503))(request)
    assert json.loads(unavailable.content)["error_type"] == "NetworkException" and unavailable.status_code == 503
    envelope = JsonResponse({"status": "error"}, status=400)
    assert KiteErrorEnvelopeMiddleware(lambda r: envelope)(request) is envelope
    page = HttpResponse("<p>Invalid api_key</p>", status=400)
    page.sandbox_page = True  # the login page's own error page
    assert KiteErrorEnvelopeMiddleware(lambda r: page)(request) is page
