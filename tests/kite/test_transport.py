"""When Kite does not answer: reads fail clearly, and an order whose fate is unknown is never resent and
is reported as unknown — unless no connection was made at all, when nothing was sent."""
from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from kite.errors import ServiceError
from kite.models import OrderAudit
from kite.services.execution import tool_execute
from tests.factories import AccountFactory


class FakeKite:
    """A TCP server on loopback that reads each request and then either never answers or hangs up."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.requests.append(conn.recv(65536))
            if self.behaviour == "hang up":
                conn.close()
            else:
                self.held.append(conn)  # silence until the client gives up

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def fake_kite(request, settings):
    server = FakeKite(request.param)
    settings.KITE_API_ROOT = server.url
    settings.KITE_TIMEOUT_SECONDS = 0.5
    yield server
    server.close()


@pytest.fixture
def account(user):
    return AccountFactory(user=user, access_token="tok", token_expires_at=timezone.now() + timedelta(hours=3),
                          trading_enabled=True)


ORDER = {"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY", "quantity": 1, "product": "CNC",
         "order_type": "MARKET"}


@pytest.mark.parametrize(("fake_kite", "status", "type_"), [("silent", 504, "kite_timeout"),
                                                            ("hang up", 502, "kite_connection_lost")],
                         indirect=["fake_kite"])
def test_a_read_without_an_answer_is_a_clear_error(user, account, fake_kite, status, type_):
    with pytest.raises(ServiceError) as caught:
        tool_execute(user=user, tool_name="get_holdings", arguments={"account_id": account.id})
    assert (caught.value.status, caught.value.type) == (status, type_)
    assert fake_kite.url in caught.value.message


@pytest.mark.parametrize("fake_kite", ["silent", "hang up"], indirect=True)
def test_an_order_without_an_answer_is_unknown_and_sent_once(user, account, fake_kite):
    with pytest.raises(ServiceError) as caught:
        tool_execute(user=user, tool_name="place_order", arguments={"account_id": account.id, **ORDER})
    assert caught.value.type == "order_outcome_unknown" and "get_orders" in caught.value.message
    # Sent once; then today's orders were asked for the order's tag (no answer there either).
    assert [r.split(b" ", 2)[:2] for r in fake_kite.requests] == [[b"POST", b"/orders/regular"], [b"GET", b"/orders"]]
    assert OrderAudit.objects.get().outcome == "unknown"
