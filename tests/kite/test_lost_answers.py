"""An order whose answer comes back malformed, after Kite took it: never "sent" on a guess, never a 500,
never unaudited. The app finds the order by the tag it gave it and settles the answer itself; a retried
request with the same Idempotency-Key places nothing more."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from accounts.models import Account
from kite.models import OrderAudit
from tests.kite.test_flow import error_of, execute, ok, sandbox_orders

ORDER = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1, "product": "CNC",
         "order_type": "LIMIT", "price": 1000.0}  # far below the market: it stays open

# What a broken gateway or a confused Kite sends back after the order went through: (status, headers, body).
SHAPES = {
    "no content type": (200, {}, b'{"status": "success", "data": {"order_id": "1"}}'),
    "html": (200, {"Content-Type": "text/html"}, b"<html><body>OK</body></html>"),
    "broken json": (200, {"Content-Type": "application/json"}, b'{"status": "success", "data": {"order_'),
    "200 that says error": (200, {"Content-Type": "application/json"},
                            b'{"status": "error", "message": "?", "error_type": "GeneralException"}'),
    "no data": (200, {"Content-Type": "application/json"}, b'{"status": "success"}'),
    "gateway 502": (502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"),
}


class Garbler:
    """A proxy in front of the sandbox: every request goes through; the answer to placing an order is
    replaced by `shape` (after the sandbox took the order); with `garble_reads`, reads are broken too."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.shape, self.garble_reads = upstream, "html", False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(self.command, proxy.upstream + self.path, data=body, headers=headers,
                                          timeout=10, allow_redirects=False)
                placing = self.command == "POST" and self.path.startswith("/orders/")
                if placing or (proxy.garble_reads and self.path.startswith("/orders")):
                    status, extra, content = SHAPES[proxy.shape]
                else:
                    status, content = answer.status_code, answer.content
                    extra = {"Content-Type": answer.headers.get("Content-Type", "")}
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def garbler(kite_settings, settings):
    proxy = Garbler(kite_settings.url)
    yield proxy
    proxy.close()


@pytest.fixture
def behind_garbler(connected_account, garbler, settings) -> Account:
    """A connected, trading sandbox account whose calls go through the garbling proxy."""
    Account.objects.filter(pk=connected_account.pk).update(trading_enabled=True)
    settings.KITE_SANDBOX_URL = garbler.url
    connected_account.refresh_from_db()
    return connected_account


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_malformed_answer_after_kite_took_the_order_is_settled_by_its_tag(api_client, behind_garbler, garbler,
                                                                           kite_settings, shape):
    garbler.shape = shape
    placed = ok(execute(api_client, "place_order", account_id=behind_garbler.id, **ORDER))
    [order] = sandbox_orders(kite_settings, behind_garbler)
    assert placed == {"order_id": order["order_id"]} and order["tag"].startswith("kd")
    audit = OrderAudit.objects.get()
    assert (audit.outcome, audit.order_id) == ("sent", order["order_id"])
    assert "by its tag" in audit.message and audit.arguments["tag"] == order["tag"]


def test_when_the_tag_cannot_be_looked_up_the_outcome_is_unknown_and_audited(api_client, behind_garbler, garbler,
                                                                             kite_settings):
    garbler.shape, garbler.garble_reads = "html", True
    error = error_of(execute(api_client, "place_order", account_id=behind_garbler.id, **ORDER), 502)
    assert error["type"] == "order_outcome_unknown" and "get_orders" in error["message"]
    assert "<html>" not in error["message"]  # Kite's (or the gateway's) answer is never repeated
    assert len(sandbox_orders(kite_settings, behind_garbler)) == 1  # it did reach Kite
    assert list(OrderAudit.objects.values_list("outcome", "error_type")) == [("unknown", "order_outcome_unknown")]


def test_a_read_with_a_malformed_answer_is_a_502_with_a_type(api_client, behind_garbler, garbler):
    garbler.shape, garbler.garble_reads = "broken json", True
    error = error_of(execute(api_client, "get_orders", account_id=behind_garbler.id), 502)
    assert error["type"] == "kite_bad_answer"


def test_the_same_idempotency_key_never_sends_twice(api_client, behind_garbler, garbler, kite_settings):
    def send(key: str, **changes: object):
        return api_client.post("/api/kite/execute", {"tool": "place_order", "args": {
            "account_id": behind_garbler.id, **ORDER, **changes}}, format="json", HTTP_IDEMPOTENCY_KEY=key)

    garbler.shape = "gateway 502"  # the first answer is lost; the client retries with the same key
    first, again = send("order-7f3a"), send("order-7f3a")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert len(sandbox_orders(kite_settings, behind_garbler)) == 1
    reused = send("order-7f3a", quantity=2)
    assert reused.status_code == 409 and reused.json()["error"]["type"] == "idempotency_key_reused"
    bad = send("with space")
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["error"]["fields"]
    assert len(sandbox_orders(kite_settings, behind_garbler)) == 1
    assert list(OrderAudit.objects.values_list("outcome", flat=True)) == ["sent"]
