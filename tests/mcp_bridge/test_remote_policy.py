"""The redirect-URI policy of the remote MCP's OAuth server, for Client ID Metadata Documents.

The document fetch itself is DOT's SSRF-hardened fetcher, which reaches public https hosts only: it cannot be
exercised on this machine, so here it is replaced by the document it would have returned, and what is under
test is our policy applied to it (tests/mcp_bridge/test_remote_mcp.py covers dynamic registration end to end).
"""
from __future__ import annotations

from typing import Any

import pytest
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher

from mcp_bridge.remote.views import PolicyMetadataFetcher

CLIENT_ID = "https://app.example/oauth/client.json"


def fetched(monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]) -> tuple[dict[str, Any], int]:
    monkeypatch.setattr(SafeMetadataFetcher, "fetch", lambda self, client_id: (document, 300))
    return PolicyMetadataFetcher().fetch(CLIENT_ID)


@pytest.mark.parametrize("uri", ["http://app.example/callback", "https://app.example/cb#x", "app://callback",
                                 "https:///nohost"])
def test_a_metadata_document_with_a_redirect_uri_outside_the_policy_resolves_to_no_client(monkeypatch, uri):
    with pytest.raises(CIMDError, match="redirect_uris"):
        fetched(monkeypatch, {"client_id": CLIENT_ID, "redirect_uris": ["https://app.example/ok", uri]})


def test_a_metadata_document_without_redirect_uris_resolves_to_no_client(monkeypatch):
    with pytest.raises(CIMDError, match="redirect_uris"):
        fetched(monkeypatch, {"client_id": CLIENT_ID})


def test_https_and_loopback_redirects_pass(monkeypatch):
    document = {"client_id": CLIENT_ID, "redirect_uris": ["https://app.example/callback", "http://127.0.0.1:7777/cb",
                                                         "http://localhost/cb", "http://[::1]:9/cb"]}
    assert fetched(monkeypatch, document) == (document, 300)
