"""The REST API against its own OpenAPI schema (GET /api/schema/), and what every API answer shares:
the error envelope, `Cache-Control: no-store`, and a 400 (not a 500) for too deeply nested JSON."""
from __future__ import annotations

import json

import pytest
import schemathesis
import yaml
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Account
from accounts.tokens import api_token_create
from tests.factories import UserFactory

ROUTES = {
    "/api/accounts": {"get", "post"},
    "/api/accounts/{account_id}": {"get", "patch", "delete"},
    "/api/kite/accounts": {"get"},
    "/api/kite/auth": {"post"},
    "/api/kite/tools": {"get"},
    "/api/kite/execute": {"post"},
    "/api/kite/approvals": {"get"},
}
# Nothing here may leave the machine: a Kite or sandbox call (an account id schemathesis happens to hit)
# goes to a closed loopback port and is answered 502, which the schema documents.
CLOSED_PORT = "http://127.0.0.1:9"


def load(response) -> dict:
    return yaml.safe_load(response.content)


# --- The schema itself -----------------------------------------------------------------------------------
def test_schema_is_openapi_with_its_own_content_type_and_public(db):
    response = APIClient().get("/api/schema/")  # drf-spectacular's convention: no sign-in needed
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response["Cache-Control"] == "no-store"
    schema = load(response)
    assert schema["openapi"].startswith("3.")
    as_json = APIClient().get("/api/schema/?format=json")
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert json.loads(as_json.content) == schema


def test_schema_describes_every_route_with_the_error_envelope(db):
    schema = load(APIClient().get("/api/schema/"))
    assert {path: set(ops) for path, ops in schema["paths"].items()} == ROUTES
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {code: r for code, r in operation["responses"].items() if code.startswith(("4", "5"))}
            assert {"401", "403"} <= set(errors), (method, path)
            for code, answer in errors.items():
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                    method, path, code)
            if method in ("post", "patch"):
                assert "400" in errors and operation["requestBody"]["content"].keys() == {"application/json"}
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["properties"]) == {"type", "message", "fields"}


def test_schema_names_the_request_bodies_answers_and_the_idempotency_key(db):
    schema = load(APIClient().get("/api/schema/"))
    components = schema["components"]["schemas"]
    paths = schema["paths"]

    def body(path, method):
        return paths[path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]

    assert body("/api/accounts", "post") == "AccountCreateRequest"
    assert body("/api/accounts/{account_id}", "patch") == "PatchedAccountUpdateRequest"
    assert body("/api/kite/auth", "post") == "AuthRequest"
    assert body("/api/kite/execute", "post") == "ExecuteRequest"
    for name in ("AccountCreateRequest", "PatchedAccountUpdateRequest", "AuthRequest", "ExecuteRequest"):
        assert components[name]["additionalProperties"] is False  # unknown keys are refused
    assert set(components["AccountRead"]["properties"]) >= {"api_key_hint", "has_api_secret", "status"}
    assert "api_secret" not in components["AccountRead"]["properties"]
    assert paths["/api/accounts"]["post"]["responses"]["201"]
    assert paths["/api/accounts/{account_id}"]["delete"]["responses"]["204"]
    headers = [p for p in paths["/api/kite/execute"]["post"]["parameters"] if p["in"] == "header"]
    assert [h["name"] for h in headers] == ["Idempotency-Key"] and headers[0].get("required", False) is False
    execute_errors = set(paths["/api/kite/execute"]["post"]["responses"])
    assert {"400", "401", "403", "404", "409", "422", "429", "502", "504"} <= execute_errors


def test_schema_refusals_are_the_json_error_body(db):
    bad_token = APIClient(HTTP_AUTHORIZATION="Token nope").get("/api/schema/")
    assert bad_token.status_code == 401 and bad_token["Content-Type"] == "application/json"
    assert bad_token.json()["error"]["type"] == "authentication_failed"
    html = APIClient().get("/api/schema/", HTTP_ACCEPT="text/html")
    assert html.status_code == 406 and html.json()["error"]["type"] == "not_acceptable"


# --- Cache-Control: no-store on every answer under /api/ ---------------------------------------------------
def test_every_api_answer_says_no_store(api_client, user):
    answers = [
        api_client.get("/api/accounts"),
        api_client.post("/api/accounts", {"name": "Main"}, format="json"),
        api_client.post("/api/accounts", {"name": 1}, format="json"),  # 400 from DRF
        api_client.get("/api/accounts/999999"),  # 404 from the view
        api_client.get("/api/nope"),  # Django's 404 handler
        api_client.get("/api/accounts", HTTP_HOST="evil.example"),  # Django's 400 handler
        APIClient().get("/api/kite/tools"),  # 401
        api_client.post("/api/kite/execute", {"tool": "no_such_tool"}, format="json"),
    ]
    assert [a.status_code for a in answers] == [200, 201, 400, 404, 404, 400, 401, 400]
    for answer in answers:
        assert answer["Cache-Control"] == "no-store", answer
    page = api_client.get("/settings/accounts/")
    assert page.status_code == 200 and "no-store" not in page.get("Cache-Control", "")


# --- Malformed or too deeply nested JSON -----------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/accounts", "/api/kite/auth", "/api/kite/execute"])
@pytest.mark.parametrize("payload", [
    "[" * 1000,
    "[" * 1000 + "]" * 1000,
    '{"a":' * 1000 + "1" + "}" * 1000,
    '{"tool": "get_profile", "args": ' + "[" * 200 + "]" * 200 + "}",
    '{"name": "x", "environment": "live"',
    "\x00\x01",
])
def test_deep_or_broken_json_is_a_400_with_the_error_body(api_client, path, payload):
    response = api_client.post(path, payload, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] in {"parse_error", "invalid"}
    assert Account.objects.count() == 0


def test_nesting_up_to_the_limit_is_still_read(api_client):
    from config.api import MAX_JSON_DEPTH, json_nesting_exceeds

    # Brackets inside strings (escaped quotes too) are text, not nesting.
    name = 'x"[[[[\\"' + "[" * 100
    assert not json_nesting_exceeds(json.dumps({"name": name}), MAX_JSON_DEPTH)
    assert api_client.post("/api/accounts", json.dumps({"name": "Brackets [{"}),
                           content_type="application/json").status_code == 201
    at_limit = json.dumps({"tool": "get_profile", "args": {"account_id": 1, "x": [[[1]]]}})
    assert not json_nesting_exceeds(at_limit, MAX_JSON_DEPTH)
    assert not json_nesting_exceeds("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, MAX_JSON_DEPTH)
    assert json_nesting_exceeds("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)
    # 64 levels reach the serializer, which refuses the shape (a field error), not the parser.
    deep_name = json.dumps({"name": json.loads("[" * 63 + "]" * 63)})
    answer = api_client.post("/api/accounts", deep_name, content_type="application/json")
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid"


# --- schemathesis: every operation, generated requests, through the WSGI app -----------------------------
# Loaded at import: the schema is public, and serving it touches no database. (schemathesis's
# `pytest.from_fixture` would load it per test, but does not work with pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def token_header(db, settings):
    # The requests go through the real WSGI app, whose request_started/finished signals would close the
    # test's database connection (it is inside the test's transaction): Django's test client keeps it open
    # the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    settings.KITE_API_ROOT = CLOSED_PORT
    settings.KITE_LOGIN_URL = f"{CLOSED_PORT}/connect/login"
    settings.KITE_SANDBOX_URL = CLOSED_PORT
    token, _ = api_token_create(user=UserFactory(username="schemathesis"))
    yield {"Authorization": f"Token {token}"}
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schemathesis.check
def error_envelope(ctx, response, case) -> None:
    """Every 4xx/5xx answer is JSON in the error envelope, and every answer says no-store."""
    assert response.headers.get("cache-control") == ["no-store"], (case.method, case.path, response.headers)
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), (response.status_code, content_type, response.text[:200])
        error = json.loads(response.content)["error"]
        assert isinstance(error["type"], str) and isinstance(error["message"], str) and error["message"]
        assert set(error) <= {"type", "message", "fields"}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, error_envelope]


@schema.parametrize()
@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, token_header):
    case.call_and_validate(headers=token_header, checks=CHECKS)
