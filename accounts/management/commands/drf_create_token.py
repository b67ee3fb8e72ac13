"""`python manage.py drf_create_token USERNAME`: a new API token for `Authorization: Token <key>`.

DRF's command of that name, for the hashed, expiring tokens of django-rest-knox (accounts.tokens): the
key is printed once, on the same line as DRF printed it (`Generated token <key> for user <name>`), and
only its hash is kept. A user may hold several tokens; `--reset` revokes the others first.
"""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.tokens import api_token_create, api_tokens_revoke
from kite.ist import iso_ist


class Command(BaseCommand):
    help = "Create an API token (hashed at rest, expiring after API_TOKEN_TTL_DAYS) for a user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", type=str)
        parser.add_argument("-r", "--reset", action="store_true", dest="reset_token", default=False,
                            help="Revoke the user's existing tokens before making the new one.")

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        username = options["username"]
        try:
            user = model._default_manager.get_by_natural_key(username)
        except model.DoesNotExist:
            raise CommandError(f"Cannot create the token: user {username!r} does not exist.") from None
        if options["reset_token"]:
            revoked = api_tokens_revoke(user=user)
            self.stderr.write(f"Revoked {revoked} existing token(s) of {username}.")
        key, expires = api_token_create(user=user)
        self.stdout.write(f"Generated token {key} for user {username}")
        self.stderr.write(f"It expires at {iso_ist(expires)} (API_TOKEN_TTL_DAYS); only its hash is stored, so "
                          "copy it now.")
