"""Activation rules through the unmodified lago-python-client (1.55.0 has the field):
a subscription created with a payment rule waits, `incomplete`, until the invoice of its
start is paid (`payments.create`), then runs. On SQLite and PostgreSQL.

The server's clock is frozen at 2024-01-15 12:00 UTC; the plan is 50.00 EUR a month paid
in advance on the subscription's anniversary, so its start bills one whole month: 5000.
"""

from __future__ import annotations

import pytest
from lago_python_client.models import Customer, Plan, Subscription
from lago_python_client.models.payment import Payment

from tests.compat.conftest import LagoServer


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return "2024-01-15T12:00:00Z"


def test_a_gated_subscription_waits_for_its_payment(lago_server: LagoServer) -> None:
    client = lago_server.client
    plan = client.plans.create(
        Plan.parse_obj(
            {
                "name": "Gated",
                "code": lago_server.unique("gated"),
                "interval": "monthly",
                "amount_cents": 5000,
                "amount_currency": "EUR",
                "pay_in_advance": True,
                "charges": [],
            }
        )
    )
    cust = client.customers.create(
        Customer(external_id=lago_server.unique("payer"), currency="EUR")
    )
    external_id = lago_server.unique("sub")
    created = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": cust.external_id,
                "plan_code": plan.code,
                "external_id": external_id,
                "billing_time": "anniversary",
                "activation_rules": [{"type": "payment", "timeout_hours": 72}],
            }
        )
    )
    assert (created.status, created.activated_at) == ("incomplete", None)
    (rule,) = created.activation_rules
    # 2024-01-15 12:00 + 72 hours = 2024-01-18 12:00.
    assert (rule.type, rule.timeout_hours, rule.status, rule.expires_at) == (
        "payment",
        72,
        "pending",
        "2024-01-18T12:00:00Z",
    )

    lago_server.meterly("bill", "--as-of", "2024-01-15T12:00:00Z")
    invoices = client.invoices.find_all({"external_customer_id": cust.external_id})["invoices"]
    (invoice,) = invoices
    assert invoice.total_amount_cents == 5000
    client.payments.create(Payment(invoice_id=invoice.lago_id, amount_cents=5000, reference="w"))

    active = client.subscriptions.find(external_id)
    assert (active.lago_id, active.status) == (created.lago_id, "active")
    assert active.activated_at == "2024-01-15T12:00:00Z"
    assert active.activation_rules[0].status == "satisfied"
    assert active.cancellation_reason is None
