"""Admins read the webhook HMAC key in the dashboard; viewers and finance do not (issue 20.11)."""

from __future__ import annotations

from typing import Any

import pytest

from meterly.store.tables import Organization
from tests.e2e.test_dashboard import sign_in as sign_in_with_key
from tests.operators.conftest import add_user, browser_for, sign_in

PAGE = "/dashboard/webhooks/hmac_key"


def stored_key(api: Any) -> str:
    with api.database.unit_of_work() as session:
        organization = session.get(Organization, api.org_id)
        return str(organization.hmac_key)


def test_an_admin_reads_the_key_that_signs_the_webhooks(dash: Any) -> None:
    hook = {"webhook_url": "https://hooks.example.com/lago", "signature_algo": "hmac"}
    assert dash.post("webhook_endpoints", {"webhook_endpoint": hook}).status_code == 200
    add_user(dash, "ada@example.com", "admin")
    admin = browser_for(dash)
    assert sign_in(admin, "ada@example.com").status_code == 303
    page = admin.get(PAGE)
    assert page.status_code == 200
    key = stored_key(dash)
    assert f'id="hmac-key" readonly value="{key}"' in page.text
    assert "https://hooks.example.com/lago" in page.text
    assert page.headers["cache-control"] == "no-store"
    # The deliveries page links to it for admins.
    assert 'href="/dashboard/webhooks/hmac_key"' in admin.get("/dashboard/webhooks").text


def test_signing_in_with_an_api_key_is_an_admin_who_reads_it(dash: Any) -> None:
    sign_in_with_key(dash)
    page = dash.client.get(PAGE)
    assert page.status_code == 200
    assert stored_key(dash) in page.text


@pytest.mark.parametrize("role", ["viewer", "finance"])
def test_viewer_and_finance_are_refused(dash: Any, role: str) -> None:
    add_user(dash, f"{role}@example.com", role)
    person = browser_for(dash)
    assert sign_in(person, f"{role}@example.com").status_code == 303
    page = person.get(PAGE)
    assert page.status_code == 403
    assert stored_key(dash) not in page.text
    assert 'href="/dashboard/webhooks/hmac_key"' not in person.get("/dashboard/webhooks").text


def test_signed_out_visitors_are_sent_to_sign_in(dash: Any) -> None:
    page = browser_for(dash).get(PAGE, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/dashboard/login")
