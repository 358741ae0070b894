"""The hosted payment page in real Chromium, against localstripe's stand-in for Stripe.js.

A customer with no saved card opens the invoice's `payment_url`, types a card that needs
3-D Secure, authenticates twice (saving the card, then paying) and the invoice is paid;
localstripe also delivers its own signed webhook to Meterly, which verifies it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from meterly.store.tables import PaymentReceipt, ProviderEvent
from tests.browser.conftest import browser, page, screenshot  # noqa: F401 - fixtures
from tests.payments.conftest import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    LiveServer,
    provider_customer,
)

pytestmark = pytest.mark.browser

TOTAL = 4200  # one add-on of 42.00 USD, no tax


def arrange(live: LiveServer, localstripe: str, provider_customer_id: str) -> dict[str, Any]:
    connection = {
        "code": "stripe_main",
        "secret_key": SECRET_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": localstripe,
        "publishable_key": "pk_test_meterly",
    }
    assert live.put("payment_providers/stripe", {"payment_provider": connection}).status_code == 200
    add_on = {"name": "Audit", "code": "audit", "amount_cents": TOTAL, "amount_currency": "USD"}
    assert live.post("add_ons", {"add_on": add_on}).status_code == 200
    billing = {"payment_provider": "stripe", "provider_customer_id": provider_customer_id}
    customer = {"external_id": "payer", "currency": "USD", "billing_configuration": billing}
    assert live.post("customers", {"customer": customer}).status_code == 200
    body = {"external_customer_id": "payer", "currency": "USD", "fees": [{"add_on_code": "audit"}]}
    invoice: dict[str, Any] = live.post("invoices", {"invoice": body}).json()["invoice"]
    assert invoice["total_amount_cents"] == TOTAL
    return invoice


def test_customer_pays_on_the_hosted_page(
    live_server: LiveServer,
    localstripe: str,
    stripe_client: stripe.StripeClient,
    page: Any,  # noqa: F811
) -> None:
    cus = provider_customer(stripe_client, None)
    invoice = arrange(live_server, localstripe, cus)
    # localstripe delivers its events, signed with the endpoint secret, to Meterly.
    hook = {
        "url": f"{live_server.base}/webhooks/stripe/{live_server.org_id}",
        "secret": WEBHOOK_SECRET,
        "events": ["payment_intent.succeeded"],
    }
    httpx.post(
        f"{localstripe}/_config/webhooks/meterly-{live_server.org_id}", json=hook
    ).raise_for_status()

    url = live_server.post(f"invoices/{invoice['lago_id']}/payment_url").json()[
        "invoice_payment_details"
    ]["payment_url"]
    page.goto(url)
    assert "42.00 USD" in page.inner_text("#amount-due")
    # localstripe's card element: one input per field; the year takes two digits.
    page.fill("input[placeholder=number]", "4000000000003220")
    page.fill("input[placeholder=exp_month]", "12")
    page.fill("input[placeholder=exp_year]", "30")
    page.fill("input[placeholder=cvc]", "123")
    page.fill("input[placeholder=postal_code]", "75001")
    page.click("#pay-button")
    # 3-D Secure: once to save the card, once to pay.
    page.click("text=Complete authentication")
    page.click("text=Complete authentication")
    page.wait_for_selector("#pay-status[data-kind=done]")
    assert page.inner_text("#pay-status") == "Paid. Thank you."
    screenshot(page, "payments_hosted_page_paid")

    state = live_server.get(f"invoices/{invoice['lago_id']}").json()["invoice"]
    assert state["payment_status"] == "succeeded" and state["total_paid_amount_cents"] == TOTAL
    [paid] = live_server.get(f"payments?invoice_id={invoice['lago_id']}").json()["payments"]
    assert paid["amount_cents"] == TOTAL and paid["payment_status"] == "succeeded"
    # The card is now the customer's default, for the next invoices charged off-session.
    [method] = live_server.get("customers/payer/payment_methods").json()["payment_methods"]
    assert method["is_default"] is True
    with live_server.database.unit_of_work() as session:
        assert len(session.scalars(select(PaymentReceipt)).all()) == 1

    # localstripe's own delivery arrives about a second later; it verifies and changes
    # nothing more (the page already recorded the payment).
    deadline = time.monotonic() + 30
    received: list[ProviderEvent] = []
    while time.monotonic() < deadline and not received:
        with live_server.database.unit_of_work() as session:
            received = list(session.scalars(select(ProviderEvent)))
        time.sleep(0.2)
    assert [e.event_type for e in received] == ["payment_intent.succeeded"]
    with live_server.database.unit_of_work() as session:
        assert len(session.scalars(select(PaymentReceipt)).all()) == 1

    # The link keeps working and shows the invoice paid.
    page.goto(url)
    assert page.inner_text("#pay-status") == "This invoice is paid. Thank you."
    page.goto(url[:-3] + "xyz")
    assert "not valid" in page.inner_text("h1")
