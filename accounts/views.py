"""Pages of the web app that belong to accounts: Settings > Accounts (list, add, edit, options, delete).

Thin views: a form validates, one service writes. Every account is looked up through the owner-scoped
selector, so another user's account id is a 404 like one that does not exist.
"""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import AccountCreateForm, AccountEditForm, AccountOptionsForm
from accounts.models import Account, Status
from kite.errors import InvalidInput, NotFound


def account_or_404(request: HttpRequest, account_id: object) -> Account:
    """The signed-in user's account, or a 404 (someone else's account is not found either)."""
    try:
        return selectors.account_get(user=request.user, account_id=account_id)
    except NotFound:
        raise Http404("No such account.") from None


def _show_on_form(form: forms.Form, error: InvalidInput) -> None:
    """The service refused the input: its messages go on the form's fields they name."""
    for name, messages_ in (error.fields or {"__all__": [error.message]}).items():
        for message in messages_:
            form.add_error(name if name in form.fields else None, message)


def _redirect_url() -> str:
    """Where Kite sends the browser after login: to register in the Kite developer console."""
    return f"{settings.APP_BASE_URL}/kite/callback"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("portfolio")


class SignOutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are signed out.")
        return response


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    accounts = selectors.account_list(user=request.user)
    return render(request, "accounts/list.html", {
        "accounts": accounts,
        "Status": Status,
        "redirect_url": _redirect_url(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def account_add(request: HttpRequest) -> HttpResponse:
    form = AccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account, not_provisioned = services.account_create(
                user=request.user, name=data["name"], environment=data["environment"], api_key=data["api_key"],
                api_secret=data["api_secret"])
        except InvalidInput as error:
            _show_on_form(form, error)
        else:
            if not_provisioned:
                messages.warning(request, f"Added {account.name}, but it has no sandbox credentials yet: "
                                          f"{not_provisioned} Connect will ask the sandbox again.")
            else:
                messages.success(request, f"Added {account.name}. Connect it to start a Kite session.")
            return redirect("settings-accounts")
    return render(request, "accounts/add.html", {"form": form, "redirect_url": _redirect_url()},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, account_id: int) -> HttpResponse:
    account = account_or_404(request, account_id)
    form = AccountEditForm(request.POST or None, key_hint=account.api_key_hint, initial={
        "name": account.name, "max_order_value": account.max_order_value,
        "max_orders_per_day": account.max_orders_per_day})
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(account=account, **form.changes())
        except InvalidInput as error:
            _show_on_form(form, error)
            account.refresh_from_db()
        else:
            messages.success(request, f"Saved {account.name}.")
            return redirect("settings-accounts")
    return render(request, "accounts/edit.html", {"form": form, "account": account},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def account_options(request: HttpRequest, account_id: int) -> HttpResponse:
    account = account_or_404(request, account_id)
    form = AccountOptionsForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        messages.error(request, f"{account.name}: nothing was changed ({problems}).")
        return redirect("settings-accounts")
    services.account_update(account=account, **form.cleaned_data)
    trading = "allowed" if account.trading_enabled else "not allowed"
    confirm = "each order is confirmed" if account.confirm_orders else "orders are not confirmed"
    messages.success(request, f"{account.name}: trading {trading}; {confirm}.")
    return redirect("settings-accounts")


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest, account_id: int) -> HttpResponse:
    account = account_or_404(request, account_id)
    if request.method == "POST":
        name = account.name
        services.account_delete(account=account)
        messages.success(request, f"Deleted {name}.")
        return redirect("settings-accounts")
    return render(request, "accounts/delete.html", {"account": account})
