"""The accounts REST API (CONTRACT section 4): thin views over accounts.services and selectors."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.serializers import AccountCreateSerializer, AccountReadSerializer, AccountUpdateSerializer


class AccountListCreateApi(APIView):
    @extend_schema(operation_id="accounts_list", summary="The caller's accounts",
                   responses=AccountReadSerializer(many=True))
    def get(self, request: Request) -> Response:
        accounts = selectors.account_list(user=request.user)
        return Response(AccountReadSerializer(accounts, many=True).data)

    @extend_schema(operation_id="accounts_create", summary="Add an account",
                   request=AccountCreateSerializer, responses={201: AccountReadSerializer})
    def post(self, request: Request) -> Response:
        serializer = AccountCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # A sandbox account is provisioned by the sandbox; if it is down, at the first login.
        account, _ = services.account_create(user=request.user, **serializer.validated_data)
        return Response(AccountReadSerializer(account).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[OpenApiParameter("account_id", int, OpenApiParameter.PATH,
                                             description="The account's id (another user's answers 404).")])
class AccountDetailApi(APIView):
    @extend_schema(operation_id="accounts_read", summary="One account", responses=AccountReadSerializer)
    def get(self, request: Request, account_id: str) -> Response:
        return Response(AccountReadSerializer(selectors.account_get(user=request.user, account_id=account_id)).data)

    @extend_schema(operation_id="accounts_update", summary="Change an account",
                   request=AccountUpdateSerializer, responses=AccountReadSerializer)
    def patch(self, request: Request, account_id: str) -> Response:
        account = selectors.account_get(user=request.user, account_id=account_id)
        serializer = AccountUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = services.account_update(account=account, **serializer.validated_data)
        return Response(AccountReadSerializer(account).data)

    @extend_schema(operation_id="accounts_delete", summary="Delete an account", responses={204: None})
    def delete(self, request: Request, account_id: str) -> Response:
        services.account_delete(account=selectors.account_get(user=request.user, account_id=account_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
