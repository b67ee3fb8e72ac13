"""The Kite REST API (CONTRACT section 4): login/session/logout, account statuses, tools, execute."""
from __future__ import annotations

import re

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from config.api import StrictCharField, StrictIntegerField, StrictSerializer
from kite.errors import InvalidInput
from kite.ist import iso_ist
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


class KiteAuthApi(APIView):
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
    def get(self, request: Request) -> Response:
        return Response(account_selectors.account_statuses(user=request.user))


class ApprovalListApi(APIView):
    """The caller's approvals, newest first. Read-only: only the owner's browser decides (the approval page)."""

    def get(self, request: Request) -> Response:
        return Response([approvals.approval_json(a) for a in approvals.approval_list(user=request.user)])


class ToolListApi(APIView):
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
