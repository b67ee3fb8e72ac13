"""The accounts REST API (CONTRACT section 4): thin views over accounts.services and selectors."""
from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import Account
from accounts.serializers import AccountCreateSerializer, AccountReadSerializer, AccountUpdateSerializer
from config.api import ApiError
from kite import services as kite_services


def _duplicate(name: str) -> ApiError:
    return ApiError(
        f"You already have an account named {name!r}.", type="invalid",
        fields={"name": [f"You already have an account named {name!r}."]},
    )


def get_account_or_404(request: Request, account_id: Any) -> Account:
    try:
        return selectors.account_get(user=request.user, account_id=account_id)
    except Account.DoesNotExist:
        raise ApiError("No such account.", type="not_found", status_code=404) from None


class AccountListCreateApi(APIView):
    def get(self, request: Request) -> Response:
        accounts = selectors.account_list(user=request.user)
        return Response(AccountReadSerializer(accounts, many=True).data)

    def post(self, request: Request) -> Response:
        serializer = AccountCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            # A sandbox account is provisioned by the sandbox; if it is down, at the first login.
            account, _ = kite_services.account_add(user=request.user, **serializer.validated_data)
        except services.DuplicateAccountName as exc:
            raise _duplicate(str(exc)) from None
        return Response(AccountReadSerializer(account).data, status=status.HTTP_201_CREATED)


class AccountDetailApi(APIView):
    def get(self, request: Request, account_id: str) -> Response:
        return Response(AccountReadSerializer(get_account_or_404(request, account_id)).data)

    def patch(self, request: Request, account_id: str) -> Response:
        account = get_account_or_404(request, account_id)
        serializer = AccountUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            account = services.account_update(account=account, **serializer.validated_data)
        except services.DuplicateAccountName as exc:
            raise _duplicate(str(exc)) from None
        return Response(AccountReadSerializer(account).data)

    def delete(self, request: Request, account_id: str) -> Response:
        kite_services.account_remove(account=get_account_or_404(request, account_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
