"""The OAuth 2.1 pages and endpoints of the remote MCP server (django-oauth-toolkit underneath), and the
connected clients under Settings.

- Consent (`/oauth/authorize/`): DOT's authorization view with our page. It names the client (and where it
  sends the browser back to), the scopes and the user's accounts; "Allow" grants kite:read, plus kite:trade
  only while its box stays ticked; "Deny" grants nothing.
- Registration (`/oauth/register/`, RFC 7591): DOT's, with our policy first: redirect URIs are https, or http
  on a loopback address only (RFC 8252 section 7.3), without fragments; every client is public (PKCE, no
  secret: the `token_endpoint_auth_method` asked for is replaced by "none", as RFC 7591 section 3.2.1 allows).
  A Client ID Metadata Document (its https URL as the client_id) meets the same redirect-URI policy.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.views import AuthorizationView
from oauth2_provider.views.dynamic_client_registration import (
    DynamicClientRegistrationManagementView,
    DynamicClientRegistrationView,
)
from oauthlib.oauth2.rfc6749.errors import InvalidRequestError

from accounts.selectors import account_list
from kite.errors import NotFound
from mcp_bridge.remote import selectors, services

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_REDIRECT_URIS = 10


class ConsentView(AuthorizationView):
    template_name = "oauth/authorize.html"

    def validate_authorization_request(self, request: HttpRequest) -> tuple[Any, dict[str, Any]]:
        """DOT's checks (the client, the exact redirect URI, PKCE present), then S256 as the only PKCE method, before
        the page is shown (DOT alone would refuse "plain" only after the user pressed Allow)."""
        scopes, credentials = super().validate_authorization_request(request)
        if credentials.get("code_challenge_method") != "S256":
            raise OAuthToolkitError(error=InvalidRequestError(
                description='code_challenge_method must be "S256" (PKCE with SHA-256).',
                state=credentials.get("state")),
                redirect_uri=credentials.get("redirect_uri"))
        return scopes, credentials

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        scopes = context.get("scopes") or []
        context["accounts"] = list(account_list(user=self.request.user))
        context["asks_trade"] = selectors.TRADE_SCOPE in scopes
        context["redirect_host"] = urlsplit(context.get("redirect_uri") or "").netloc
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        # Grant what was asked for, less kite:trade when its box was unticked: never more than was asked.
        asked = (form.cleaned_data.get("scope") or "").split()
        granted = [s for s in asked if s != selectors.TRADE_SCOPE or self.request.POST.get("trade") == "on"]
        form.cleaned_data["scope"] = " ".join(granted)
        if not granted:
            form.cleaned_data["allow"] = False
        return super().form_valid(form)


def _redirect_uri_problem(uri: object) -> str | None:
    if not isinstance(uri, str) or not uri or len(uri) > 2000:
        return "each redirect URI must be a non-empty string of at most 2000 characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return f"{uri!r} is not a URL"
    if "#" in uri:
        return f"{uri!r} has a fragment, which a redirect URI may not have"
    if not parts.hostname:
        return f"{uri!r} has no host"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    return f"{uri!r} must be https, or http on a loopback address (127.0.0.1, [::1], localhost)"


def _registration_refusal(request: HttpRequest) -> JsonResponse | None:
    """Our registration policy on an RFC 7591/7592 body; None when it passes (the body is then rewritten to
    register a public client), else the error answer."""
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return _registration_error("invalid_client_metadata", "The request body must be a JSON object.")
    uris = data.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        return _registration_error("invalid_redirect_uri", "redirect_uris must be a non-empty array.")
    if len(uris) > MAX_REDIRECT_URIS:
        return _registration_error("invalid_redirect_uri", f"At most {MAX_REDIRECT_URIS} redirect_uris.")
    for uri in uris:
        if (problem := _redirect_uri_problem(uri)) is not None:
            return _registration_error("invalid_redirect_uri", f"redirect_uris: {problem}.")
    grants = data.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or "authorization_code" not in grants \
            or not set(grants) <= {"authorization_code", "refresh_token"}:
        return _registration_error("invalid_client_metadata", 'grant_types: only "authorization_code" (with '
                                   '"refresh_token") is supported.')
    if "response_types" in data and data["response_types"] != ["code"]:
        return _registration_error("invalid_client_metadata", 'response_types: only ["code"] is supported.')
    name = data.get("client_name", "")
    if not isinstance(name, str) or len(name) > 100:
        return _registration_error("invalid_client_metadata", "client_name must be a string of at most 100 "
                                   "characters.")
    data["token_endpoint_auth_method"] = "none"  # public clients only (PKCE, no secret)
    request._body = json.dumps(data).encode()  # DOT's view reads the body itself
    return None


class RegistrationView(DynamicClientRegistrationView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _registration_refusal(request) or super().post(request, *args, **kwargs)


class RegistrationManagementView(DynamicClientRegistrationManagementView):
    """RFC 7592 (the client's own registration, with its registration token): an update meets the same policy."""

    def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _registration_refusal(request) or super().put(request, *args, **kwargs)


def _registration_error(error: str, description: str) -> JsonResponse:
    """RFC 7591 section 3.2.2's error answer."""
    return JsonResponse({"error": error, "error_description": description}, status=400)


@login_required
def connection_list(request: HttpRequest) -> HttpResponse:
    return render(request, "oauth/connections.html", {
        "clients": selectors.connected_client_list(user=request.user),
        "mcp_url": selectors.mcp_resource_url(),
    })


@login_required
@require_POST
def connection_revoke(request: HttpRequest, application_id: int) -> HttpResponse:
    try:
        name = services.connected_client_revoke(user=request.user, application_id=application_id)
    except NotFound:
        raise Http404("No such connected client.") from None
    messages.success(request, f"Disconnected {name}: its tokens no longer work.")
    return redirect("settings-connections")


class PolicyMetadataFetcher(SafeMetadataFetcher):
    """Client ID Metadata Documents (DOT's SSRF-hardened fetcher) under the same redirect-URI policy as dynamic
    registration: a document listing any other redirect URI resolves to no client at all."""

    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        metadata, max_age = super().fetch(client_id)
        uris = metadata.get("redirect_uris")
        if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
            raise CIMDError("redirect_uris must be a non-empty array of at most 10")
        for uri in uris:
            if (problem := _redirect_uri_problem(uri)) is not None:
                raise CIMDError(f"redirect_uris: {problem}")
        return metadata, max_age
