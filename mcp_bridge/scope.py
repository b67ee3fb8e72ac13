"""Whose accounts the MCP server serves: KITE_MCP_USER and KITE_MCP_ACCOUNTS, resolved once at start-up."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from accounts.models import Account


class ScopeError(Exception):
    """The configuration names a user or an account that cannot be served; the message says what to fix."""


@dataclass(frozen=True)
class McpScope:
    """The user the server acts for and, when KITE_MCP_ACCOUNTS is set, the only accounts it may use.

    `account_ids` None means "all of the user's accounts", read afresh on every call, so an account added
    in the web app is served without a restart.
    """

    user: AbstractBaseUser
    account_ids: tuple[int, ...] | None = None

    def served_ids(self) -> list[int]:
        """The served account ids, in the order list_accounts shows them (a database read: call in a thread)."""
        rows = Account.objects.filter(user=self.user)
        if self.account_ids is not None:
            rows = rows.filter(pk__in=self.account_ids)
        return list(rows.order_by("name", "id").values_list("id", flat=True))


def mcp_scope_resolve(*, username: str, accounts: Sequence[str]) -> McpScope:
    """The scope from the two settings, or ScopeError naming the setting to fix."""
    user = _user(username.strip())
    wanted = [a.strip() for a in accounts if a.strip()]
    if not wanted:
        return McpScope(user=user)
    ids: list[int] = []
    for item in wanted:
        account = _account(user, item)
        if account.pk not in ids:
            ids.append(account.pk)
    return McpScope(user=user, account_ids=tuple(ids))


def _user(username: str) -> AbstractBaseUser:
    User = get_user_model()
    if username:
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise ScopeError(f"KITE_MCP_USER={username!r}: there is no such user. Set it to the username whose "
                             "Kite accounts this server serves.") from None
    else:
        users = list(User._default_manager.order_by("pk")[:2])
        if not users:
            raise ScopeError("There are no users yet: create one (`make run` creates a demo user, or "
                             "`python manage.py createsuperuser`), add a Kite account, then start runmcp again.")
        if len(users) > 1:
            raise ScopeError(f"KITE_MCP_USER is not set and there are {User._default_manager.count()} users: set it "
                             "to the username whose Kite accounts this server serves.")
        user = users[0]
    if not user.is_active:
        raise ScopeError(f"KITE_MCP_USER: user {user.get_username()!r} is inactive.")
    return user


def _account(user: AbstractBaseUser, item: str) -> Account:
    who = user.get_username()
    if item.isdigit():
        account = Account.objects.filter(pk=int(item)).only("id", "user_id", "name").first()
        if account is None:
            raise ScopeError(f"KITE_MCP_ACCOUNTS: there is no account with id {item}.")
        if account.user_id != user.pk:
            raise ScopeError(f"KITE_MCP_ACCOUNTS: account {item} belongs to another user, not to {who!r} "
                             "(KITE_MCP_USER).")
        return account
    account = Account.objects.filter(user=user, name=item).only("id", "user_id", "name").first()
    if account is None:
        if Account.objects.filter(name=item).exclude(user=user).exists():
            raise ScopeError(f"KITE_MCP_ACCOUNTS: the account named {item!r} belongs to another user, not to {who!r} "
                             "(KITE_MCP_USER).")
        raise ScopeError(f"KITE_MCP_ACCOUNTS: {who!r} has no account named {item!r} (give account ids or exact "
                         "names, comma-separated).")
    return account
