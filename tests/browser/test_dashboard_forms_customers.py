"""Customer forms in headless Chromium: create, edit, delete, each with a refused input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.dashboard_forms_support import errors_text, flash_text, sign_in_as_admin

pytestmark = pytest.mark.browser


def test_create_a_customer_refusing_a_bad_email_and_timezone_first(
    page: Any, live: LiveApi
) -> None:
    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/customers")
    page.click("#new-customer")
    page.wait_for_url("**/dashboard/customers/new")
    page.fill("#external_id", "cust_nova")
    page.fill("#name", "Nova GmbH")
    page.fill("#email", "billing at nova")
    page.fill("#timezone", "Mars/Olympus")
    page.click("#save-customer")
    # Told in words, not codes; and nothing was stored.
    said = errors_text(page)
    assert "E-mail is not a valid e-mail address." in said
    assert "Time zone is not a known time zone" in said
    assert "invalid_email_format" not in page.content()
    assert live.get("customers/cust_nova").status_code == 404
    screenshot(page, "forms-customer-new-refused")

    page.fill("#email", "billing@nova.test")
    page.fill("#timezone", "Europe/Berlin")
    page.fill("#currency", "eur")
    page.fill("#country", "de")
    page.fill("#legal_name", "Nova Software GmbH")
    page.fill("#tax_identification_number", "DE123456789")
    page.fill("#net_payment_term", "14")
    page.click("#save-customer")
    page.wait_for_url("**/dashboard/customers/cust_nova?message=*")
    assert flash_text(page) == "Customer cust_nova created."
    stored = live.get("customers/cust_nova").json()["customer"]
    assert stored["email"] == "billing@nova.test"
    assert stored["timezone"] == "Europe/Berlin"
    assert stored["currency"] == "EUR"  # typed in lower case, stored as the ISO code
    assert stored["country"] == "DE"
    assert stored["legal_name"] == "Nova Software GmbH"
    assert stored["tax_identification_number"] == "DE123456789"
    assert stored["net_payment_term"] == 14
    screenshot(page, "forms-customer-created")

    # The same external id again is refused rather than silently updating the customer.
    page.goto(f"{live.base}/dashboard/customers/new")
    page.fill("#external_id", "cust_nova")
    page.fill("#name", "Someone else")
    page.click("#save-customer")
    assert "External id is already used" in errors_text(page)
    assert live.get("customers/cust_nova").json()["customer"]["name"] == "Nova GmbH"


def test_edit_billing_details_refusing_an_unknown_timezone(page: Any, live: LiveApi) -> None:
    tax = {"tax": {"name": "VAT US", "code": "vat_us", "rate": "8.5"}}
    assert live.post("taxes", tax).status_code == 200
    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/customers/cust_acme")
    page.click("#edit-customer")
    page.wait_for_url("**/dashboard/customers/cust_acme/edit")
    page.fill("#timezone", "Nowhere/City")
    page.click("#save-customer")
    assert "Time zone is not a known time zone" in errors_text(page)
    assert live.get("customers/cust_acme").json()["customer"]["timezone"] is None
    screenshot(page, "forms-customer-edit-refused")

    page.fill("#timezone", "America/New_York")
    page.fill("#address_line1", "1 Main Street")
    page.fill("#city", "Springfield")
    page.fill("#country", "US")
    page.check("input[name='tax:vat_us']")
    page.click("#save-customer")
    page.wait_for_url("**/dashboard/customers/cust_acme?message=*")
    assert flash_text(page) == "Customer details saved."
    stored = live.get("customers/cust_acme").json()["customer"]
    assert stored["timezone"] == "America/New_York"
    assert stored["address_line1"] == "1 Main Street"
    assert stored["city"] == "Springfield"
    assert stored["name"] == "Acme Corp"  # the fields left as they were are kept
    assert [t["code"] for t in stored["taxes"]] == ["vat_us"]


def test_delete_a_customer_after_a_confirmation_that_names_its_subscriptions(
    page: Any, live: LiveApi
) -> None:
    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/customers/cust_acme")
    page.click("#delete-customer")
    page.wait_for_url("**/dashboard/customers/cust_acme/delete")
    # Nothing happens before the confirmation.
    assert live.get("customers/cust_acme").status_code == 200
    assert "sub_cust_acme" in page.locator("#confirm-delete").inner_text()
    screenshot(page, "forms-customer-delete-confirm")
    page.click("#confirm")
    page.wait_for_url("**/dashboard/customers?message=*")
    assert flash_text(page) == "Customer cust_acme deleted."
    assert live.get("customers/cust_acme").status_code == 404
    ended = live.get("subscriptions/sub_cust_acme?status=terminated").json()["subscription"]
    assert ended["status"] == "terminated"
