"""Forms of the Settings > Accounts pages. They validate input only; the views call accounts.services."""
from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import RegexValidator

from accounts.models import Environment

# Kite API keys and secrets are short alphanumeric strings (the same rule as the REST API's serializers).
_credential = RegexValidator(r"^[A-Za-z0-9_\-]+$", "Only letters, digits, '-' and '_' are allowed.")


def _key_field(**kwargs: Any) -> forms.CharField:
    return forms.CharField(label="API key", max_length=128, required=False, validators=[_credential],
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}), **kwargs)


def _secret_field(**kwargs: Any) -> forms.CharField:
    # render_value=False: the secret is write-only, a re-rendered form never carries it back to the browser.
    return forms.CharField(label="API secret", max_length=128, required=False, validators=[_credential],
                           widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                           **kwargs)


class AccountCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Your label for this account, e.g. “Main” or “Paper”.")
    environment = forms.ChoiceField(choices=Environment.choices, initial=Environment.LIVE, widget=forms.RadioSelect)
    api_key = _key_field(help_text="From your app in the Kite developer console.")
    api_secret = _secret_field(help_text="Stored encrypted; never shown again.")

    def clean(self) -> dict[str, Any]:
        """The credential rule itself is the service's (accounts.services.account_credentials_check); this
        page only insists that a live account is added with its key and secret at once."""
        data = super().clean()
        key, secret = data.get("api_key"), data.get("api_secret")
        if data.get("environment") == Environment.LIVE:
            if not key and "api_key" not in self.errors:
                self.add_error("api_key", "A live account needs the API key of your Kite Connect app.")
            if not secret and "api_secret" not in self.errors:
                self.add_error("api_secret", "A live account needs the API secret of your Kite Connect app.")
        return data


class AccountEditForm(forms.Form):
    """Rename, or replace the credentials. Empty key or secret fields keep what is stored."""

    name = forms.CharField(max_length=100)
    api_key = _key_field(help_text="Leave empty to keep the current key.")
    api_secret = _secret_field(help_text="Write-only: leave empty to keep the current secret.")

    def __init__(self, *args: Any, key_hint: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The stored key is shown only as its hint ("…abcd"), never as a value the form would carry.
        self.fields["api_key"].widget.attrs["placeholder"] = key_hint or "not set"
        self.fields["api_secret"].widget.attrs["placeholder"] = "unchanged" if key_hint else "not set"

    max_order_value = forms.DecimalField(
        label="Largest order (₹)", required=False, min_value=1, max_value=10**11, max_digits=14, decimal_places=2,
        help_text="An order worth more (quantity × price; × last price for MARKET) is refused. Empty: no limit.")
    max_orders_per_day = forms.IntegerField(
        label="Orders per day", required=False, min_value=1, max_value=100_000,
        help_text="Orders sent per day (IST) before further ones are refused. Empty: no limit.")

    def changes(self) -> dict[str, Any]:
        """The fields to pass to accounts.services.account_update: the name and guardrails as shown, and
        the credentials only where filled in."""
        data = self.cleaned_data
        changes: dict[str, Any] = {"name": data["name"], "max_order_value": data.get("max_order_value"),
                                   "max_orders_per_day": data.get("max_orders_per_day")}
        for field in ("api_key", "api_secret"):
            if data.get(field):
                changes[field] = data[field]
        return changes


_ON, _OFF = ("on", "true", "1"), ("", "off", "false", "0", "no")


class AccountOptionsForm(forms.Form):
    """Two checkboxes, read strictly: absent is off, "on" (what a browser sends), "true" or "1" is on, and
    "off", "false", "0" or "no" is off; anything else is an error. (Django's BooleanField reads any text but
    "false" and "0" as on, "off" and "no" included.)"""

    trading_enabled = forms.BooleanField(label="Allow trading", required=False)
    confirm_orders = forms.BooleanField(label="Confirm each order", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("trading_enabled", "confirm_orders"):
            raw = str(self.data.get(name, "")).lower()
            if raw not in _ON + _OFF:
                self.add_error(name, f"{self.data.get(name)!r} is neither on nor off.")
            data[name] = raw in _ON
        return data
