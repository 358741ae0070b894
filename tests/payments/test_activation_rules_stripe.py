"""Activation rules paid through Stripe (a real localstripe server), on SQLite and
PostgreSQL: the start's invoice is charged by the collection job; a card that pays
activates the subscription, a declined card (4000000000000341) cancels it.

The plan is 100.00 USD a month paid in advance on the anniversary of the start, so the
start's invoice is one whole month: 10000 cents, no tax.
"""

from __future__ import annotations

from typing import Any

import stripe
from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice
from tests.payments.conftest import provider_customer
from tests.payments.test_payments_stripe import collect, connect, linked_customer


def gated_subscription(api: Any, external_customer_id: str) -> None:
    plan = {
        "name": "Gated",
        "code": "gated",
        "interval": "monthly",
        "amount_cents": 10000,
        "amount_currency": "USD",
        "pay_in_advance": True,
        "charges": [],
    }
    if api.get("plans/gated").status_code == 404:
        assert api.post("plans", {"plan": plan}).status_code == 200
    body = {
        "external_customer_id": external_customer_id,
        "plan_code": "gated",
        "external_id": f"sub-{external_customer_id}",
        "billing_time": "anniversary",
        "activation_rules": [{"type": "payment", "timeout_hours": 24}],
    }
    created = api.post("subscriptions", {"subscription": body})
    assert created.status_code == 200, created.text
    assert created.json()["subscription"]["status"] == "incomplete"


def start_invoice(api: Any) -> list[tuple[int, str, str]]:
    with api.database.unit_of_work() as session:
        rows = session.scalars(select(Invoice).order_by(Invoice.total_amount_cents))
        return [(i.total_amount_cents, i.status, i.payment_status) for i in rows]


def test_stripe_payment_activates_and_a_decline_cancels(
    api: Any, clock: FrozenClock, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    linked_customer(api, "good", provider_customer(stripe_client, "4242424242424242"))
    linked_customer(api, "declined", provider_customer(stripe_client, "4000000000000341"))
    gated_subscription(api, "good")
    gated_subscription(api, "declined")
    runs.run(api.database, as_of=clock.now(), clock=FrozenClock(clock.now()))

    assert collect(api, clock) == 2  # each start's invoice charged once
    good = api.get("subscriptions/sub-good").json()["subscription"]
    assert (good["status"], good["activation_rules"][0]["status"]) == ("active", "satisfied")
    declined = api.get("subscriptions/sub-declined").json()["subscription"]
    assert (declined["status"], declined["cancellation_reason"]) == (
        "canceled",
        "payment_failed",
    )
    # 10000 each: the paid one succeeded, the declined one was voided, not chased.
    assert sorted(start_invoice(api)) == [
        (10000, "finalized", "succeeded"),
        (10000, "voided", "failed"),
    ]
    assert collect(api, clock) == 0
