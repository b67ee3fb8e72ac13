"""`/mcp` over streamable HTTP behind OAuth 2.1 (CONTRACT section 9), end to end.

The app runs as `python manage.py runserver` (our override: the ASGI app under uvicorn) in a subprocess on a
free port, on the test database, pointed at the sandbox. The SDK's own streamable HTTP client, with the SDK's
OAuth provider (mcp.client.auth), discovers the authorization server from the 401, registers itself (RFC 7591),
sends the user to the consent page (a real Chromium, signed in as the user: the test clicks "Allow"), and
exchanges the code with PKCE. Then it lists the tools and reads holdings from a sandbox account, compared with
what the sandbox itself says through the official client.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
import requests
from anyio.from_thread import start_blocking_portal
from django.test import Client as DjangoClient
from kiteconnect import KiteConnect
from mcp import Client, types
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from oauth2_provider.models import AccessToken, Application, RefreshToken

from kite.models import OrderAudit
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, session_cookie
from tests.factories import UserFactory
from tests.fixtures.sandbox import free_port
from tests.mcp_bridge.conftest import Elicitations, accept, sandbox_orders
from tests.mcp_bridge.remote import CALL_TIMEOUT, AppServer, Bearer, mint_token, run_with

pytestmark = pytest.mark.browser  # skipped, saying why, without Chromium or Playwright


# --- The SDK's OAuth client, with the browser as the human ----------------------------------------------

@dataclass
class MemoryStorage:
    tokens: OAuthToken | None = None
    client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class BrowserHuman:
    """The redirect and callback handlers of the SDK's OAuth provider: a signed-in Chromium opens the authorization
    URL, checks the consent page, and presses Allow (unticking "Propose orders" first when told to). The
    redirect back to the client is caught in the browser, so no callback server is needed."""

    cookie: dict[str, Any]
    callback: str
    allow_trade: bool = True
    consent_text: str = ""
    consent_seen: int = 0
    result: AuthorizationCodeResult | None = None

    async def redirect(self, authorization_url: str) -> None:
        from playwright.async_api import async_playwright

        self.consent_seen += 1
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context()
                await context.add_cookies([self.cookie])
                page = await context.new_page()
                arrived: list[str] = []

                async def catch(route: Any) -> None:
                    arrived.append(route.request.url)
                    await route.fulfill(status=200, body="You can close this window.")
                await page.route(f"{self.callback}**", catch)
                await page.goto(authorization_url)
                self.consent_text = await page.inner_text("main")
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOTS / f"oauth-consent-{self.consent_seen}.png"), full_page=True)
                if not self.allow_trade:
                    await page.get_by_label("Propose orders").uncheck()
                await page.get_by_role("button", name="Allow").click()
                with anyio.fail_after(30):
                    while not arrived:
                        await anyio.sleep(0.1)
            finally:
                await browser.close()
        query = parse_qs(urlsplit(arrived[0]).query)
        assert "code" in query, arrived[0]
        self.result = AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0],
                                              iss=query.get("iss", [None])[0])

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def oauth_provider(server: AppServer, human: BrowserHuman, storage: MemoryStorage) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=server.mcp,
        client_metadata=OAuthClientMetadata(client_name="Kite Desk test client", redirect_uris=[human.callback]),
        storage=storage, redirect_handler=human.redirect, callback_handler=human.callback_handler)


def run_client(server: AppServer, auth: httpx2.Auth | None, mode: str,
               work: Callable[[Client], Any]) -> Any:
    """Connect the SDK's Client over streamable HTTP (mode "legacy": the 2025-11-25 handshake; "2026-07-28": the
    stateless revision) and run `await work(client)`, from this synchronous test."""
    async def go() -> Any:
        async with httpx2.AsyncClient(auth=auth, timeout=CALL_TIMEOUT) as http:
            transport = streamable_http_client(server.mcp, http_client=http)
            async with Client(transport, mode=mode, read_timeout_seconds=CALL_TIMEOUT) as client:
                return await work(client)
    with start_blocking_portal() as portal:
        return portal.call(go)


def signed_in(user: Any, server: AppServer) -> dict[str, Any]:
    return session_cookie(user, server.url)


def holdings_by_symbol(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {row["tradingsymbol"]: row["quantity"] for row in rows}


def raw_post(server: AppServer, token: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}
    return requests.post(server.mcp, json=body, headers=headers, timeout=30)


# --- The full flow ---------------------------------------------------------------------------------------

def test_full_oauth_flow_then_tools_and_holdings_in_both_protocol_eras(app_server, alice, paper, kite_settings):
    account = paper("Paper")
    human = BrowserHuman(cookie=signed_in(alice, app_server), callback=f"http://127.0.0.1:{free_port()}/callback")
    storage = MemoryStorage()

    async def list_and_read(client: Client) -> tuple[list[str], types.CallToolResult]:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        return tools, await client.call_tool("get_holdings", {"account_id": account.id})

    tools, holdings = run_client(app_server, oauth_provider(app_server, human, storage), "legacy", list_and_read)

    # The consent page named the client, the scopes and the user's accounts.
    assert human.consent_seen == 1
    assert "Kite Desk test client" in human.consent_text
    assert "Read your Kite accounts" in human.consent_text and "Propose orders" in human.consent_text
    assert "Paper" in human.consent_text
    # Registered as a public client; the token was granted both scopes; only its checksum is stored.
    assert storage.client is not None and storage.client.token_endpoint_auth_method == "none"
    assert storage.tokens is not None and set(storage.tokens.scope.split()) == {"kite:read", "kite:trade"}
    assert storage.tokens.refresh_token and storage.tokens.expires_in and storage.tokens.expires_in <= 3600
    stored = AccessToken.objects.get(
        token_checksum=hashlib.sha256(storage.tokens.access_token.encode()).hexdigest())
    assert stored.token == "" and stored.user == alice
    assert not RefreshToken.objects.filter(token=storage.tokens.refresh_token).exists()

    assert {"list_accounts", "get_holdings", "place_order"} <= set(tools)
    assert not holdings.is_error, holdings.content
    account.refresh_from_db()
    kite = KiteConnect(api_key=account.api_key, access_token=account.access_token, root=kite_settings.url)
    expected = kite.holdings()
    assert expected and holdings_by_symbol(holdings.structured_content["result"]) == holdings_by_symbol(expected)

    # Another client connection with the same token, stateless (2026-07-28): no consent again, the same account
    # connected (the Kite session belongs to the user and the account, not to an MCP session).
    tools2, holdings2 = run_client(app_server, oauth_provider(app_server, human, storage), "2026-07-28",
                                   list_and_read)
    assert human.consent_seen == 1
    assert set(tools2) == set(tools)
    assert holdings_by_symbol(holdings2.structured_content["result"]) == holdings_by_symbol(expected)

    # Refresh: a new access token; the refresh token rotates, and the used one is refused if replayed.
    form = {"grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token,
            "client_id": storage.client.client_id, "resource": app_server.mcp}
    fresh = requests.post(f"{app_server.url}/oauth/token/", data=form, timeout=10)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["refresh_token"] != storage.tokens.refresh_token
    assert raw_post(app_server, fresh.json()["access_token"]).status_code == 200
    assert requests.post(f"{app_server.url}/oauth/token/", data=form, timeout=10).status_code == 400


def test_allowing_without_trading_gives_a_read_only_token_whose_order_is_refused_and_never_sent(
        app_server, alice, paper, kite_settings):
    account = paper("Paper", trading=True, confirm=False)  # even with trading on and no confirmation asked
    human = BrowserHuman(cookie=signed_in(alice, app_server), callback=f"http://127.0.0.1:{free_port()}/callback",
                         allow_trade=False)
    storage = MemoryStorage()
    order = {"account_id": account.id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
             "quantity": 1, "product": "CNC", "order_type": "LIMIT", "price": 1000}

    async def try_order(client: Client) -> tuple[list[str], types.CallToolResult, types.CallToolResult]:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        return tools, await client.call_tool("place_order", order), await client.call_tool(
            "get_positions", {"account_id": account.id})

    tools, placed, positions = run_client(app_server, oauth_provider(app_server, human, storage), "legacy", try_order)
    assert storage.tokens is not None and storage.tokens.scope == "kite:read"
    assert "get_holdings" in tools and "place_order" not in tools
    assert placed.is_error and placed.structured_content["error"]["type"] == "insufficient_scope"
    assert "nothing was read or sent" in placed.content[0].text
    assert not positions.is_error
    assert sandbox_orders(kite_settings, account) == []
    audit = OrderAudit.objects.get(tool="place_order")
    assert (audit.outcome, audit.error_type, audit.path, audit.account_id) == ("refused", "insufficient_scope", "mcp",
                                                                               account.id)


# --- Refusals ------------------------------------------------------------------------------------------------

def test_without_a_valid_token_mcp_answers_401_pointing_at_the_resource_metadata(app_server, alice, paper):
    paper("Paper")
    expired = mint_token(alice, expires_in=-60)
    other_resource = mint_token(alice, resource="https://elsewhere.example/mcp")
    registration_only = mint_token(alice, scope="oauth2_provider:registration")
    metadata = f"{app_server.url}/.well-known/oauth-protected-resource/mcp"
    for token in (None, "", "not-a-token", expired, other_resource, registration_only):
        answer = raw_post(app_server, token)
        assert answer.status_code == 401, (token, answer.text)
        challenge = answer.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer ") and f'resource_metadata="{metadata}"' in challenge
        assert "Mcp-Session-Id" not in answer.headers
        if token:
            assert token not in answer.text and 'error="invalid_token"' in challenge
    # The documents it points at say where to get a token, and how.
    resource = requests.get(metadata, timeout=10).json()
    assert resource["resource"] == app_server.mcp and resource["authorization_servers"] == [app_server.url]
    server = requests.get(f"{app_server.url}/.well-known/oauth-authorization-server", timeout=10).json()
    assert server["issuer"] == app_server.url
    assert server["code_challenge_methods_supported"] == ["S256"]
    assert set(server["scopes_supported"]) == {"kite:read", "kite:trade"}
    for key in ("authorization_endpoint", "token_endpoint", "registration_endpoint"):
        assert server[key].startswith(app_server.url)


def test_another_users_token_sees_only_their_own_accounts(app_server, alice, paper, kite_settings):
    mine = paper("Paper")
    bob = UserFactory(username="bob")
    bobs = paper("Bob's paper", user=bob)
    token = mint_token(bob)

    async def look(client: Client) -> tuple[Any, types.CallToolResult]:
        listed = await client.call_tool("list_accounts", {})
        return listed.structured_content, await client.call_tool("get_holdings", {"account_id": mine.id})

    for mode in ("legacy", "2026-07-28"):
        listed, alices = run_client(app_server, Bearer(token), mode, look)
        assert [a["id"] for a in listed["accounts"]] == [bobs.id]
        assert alices.is_error and alices.structured_content["error"]["type"] == "not_found"


def test_revoking_a_connected_app_under_settings_kills_its_tokens(app_server, alice, paper):
    paper("Paper")
    token = mint_token(alice)
    app = AccessToken.objects.get(token_checksum=hashlib.sha256(token.encode()).hexdigest()).application
    assert raw_post(app_server, token).status_code == 200

    browser = DjangoClient(enforce_csrf_checks=True)
    browser.force_login(alice)
    page = browser.get("/settings/connections/")
    assert page.status_code == 200 and f'data-connected-client="{app.name}"' in page.content.decode()
    csrf = page.cookies["csrftoken"].value
    assert browser.post(f"/settings/connections/{app.pk}/revoke/").status_code == 403  # no CSRF token: refused
    assert raw_post(app_server, token).status_code == 200
    bob = DjangoClient()
    bob.force_login(UserFactory(username="bob"))
    assert bob.post(f"/settings/connections/{app.pk}/revoke/").status_code == 404  # not bob's to revoke

    answer = browser.post(f"/settings/connections/{app.pk}/revoke/", {"csrfmiddlewaretoken": csrf})
    assert answer.status_code == 302
    assert raw_post(app_server, token).status_code == 401
    assert f'data-connected-client="{app.name}"' not in browser.get("/settings/connections/").content.decode()


def test_registration_accepts_https_and_loopback_redirects_only(app_server):
    register = f"{app_server.url}/oauth/register/"
    for bad in ("http://evil.example/callback", "https://x.example/cb#frag", "javascript:alert(1)", "ftp://x/cb"):
        answer = requests.post(register, json={"redirect_uris": [bad], "client_name": "x"}, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_redirect_uri", (bad, answer.text)
    assert not Application.objects.exists()
    answer = requests.post(register, json={"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
                                           "client_name": "Claude", "token_endpoint_auth_method": "client_secret_post"},
                           timeout=10)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["token_endpoint_auth_method"] == "none" and "client_secret" not in body
    assert Application.objects.get(client_id=body["client_id"]).client_type == "public"


def test_authorization_refuses_plain_pkce_and_a_redirect_uri_that_is_not_registered(app_server, alice):
    client_id = requests.post(f"{app_server.url}/oauth/register/", timeout=10, json={
        "redirect_uris": ["http://127.0.0.1:9/callback"], "client_name": "t"}).json()["client_id"]
    browser = requests.Session()
    browser.cookies.set(**{k: v for k, v in signed_in(alice, app_server).items() if k in ("name", "value")})
    base = {"response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1:9/callback",
            "state": "s", "scope": "kite:read", "code_challenge": "x" * 43}
    plain = browser.get(f"{app_server.url}/oauth/authorize/", params={**base, "code_challenge_method": "plain"},
                        allow_redirects=False, timeout=10)
    assert plain.status_code == 302  # back to the client (registered URI), with the error and no code
    assert plain.headers["Location"].startswith("http://127.0.0.1:9/callback?")
    assert "error=invalid_request" in plain.headers["Location"] and "code=" not in plain.headers["Location"]
    other = browser.get(f"{app_server.url}/oauth/authorize/", allow_redirects=False, timeout=10, params={
        **base, "code_challenge_method": "S256", "redirect_uri": "http://127.0.0.1:9/callback/other"})
    assert other.status_code == 400 and "Location" not in other.headers
    ok = browser.get(f"{app_server.url}/oauth/authorize/", params={**base, "code_challenge_method": "S256"},
                     allow_redirects=False, timeout=10)
    assert ok.status_code == 200 and "Allow" in ok.text and "Deny" in ok.text
    anonymous = requests.get(f"{app_server.url}/oauth/authorize/", params={**base, "code_challenge_method": "S256"},
                             allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login/?next=/oauth/authorize/")


def test_an_order_over_http_is_sent_only_with_the_humans_yes(app_server, alice, paper, kite_settings):
    account = paper("Paper", trading=True, confirm=True)
    token = mint_token(alice)
    order = {"account_id": account.id, "exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
             "quantity": 1, "product": "CNC", "order_type": "LIMIT", "price": 1000}

    def place(client: Client) -> Any:
        return client.call_tool("place_order", order)

    # 2025-11-25: the server cannot ask mid-call over stateless HTTP, so the order waits for Approve in the web app.
    waiting = run_with(app_server, token, "legacy", place, elicitation_callback=accept())
    assert not waiting.is_error, waiting.content
    assert waiting.structured_content["status"] == "awaiting_approval"
    approval_id = waiting.structured_content["approval_id"]
    assert waiting.structured_content["approve_url"].endswith(f"/orders/approvals/{approval_id}/")
    assert sandbox_orders(kite_settings, account) == []

    # 2026-07-28: the input-required round trip asks the human; a no sends nothing, a yes sends it once.
    declined = Elicitations(types.ElicitResult(action="accept", content={"confirm": False}))
    refused = run_with(app_server, token, "2026-07-28", place, elicitation_callback=declined)
    assert refused.is_error and "nothing was sent" in refused.content[0].text.lower()
    assert declined.asked and "INFY" in declined.asked[0].message
    assert sandbox_orders(kite_settings, account) == []

    yes = accept()
    placed = run_with(app_server, token, "2026-07-28", place, elicitation_callback=yes)
    assert not placed.is_error, placed.content
    orders = sandbox_orders(kite_settings, account)
    assert [o["order_id"] for o in orders] == [placed.structured_content["order_id"]]
    assert len(yes.asked) == 1
