"""The sandbox's HTTP surface in-process (Django test client on sandbox.urls): envelopes, login,
sessions, control routes, bad input. Runs on the test database (SQLite or PostgreSQL)."""
from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from sandbox.models import Order

pytestmark = [pytest.mark.urls("sandbox.urls"), pytest.mark.django_db]

WED_11 = "2025-01-15T11:00:00+05:30"


@pytest.fixture
def client() -> Client:
    c = Client()
    assert c.post("/sandbox/clock", {"now": WED_11}, content_type="application/json").status_code == 200
    return c


def envelope_error(response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error" and body["data"] is None and body["error_type"] == error_type, body
    return body["message"]


def new_app(client: Client, **extra) -> dict:
    answer = client.post("/sandbox/apps", {"redirect_url": "http://app.test/kite/callback?x=1", **extra},
                         content_type="application/json")
    assert answer.status_code == 200, answer.content
    return answer.json()["data"]


def login_token(client: Client, api_key: str, redirect_params: str | None = None) -> tuple[str, dict]:
    data = {"api_key": api_key, "v": "3"}
    if redirect_params is not None:
        data["redirect_params"] = redirect_params
    answer = Client().post("/connect/login", data)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer["Location"]).query)
    return query["request_token"][0], query


def session(client: Client, app: dict) -> dict:
    token, _ = login_token(client, app["api_key"])
    checksum = hashlib.sha256((app["api_key"] + token + app["api_secret"]).encode()).hexdigest()
    answer = client.post("/session/token", {"api_key": app["api_key"], "request_token": token, "checksum": checksum})
    assert answer.status_code == 200, answer.content
    return answer.json()["data"]


def auth(app: dict, token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"token {app['api_key']}:{token}", "HTTP_X_KITE_VERSION": "3"}


@pytest.fixture
def logged_in(client):
    app = new_app(client, starting_cash=500000)
    return app, auth(app, session(client, app)["access_token"])


def test_unknown_route_and_wrong_method_answer_kites_envelope(client):
    assert envelope_error(client.get("/no/such/route"), 404, "GeneralException") == "Route not found"
    envelope_error(client.delete("/user/profile"), 405, "GeneralException")
    envelope_error(client.get("/mf/allotments"), 403, "PermissionException")  # a route the sandbox does not offer
    envelope_error(client.get("/gtt/triggers"), 403, "TokenException")  # one it offers, to a logged-in user


def test_login_page_is_one_form_and_unknown_keys_get_an_error_page(client):
    app = new_app(client)
    page = client.get("/connect/login", {"v": "3", "api_key": app["api_key"]})
    assert page.status_code == 200 and page.content.count(b"<form") == 1 and b"Authorize" in page.content
    bad = client.get("/connect/login", {"v": "3", "api_key": "nope"})
    assert bad.status_code == 400 and bad["Content-Type"].startswith("text/html") and b"api_key" in bad.content
    assert "Location" not in bad


def test_login_redirect_carries_the_token_and_decoded_redirect_params(client):
    app = new_app(client)
    _, query = login_token(client, app["api_key"], "state=abc%3D1&next=/x")
    assert query["action"] == ["login"] and query["status"] == ["success"] and query["x"] == ["1"]
    assert query["state"] == ["abc=1"] and query["next"] == ["/x"] and len(query["request_token"][0]) == 32


def test_session_exchange_checks_key_checksum_and_single_use(client):
    app = new_app(client)
    token, _ = login_token(client, app["api_key"])
    good = hashlib.sha256((app["api_key"] + token + app["api_secret"]).encode()).hexdigest()
    form = {"api_key": app["api_key"], "request_token": token, "checksum": good}
    assert envelope_error(client.post("/session/token", {**form, "api_key": "wrong"}), 403,
                          "TokenException") == "Incorrect `api_key` or `access_token`."
    assert envelope_error(client.post("/session/token", {**form, "checksum": "0" * 64}), 403,
                          "TokenException") == "Invalid `checksum`."
    data = client.post("/session/token", form).json()["data"]
    assert data["user_id"] == app["user_id"] and len(data["access_token"]) == 32 and len(data["login_time"]) == 19
    assert envelope_error(client.post("/session/token", form), 403,
                          "TokenException") == "Token is invalid or has expired."
    envelope_error(client.post("/session/token", {"api_key": app["api_key"]}), 400, "InputException")


def test_request_token_lives_only_a_few_minutes(client):
    app = new_app(client)
    token, _ = login_token(client, app["api_key"])
    client.post("/sandbox/clock", {"advance_seconds": 301}, content_type="application/json")
    checksum = hashlib.sha256((app["api_key"] + token + app["api_secret"]).encode()).hexdigest()
    answer = client.post("/session/token", {"api_key": app["api_key"], "request_token": token, "checksum": checksum})
    assert envelope_error(answer, 403, "TokenException") == "Token is invalid or has expired."


def test_access_token_expires_at_six_next_morning_and_on_logout(client, logged_in):
    app, headers = logged_in
    assert client.get("/user/profile", **headers).status_code == 200
    client.post("/sandbox/clock", {"now": "2025-01-16T05:59:59+05:30"}, content_type="application/json")
    assert client.get("/user/profile", **headers).status_code == 200
    client.post("/sandbox/clock", {"now": "2025-01-16T06:00:00+05:30"}, content_type="application/json")
    envelope_error(client.get("/user/profile", **headers), 403, "TokenException")
    client.post("/sandbox/clock", {"now": WED_11}, content_type="application/json")
    token = headers["HTTP_AUTHORIZATION"].split(":")[1]
    logout = client.delete(f"/session/token?api_key={app['api_key']}&access_token={token}")
    assert logout.json() == {"status": "success", "data": True}
    envelope_error(client.get("/user/profile", **headers), 403, "TokenException")


def test_a_login_before_six_ends_at_six_the_same_morning(client):
    client.post("/sandbox/clock", {"now": "2025-01-15T03:00:00+05:30"}, content_type="application/json")
    app = new_app(client)
    headers = auth(app, session(client, app)["access_token"])
    client.post("/sandbox/clock", {"now": "2025-01-15T05:59:59+05:30"}, content_type="application/json")
    assert client.get("/user/profile", **headers).status_code == 200
    client.post("/sandbox/clock", {"now": "2025-01-15T06:00:00+05:30"}, content_type="application/json")
    envelope_error(client.get("/user/profile", **headers), 403, "TokenException")


def test_missing_or_malformed_authorization_is_a_token_error(client):
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer x"}, {"HTTP_AUTHORIZATION": "token onlykey"}):
        envelope_error(client.get("/portfolio/holdings", **header), 403, "TokenException")


def test_quote_caps_and_unknown_instruments(client, logged_in):
    _, headers = logged_in
    answer = client.get("/quote", {"i": ["NSE:INFY", "NSE:NOPE"]}, **headers).json()["data"]
    assert list(answer) == ["NSE:INFY"] and len(answer["NSE:INFY"]["depth"]["buy"]) == 5
    too_many = "&".join(["i=NSE%3AINFY"] * 501)
    assert "at most 500" in envelope_error(client.get(f"/quote?{too_many}", **headers), 400, "InputException")
    assert client.get("/quote/ltp?" + "&".join(["i=NSE%3AINFY"] * 1000), **headers).status_code == 200
    thousand_one = "&".join(["i=NSE%3AINFY"] * 1001)
    envelope_error(client.get(f"/quote/ohlc?{thousand_one}", **headers), 400, "InputException")
    envelope_error(client.get("/quote/ltp", **headers), 400, "InputException")


def test_order_input_errors_leave_the_book_unchanged(client, logged_in):
    _, headers = logged_in
    form = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": "1",
            "product": "CNC", "order_type": "MARKET", "market_protection": "-1"}
    envelope_error(client.post("/orders/bracket", form, **headers), 400, "InputException")
    envelope_error(client.post("/orders/regular", {**form, "quantity": "-3"}, **headers), 400, "InputException")
    envelope_error(client.post("/orders/regular", {**form, "tradingsymbol": "NOPE"}, **headers), 400,
                   "InputException")
    envelope_error(client.post("/orders/regular", "{not json", content_type="application/json", **headers), 400,
                   "InputException")
    envelope_error(client.post("/orders/regular", "quantity=%ZZ&exchange", content_type="application/x-www-form-"
                               "urlencoded", **headers), 400, "InputException")
    envelope_error(client.put("/orders/regular/123", "quantity=2", content_type="application/x-www-form-urlencoded",
                              **headers), 400, "InputException")
    assert not Order.objects.exists()
    placed = client.post("/orders/REGULAR", form, **headers)  # the variety in any case, as Kite redirects
    assert placed.status_code == 200 and placed.json()["data"]["order_id"].isdigit()


def test_historical_limits_and_timestamp_format(client, logged_in):
    _, headers = logged_in
    url = "/instruments/historical/408065/"
    rows = client.get(url + "minute", {"from": "2025-01-15 09:15:00", "to": "2025-01-15 09:20:00", "oi": "1"},
                      **headers).json()["data"]["candles"]
    assert [r[0] for r in rows][:2] == ["2025-01-15T09:15:00+0530", "2025-01-15T09:16:00+0530"] and len(rows[0]) == 7
    assert "60 days" in envelope_error(client.get(url + "minute", {"from": "2024-11-01", "to": "2025-01-15"},
                                                  **headers), 400, "InputException")
    for interval, days in (("3minute", 100), ("15minute", 200), ("60minute", 400), ("day", 2000)):
        answer = client.get(url + interval, {"from": "2010-01-01", "to": "2025-01-15"}, **headers)
        assert f"{days} days" in envelope_error(answer, 400, "InputException")
    envelope_error(client.get(url + "2minute", {"from": "2025-01-10", "to": "2025-01-15"}, **headers), 400,
                   "InputException")
    envelope_error(client.get(url + "day", {"from": "yesterday", "to": "2025-01-15"}, **headers), 400,
                   "InputException")
    envelope_error(client.get(url + "day", {"from": "2025-01-01", "to": "2025-01-15", "continuous": "1"},
                              **headers), 400, "InputException")
    days = client.get(url + "day", {"from": "2025-01-06", "to": "2025-01-15"}, **headers).json()["data"]["candles"]
    assert [d[0][:10] for d in days] == ["2025-01-06", "2025-01-07", "2025-01-08", "2025-01-09", "2025-01-10",
                                         "2025-01-13", "2025-01-14", "2025-01-15"]
    assert all(d[2] >= max(d[1], d[4]) and d[3] <= min(d[1], d[4]) for d in days)


def test_instruments_csv_routes(client):
    answer = client.get("/instruments/NFO")
    assert answer["Content-Type"] == "text/csv" and b"NIFTY25JANFUT" in answer.content
    envelope_error(client.get("/instruments/XYZ"), 400, "InputException")


def test_control_routes_validate_their_json(client):
    assert "Malformed JSON" in envelope_error(client.post("/sandbox/clock", "{", content_type="application/json"),
                                              400, "InputException")
    envelope_error(client.post("/sandbox/clock", {"now": "2025-01-15T11:00:00"}, content_type="application/json"),
                   400, "InputException")
    envelope_error(client.post("/sandbox/clock", {"advance_seconds": "ten"}, content_type="application/json"),
                   400, "InputException")
    envelope_error(client.post("/sandbox/clock", {"now": WED_11, "reset": True}, content_type="application/json"),
                   400, "InputException")
    envelope_error(client.post("/sandbox/prices", {"instrument": "NSE:NOPE", "change_percent": 1},
                               content_type="application/json"), 400, "InputException")
    envelope_error(client.post("/sandbox/prices", {"instrument": "NSE:INFY", "change_percent": True},
                               content_type="application/json"), 400, "InputException")
    envelope_error(client.post("/sandbox/apps", {"redirect_url": "ftp://x"}, content_type="application/json"),
                   400, "InputException")
    envelope_error(client.post("/sandbox/apps", {"holdings": [{"instrument": "NSE:INFY", "quantity": -1}]},
                               content_type="application/json"), 400, "InputException")
    envelope_error(client.post("/sandbox/apps", {"colour": "red"}, content_type="application/json"), 400,
                   "InputException")


def test_clock_freezes_advances_and_resets(client):
    frozen = client.get("/sandbox/clock").json()["data"]
    assert frozen == {"now": "2025-01-15T11:00:00+05:30", "frozen": True}
    moved = client.post("/sandbox/clock", {"advance_seconds": 90}, content_type="application/json").json()["data"]
    assert moved["now"] == "2025-01-15T11:01:30+05:30"
    real = client.post("/sandbox/clock", {"reset": True}, content_type="application/json").json()["data"]
    assert real["frozen"] is False and real["now"].endswith("+05:30")


def test_price_shift_moves_the_quote_and_fills_open_orders(client, logged_in):
    app, headers = logged_in
    before = client.get("/quote/ltp", {"i": "NSE:INFY"}, **headers).json()["data"]["NSE:INFY"]["last_price"]
    limit = round(round(before * 0.9 / 0.05) * 0.05, 2)
    order_id = client.post("/orders/regular", {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
                                               "quantity": "1", "product": "CNC", "order_type": "LIMIT",
                                               "price": str(limit)}, **headers).json()["data"]["order_id"]
    moved = client.post("/sandbox/prices", {"instrument": "NSE:INFY", "change_percent": -12.5},
                        content_type="application/json").json()["data"]
    assert moved["last_price"] == pytest.approx(before * 0.875, abs=0.05)
    assert client.get("/quote/ltp", {"i": "BSE:INFY"}, **headers).json()["data"]["BSE:INFY"]["last_price"] == \
        moved["last_price"]
    history = client.get(f"/orders/{order_id}", **headers).json()["data"]
    # The resting limit is the passive side when the market falls through it: it trades at its price.
    assert history[-1]["status"] == "COMPLETE" and history[-1]["average_price"] == limit
    assert moved["last_price"] < limit


def test_sandboxapp_command_prints_the_credentials_last(capsys):
    from django.core.management import call_command

    call_command("sandboxapp", "--redirect-url", "http://127.0.0.1:8000/kite/callback", "--no-holdings")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    credentials = json.loads(last)
    assert list(credentials) == ["api_key", "api_secret"]
    assert len(credentials["api_key"]) == 16 and len(credentials["api_secret"]) == 32
    assert credentials["api_key"].isalnum() and credentials["api_secret"].isalnum()


def test_apps_take_static_ips_and_another_app_of_an_existing_user(client):
    app = new_app(client, allowed_ips=["127.0.0.1", "::1"])
    second = new_app(client, user_id=app["user_id"])
    assert second["user_id"] == app["user_id"] and second["api_key"] != app["api_key"]
    for body, message in (({"allowed_ips": ["not-an-ip"]}, "allowed_ips"), ({"allowed_ips": "127.0.0.1"}, "a list"),
                          ({"user_id": "ZZ0000"}, "no such paper user"),
                          ({"user_id": app["user_id"], "starting_cash": 5}, "existing user")):
        answer = client.post("/sandbox/apps", body, content_type="application/json")
        assert message in envelope_error(answer, 400, "InputException")


def test_margin_routes_are_served_and_other_margin_paths_stay_unavailable(client, logged_in):
    _, headers = logged_in
    body = [{"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "product": "CNC",
             "order_type": "LIMIT", "quantity": 1, "price": 1500}]
    answer = client.post("/margins/orders", json.dumps(body), content_type="application/json", **headers)
    assert answer.status_code == 200 and answer.json()["data"][0]["total"] == 1500
    assert "JSON array" in envelope_error(client.post("/charges/orders", "{}", content_type="application/json",
                                                      **headers), 400, "InputException")
    envelope_error(client.get("/margins/equity", **headers), 403, "PermissionException")
