"""Collecting invoices through Stripe (a real localstripe server), on SQLite and PostgreSQL.

Every invoice here is one add-on of 100.00 USD with no tax: total 10000 cents.
"""

from __future__ import annotations

from typing import Any

import httpx
import stripe
from sqlalchemy import func, select

from meterly.services.payments import collection
from meterly.store.tables import ChargeAttempt, PaymentReceipt, Webhook
from tests.payments.conftest import SECRET_KEY, WEBHOOK_SECRET, provider_customer, signed_event

TOTAL = 10000  # one add-on of 10000 cents, no tax


def connect(api: Any, localstripe: str, *, webhook_endpoint: bool = True) -> None:
    response = api.put(
        "payment_providers/stripe",
        {
            "payment_provider": {
                "code": "stripe_test",
                "name": "Stripe",
                "secret_key": SECRET_KEY,
                "webhook_secret": WEBHOOK_SECRET,
                "api_base": localstripe,
            }
        },
    )
    assert response.status_code == 200, response.text
    # The secrets are stored and never answered.
    assert SECRET_KEY not in response.text and WEBHOOK_SECRET not in response.text
    assert response.json()["payment_provider"]["has_secret_key"] is True
    add_on = {"name": "Setup", "code": "setup", "amount_cents": TOTAL, "amount_currency": "USD"}
    assert api.post("add_ons", {"add_on": add_on}).status_code == 200
    if not webhook_endpoint:
        return
    endpoint = {"webhook_url": "https://hooks.example.com/meterly", "signature_algo": "hmac"}
    assert api.post("webhook_endpoints", {"webhook_endpoint": endpoint}).status_code == 200


def linked_customer(api: Any, external_id: str, provider_customer_id: str | None) -> None:
    billing: dict[str, Any] = {"payment_provider": "stripe", "sync_with_provider": True}
    if provider_customer_id:
        billing["provider_customer_id"] = provider_customer_id
    body = {"external_id": external_id, "currency": "USD", "billing_configuration": billing}
    response = api.post("customers", {"customer": body})
    assert response.status_code == 200, response.text


def invoice_for(api: Any, external_id: str) -> dict[str, Any]:
    body = {
        "external_customer_id": external_id,
        "currency": "USD",
        "fees": [{"add_on_code": "setup"}],
    }
    response = api.post("invoices", {"invoice": body})
    assert response.status_code == 200, response.text
    invoice: dict[str, Any] = response.json()["invoice"]
    assert invoice["status"] == "finalized" and invoice["total_amount_cents"] == TOTAL
    return invoice


def collect(api: Any, clock: Any) -> int:
    keys = api.client.app.state.settings.verification_keys
    return collection.run_once(api.database, keys=keys, clock=clock)


def invoice_state(api: Any, invoice_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"invoices/{invoice_id}").json()["invoice"]
    return body


def payments_of(api: Any, invoice_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"payments?invoice_id={invoice_id}").json()["payments"]
    return items


def webhooks_of(api: Any, webhook_type: str) -> int:
    with api.database.unit_of_work() as session:
        query = (
            select(func.count()).select_from(Webhook).where(Webhook.webhook_type == webhook_type)
        )
        return int(session.scalar(query) or 0)


def receipts(api: Any) -> int:
    with api.database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(PaymentReceipt)) or 0)


def test_successful_off_session_charge(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    cus = provider_customer(stripe_client, "4242424242424242")
    linked_customer(api, "good", cus)
    invoice = invoice_for(api, "good")

    assert collect(api, clock) == 1
    state = invoice_state(api, invoice["lago_id"])
    assert state["payment_status"] == "succeeded"
    assert state["total_paid_amount_cents"] == TOTAL
    [paid] = payments_of(api, invoice["lago_id"])
    assert paid["type"] == "provider" and paid["payment_status"] == "succeeded"
    assert paid["amount_cents"] == TOTAL and paid["provider_customer_id"] == cus
    intent = stripe_client.v1.payment_intents.retrieve(paid["provider_payment_id"])
    assert intent["status"] == "succeeded" and intent["amount"] == TOTAL
    assert intent["metadata"]["lago_invoice_id"] == invoice["lago_id"]
    assert receipts(api) == 1
    assert webhooks_of(api, "payment_receipt.created") == 1
    assert webhooks_of(api, "invoice.payment_status_updated") == 1

    # A second pass finds nothing to do: paid invoices are never charged again.
    assert collect(api, clock) == 0
    assert len(payments_of(api, invoice["lago_id"])) == 1


def test_declined_card_then_retry_payment(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    # 4000000000000341: attaches to the customer, declines every charge.
    cus = provider_customer(stripe_client, "4000000000000341")
    linked_customer(api, "declined", cus)
    invoice = invoice_for(api, "declined")

    assert collect(api, clock) == 1
    assert invoice_state(api, invoice["lago_id"])["payment_status"] == "failed"
    [failed] = payments_of(api, invoice["lago_id"])
    assert failed["payment_status"] == "failed"
    assert webhooks_of(api, "invoice.payment_failure") == 1
    assert receipts(api) == 0

    # Nothing is retried by itself.
    assert collect(api, clock) == 0
    # The customer saves a working card; the operator retries.
    method = stripe_client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    stripe_client.v1.payment_methods.attach(method["id"], params={"customer": cus})
    stripe_client.v1.customers.update(
        cus, params={"invoice_settings": {"default_payment_method": method["id"]}}
    )
    assert api.post(f"invoices/{invoice['lago_id']}/retry_payment").status_code == 200
    # A second retry while the first waits adds no attempt.
    assert api.post(f"invoices/{invoice['lago_id']}/retry_payment").status_code == 200
    assert collect(api, clock) == 1

    assert invoice_state(api, invoice["lago_id"])["payment_status"] == "succeeded"
    statuses = sorted(p["payment_status"] for p in payments_of(api, invoice["lago_id"]))
    assert statuses == ["failed", "succeeded"]
    with api.database.unit_of_work() as session:
        attempts = session.scalars(select(ChargeAttempt).order_by(ChargeAttempt.attempt)).all()
        assert [(a.attempt, a.outcome) for a in attempts] == [(1, "failed"), (2, "succeeded")]
    assert receipts(api) == 1
    # A paid invoice cannot be retried.
    assert api.post(f"invoices/{invoice['lago_id']}/retry_payment").status_code == 405


def test_three_d_secure_then_webhooks_applied_once(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    # 4000000000003220: every payment needs 3-D Secure authentication.
    cus = provider_customer(stripe_client, "4000000000003220")
    linked_customer(api, "secure", cus)
    invoice = invoice_for(api, "secure")

    assert collect(api, clock) == 1
    [pending] = payments_of(api, invoice["lago_id"])
    assert pending["payment_status"] == "processing"
    assert pending["status"] == "requires_action"
    assert pending["next_action"]["type"] == "use_stripe_sdk"
    assert invoice_state(api, invoice["lago_id"])["payment_status"] == "pending"
    assert webhooks_of(api, "payment.requires_action") == 1

    # The customer authenticates (what Stripe.js does on the hosted page).
    intent_id = pending["provider_payment_id"]
    intent = stripe_client.v1.payment_intents.retrieve(intent_id)
    httpx.post(
        f"{localstripe}/v1/payment_intents/{intent_id}/_authenticate?success=true",
        json={"key": "pk_test", "client_secret": intent["client_secret"]},
    ).raise_for_status()
    succeeded = stripe_client.v1.payment_intents.retrieve(intent_id)
    assert succeeded["status"] == "succeeded"

    body, signature = signed_event("evt_3ds_ok", "payment_intent.succeeded", succeeded.to_dict())
    # A forged signature (another secret) and a missing one: 400, nothing changes.
    _, forged = signed_event(
        "evt_3ds_ok", "payment_intent.succeeded", succeeded.to_dict(), "whsec_x"
    )
    path = f"/webhooks/stripe/{api.org_id}"
    assert (
        api.client.post(path, content=body, headers={"Stripe-Signature": forged}).status_code == 400
    )
    assert api.client.post(path, content=body).status_code == 400
    tampered = body.replace(b'"succeeded"', b'"canceled"')
    headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
    assert api.client.post(path, content=tampered, headers=headers).status_code == 400
    assert invoice_state(api, invoice["lago_id"])["payment_status"] == "pending"

    # The real delivery, repeated five times: applied once.
    answers = [api.client.post(path, content=body, headers=headers) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["received"] for a in answers] == ["applied"] + ["duplicate"] * 4
    state = invoice_state(api, invoice["lago_id"])
    assert state["payment_status"] == "succeeded" and state["total_paid_amount_cents"] == TOTAL
    [paid] = payments_of(api, invoice["lago_id"])
    assert paid["payment_status"] == "succeeded" and paid["next_action"] == {}
    assert receipts(api) == 1
    assert webhooks_of(api, "invoice.payment_status_updated") == 1

    # A different event reporting the same success changes nothing either.
    again, sig2 = signed_event("evt_3ds_ok_2", "payment_intent.succeeded", succeeded.to_dict())
    reply = api.client.post(path, content=again, headers={"Stripe-Signature": sig2})
    assert reply.json()["received"] == "applied"
    assert (
        receipts(api) == 1
        and invoice_state(api, invoice["lago_id"])["total_paid_amount_cents"] == TOTAL
    )


def test_provider_customer_created_on_demand(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    linked_customer(api, "new", None)
    invoice = invoice_for(api, "new")

    assert collect(api, clock) == 1
    customer = api.get("customers/new").json()["customer"]
    created = customer["billing_configuration"]["provider_customer_id"]
    assert created.startswith("cus_")
    assert stripe_client.v1.customers.retrieve(created)["metadata"]["customer_id"] == "new"
    assert webhooks_of(api, "customer.payment_provider_created") == 1
    # No card saved yet: the charge fails without reaching a PaymentIntent.
    [failed] = payments_of(api, invoice["lago_id"])
    assert failed["payment_status"] == "failed" and failed["provider_payment_id"] is None
    assert invoice_state(api, invoice["lago_id"])["payment_status"] == "failed"


def test_payment_links_and_methods(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    cus = provider_customer(stripe_client, "4242424242424242")
    linked_customer(api, "links", cus)
    invoice = invoice_for(api, "links")

    details = api.post(f"invoices/{invoice['lago_id']}/payment_url").json()
    assert details["invoice_payment_details"]["payment_url"].split("/pay/")[1]
    assert details["invoice_payment_details"]["external_customer_id"] == "links"
    checkout = api.post("customers/links/checkout_url").json()["customer"]
    assert checkout["payment_provider"] == "stripe" and "/pay/" in checkout["checkout_url"]
    [method] = api.get("customers/links/payment_methods").json()["payment_methods"]
    assert method["is_default"] is True and method["provider_method_id"].startswith("pm_")
    assert method["payment_provider_type"] == "stripe"

    # A customer without a provider has no payment link.
    assert api.post("customers", {"customer": {"external_id": "plain"}}).status_code == 200
    assert api.post("customers/plain/checkout_url").status_code == 405


def test_portal_pay_button_opens_the_payment_page(
    live_server: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(live_server, localstripe, webhook_endpoint=False)
    linked_customer(live_server, "portal", provider_customer(stripe_client, None))
    invoice = invoice_for(live_server, "portal")
    portal_url = live_server.get("customers/portal/portal_url").json()["customer"]["portal_url"]
    web = httpx.Client(timeout=30)
    page = web.get(portal_url).text
    token = portal_url.rsplit("/", 1)[1]
    button = f"/pay/portal/{token}/{invoice['lago_id']}"
    assert button in page
    redirect = web.get(f"{live_server.base}{button}")
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/pay/")
    pay_page = web.get(f"{live_server.base}{redirect.headers['location']}")
    # 10000 cents shown as 100.00 USD.
    assert pay_page.status_code == 200 and "100.00 USD" in pay_page.text
    # Someone else's invoice id through this customer's portal: not valid.
    other = web.get(f"{live_server.base}/pay/portal/{token}/00000000-0000-0000-0000-000000000000")
    assert other.status_code == 404


def top_up_wallet(api: Any, external_id: str) -> dict[str, Any]:
    """25 paid credits at 1.00 USD each that settle only once paid: a 2500-cent invoice."""
    body = {
        "external_customer_id": external_id,
        "currency": "USD",
        "rate_amount": "1",
        "paid_credits": "25",
        "invoice_requires_successful_payment": True,
    }
    response = api.post("wallets", {"wallet": body})
    assert response.status_code == 200, response.text
    wallet: dict[str, Any] = response.json()["wallet"]
    assert wallet["balance_cents"] == 0  # nothing credited before the payment
    return wallet


def test_wallet_top_up_is_credited_only_when_paid(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    linked_customer(api, "wallet_ok", provider_customer(stripe_client, "4242424242424242"))
    linked_customer(api, "wallet_ko", provider_customer(stripe_client, "4000000000000341"))
    paid = top_up_wallet(api, "wallet_ok")
    refused = top_up_wallet(api, "wallet_ko")

    # Two credit invoices: one charged, one declined.
    assert collect(api, clock) == 2
    # 25 credits x 1.00 USD = 2500 cents, credited once the charge succeeded.
    assert api.get(f"wallets/{paid['lago_id']}").json()["wallet"]["balance_cents"] == 2500
    assert api.get(f"wallets/{refused['lago_id']}").json()["wallet"]["balance_cents"] == 0
    amounts = sorted(p["amount_cents"] for p in api.get("payments").json()["payments"])
    assert amounts == [2500, 2500]


def test_linking_to_an_unknown_provider_is_422_and_changes_nothing(
    api: Any, localstripe: str
) -> None:
    connect(api, localstripe)
    for billing, field in (
        ({"payment_provider": "stripe", "payment_provider_code": "nope"}, "payment_provider_code"),
        ({"payment_provider": "paypal"}, "payment_provider"),
    ):
        body = {"external_id": "odd", "billing_configuration": billing}
        response = api.post("customers", {"customer": body})
        assert response.status_code == 422
        assert list(response.json()["error_details"]) == [f"billing_configuration.{field}"]
    assert api.get("customers/odd").status_code == 404
