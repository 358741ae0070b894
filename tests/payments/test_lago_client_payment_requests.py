"""The unmodified lago-python-client's payment request and payment method calls against
the application served over HTTP (uvicorn, in the test process), on SQLite and PostgreSQL.

The client's `customer_payment_requests.find_all` sends no API key (a client bug, as for
the other customer-scoped lists): it gets Lago's 401.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import stripe
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.payment_request import PaymentRequest

from meterly.services.billing import invoices as invoice_service
from tests.payments.conftest import SECRET_KEY, WEBHOOK_SECRET, LiveServer
from tests.payments.test_payment_methods import two_cards


def client_of(live: LiveServer) -> Any:
    # api_url must end with "/": the client urljoins "api/v1/" onto it.
    key = live.http.headers["Authorization"].removeprefix("Bearer ")
    return Client(api_key=key, api_url=f"{live.base}/")


def unpaid_invoice(live: LiveServer, customer: str) -> dict[str, Any]:
    """One add-on of 120.00 EUR, no tax: the invoice owes 12000 cents."""
    add_on = {"name": "Audit", "code": "audit", "amount_cents": 12000, "amount_currency": "EUR"}
    live.post("add_ons", {"add_on": add_on})  # the second call finds it taken: fine
    body = {"external_id": customer, "currency": "EUR"}
    assert live.post("customers", {"customer": body}).status_code == 200
    one_off = {
        "external_customer_id": customer,
        "currency": "EUR",
        "fees": [{"add_on_code": "audit"}],
    }
    invoice: dict[str, Any] = live.post("invoices", {"invoice": one_off}).json()["invoice"]
    assert invoice["total_amount_cents"] == 12000
    return invoice


def test_payment_requests_through_the_client(live_server: LiveServer, clock: Any) -> None:
    client = client_of(live_server)
    customer = "late"
    invoice = unpaid_invoice(live_server, customer)
    # Issued today with no payment term: the billing clock marks it overdue a day later.
    clock.advance(timedelta(days=1))
    with live_server.database.unit_of_work() as session:
        invoice_service.mark_overdue(session, clock=clock)

    made = client.payment_requests.create(
        PaymentRequest(
            email="ap@late.test",
            external_customer_id=customer,
            lago_invoice_ids=[invoice["lago_id"]],
        )
    )
    # The invoice owes its 12000 cents (one add-on of 120.00 EUR, no tax).
    assert (made.amount_cents, made.amount_currency) == (12000, "EUR")
    assert made.payment_status == "pending" and made.email == "ap@late.test"
    assert made.customer.external_id == customer
    assert [i.lago_id for i in made.invoices.__root__] == [invoice["lago_id"]]
    assert client.payment_requests.find(made.lago_id).lago_id == made.lago_id
    listed = client.payment_requests.find_all({"external_customer_id": customer})
    assert [r.lago_id for r in listed["payment_requests"]] == [made.lago_id]

    with pytest.raises(LagoApiError) as not_overdue:
        fresh = unpaid_invoice(live_server, customer)
        client.payment_requests.create(
            PaymentRequest(
                email="ap@late.test",
                external_customer_id=customer,
                lago_invoice_ids=[fresh["lago_id"]],
            )
        )
    assert not_overdue.value.status_code == 422
    with pytest.raises(LagoApiError) as unauthenticated:
        client.customer_payment_requests.find_all(customer)
    assert unauthenticated.value.status_code == 401


def test_payment_methods_through_the_client(
    live_server: LiveServer, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    client = client_of(live_server)
    http = live_server.http
    connection = {
        "code": "stripe_main",
        "secret_key": SECRET_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": localstripe,
    }
    put = http.put("payment_providers/stripe", json={"payment_provider": connection})
    assert put.status_code == 200
    cus, good, declined = two_cards(stripe_client)
    customer = "cards"
    billing = {
        "payment_provider": "stripe",
        "payment_provider_code": connection["code"],
        "provider_customer_id": cus,
    }
    body = {"external_id": customer, "currency": "EUR", "billing_configuration": billing}
    assert http.post("customers", json={"customer": body}).status_code == 200
    listed = {
        m["provider_method_id"]: m["lago_id"]
        for m in http.get(f"customers/{customer}/payment_methods").json()["payment_methods"]
    }

    chosen = client.customer_payment_methods.set_as_default(customer, listed[declined])
    assert chosen.lago_id == listed[declined] and chosen.is_default is True
    assert (
        stripe_client.v1.customers.retrieve(cus)["invoice_settings"]["default_payment_method"]
        == declined
    )
    removed = client.customer_payment_methods.destroy(customer, listed[good])
    assert removed.provider_method_id == good
    assert stripe_client.v1.payment_methods.retrieve(good)["customer"] is None
    with pytest.raises(LagoApiError) as gone:
        client.customer_payment_methods.destroy(customer, listed[good])
    assert gone.value.status_code == 404
