"""The unmodified lago-python-client's payment calls against the real server (`meterly serve`).

Payments (create, find, find_all) and payment receipts (find, find_all). The client's
customer-scoped lists (`customer_payments`, `customer_payment_methods`) send no API key
(a client bug): they get Lago's 401, as from Lago itself.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.payment import Payment

from tests.compat.conftest import (  # noqa: F401 - fixtures
    LagoServer,
    cli_env,
    lago_database_url,
    lago_frozen_time,
    lago_server,
)
from tests.payments.conftest import SECRET_KEY, WEBHOOK_SECRET, provider_customer


def unpaid_invoice(server: LagoServer, customer: str) -> dict[str, Any]:
    """One add-on of 120.00 EUR, no tax: the invoice owes 12000 cents."""
    http = httpx.Client(
        base_url=f"{server.base_url}/api/v1/",
        headers={"Authorization": f"Bearer {server.api_key}"},
        timeout=30,
    )
    code = server.unique("audit")
    add_on = {"name": "Audit", "code": code, "amount_cents": 12000, "amount_currency": "EUR"}
    assert http.post("add_ons", json={"add_on": add_on}).status_code == 200
    body = {"external_id": customer, "currency": "EUR"}
    assert http.post("customers", json={"customer": body}).status_code == 200
    one_off = {"external_customer_id": customer, "currency": "EUR", "fees": [{"add_on_code": code}]}
    invoice: dict[str, Any] = http.post("invoices", json={"invoice": one_off}).json()["invoice"]
    assert invoice["total_amount_cents"] == 12000
    return invoice


def test_payments_and_receipts_through_the_client(lago_server: LagoServer) -> None:  # noqa: F811
    client = lago_server.client
    customer = lago_server.unique("payer")
    invoice = unpaid_invoice(lago_server, customer)

    first = client.payments.create(
        Payment(invoice_id=invoice["lago_id"], amount_cents=5000, reference="wire-A")
    )
    assert (first.amount_cents, first.amount_currency, first.reference) == (5000, "EUR", "wire-A")
    assert first.payment_status == "succeeded" and first.type == "manual"
    assert first.invoice_ids == [invoice["lago_id"]]
    # 5000 of 12000 paid: 7000 left; 8000 is more than owed.
    with pytest.raises(LagoApiError) as refused:
        client.payments.create(
            Payment(invoice_id=invoice["lago_id"], amount_cents=8000, reference="wire-B")
        )
    assert refused.value.status_code == 422
    second = client.payments.create(
        Payment(invoice_id=invoice["lago_id"], amount_cents=7000, reference="wire-B")
    )
    assert second.amount_cents == 7000

    assert client.payments.find(first.lago_id).reference == "wire-A"
    listed = client.payments.find_all({"invoice_id": invoice["lago_id"]})
    assert sorted(p.amount_cents for p in listed["payments"]) == [5000, 7000]
    assert listed["meta"]["total_count"] == 2
    assert client.invoices.find(invoice["lago_id"]).payment_status == "succeeded"

    receipts = client.payment_receipts.find_all({"invoice_id": invoice["lago_id"]})
    numbers = [r.number for r in receipts["payment_receipts"]]
    assert len(numbers) == 2 and numbers[0] != numbers[1]
    one = client.payment_receipts.find(receipts["payment_receipts"][0].lago_id)
    assert one.payment.lago_id in (first.lago_id, second.lago_id)

    with pytest.raises(LagoApiError) as unauthenticated:
        client.customer_payments.find_all(customer)
    assert unauthenticated.value.status_code == 401


def test_payment_links_and_collection_by_the_server_worker(
    lago_server: LagoServer,  # noqa: F811
    localstripe: str,
    stripe_client: Any,
) -> None:
    """`meterly serve` runs the collection loop: a linked customer's invoice gets charged."""
    client = lago_server.client
    http = httpx.Client(
        base_url=f"{lago_server.base_url}/api/v1/",
        headers={"Authorization": f"Bearer {lago_server.api_key}"},
        timeout=30,
    )
    connection = {
        "code": lago_server.unique("stripe"),
        "secret_key": SECRET_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": localstripe,
    }
    assert (
        http.put("payment_providers/stripe", json={"payment_provider": connection}).status_code
        == 200
    )
    customer = lago_server.unique("card")
    billing = {
        "payment_provider": "stripe",
        "payment_provider_code": connection["code"],
        "provider_customer_id": provider_customer(stripe_client, "4242424242424242"),
    }
    body = {"external_id": customer, "currency": "EUR", "billing_configuration": billing}
    assert http.post("customers", json={"customer": body}).status_code == 200
    assert "/pay/" in client.customers.checkout_url(customer)

    invoice = unpaid_invoice(lago_server, customer)
    # `meterly worker` (its payment-collection loop) charges it off-session.
    worker = subprocess.Popen(
        [sys.executable, "-m", "meterly.cli", "worker", "--database-url", lago_server.database_url],
        env=cli_env(lago_server.frozen_time),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        status = client.invoices.find(invoice["lago_id"]).payment_status
        while status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.5)
            status = client.invoices.find(invoice["lago_id"]).payment_status
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert status == "succeeded"
    [paid] = client.payments.find_all({"invoice_id": invoice["lago_id"]})["payments"]
    assert paid.type == "provider" and paid.amount_cents == 12000
    # Paid: no payment link, no retry.
    with pytest.raises(LagoApiError) as paid_already:
        client.invoices.payment_url(invoice["lago_id"])
    assert paid_already.value.status_code == 405
    with pytest.raises(LagoApiError):
        client.invoices.retry_payment(invoice["lago_id"])
