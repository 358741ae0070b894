"""The operator dashboard in headless Chromium: sign in, a customer, an invoice PDF, MRR."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.test_portal_browser import CANVAS_PIXELS

pytestmark = pytest.mark.browser


def test_sign_in_open_a_customer_an_invoice_pdf_and_see_the_mrr_chart(
    page: Any, live: LiveApi
) -> None:
    page.goto(f"{live.base}/dashboard")
    assert "/dashboard/login" in page.url
    # The first admin signs in with the organization's API key (people use a password).
    page.click("#key-login summary")
    page.fill("#api_key", "mtr_not_a_key")
    page.click("#key-login button[type=submit]")
    assert page.locator("#login-error").is_visible()
    screenshot(page, "dashboard-login")
    page.click("#key-login summary")
    page.fill("#api_key", live.key)
    page.click("#key-login button[type=submit]")
    page.wait_for_url(f"{live.base}/dashboard")

    # The MRR chart is drawn: its canvas has painted pixels.
    page.wait_for_function("() => document.body.dataset.chartsReady === '1'")
    assert page.evaluate(CANVAS_PIXELS, "chart-mrr") > 1000
    assert page.evaluate(CANVAS_PIXELS, "chart-gross") > 1000
    mrr = live.get("analytics/mrr?months=12").json()["mrrs"]
    january = next(r for r in mrr if r["month"].startswith("2024-01"))
    assert january["amount_cents"] == 1000
    screenshot(page, "dashboard-overview")

    page.click("text=Customers")
    page.fill("#q", "acme")
    page.click("form.filters button[type=submit]")
    page.click("#customers >> text=Acme Corp")
    page.wait_for_url("**/dashboard/customers/cust_acme")
    usage = live.get(
        "customers/cust_acme/current_usage?external_subscription_id=sub_cust_acme"
    ).json()["customer_usage"]
    assert page.locator(".usage-amount").get_attribute("data-cents") == str(usage["amount_cents"])
    screenshot(page, "dashboard-customer")

    invoice = live.get("invoices?external_customer_id=cust_acme").json()["invoices"][0]
    page.click(f"#customer-invoices >> text={invoice['number']}")
    page.wait_for_url(f"**/dashboard/invoices/{invoice['lago_id']}")
    assert page.locator("#invoice-total").get_attribute("data-cents") == str(
        invoice["total_amount_cents"]
    )
    screenshot(page, "dashboard-invoice")
    href = page.locator("#invoice-pdf").get_attribute("href")
    assert href is not None
    pdf = page.context.request.get(href)
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")

    page.click("text=Events")
    page.fill("#transaction_id", "feb-gb-eu")
    page.click("form.filters button[type=submit]")
    assert "feb-gb-eu" in page.locator("#events").inner_text()
    screenshot(page, "dashboard-events")
