"""Wallet forms in headless Chromium: create, top up (paid and granted), void, recurring
rules and terminate; each with a refused input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.dashboard_forms_support import errors_text, flash_text, sign_in_as_admin

pytestmark = pytest.mark.browser


def _wallet(live: LiveApi) -> dict[str, Any]:
    found: dict[str, Any] = live.get("wallets?external_customer_id=cust_acme").json()["wallets"][0]
    return found


def test_a_wallet_from_creation_to_termination(page: Any, live: LiveApi) -> None:
    sign_in_as_admin(page, live)
    page.goto(f"{live.base}/dashboard/customers/cust_acme")
    page.click("#customer-wallets")
    page.wait_for_url("**/dashboard/customers/cust_acme/wallets")
    page.fill("#name", "Prepaid")
    page.fill("#currency", "USD")
    page.fill("#rate_amount", "0")
    page.fill("#granted_credits", "50")
    page.click("#create-wallet")
    assert "Rate (value of one credit)" in errors_text(page)
    assert live.get("wallets?external_customer_id=cust_acme").json()["wallets"] == []
    screenshot(page, "forms-wallet-refused")

    page.fill("#rate_amount", "2")
    page.click("#create-wallet")
    page.wait_for_url("**/dashboard/wallets/*?message=*")
    assert flash_text(page) == "Wallet created."
    # 50 granted credits at 2.00 USD each: 100.00 USD, 10000 cents.
    assert page.locator("#wallet-balance").get_attribute("data-cents") == "10000"
    assert _wallet(live)["balance_cents"] == 10000

    # Top up: 25 granted credits, and 10 paid ones, credited at once (the wallet does not
    # wait for the payment of their invoice, Lago's default).
    page.fill("#granted_credits", "25")
    page.fill("#paid_credits", "10")
    page.click("#top-up")
    page.wait_for_url("**/dashboard/wallets/*?message=*")
    assert "10 paid credits (credited now and invoiced)" in flash_text(page)
    assert "25 granted credits" in flash_text(page)
    # 50 + 25 + 10 = 85 credits, × 2.00 USD = 170.00 USD.
    assert page.locator("#wallet-balance").get_attribute("data-cents") == "17000"
    kinds = page.locator("#wallet-transactions").inner_text()
    assert "purchased" in kinds and "granted" in kinds
    screenshot(page, "forms-wallet-topped-up")

    # Void: more than the wallet holds is refused; 5 credits are removed.
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations
    page.fill("#voided_credits", "100")
    page.click("#void-credits")
    assert "Credits to void is more than the wallet holds." in errors_text(page)
    assert _wallet(live)["balance_cents"] == 17000
    page.fill("#voided_credits", "5")
    page.click("#void-credits")
    page.wait_for_url("**/dashboard/wallets/*?message=*")
    assert flash_text(page) == "5 credits voided."
    # 85 − 5 = 80 credits, × 2.00 USD = 160.00 USD.
    assert _wallet(live)["balance_cents"] == 16000

    # A recurring rule: a threshold without its credits is refused; a monthly grant is kept.
    page.select_option("#trigger", "threshold")
    page.click("#add-rule")
    assert "Recurring rule needs a trigger" in errors_text(page)
    page.select_option("#trigger", "interval")
    page.select_option("#interval", "monthly")
    page.fill("#rule_granted_credits", "10")
    page.click("#add-rule")
    page.wait_for_url("**/dashboard/wallets/*?message=*")
    assert flash_text(page) == "Recurring top-up rule added."
    rules = _wallet(live)["recurring_transaction_rules"]
    assert [(r["trigger"], r["interval"], r["granted_credits"]) for r in rules] == [
        ("interval", "monthly", "10.0")
    ]
    screenshot(page, "forms-wallet-rule")
    page.click(".remove-rule")
    page.wait_for_url("**/dashboard/wallets/*?message=*")
    assert flash_text(page) == "Recurring top-up rule removed."
    assert _wallet(live)["recurring_transaction_rules"] == []

    page.click("#terminate-wallet")
    page.wait_for_url("**/dashboard/wallets/*?message=*")
    assert "Wallet terminated" in flash_text(page)
    assert _wallet(live)["status"] == "terminated"
    assert page.locator("#top-up-form").count() == 0  # no more credits to a dead wallet
    page.goto(f"{live.base}/dashboard/customers/cust_acme/wallets")
    assert "terminated" in page.locator("#wallets").inner_text()
    screenshot(page, "forms-wallets-list")
