"""Reads of the remote MCP's OAuth state: whose bearer token this is, and which clients a user connected."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model

READ_SCOPE = "kite:read"
TRADE_SCOPE = "kite:trade"
MCP_SCOPES = frozenset({READ_SCOPE, TRADE_SCOPE})


@dataclass(frozen=True)
class Principal:
    """Who a valid bearer token speaks for: the user, the OAuth client and the granted MCP scopes."""

    user_id: int
    username: str
    client_id: str
    client_name: str
    scopes: frozenset[str]
    expires_at: int  # Unix time


def mcp_resource_url() -> str:
    """The resource identifier of /mcp (RFC 8707 / RFC 9728): the public URL."""
    return f"{settings.APP_BASE_URL}/mcp"


def resource_metadata_url() -> str:
    """The RFC 9728 document a 401 from /mcp points at (path-component form for the /mcp resource)."""
    return f"{settings.APP_BASE_URL}/.well-known/oauth-protected-resource/mcp"


def bearer_principal(*, raw_token: str) -> Principal | None:
    """The principal of an access token presented to /mcp, or None when it is not one we honour: unknown (only
    the SHA-256 checksum is stored, so that is what is looked up), expired, revoked (a revoked access token is
    deleted), issued for another resource, carrying no MCP scope, or its user inactive."""
    if not raw_token or len(raw_token) > 512:
        return None
    checksum = hashlib.sha256(raw_token.encode()).hexdigest()
    token = (get_access_token_model().objects.select_related("user", "application")
             .filter(token_checksum=checksum).first())
    if token is None or token.is_expired() or token.user is None or token.application is None:
        return None
    if not token.user.is_active or not token.allows_audience(mcp_resource_url()):
        return None
    scopes = frozenset(token.scope.split()) & MCP_SCOPES
    if not scopes:
        return None
    return Principal(user_id=token.user.pk, username=token.user.get_username(), client_id=token.application.client_id,
                     client_name=token.application.name, scopes=scopes, expires_at=int(token.expires.timestamp()))


@dataclass(frozen=True)
class ConnectedClient:
    id: int
    name: str
    redirect_hosts: list[str]
    scopes: list[str]
    connected_at: datetime
    access_until: datetime | None


def connected_client_list(*, user: AbstractBaseUser) -> list[ConnectedClient]:
    """The OAuth clients holding a live token of this user's (an unexpired access token, or a refresh token not
    revoked), newest first, with the scopes the user granted them."""
    now = timezone.now()
    access = list(get_access_token_model().objects.filter(user=user, application__isnull=False))
    refresh = list(get_refresh_token_model().objects.filter(user=user, revoked__isnull=True))
    live = {t.application_id for t in access if t.expires > now} | {r.application_id for r in refresh}
    clients = []
    for app in get_application_model().objects.filter(pk__in=live):
        tokens = [t for t in access if t.application_id == app.pk]
        refreshes = [r for r in refresh if r.application_id == app.pk]
        clients.append(ConnectedClient(
            id=app.pk, name=app.name or app.client_id,
            redirect_hosts=sorted({urlsplit(uri).netloc for uri in app.redirect_uris.split()}),
            scopes=sorted({s for t in tokens for s in t.scope.split()} & MCP_SCOPES),
            connected_at=min([t.created for t in tokens] + [r.created for r in refreshes]),
            access_until=max((t.expires for t in tokens if t.expires > now), default=None)))
    return sorted(clients, key=lambda c: c.connected_at, reverse=True)
