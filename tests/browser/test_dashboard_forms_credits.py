"""Coupon and credit-note forms in headless Chromium: create a coupon, apply it to a
customer and remove it; credit an invoice after its estimate; each with a refused input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.dashboard_forms_support import errors_text, flash_text, sign_in_as_admin

pytestmark = pytest.mark.browser


def test_create_a_coupon_apply_it_and_remove_it(page: Any, live: LiveApi) -> None:
    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/coupons")
    page.fill("#name", "Welcome")
    page.fill("#code", "welcome")
    page.select_option("#coupon_type", "percentage")
    page.click("#create-coupon")
    assert "Percentage is required." in errors_text(page)
    assert live.get("coupons/welcome").status_code == 404
    screenshot(page, "forms-coupon-refused")

    page.select_option("#coupon_type", "fixed_amount")
    page.fill("#amount", "10.00")
    page.fill("#amount_currency", "USD")
    page.select_option("#frequency", "recurring")
    page.fill("#frequency_duration", "3")
    page.click("#create-coupon")
    page.wait_for_url("**/dashboard/coupons?message=*")
    assert flash_text(page) == "Coupon Welcome created."
    coupon = live.get("coupons/welcome").json()["coupon"]
    assert coupon["amount_cents"] == 1000  # 10.00 USD in cents
    assert coupon["frequency"] == "recurring"
    assert coupon["frequency_duration"] == 3
    assert "10.00 USD" in page.locator("#coupons").inner_text()

    page.goto(f"{live.base}/dashboard/customers/cust_acme")
    page.click("#customer-coupons")
    page.wait_for_url("**/dashboard/customers/cust_acme/applied_coupons")
    page.select_option("#coupon_code", "welcome")
    page.fill("#amount", "7.5x")
    page.click("#apply-coupon")
    assert "Amount is not valid." in errors_text(page)
    page.fill("#amount", "7.50")
    page.click("#apply-coupon")
    page.wait_for_url("**/applied_coupons?message=*")
    assert flash_text(page) == "Coupon Welcome applied to cust_acme."
    applied = live.get("applied_coupons?external_customer_id=cust_acme").json()["applied_coupons"]
    assert [(a["coupon_code"], a["amount_cents"], a["status"]) for a in applied] == [
        ("welcome", 750, "active")  # the amount typed over the coupon's: 7.50 USD
    ]
    screenshot(page, "forms-coupon-applied")

    page.on("dialog", lambda dialog: dialog.accept())  # "Remove this coupon?"
    page.click(".remove-coupon")
    page.wait_for_url("**/applied_coupons?message=*")
    assert "Coupon removed" in flash_text(page)
    applied = live.get("applied_coupons?external_customer_id=cust_acme").json()["applied_coupons"]
    assert applied[0]["status"] == "terminated"


def test_credit_an_invoice_after_its_estimate_refusing_more_than_the_fee(
    page: Any, live: LiveApi
) -> None:
    invoice = live.get("invoices?external_customer_id=cust_acme").json()["invoices"][0]
    full = live.get(f"invoices/{invoice['lago_id']}").json()["invoice"]
    plan_fee = next(f for f in full["fees"] if f["item"]["type"] == "subscription")
    # The January invoice carries the Startup plan's whole month: 10.00 USD, untaxed.
    assert plan_fee["amount_cents"] == 1000
    assert full["taxes_amount_cents"] == 0

    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/invoices/{invoice['lago_id']}")
    page.click("#new-credit-note")
    page.wait_for_url(f"**/dashboard/invoices/{invoice['lago_id']}/credit_notes/new")
    page.fill(f"input[name='fee:{plan_fee['lago_id']}']", "12.00")
    page.click("#estimate")
    assert "more than is left to credit on this fee" in errors_text(page)
    screenshot(page, "forms-credit-note-refused")

    page.fill(f"input[name='fee:{plan_fee['lago_id']}']", "4.00")
    page.click("#estimate")
    # 4.00 USD of an untaxed fee without coupons: the note is 400 cents.
    assert page.locator("#estimate-total").get_attribute("data-cents") == "400"
    assert live.get("credit_notes?external_customer_id=cust_acme").json()["credit_notes"] == []
    screenshot(page, "forms-credit-note-estimate")
    page.select_option("#reason", "order_change")
    page.click("#issue-credit-note")
    page.wait_for_url(f"**/dashboard/invoices/{invoice['lago_id']}?message=*")
    assert "4.00 USD back to the customer" in flash_text(page)
    notes = live.get("credit_notes?external_customer_id=cust_acme").json()["credit_notes"]
    assert len(notes) == 1
    assert notes[0]["total_amount_cents"] == 400
    assert notes[0]["reason"] == "order_change"
    assert notes[0]["credit_amount_cents"] + notes[0]["offset_amount_cents"] == 400

    # The list of credit notes, filtered by customer, shows it with its currency.
    page.goto(f"{live.base}/dashboard/credit_notes?customer=cust_acme")
    listed = page.locator("#credit-notes").inner_text()
    assert notes[0]["number"] in listed
    assert "4.00 USD" in listed
    screenshot(page, "forms-credit-notes-list")
    page.goto(f"{live.base}/dashboard/credit_notes?customer=cust_nobody")
    assert "No credit note." in page.locator("#credit-notes").inner_text()
