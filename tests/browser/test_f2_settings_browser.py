"""Organization settings, webhook endpoints, API keys and alerts in Chromium: each form's
happy path and one bad input; and a missing dashboard page is an HTML 404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser.conftest import LiveApi, screenshot
from tests.browser.f2_helpers import accept_dialogs, sign_in_with_key

pytestmark = pytest.mark.browser


def test_organization_settings_are_saved_and_a_bad_timezone_is_refused(
    page: Any, live: LiveApi
) -> None:
    sign_in_with_key(page, live)
    page.click("text=Settings")
    page.fill("#legal_name", "Acme Billing SAS")
    page.fill("#tax_identification_number", "FR12345678901")
    page.fill("#address_line1", "1 rue de la Paix")
    page.fill("#zipcode", "75002")
    page.fill("#city", "Paris")
    page.fill("#country", "FR")
    page.fill("#logo_url", "https://cdn.example.com/acme.png")
    page.fill("#invoice_footer", "Thank you for your business.")
    page.select_option("#document_numbering", "per_organization")
    page.fill("#document_number_prefix", "ACME")
    page.fill("#invoice_grace_period", "3")
    page.fill("#net_payment_term", "30")
    page.fill("#timezone", "Europe/Paris")
    page.fill("#default_currency", "eur")
    page.click("#save-settings")
    assert page.locator("#flash").inner_text() == "Settings saved."
    org = live.get("organizations").json()["organization"]
    assert org["legal_name"] == "Acme Billing SAS"
    assert org["tax_identification_number"] == "FR12345678901"
    assert org["city"] == "Paris"
    assert org["document_numbering"] == "per_organization"
    assert org["document_number_prefix"] == "ACME"
    assert org["net_payment_term"] == 30
    assert org["timezone"] == "Europe/Paris"
    assert org["default_currency"] == "EUR"
    assert org["billing_configuration"]["invoice_grace_period"] == 3
    assert org["billing_configuration"]["invoice_footer"] == "Thank you for your business."
    # The logo is not on the API's organization object: the page re-read it from the store.
    assert page.locator("#logo_url").input_value() == "https://cdn.example.com/acme.png"
    screenshot(page, "f2-settings")

    page.fill("#timezone", "Mars/Olympus_Mons")
    page.fill("#net_payment_term", "45")
    page.click("#save-settings")
    assert "Time zone is not a known time zone" in page.locator("#form-errors").inner_text()
    # The typed values stay on the form; the organization is unchanged.
    assert page.locator("#timezone").input_value() == "Mars/Olympus_Mons"
    org = live.get("organizations").json()["organization"]
    assert (org["timezone"], org["net_payment_term"]) == ("Europe/Paris", 30)


def test_webhook_endpoints_are_added_refused_and_deleted(page: Any, live: LiveApi) -> None:
    sign_in_with_key(page, live)
    accept_dialogs(page)
    page.goto(f"{live.base}/dashboard/webhook_endpoints")
    page.fill("#webhook_url", "https://hooks.example.com/meterly")
    page.fill("#name", "Accounting")
    page.check("input[name=signature_algo][value=jwt]")
    page.click("#create-endpoint")
    assert "added" in page.locator("#flash").inner_text()
    endpoints = live.get("webhook_endpoints").json()["webhook_endpoints"]
    assert [(e["webhook_url"], e["signature_algo"]) for e in endpoints] == [
        ("https://hooks.example.com/meterly", "jwt")
    ]

    page.fill("#webhook_url", "ftp://hooks.example.com/x")
    page.click("#create-endpoint")
    assert "must be an http:// or https:// address" in page.locator("#form-errors").inner_text()
    assert len(live.get("webhook_endpoints").json()["webhook_endpoints"]) == 1
    screenshot(page, "f2-webhook-endpoints")

    page.click("#endpoints >> text=Delete")
    page.wait_for_selector("#flash")
    assert live.get("webhook_endpoints").json()["webhook_endpoints"] == []


def _status_with(live: LiveApi, secret: str) -> int:
    answer = httpx.get(
        f"{live.base}/api/v1/organizations", headers={"Authorization": f"Bearer {secret}"}
    )
    return answer.status_code


def test_api_keys_are_shown_once_rotated_and_revoked(page: Any, live: LiveApi) -> None:
    sign_in_with_key(page, live)
    accept_dialogs(page)
    page.goto(f"{live.base}/dashboard/api_keys")
    page.fill("#name", "CI pipeline")
    page.click("#create-key")
    first = page.locator("#new-key").input_value()
    assert _status_with(live, first) == 200
    screenshot(page, "f2-api-key-created")
    page.goto(f"{live.base}/dashboard/api_keys")
    # Shown once: the list keeps only the first characters.
    assert page.locator("#new-key").count() == 0
    assert first not in page.content()
    row = page.locator(f"#api-keys tr[data-prefix='{first[:8]}']")

    row.locator("text=Rotate").click()
    second = page.locator("#new-key").input_value()
    assert second != first
    assert (_status_with(live, first), _status_with(live, second)) == (401, 200)

    page.locator(f"#api-keys tr[data-prefix='{second[:8]}'] >> text=Revoke").click()
    page.wait_for_selector("#flash")
    assert _status_with(live, second) == 401

    # Bad input: a key without a name (the browser's own check removed) is refused.
    page.evaluate("document.querySelector('#api-key-form #name').removeAttribute('required')")
    before = page.locator("#api-keys tbody tr").count()
    page.click("#create-key")
    assert "Name is required." in page.locator("#form-errors").inner_text()
    assert page.locator("#api-keys tbody tr").count() == before
    assert page.locator("#new-key").count() == 0


def test_an_alert_is_created_refused_and_deleted(page: Any, live: LiveApi) -> None:
    sign_in_with_key(page, live)
    accept_dialogs(page)
    page.click("text=Alerts")
    page.fill("#code", "spend")
    page.fill("#name", "Spend watch")
    page.select_option("#alert_type", "current_usage_amount")
    page.fill("#threshold0_value", "20")
    page.fill("#threshold1_value", "5")
    page.check("input[name=threshold1_recurring]")
    page.click("#create-alert")
    assert "Alert spend created." in page.locator("#flash").inner_text()
    alerts = live.get("subscriptions/sub_cust_acme/alerts").json()["alerts"]
    # Amounts are typed in the plan's currency: 20 USD = 2000 cents, 5 USD = 500.
    assert [(t["value"], t["recurring"]) for t in alerts[0]["thresholds"]] == [
        ("2000", False),
        ("500", True),
    ]
    assert "20.00 USD" in page.locator("#alerts").inner_text()

    page.fill("#code", "twice")
    page.fill("#threshold0_value", "7")
    page.fill("#threshold1_value", "7")
    page.click("#create-alert")
    assert "Thresholds has the same threshold twice." in page.locator("#form-errors").inner_text()
    assert len(live.get("subscriptions/sub_cust_acme/alerts").json()["alerts"]) == 1
    screenshot(page, "f2-alerts")

    page.click("#alerts tr[data-code=spend] >> text=Delete")
    page.wait_for_selector("#flash")
    assert live.get("subscriptions/sub_cust_acme/alerts").json()["alerts"] == []


def test_a_missing_dashboard_page_is_an_html_404(page: Any, live: LiveApi) -> None:
    sign_in_with_key(page, live)
    answer = page.goto(f"{live.base}/dashboard/no/such/page")
    assert answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert page.locator("h1").inner_text() == "Not found"
    screenshot(page, "f2-not-found")
