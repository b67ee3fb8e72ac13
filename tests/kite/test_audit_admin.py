"""The audit log in the admin: listed and shown, never added to, changed or deleted (evidence)."""
from __future__ import annotations

import pytest

from kite.models import OrderAudit

pytestmark = pytest.mark.django_db


def test_the_audit_log_admin_is_read_only(admin_client, admin_user):
    row = OrderAudit.objects.create(user=admin_user, username=admin_user.username, path="api", tool="place_order",
                                    outcome="sent", order_id="2612040001", arguments={"quantity": 1})
    assert admin_client.get("/admin/kite/orderaudit/").status_code == 200
    assert "2612040001" in admin_client.get("/admin/kite/orderaudit/").content.decode()
    assert admin_client.get(f"/admin/kite/orderaudit/{row.pk}/change/").status_code == 200  # a view page
    assert admin_client.get("/admin/kite/orderaudit/add/").status_code == 403
    assert admin_client.post(f"/admin/kite/orderaudit/{row.pk}/change/", {"outcome": "failed"}).status_code == 403
    assert admin_client.post(f"/admin/kite/orderaudit/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.outcome == "sent"
