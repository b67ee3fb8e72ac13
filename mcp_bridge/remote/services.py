"""Writes of the remote MCP's OAuth state: revoking a connected client."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)

from kite.errors import NotFound


@transaction.atomic
def connected_client_revoke(*, user: AbstractBaseUser, application_id: int) -> str:
    """End every token and pending code this user gave the client: its next request to /mcp is a 401, and its
    refresh token no longer refreshes. Other users' grants to the same client are untouched. Returns the
    client's name; NotFound when this user has nothing granted to it (another user's client included)."""
    app = get_application_model().objects.filter(pk=application_id).first()
    if app is None:
        raise NotFound("No such connected client.")
    access = get_access_token_model().objects.filter(user=user, application=app)
    refresh = get_refresh_token_model().objects.filter(user=user, application=app, revoked__isnull=True)
    grants = get_grant_model().objects.filter(user=user, application=app)
    if not (access.exists() or refresh.exists() or grants.exists()):
        raise NotFound("No such connected client.")
    for token in refresh:
        token.revoke()  # marks it revoked and deletes its access token
    access.delete()
    grants.delete()
    return app.name or app.client_id
