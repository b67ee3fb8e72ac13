"""The production server (`make serve`: gunicorn with uvicorn workers serving config.asgi) refuses to start
on a bad configuration, with one line saying why, serves styled pages with its security headers on a good
one, keeps serving while fifty slow clients hold connections, and writes no secret to its access log."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()
SECRET = "prod-test-secret-" + "s" * 40
BOOT_SECONDS = 60


def environment(tmp_path: Path, **overrides: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "KITE_", "DATABASE_URL", "DEBUG", "FIELD_", "SECRET_KEY", "SECURE_",
                                 "STATIC_ROOT", "APP_BASE_URL", "TRUST_", "SESSION_", "CSRF_"))}
    base.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "off", "SECRET_KEY": SECRET,
                 "FIELD_ENCRYPTION_KEY": KEY, "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite3'}",
                 "STATIC_ROOT": str(tmp_path / "static"), "LOG_LEVEL": "WARNING"})
    base.update(overrides)
    return base


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE = ["-m", "gunicorn", "-c", "config/gunicorn_conf.py", "config.asgi:application"]  # `make serve`'s command


def gunicorn(env: dict[str, str], port: int, workers: int = 1) -> subprocess.Popen:
    """The server `make serve` starts, on `port`."""
    return subprocess.Popen([sys.executable, *SERVE], cwd=ROOT,
                            env={**env, "BIND": f"127.0.0.1:{port}", "WORKERS": str(workers)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_serving(process: subprocess.Popen, port: int) -> requests.Response:
    deadline = time.monotonic() + BOOT_SECONDS
    while True:
        assert process.poll() is None, process.communicate()
        try:
            return requests.get(f"http://127.0.0.1:{port}/login/", timeout=5)
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or no worker booted yet
            assert time.monotonic() < deadline, "gunicorn did not answer"
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> tuple[str, str]:
    process.terminate()
    return process.communicate(timeout=30)


def api_user(env: dict[str, str], username: str) -> tuple[str, str]:
    """A user in env's database: (their API token, a signed-in session id)."""
    made = manage(env, "shell", "-c", "from django.contrib.auth import get_user_model; from django.test import Client; "
                  "from accounts.tokens import api_token_create; "
                  f"user = get_user_model().objects.create_user({username!r}, password='pw-123456789'); "
                  "browser = Client(); browser.force_login(user); "
                  "print(api_token_create(user=user)[0], browser.cookies['sessionid'].value)")
    token, session = made.stdout.strip().splitlines()[-1].split()
    return token, session


def hammer(port: int, token: str, *, clients: int = 8, calls: int = 50) -> list[str]:
    """`clients` threads at once, each making `calls` authenticated GETs of /api/kite/accounts; what failed."""
    import threading

    failures: list[str] = []

    def client() -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Token {token}"
        for _ in range(calls):
            answer = http.get(f"http://127.0.0.1:{port}/api/kite/accounts", timeout=60)
            if answer.status_code != 200:
                failures.append(f"{answer.status_code} {answer.text[:200]}")
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failures


def refused(env: dict[str, str]) -> str:
    """Start gunicorn; it must exit by itself, non-zero, within BOOT_SECONDS. Returns what it printed."""
    process = gunicorn(env, free_port())
    try:
        out, err = process.communicate(timeout=BOOT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("gunicorn kept running on a bad configuration")
    assert process.returncode != 0
    return out + err


def store_an_account(env: dict[str, str]) -> None:
    """A migrated database with one account whose credentials are encrypted under env's key."""
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "shell", "-c", (
        "from django.contrib.auth import get_user_model; from accounts.models import Account; "
        "u = get_user_model().objects.create_user('owner', password='pw-123456789'); "
        "Account.objects.create(user=u, name='Main', api_key='storedkey1234', api_secret='storedsecret99')"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"KITE_RATE_LIMITS": "sometimes"}, "Configuration error: KITE_RATE_LIMITS='sometimes' is not on or off"),
        ({"FIELD_ENCRYPTION_KEY": ""}, "Configuration error: accounts.E001: FIELD_ENCRYPTION_KEY is not set."),
        ({"FIELD_ENCRYPTION_KEY": "not-a-key"}, "accounts.E001: FIELD_ENCRYPTION_KEY key #1 is not a valid Fernet"),
        ({"SECRET_KEY": ""}, "Configuration error: config.E001: SECRET_KEY is not set"),
        ({"SECURE_HSTS_SECONDS": "1y"}, "Configuration error: SECURE_HSTS_SECONDS='1y' is not a whole number."),
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "Configuration error: REDIS_URL='http://127.0.0.1:6379' is not a "
                                                 "Redis URL"),
    ],
)
def test_gunicorn_refuses_to_start_on_a_bad_configuration_saying_why(tmp_path, overrides, message):
    printed = refused(environment(tmp_path, **overrides))
    assert message in printed
    assert "Traceback" not in printed
    assert SECRET not in printed and KEY not in printed


def test_gunicorn_refuses_to_start_when_the_redis_of_redis_url_does_not_answer(tmp_path):
    url = f"redis://:hunter2pass@127.0.0.1:{free_port()}/0"  # nothing listens there
    printed = refused(environment(tmp_path, REDIS_URL=url))
    assert (f"Configuration error: REDIS_URL='{url.replace('hunter2pass', '***')}' does not answer "
            "(ConnectionError): start Redis there, or unset REDIS_URL") in printed
    assert "Traceback" not in printed and "hunter2pass" not in printed


def test_gunicorn_refuses_a_valid_key_that_is_not_the_one_the_credentials_were_written_with(tmp_path):
    store_an_account(environment(tmp_path, FIELD_ENCRYPTION_KEY=KEY))
    printed = refused(environment(tmp_path, FIELD_ENCRYPTION_KEY=OTHER_KEY))
    assert ("Configuration error: accounts.E002: FIELD_ENCRYPTION_KEY does not decrypt the stored credentials "
            "(it is not the key they were written with).") in printed
    assert "Traceback" not in printed and OTHER_KEY not in printed and "storedsecret" not in printed


def test_gunicorn_serves_styled_pages_with_its_security_headers_on_a_good_configuration(tmp_path):
    env = environment(tmp_path)
    store_an_account(env)  # the key check runs, and passes, on real stored credentials
    manage(env, "collectstatic", "--noinput", "-v", "0")
    port = free_port()
    process = gunicorn(env, port)
    try:
        page = wait_until_serving(process, port)
        assert page.status_code == 200
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy
        for asset, kind in (("app.css", "text/css"), ("app.js", "javascript")):
            answer = requests.get(f"http://127.0.0.1:{port}/static/{asset}", timeout=5)
            assert answer.status_code == 200 and kind in answer.headers["Content-Type"], asset
            assert f"/static/{asset}" in page.text
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.parametrize(("workers", "message"), [
    ("many", "Configuration error: WORKERS='many' is not a whole number from 1 to 64."),
    ("3", "Configuration error: WORKERS=3 needs REDIS_URL: without it each worker paces Kite's rate limits on its "
          "own (1 quote call a second, 10 orders: 3 workers together go over them"),
])
def test_a_bad_worker_count_stops_the_server_saying_why(tmp_path, workers, message):
    process = subprocess.run([sys.executable, *SERVE], cwd=ROOT, env={**environment(tmp_path), "WORKERS": workers},
                             capture_output=True, text=True, timeout=BOOT_SECONDS)
    assert process.returncode != 0
    assert message in process.stderr
    assert "Traceback" not in process.stderr


def test_without_redis_url_the_server_runs_one_worker(tmp_path):
    env = {k: v for k, v in environment(tmp_path).items() if k not in ("WORKERS", "REDIS_URL")}
    port = free_port()
    process = subprocess.Popen([sys.executable, *SERVE], cwd=ROOT, env={**env, "BIND": f"127.0.0.1:{port}"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_serving(process, port)
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        assert len(children) == 1
    finally:
        stop(process)


def test_make_serve_starts_with_its_defaults_and_no_redis(tmp_path):
    """The documented command itself (collectstatic, migrate, gunicorn): its WORKERS default must be one the
    server accepts without REDIS_URL."""
    import signal

    env = {k: v for k, v in environment(tmp_path).items() if k not in ("WORKERS", "REDIS_URL", "MAKEFLAGS")}
    port = free_port()
    process = subprocess.Popen(["make", "--no-print-directory", "serve", f"BIND=127.0.0.1:{port}"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert wait_until_serving(process, port).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert "Configuration error" not in out + err


SLOW_CLIENTS = 50


def test_the_documented_server_keeps_answering_while_fifty_slow_clients_hold_connections(tmp_path):
    """50 sockets each send a request one byte at a time, slowly (slowloris); a normal client, one worker
    process, is still answered, and the slow ones are too once they have finished."""
    env = environment(tmp_path)
    manage(env, "migrate", "--noinput", "-v", "0")
    port = free_port()
    process = gunicorn(env, port)
    request = f"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    sockets: list[socket.socket] = []
    try:
        wait_until_serving(process, port)
        for _ in range(SLOW_CLIENTS):
            slow = socket.create_connection(("127.0.0.1", port), timeout=30)
            slow.sendall(request[:1])
            sockets.append(slow)
        for position in range(1, len(request) // 2):  # every slow client half way through its request
            for slow in sockets:
                slow.sendall(request[position:position + 1])
            time.sleep(0.02)
        # A worker that gave each slow client a thread (gthread: 1 x 4) would have none left for this one.
        normal = requests.get(f"http://127.0.0.1:{port}/login/", timeout=15)
        assert normal.status_code == 200
        for slow in sockets:
            slow.sendall(request[len(request) // 2:])
        answered = 0
        for slow in sockets:
            first_line = slow.makefile("rb").readline()
            answered += first_line.startswith(b"HTTP/1.1 200")
        assert answered == SLOW_CLIENTS
    finally:
        for slow in sockets:
            slow.close()
        stop(process)


def test_the_access_log_of_the_documented_server_keeps_no_token_state_or_secret(tmp_path):
    env = environment(tmp_path)
    manage(env, "migrate", "--noinput", "-v", "0")
    port = free_port()
    process = gunicorn(env, port)
    secrets = ["RTOKEN1234secret", "STATE5678secret", "ACCESS9abcsecret", "APISECRETdefsecret", "OAUTHCODEsecret",
               "NEXTRTsecret", "NEXTSTATEsecret"]
    try:
        wait_until_serving(process, port)
        base = f"http://127.0.0.1:{port}"
        requests.get(f"{base}/kite/callback?request_token={secrets[0]}&status=success&state={secrets[1]}",
                     timeout=10, allow_redirects=False)
        requests.get(f"{base}/api/kite/accounts?access_token={secrets[2]}&api_secret={secrets[3]}", timeout=10)
        requests.get(f"{base}/login/?code={secrets[4]}", timeout=10)
        requests.get(f"{base}/login/?next=/kite/callback%3Frequest_token%3D{secrets[5]}%26state%3D{secrets[6]}",
                     timeout=10)
    finally:
        out, err = stop(process)
    log = out + err
    assert log.count("GET /kite/callback?request_token=[redacted]&status=success&state=[redacted]") == 1, log
    assert "/api/kite/accounts?access_token=[redacted]&api_secret=[redacted]" in log
    for secret in secrets:
        assert secret not in log


ASGI_IN_AN_EVENT_LOOP = "import asyncio\nasync def main():\n    import config.asgi\nasyncio.run(main())\n"


def test_the_asgi_application_runs_the_same_checks_even_inside_an_event_loop(tmp_path):
    store_an_account(environment(tmp_path, FIELD_ENCRYPTION_KEY=KEY))
    good = subprocess.run([sys.executable, "-c", ASGI_IN_AN_EVENT_LOOP], cwd=ROOT, env=environment(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr  # database checks ran off the event loop
    bad = subprocess.run([sys.executable, "-c", ASGI_IN_AN_EVENT_LOOP], cwd=ROOT,
                         env=environment(tmp_path, FIELD_ENCRYPTION_KEY=OTHER_KEY), capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode != 0 and "StartupRefused" in bad.stderr and "accounts.E002" in bad.stderr


def production_settings(tmp_path: Path, **overrides: str) -> dict:
    names = ("SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
             "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS", "STATIC_ROOT")
    code = ("import json; from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))")
    return json.loads(manage(environment(tmp_path, **overrides), "shell", "-c", code).stdout.splitlines()[-1])


def test_production_settings_default_to_off_and_secure_cookies_follow_an_https_base_url(tmp_path):
    plain = production_settings(tmp_path, APP_BASE_URL="http://127.0.0.1:8000")
    assert plain == {"SECURE_HSTS_SECONDS": 0, "SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False,
                     "CSRF_COOKIE_SECURE": False, "SECURE_PROXY_SSL_HEADER": None,
                     "CSRF_TRUSTED_ORIGINS": ["http://127.0.0.1:8000"], "STATIC_ROOT": str(tmp_path / "static")}
    https = production_settings(tmp_path, APP_BASE_URL="https://desk.example/app/")
    assert (https["SESSION_COOKIE_SECURE"], https["CSRF_COOKIE_SECURE"]) == (True, True)
    assert https["CSRF_TRUSTED_ORIGINS"] == ["https://desk.example"]
    debug = production_settings(tmp_path, APP_BASE_URL="https://desk.example", DEBUG="on")
    assert (debug["SESSION_COOKIE_SECURE"], debug["CSRF_COOKIE_SECURE"]) == (False, False)


def test_production_settings_are_read_from_the_environment(tmp_path):
    chosen = production_settings(tmp_path, APP_BASE_URL="https://desk.example", SECURE_HSTS_SECONDS="31536000",
                                 SECURE_SSL_REDIRECT="on", TRUST_X_FORWARDED_PROTO="on",
                                 SESSION_COOKIE_SECURE="off", CSRF_COOKIE_SECURE="off")
    assert chosen["SECURE_HSTS_SECONDS"] == 31536000 and chosen["SECURE_SSL_REDIRECT"] is True
    assert chosen["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (chosen["SESSION_COOKIE_SECURE"], chosen["CSRF_COOKIE_SECURE"]) == (False, False)


def test_under_the_asgi_server_database_connections_stay_bounded_on_sync_and_streaming_requests(tmp_path):
    """Sync pages and API calls run on a fixed pool of threads, which keep their connections; a request of
    Django's ASGI handler (the live stream) runs on a thread of its own and closes its connections. Before, every
    request went through the ASGI handler and kept a connection on a thread that was gone: 94 descriptors of the
    SQLite file were open after 400 requests."""
    from config.threaded import WEB_THREADS

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("counts the worker's open files through /proc (Linux)")
    env = environment(tmp_path, CONN_MAX_AGE="600")
    database = tmp_path / "app.sqlite3"
    manage(env, "migrate", "--noinput", "-v", "0")
    token, session = api_user(env, "asgi")
    port = free_port()
    server = gunicorn(env, port)

    def open_database_files() -> int:
        workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
        assert workers
        names = []
        for pid in workers:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    names.append(os.readlink(fd))
                except OSError:  # closed meanwhile
                    pass
        return sum(str(database) in name for name in names)

    try:
        wait_until_serving(server, port)
        for _ in range(2):  # 800 requests from 8 clients at once
            failures = hammer(port, token)
            assert not failures, failures[:3]
        after_api = open_database_files()
        assert after_api <= 3 * WEB_THREADS  # at most one connection (file, -wal, -shm) per pool thread
        for _ in range(20):  # the live stream, opened and left twenty times
            with requests.get(f"http://127.0.0.1:{port}/kite/stream", cookies={"sessionid": session}, stream=True,
                              timeout=30) as stream:
                assert stream.status_code == 200, stream.text[:200]
                assert next(stream.iter_lines()).startswith(b"retry:")
        time.sleep(1)  # the server notices the streams went away
        assert open_database_files() <= after_api + 3
    finally:
        stop(server)


def test_the_documented_server_refuses_a_body_over_10_mb_before_any_thread_takes_it(tmp_path):
    port = free_port()
    server = gunicorn(environment(tmp_path), port)
    try:
        wait_until_serving(server, port)
        answer = requests.post(f"http://127.0.0.1:{port}/api/kite/execute", data=b"x" * (10 * 1024 * 1024 + 1),
                               headers={"Content-Type": "application/json"}, timeout=60)
        assert answer.status_code == 413
        assert answer.json()["error"]["type"] == "request_too_large"
        assert requests.get(f"http://127.0.0.1:{port}/login/", timeout=10).status_code == 200  # it serves on
    finally:
        stop(server)
