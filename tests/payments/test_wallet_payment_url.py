"""A paid wallet top-up's payment link, on SQLite and PostgreSQL (localstripe behind it)."""

from __future__ import annotations

from typing import Any

import stripe
from sqlalchemy import select

from meterly.services import payments
from meterly.store.tables import WalletTransaction
from tests.payments.conftest import provider_customer
from tests.payments.test_payments_stripe import collect, connect, linked_customer


def test_a_paid_top_up_gets_a_payment_link_then_credits_when_paid(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe, webhook_endpoint=False)
    linked_customer(api, "topper", provider_customer(stripe_client, "4242424242424242"))
    wallet = {
        "external_customer_id": "topper",
        "rate_amount": "1",
        "currency": "USD",
        "paid_credits": "25",
        "invoice_requires_successful_payment": True,
    }
    response = api.post("wallets", {"wallet": wallet})
    assert response.status_code == 200, response.text
    wallet_id = response.json()["wallet"]["lago_id"]
    [tx] = api.get(f"wallets/{wallet_id}/wallet_transactions").json()["wallet_transactions"]

    link = api.post(f"wallet_transactions/{tx['lago_id']}/payment_url")
    assert link.status_code == 200, link.text
    details = link.json()["wallet_transaction_payment_details"]
    assert details["lago_wallet_transaction_id"] == tx["lago_id"]
    assert details["external_customer_id"] == "topper"
    assert details["payment_provider"] == "stripe"
    # The link names the top-up's invoice: 25 credits at a rate of 1 = 2500 cents due.
    token = details["payment_url"].rsplit("/pay/", 1)[1]
    keys = api.client.app.state.settings.verification_keys
    grant = payments.links.read(keys, token, now=clock.now())
    invoice = api.get(f"invoices/{grant.invoice_id}").json()["invoice"]
    assert invoice["invoice_type"] == "credit" and invoice["total_amount_cents"] == 2500

    # Paid (here off-session by the worker), the wallet is credited and the link refuses.
    collect(api, clock)
    credited = api.get(f"wallets/{wallet_id}").json()["wallet"]
    assert credited["credits_balance"] == "25.0"
    again = api.post(f"wallet_transactions/{tx['lago_id']}/payment_url")
    assert again.status_code == 405 and again.json()["code"] == "invalid_status"


def test_granted_credits_have_nothing_to_pay(api: Any, localstripe: str) -> None:
    connect(api, localstripe, webhook_endpoint=False)
    linked_customer(api, "granted", "cus_unused")
    wallet = {
        "external_customer_id": "granted",
        "rate_amount": "1",
        "currency": "USD",
        "granted_credits": "5",
    }
    wallet_id = api.post("wallets", {"wallet": wallet}).json()["wallet"]["lago_id"]
    with api.database.unit_of_work() as session:
        [tx] = session.scalars(
            select(WalletTransaction).where(WalletTransaction.wallet_id == wallet_id)
        ).all()
        tx_id = tx.id
    refused = api.post(f"wallet_transactions/{tx_id}/payment_url")
    assert refused.status_code == 405 and refused.json()["code"] == "invalid_status"
    assert api.post("wallet_transactions/unknown/payment_url").status_code == 404
