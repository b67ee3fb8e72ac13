from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from accounts.models import Account, Environment, Status
from config.api import StrictAmountField, StrictBooleanField, StrictCharField, StrictIntegerField, StrictSerializer

# Kite API keys and secrets are short alphanumeric strings; refuse anything that could not be one.
_CREDENTIAL = re.compile(r"^[A-Za-z0-9_\-]+$")


def _credential(value: str) -> str:
    if not _CREDENTIAL.match(value):
        raise serializers.ValidationError("Only letters, digits, '-' and '_' are allowed.")
    return value


class AccountReadSerializer(serializers.ModelSerializer):
    """What any client may see of an account: never the secret, the token or the whole key."""

    # allow_null and the status choices only describe the answer in the OpenAPI schema (read-only fields).
    api_key_hint = serializers.CharField(read_only=True, allow_null=True)
    has_api_secret = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    max_order_value = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=False,
                                               read_only=True, allow_null=True)

    class Meta:
        model = Account
        fields = [
            "id", "name", "environment", "api_key_hint", "has_api_secret", "status", "kite_user_id",
            "token_expires_at", "trading_enabled", "confirm_orders", "max_order_value", "max_orders_per_day",
        ]
        read_only_fields = fields

    def get_has_api_secret(self, account: Account) -> bool:
        return bool(account.api_secret)


class AccountCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)
    environment = serializers.ChoiceField(choices=Environment.choices, default=Environment.LIVE)
    api_key = StrictCharField(max_length=128, required=False, allow_blank=True, validators=[_credential])
    api_secret = StrictCharField(max_length=128, required=False, allow_blank=True, validators=[_credential])


class AccountUpdateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100, required=False)
    api_key = StrictCharField(max_length=128, required=False, validators=[_credential])
    api_secret = StrictCharField(max_length=128, required=False, validators=[_credential])
    trading_enabled = StrictBooleanField(required=False)
    confirm_orders = StrictBooleanField(required=False)
    max_order_value = StrictAmountField(required=False, allow_null=True, min_value=1, max_value=10**11)
    max_orders_per_day = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=100_000)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "environment" in data:
            raise serializers.ValidationError(
                {"environment": ["The environment cannot be changed; add a new account instead."]}
            )
        return super().to_internal_value(data)
