"""`invoices.preview` of the unmodified lago-python-client against the real server.

The server's clock is frozen at 2024-01-15T12:00:00Z. A monthly plan of 10.00 USD in
arrears plus 0.10 USD per API call; the customer pays 20 % VAT and subscribed on
2024-01-01 (calendar billing). The preview of its next invoice must be the invoice
`meterly bill` issues on 1 February.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from lago_python_client.models import (
    BatchEvent,
    BillableMetric,
    Customer,
    InvoicePreview,
    Plan,
    Subscription,
    Tax,
)

from tests.compat.conftest import LagoServer, lago_database_url, lago_server

__all__ = ["lago_database_url", "lago_server"]


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return "2024-01-15T12:00:00Z"


def _setup(lago_server: LagoServer) -> tuple[str, str]:
    client = lago_server.client
    unique = lago_server.unique
    calls = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {"name": "API calls", "code": unique("calls"), "aggregation_type": "count_agg"}
        )
    )
    tax = client.taxes.create(Tax.parse_obj({"name": "VAT", "code": unique("vat"), "rate": 20.0}))
    plan = client.plans.create(
        Plan.parse_obj(
            {
                "name": "Metered",
                "code": unique("metered"),
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "USD",
                "pay_in_advance": False,
                "charges": [
                    {
                        "billable_metric_id": calls.lago_id,
                        "charge_model": "standard",
                        "properties": {"amount": "0.10"},
                    }
                ],
            }
        )
    )
    customer = client.customers.create(
        Customer.parse_obj(
            {"external_id": unique("c"), "name": "C", "currency": "USD", "tax_codes": [tax.code]}
        )
    )
    sub = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": customer.external_id,
                "plan_code": plan.code,
                "external_id": unique("s"),
                "billing_time": "calendar",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        )
    )
    start = int(datetime(2024, 1, 5, 10, tzinfo=UTC).timestamp())
    client.events.batch_create(
        BatchEvent.parse_obj(
            {
                "events": [
                    {
                        "transaction_id": unique("tx"),
                        "external_subscription_id": sub.external_id,
                        "code": calls.code,
                        "timestamp": start + n,
                    }
                    for n in range(25)
                ]
            }
        )
    )
    return customer.external_id, sub.external_id


def _figures(invoice: Any) -> tuple[int, int, int, str]:
    return (
        invoice.fees_amount_cents,
        invoice.taxes_amount_cents,
        invoice.total_amount_cents,
        str(invoice.issuing_date),
    )


def test_client_preview_is_the_invoice_billed_later(lago_server: LagoServer) -> None:
    client = lago_server.client
    customer_id, sub_id = _setup(lago_server)
    shown = client.invoices.preview(
        InvoicePreview(
            customer=Customer(external_id=customer_id),
            subscriptions={"external_ids": [sub_id]},
        )
    )
    # January's fee 1000 cents + 25 calls x 0.10 USD = 250 cents: 1250 cents;
    # VAT 20 % of 1250 = 250 cents; total 1250 + 250 = 1500 cents, issued 1 February.
    assert _figures(shown) == (1250, 250, 1500, "2024-02-01")
    listed = client.invoices.find_all({"external_customer_id": customer_id})
    assert listed["meta"]["total_count"] == 0  # the preview stored nothing

    lago_server.meterly("bill", "--as-of", "2024-02-01T01:00:00Z")
    listed = client.invoices.find_all({"external_customer_id": customer_id})
    (issued,) = listed["invoices"]
    assert _figures(issued) == _figures(shown)
