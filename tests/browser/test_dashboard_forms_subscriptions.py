"""Subscription forms in headless Chromium: subscribe, upgrade with the preview, schedule a
downgrade, terminate with the credit-note choice; each with a refused input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.dashboard_forms_support import errors_text, flash_text, sign_in_as_admin

pytestmark = pytest.mark.browser


def _plan(live: LiveApi, code: str, name: str, amount_cents: int) -> None:
    body = {
        "plan": {
            "name": name,
            "code": code,
            "interval": "monthly",
            "amount_cents": amount_cents,
            "amount_currency": "USD",
        }
    }
    assert live.post("plans", body).status_code == 200


def _invoice_ids(live: LiveApi) -> set[str]:
    found = live.get("invoices?external_customer_id=cust_acme&per_page=100").json()["invoices"]
    return {i["lago_id"] for i in found}


def test_subscribe_a_customer_refusing_a_form_without_a_plan(page: Any, live: LiveApi) -> None:
    _plan(live, "basic", "Basic", 500)
    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/customers/cust_acme")
    page.click("#new-subscription")
    page.wait_for_url("**/dashboard/customers/cust_acme/subscriptions/new")
    page.fill("#external_id", "sub_acme_extra")
    page.click("#create-subscription")
    assert "Plan is required." in errors_text(page)
    assert live.get("subscriptions/sub_acme_extra").status_code == 404
    screenshot(page, "forms-subscription-new-refused")

    page.select_option("#plan_code", "basic")
    # The customer has no time zone of its own: the organization's, UTC, says the label.
    assert "in UTC" in page.locator("label[for=subscription_at]").inner_text()
    page.fill("#subscription_at", "2024-03-15T00:00")
    page.click("#create-subscription")
    page.wait_for_url("**/dashboard/customers/cust_acme?message=*")
    assert flash_text(page) == (
        "Subscription sub_acme_extra to Basic will start on 2024-03-15 00:00 UTC."
    )
    screenshot(page, "forms-customer-page-actions")
    stored = live.get("subscriptions/sub_acme_extra").json()["subscription"]
    assert stored["status"] == "pending"

    # The list filters by status: the pending one is there, not among the active ones.
    page.goto(f"{live.base}/dashboard/subscriptions?status=pending")
    assert "sub_acme_extra" in page.locator("#subscriptions").inner_text()
    screenshot(page, "forms-subscriptions-list")
    page.goto(f"{live.base}/dashboard/subscriptions?status=active")
    active = page.locator("#subscriptions").inner_text()
    assert "sub_acme_extra" not in active
    assert "sub_cust_acme" in active
    assert stored["plan_code"] == "basic"
    assert stored["subscription_at"].startswith("2024-03-15T00:00:00")


def test_upgrade_with_its_preview_then_schedule_a_downgrade_then_terminate(
    page: Any, live: LiveApi
) -> None:
    _plan(live, "pro", "Pro", 5000)
    _plan(live, "basic", "Basic", 500)
    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/customers/cust_acme")
    page.click("[data-subscription=sub_cust_acme] .change-plan")
    page.wait_for_url("**/dashboard/subscriptions/sub_cust_acme/plan")

    # Upgrade: Startup (10 USD a month) to Pro (50 USD a month) is dearer, so it is now.
    before = _invoice_ids(live)
    page.select_option("#plan_code", "pro")
    page.click("#preview")
    preview = page.locator("#change-preview")
    assert "Upgrade: takes effect now (2024-02-10 12:00 UTC)" in preview.inner_text()
    fees = page.locator("#preview-fees").inner_text()
    # Startup closes on the 10th: 1 to 9 February, 9 of February 2024's 29 days, of
    # 10.00 USD: 1000 × 9 / 29 = 310.3 cents, 3.10 USD.
    assert "3.10 USD" in fees
    # 18 calls in February on the graduated charge: 10 free, then 8 × 0.50 + 1.00 flat.
    assert "5.00 USD" in fees
    previewed = int(page.locator("#preview-total").get_attribute("data-cents") or "-1")
    assert _invoice_ids(live) == before  # the preview stored nothing
    screenshot(page, "forms-subscription-upgrade-preview")
    page.click("#confirm-change")
    page.wait_for_url("**/dashboard/customers/cust_acme?message=*")
    assert flash_text(page) == "Plan changed to Pro now; the change is invoiced."
    assert live.get("subscriptions/sub_cust_acme").json()["subscription"]["plan_code"] == "pro"
    issued = [
        i
        for i in live.get("invoices?external_customer_id=cust_acme&per_page=100").json()["invoices"]
        if i["lago_id"] not in before
    ]
    # The preview was the invoice the change then issued, to the cent.
    assert len(issued) == 1
    assert issued[0]["total_amount_cents"] == previewed

    # Downgrade: Pro to Basic (5 USD) is cheaper, so it waits for the period's end, which
    # for a calendar monthly plan in UTC is 1 March at midnight.
    page.click("[data-subscription=sub_cust_acme] .change-plan")
    page.select_option("#plan_code", "basic")
    page.click("#preview")
    assert (
        "Downgrade: scheduled for 2024-03-01 00:00 UTC"
        in page.locator("#change-preview").inner_text()
    )
    screenshot(page, "forms-subscription-downgrade-preview")
    page.click("#confirm-change")
    page.wait_for_url("**/dashboard/customers/cust_acme?message=*")
    assert flash_text(page) == "Downgrade to Basic scheduled for 2024-03-01 00:00 UTC."
    pending = live.get("subscriptions/sub_cust_acme?status=pending").json()["subscription"]
    assert pending["plan_code"] == "basic"
    assert (
        live.get("subscriptions/sub_cust_acme?status=active").json()["subscription"]["plan_code"]
        == "pro"
    )

    # A refused change: the plan it is on already.
    page.goto(f"{live.base}/dashboard/subscriptions/sub_cust_acme/plan?plan_code=pro")
    assert "already on this plan" in errors_text(page)

    # Terminate, choosing no credit note for the unused days.
    page.goto(f"{live.base}/dashboard/customers/cust_acme")
    page.click("[data-subscription=sub_cust_acme][class*=subscription] .terminate >> nth=0")
    page.wait_for_url("**/dashboard/subscriptions/sub_cust_acme/terminate?status=active")
    assert live.get("subscriptions/sub_cust_acme?status=active").status_code == 200
    page.select_option("#on_termination_credit_note", "skip")
    screenshot(page, "forms-subscription-terminate")
    page.click("#confirm-terminate")
    page.wait_for_url("**/dashboard/customers/cust_acme?message=*")
    assert flash_text(page) == "Subscription sub_cust_acme terminated."
    ended = live.get("subscriptions/sub_cust_acme?status=terminated").json()["subscription"]
    assert ended["plan_code"] == "pro"
    assert ended["on_termination_credit_note"] == "skip"
    # The scheduled downgrade ended with it.
    assert live.get("subscriptions/sub_cust_acme?status=pending").status_code == 404
