"""API tokens for scripts (`Authorization: Token <key>`): django-rest-knox, so only a hash of each token is
stored, and each expires `API_TOKEN_TTL_DAYS` after it was made.

Tokens made by DRF's `authtoken` before (stored in plaintext) were turned into knox tokens by the
migration `accounts.0004_api_tokens`: the same key still opens the API, and no plaintext is left.
"""
from __future__ import annotations

import binascii
from datetime import datetime
from hmac import compare_digest

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions


def api_token_create(*, user: AbstractBaseUser) -> tuple[str, datetime]:
    """A new token for `user`: the key (shown once, never stored) and when it expires."""
    instance, key = AuthToken.objects.create(user=user)
    return key, instance.expiry


def api_tokens_revoke(*, user: AbstractBaseUser) -> int:
    """Every token of `user` stops working; returns how many there were."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


class ExpiringTokenAuthentication(TokenAuthentication):
    """knox's authentication in one query per request, saying when a token has expired."""

    def authenticate_credentials(self, token: bytes) -> tuple[AbstractBaseUser, AuthToken]:
        try:
            key = token.decode("utf-8")
            digest = hash_token(key)
        except (UnicodeDecodeError, TypeError, binascii.Error):
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        # The digest first: a token is only told apart (expired, or not) once it is known to be the one.
        for auth_token in AuthToken.objects.filter(token_key=key[:CONSTANTS.TOKEN_KEY_LENGTH]).select_related("user"):
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                auth_token.delete()
                raise exceptions.AuthenticationFailed(
                    "This API token has expired. Make a new one: python manage.py drf_create_token USERNAME.")
            return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed("Invalid token.")


class ExpiringTokenScheme(KnoxTokenScheme):
    """The OpenAPI schema's name for it (GET /api/schema/): `Authorization: Token <key>`, as DRF's was."""

    target_class = "accounts.tokens.ExpiringTokenAuthentication"
    name = "tokenAuth"
