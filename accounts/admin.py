from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from accounts.models import Account
from kite.errors import InvalidInput


class AccountAdminForm(forms.ModelForm):
    """Key and secret are write-only here: the form never renders a stored value, and leaving a
    field empty keeps what is stored."""

    api_key = forms.CharField(
        required=False, max_length=128, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the current key.",
    )
    api_secret = forms.CharField(
        required=False, max_length=128, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the current secret.",
    )

    class Meta:
        model = Account
        fields = ["user", "name", "environment", "api_key", "api_secret", "trading_enabled", "confirm_orders",
                  "max_order_value", "max_orders_per_day"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("api_key", None)
        self.initial.pop("api_secret", None)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for field in ("api_key", "api_secret"):
            if not cleaned.get(field) and self.instance.pk:
                cleaned[field] = getattr(self.instance, field)
        if cleaned.get("name") and cleaned.get("user"):
            try:
                services.account_name_check(user=cleaned["user"], name=cleaned["name"], exclude_pk=self.instance.pk)
            except InvalidInput as error:
                self.add_error("name", error.message)
        if not self.instance.pk and "environment" in cleaned:  # a new account: the rule of every front
            try:
                services.account_credentials_check(environment=cleaned["environment"],
                                                   api_key=cleaned.get("api_key"), api_secret=cleaned.get("api_secret"))
            except InvalidInput as error:
                for name, problems in (error.fields or {}).items():
                    for problem in problems:
                        self.add_error(name if name in self.fields else None, problem)
        return cleaned

    def save(self, commit: bool = True) -> Account:
        account = super().save(commit=False)
        if self.instance.pk:
            stored = Account.objects.get(pk=self.instance.pk)
            # New credentials, or another environment (another server: the key and token would go there),
            # end the session.
            if (stored.api_key, stored.api_secret, stored.environment) != (
                    account.api_key, account.api_secret, account.environment):
                services.account_reset_for_new_credentials(account=account)
        for field in ("api_key", "api_secret"):
            if not getattr(account, field):
                setattr(account, field, None)
        if commit:
            account.save()
        return account


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "user", "environment", "status_display", "kite_user_id", "trading_enabled",
                    "confirm_orders", "updated_at"]
    list_filter = ["environment", "trading_enabled", "confirm_orders"]
    search_fields = ["name", "user__username", "kite_user_id"]
    readonly_fields = ["api_key_hint", "has_api_secret", "status_display", "kite_user_id", "token_expires_at",
                       "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["user", "name", "environment"]}),
        ("Credentials (write-only)", {"fields": ["api_key_hint", "api_key", "has_api_secret", "api_secret"]}),
        ("Session", {"fields": ["status_display", "kite_user_id", "token_expires_at"]}),
        ("Orders", {"fields": ["trading_enabled", "confirm_orders", "max_order_value", "max_orders_per_day"]}),
        ("Timestamps", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(description="status")
    def status_display(self, account: Account) -> str:
        return account.status.replace("_", " ") if account.pk else "-"

    @admin.display(description="has API secret", boolean=True)
    def has_api_secret(self, account: Account) -> bool:
        return bool(account.api_secret)

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("user")

    # The account lifecycle of every other front (accounts.services), here too.
    def save_model(self, request: HttpRequest, obj: Account, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            problem = services.account_provision(account=obj)
            if problem:
                messages.warning(request, f"{obj.name} has no sandbox credentials yet: {problem} Its first login "
                                          "asks the sandbox again.")

    def delete_model(self, request: HttpRequest, obj: Account) -> None:
        services.account_delete(account=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        for account in queryset:
            services.account_delete(account=account)
