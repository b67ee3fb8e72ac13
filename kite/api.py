"""The Kite REST API (CONTRACT section 4): login/session/logout, account statuses, tools, execute."""
from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.models import Environment, Status
from config.api import StrictCharField, StrictIntegerField, StrictSerializer, error_response
from kite.errors import InvalidInput
from kite.ist import iso_ist
from kite.models import Approval
from kite.services import approvals, execution, login, sessions
from kite.tools import TOOLS


class AuthSerializer(StrictSerializer):
    action = serializers.ChoiceField(choices=["login", "session", "logout"])
    account_id = StrictIntegerField(min_value=1)
    request_token = StrictCharField(required=False, max_length=128)

    def validate(self, data: dict) -> dict:
        if data["action"] == "session" and not data.get("request_token"):
            raise serializers.ValidationError({"request_token": ["Required for action 'session'."]})
        if data["action"] != "session" and "request_token" in data:
            raise serializers.ValidationError({"request_token": ["Only for action 'session'."]})
        return data


# --- Answers, as the schema describes them (the views build them as plain dicts) ----------------------------
_SERVICE_ERRORS = {
    "400": error_response("Invalid input (`invalid`, `unknown_tool`, ...), a body that is not JSON or too deeply "
                          "nested (`parse_error`), or Kite's `InputException`."),
    "401": error_response("Not signed in (`not_authenticated`), a bad token, or the Kite session is missing or "
                          "expired (`session_expired`, Kite's `TokenException`)."),
    "403": error_response("`trading_disabled`, `guardrail`, `not_confirmed`, Kite's `PermissionException`, "
                          "or `permission_denied`/`csrf_failed`."),
    "404": error_response("No such account, or not the caller's (`not_found`)."),
    "409": error_response("The Kite user is not the account's (`kite_user_mismatch`), or the Idempotency-Key "
                          "was used for another request or is still in progress."),
    "422": error_response("Kite refused the order (`OrderException`, `MarginException`, `HoldingException`)."),
    "429": error_response("Rate limited (here or at Kite); `Retry-After` says when to try again."),
    "502": error_response("Kite (or the sandbox) unreachable, or its answer lost or unreadable."),
    "504": error_response("Kite did not answer in time."),
}


class LoginUrlAnswer(serializers.Serializer):
    login_url = serializers.URLField(help_text="Kite's (or the sandbox's) login page for this account.")


class SessionAnswer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[Status.CONNECTED.value])
    kite_user_id = serializers.CharField()
    token_expires_at = serializers.DateTimeField(allow_null=True)


class LogoutAnswer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices)
    invalidated_at_kite = serializers.BooleanField()


class KiteAccountAnswer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    environment = serializers.ChoiceField(choices=Environment.choices)
    status = serializers.ChoiceField(choices=Status.choices)
    kite_user_id = serializers.CharField(allow_null=True)
    token_expires_at = serializers.DateTimeField(allow_null=True)


class ToolAnswer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    input_schema = serializers.DictField(help_text="The JSON Schema of the tool's `args`.")
    read_only = serializers.BooleanField()


class ApprovalAnswer(serializers.Serializer):
    id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    tool = serializers.CharField()
    arguments = serializers.DictField()
    status = serializers.ChoiceField(choices=Approval.Status.choices)
    summary = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    order_id = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    approve_url = serializers.CharField()


class ExecuteAnswer(serializers.Serializer):
    data = serializers.JSONField(help_text="What Kite returned, as JSON.")


class KiteAuthApi(APIView):
    @extend_schema(
        operation_id="kite_auth", summary="Log an account in to Kite, complete the session, or log it out",
        request=AuthSerializer,
        responses={200: PolymorphicProxySerializer(component_name="KiteAuthAnswer", resource_type_field_name=None,
                                                   serializers=[LoginUrlAnswer, SessionAnswer, LogoutAnswer]),
                   **_SERVICE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = AuthSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        action = body.validated_data["action"]
        account = account_selectors.account_get(user=request.user, account_id=body.validated_data["account_id"])
        if action == "login":
            return Response({"login_url": login.login_url(account=account)})
        if action == "session":
            account = sessions.session_create(account=account, request_token=body.validated_data["request_token"])
            return Response({"status": "connected", "kite_user_id": account.kite_user_id,
                             "token_expires_at": iso_ist(account.token_expires_at)})
        confirmed = sessions.session_delete(account=account)
        return Response({"status": account.status, "invalidated_at_kite": confirmed})


class KiteAccountsApi(APIView):
    @extend_schema(operation_id="kite_accounts", summary="The caller's accounts and their Kite session states",
                   responses=KiteAccountAnswer(many=True))
    def get(self, request: Request) -> Response:
        return Response(account_selectors.account_statuses(user=request.user))


class ApprovalListApi(APIView):
    """The caller's approvals, newest first. Read-only: only the owner's browser decides (the approval page)."""

    @extend_schema(operation_id="kite_approvals", summary="The caller's order approvals, newest first",
                   responses=ApprovalAnswer(many=True))
    def get(self, request: Request) -> Response:
        return Response([approvals.approval_json(a) for a in approvals.approval_list(user=request.user)])


class ToolListApi(APIView):
    @extend_schema(operation_id="kite_tools", summary="The tools /api/kite/execute runs",
                   responses=ToolAnswer(many=True))
    def get(self, request: Request) -> Response:
        return Response([
            {"name": t.name, "title": t.title, "description": t.description, "input_schema": t.input_schema,
             "read_only": t.read_only}
            for t in TOOLS.values()
        ])


class ExecuteSerializer(StrictSerializer):
    tool = StrictCharField(max_length=64)
    args = serializers.JSONField(required=False, default=dict)


_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")  # printable ASCII, no spaces


class ExecuteApi(APIView):
    @extend_schema(
        operation_id="kite_execute", summary="Run one tool for one of the caller's accounts",
        request=ExecuteSerializer,
        parameters=[OpenApiParameter(
            "Idempotency-Key", {"type": "string", "pattern": _IDEMPOTENCY_KEY.pattern}, OpenApiParameter.HEADER,
            description="The same key never sends a second order: a repeat answers the first result.")],
        responses={200: ExecuteAnswer, **_SERVICE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = ExecuteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            raise InvalidInput("Idempotency-Key must be 1 to 100 printable characters without spaces.",
                               fields={"Idempotency-Key": ["1 to 100 printable characters, no spaces."]})
        data = execution.tool_execute(user=request.user, tool_name=body.validated_data["tool"],
                                      arguments=body.validated_data["args"], path="api", idempotency_key=key)
        return Response({"data": data})
