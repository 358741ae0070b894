"""Add-on and one-off invoice forms in headless Chromium, each with a refused input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.dashboard_forms_support import errors_text, flash_text, sign_in_as_admin

pytestmark = pytest.mark.browser


def test_create_an_add_on_then_invoice_it_once(page: Any, live: LiveApi) -> None:
    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/add_ons")
    page.fill("#name", "Onboarding")
    page.fill("#code", "onboarding")
    page.fill("#amount", "49.90")
    page.fill("#amount_currency", "ZZZ")
    page.click("#create-add-on")
    assert "Currency is not valid." in errors_text(page)
    assert live.get("add_ons/onboarding").status_code == 404
    screenshot(page, "forms-add-on-refused")

    page.fill("#amount_currency", "USD")
    page.click("#create-add-on")
    page.wait_for_url("**/dashboard/add_ons?message=*")
    assert flash_text(page) == "Add-on Onboarding created."
    assert live.get("add_ons/onboarding").json()["add_on"]["amount_cents"] == 4990
    assert "49.90 USD" in page.locator("#add-ons").inner_text()
    screenshot(page, "forms-add-ons-list")
    page.fill("#q", "nothing like it")
    page.click("form.filters button[type=submit]")
    assert "No add-on." in page.locator("#add-ons").inner_text()

    page.goto(f"{live.base}/dashboard/customers/cust_acme")
    page.click("#new-one-off")
    page.wait_for_url("**/dashboard/customers/cust_acme/one_off_invoices/new")
    before = live.get("invoices?external_customer_id=cust_acme").json()["meta"]["total_count"]
    page.select_option("#add_on_0", "onboarding")
    page.fill("#units_0", "two")
    page.click("#create-one-off")
    assert "Units is not valid." in errors_text(page)
    after = live.get("invoices?external_customer_id=cust_acme").json()["meta"]["total_count"]
    assert after == before
    screenshot(page, "forms-one-off-refused")

    page.fill("#units_0", "2")
    page.fill("#description_0", "Two onboarding sessions")
    page.click("#create-one-off")
    page.wait_for_url("**/dashboard/invoices/*?message=*")
    assert flash_text(page).startswith("One-off invoice ")
    # 2 × 49.90 USD, untaxed: 99.80 USD, 9980 cents.
    assert page.locator("#invoice-total").get_attribute("data-cents") == "9980"
    assert page.locator("#invoice-status").inner_text() == "finalized"
    screenshot(page, "forms-one-off-issued")
