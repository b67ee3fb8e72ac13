"""Pages of the web app that belong to accounts."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    accounts = selectors.account_list(user=request.user)
    return render(request, "home.html", {"accounts": accounts})
