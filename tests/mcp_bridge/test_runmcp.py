"""`manage.py runmcp` as a process: start-up errors, a clean stdout, clean exits."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from accounts.models import Account
from kite.tools import TOOLS
from tests.factories import AccountFactory, UserFactory
from tests.mcp_bridge.conftest import REPO, read_line, spawn

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "raw-test", "version": "0"}}}

# Settings that make start-up noisy in every way Django can: a system check that prints to stdout, warns,
# logs and reports a warning.
NOISY_SETTINGS = '''
from config.settings_test import *  # noqa: F403
import logging, warnings
from django.core import checks

@checks.register()
def noisy(app_configs=None, **kwargs):
    print("STRAY print from a system check")
    warnings.warn("STRAY python warning")
    logging.getLogger("noisy").warning("STRAY log line")
    return [checks.Warning("STRAY check warning", id="noisy.W001")]


@checks.register(checks.Tags.urls)
def web_only(app_configs=None, **kwargs):
    return [checks.Warning("WEB-ONLY check ran", id="noisy.W002")]


@checks.register(checks.Tags.urls, checks.Tags.models)
def also_models(app_configs=None, **kwargs):
    return [checks.Warning("MODELS-AND-URLS check ran", id="noisy.W003")]
'''


def send(process: subprocess.Popen[bytes], message: dict) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message).encode() + b"\n")
    process.stdin.flush()


def initialize(process: subprocess.Popen[bytes]) -> dict:
    send(process, INITIALIZE)
    answer = json.loads(read_line(process))
    send(process, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    return answer


def finish(process: subprocess.Popen[bytes]) -> tuple[int, bytes, str]:
    """Wait (bounded) for the exit; (code, the rest of stdout, all of stderr)."""
    try:
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.stdout is not None and process.stderr is not None
    return code, process.stdout.read(), process.stderr.read().decode()


def run_to_exit(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "manage.py", "runmcp"], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)


# --- Start-up errors: one clear line on stderr, exit code 1, nothing on stdout -----------------------------

def _no_users() -> dict[str, str]:
    return {}


def _two_users() -> dict[str, str]:
    UserFactory(username="alice")
    UserFactory(username="bob")
    return {}


def _unknown_user() -> dict[str, str]:
    UserFactory(username="alice")
    return {"user": "carol"}


def _unknown_account() -> dict[str, str]:
    AccountFactory(user=UserFactory(username="alice"), name="Main")
    return {"user": "alice", "accounts": "Main,999999"}


def _other_users_account_by_id() -> dict[str, str]:
    UserFactory(username="alice")
    theirs = AccountFactory(user=UserFactory(username="bob"), name="Bobs")
    return {"user": "alice", "accounts": str(theirs.pk)}


def _other_users_account_by_name() -> dict[str, str]:
    UserFactory(username="alice")
    AccountFactory(user=UserFactory(username="bob"), name="Bobs")
    return {"user": "alice", "accounts": "Bobs"}


@pytest.mark.parametrize(("setup", "says"), [
    (_no_users, "There are no users yet"),
    (_two_users, "KITE_MCP_USER is not set and there are 2 users"),
    (_unknown_user, "KITE_MCP_USER='carol': there is no such user"),
    (_unknown_account, "KITE_MCP_ACCOUNTS: there is no account with id 999999"),
    (_other_users_account_by_id, "belongs to another user, not to 'alice'"),
    (_other_users_account_by_name, "the account named 'Bobs' belongs to another user"),
], ids=lambda v: getattr(v, "__name__", "")[1:] if callable(v) else None)
def test_bad_configuration_stops_start_up_with_a_clear_error_and_exit_1(base_env, setup, says):
    answer = run_to_exit(base_env(**setup()))
    stderr = answer.stderr.decode()
    assert answer.returncode == 1, stderr
    assert says in stderr
    assert "Traceback" not in stderr
    assert answer.stdout == b""


def test_broken_settings_fail_the_system_checks_on_stderr(base_env, alice):
    answer = run_to_exit(base_env(user="alice", FIELD_ENCRYPTION_KEY="not-a-fernet-key"))
    stderr = answer.stderr.decode()
    assert answer.returncode == 1 and "accounts.E001" in stderr and "Traceback" not in stderr
    assert answer.stdout == b""


# --- Stdout is the protocol's, and only the protocol's --------------------------------------------------

def test_stdout_carries_only_protocol_even_when_start_up_is_noisy(base_env, alice, tmp_path):
    (tmp_path / "noisy_settings.py").write_text(NOISY_SETTINGS)
    process = spawn(base_env(user="alice", DJANGO_SETTINGS_MODULE="noisy_settings", PYTHONPATH=str(tmp_path)))
    try:
        first = initialize(process)
        send(process, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        second = json.loads(read_line(process))
        process.stdin.close()
    finally:
        code, rest, stderr = finish(process)
    assert first["id"] == 1 and first["result"]["serverInfo"]["name"] == "kite-desk"
    assert second["id"] == 2 and len(second["result"]["tools"]) == len(TOOLS)
    assert rest == b""  # every byte on stdout was one of the two answers above
    for stray in ("STRAY print", "STRAY python warning", "STRAY log line", "STRAY check warning"):
        assert stray in stderr
    # Checks only of what the web app serves (urls, admin, templates) are the web app's to run; any other runs.
    assert "WEB-ONLY check ran" not in stderr and "MODELS-AND-URLS check ran" in stderr
    assert code == 0 and "Traceback" not in stderr


def test_closing_stdin_ends_the_server_with_exit_code_0(base_env, alice):
    process = spawn(base_env(user="alice"))
    try:
        assert initialize(process)["result"]["protocolVersion"] == "2025-11-25"
        process.stdin.close()
    finally:
        code, rest, stderr = finish(process)
    assert (code, rest) == (0, b""), stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_ends_the_server_with_exit_code_0_and_no_traceback(base_env, alice, signum):
    process = spawn(base_env(user="alice"))
    try:
        initialize(process)
        process.send_signal(signum)
    finally:
        code, _, stderr = finish(process)
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr


def test_start_up_names_the_user_and_accounts_it_serves(base_env, alice):
    mine = AccountFactory(user=alice, name="Main")
    AccountFactory(user=alice, name="Other")
    process = spawn(base_env(user="alice", accounts="Main"))
    try:
        initialize(process)
        process.stdin.close()
    finally:
        _, _, stderr = finish(process)
    assert f"serving 'alice', accounts [{mine.pk}]" in stderr
    assert Account.objects.filter(user=alice).count() == 2


def test_a_line_that_is_not_json_rpc_gets_a_parse_error_and_the_server_keeps_serving(base_env, alice):
    process = spawn(base_env(user="alice"))
    try:
        initialize(process)
        assert process.stdin is not None
        process.stdin.write(b"{this is not json\n")
        process.stdin.flush()
        error = json.loads(read_line(process))
        send(process, {"jsonrpc": "2.0", "id": 7, "method": "tools/list"})
        listed = json.loads(read_line(process))
        process.stdin.close()
    finally:
        code, _, _ = finish(process)
    assert error["id"] is None and error["error"]["code"] == -32700
    assert listed["id"] == 7 and listed["result"]["tools"] and code == 0


def test_an_order_piped_in_before_stdin_closes_is_answered_before_the_server_exits(server_env, paper, kite_settings):
    from tests.mcp_bridge.conftest import sandbox_orders

    account = paper(confirm=False)
    process = spawn(server_env(user="alice"))
    try:
        initialize(process)
        send(process, {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
            "name": "place_order", "arguments": {"account_id": account.id, "exchange": "NSE", "tradingsymbol": "ITC",
                                                 "transaction_type": "BUY", "quantity": 1, "product": "CNC",
                                                 "order_type": "MARKET"}}})
        assert process.stdin is not None
        process.stdin.close()  # at once: the order is still being sent to Kite
    finally:
        code, rest, _ = finish(process)
    [answer] = [json.loads(line) for line in rest.splitlines()]
    [order] = sandbox_orders(kite_settings, account)
    assert answer["id"] == 9 and answer["result"]["structuredContent"]["order_id"] == order["order_id"]
    assert code == 0
