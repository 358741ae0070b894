"""Pay-in-advance charges on recurring metrics are billed again, in advance, on every
periodic invoice (lago-semantics item 14); pay-in-advance charges on non-recurring metrics
stay out of it. Billing runs with a moving frozen clock, both backends.

Plan: monthly, calendar, in arrears, no subscription fee. `seats`: sum, recurring, pay in
advance, 10.00 a seat. `clicks`: sum, not recurring, pay in advance, 1.00 a click.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee, Invoice, InvoiceSubscription


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


def set_clock(api: Any, moment: datetime) -> None:
    api.client.app.state.clock.set(moment)


def setup(api: Any, *, prorated: bool) -> None:
    ids = {}
    for code, recurring in (("seats", True), ("clicks", False)):
        metric = {
            "name": code,
            "code": code,
            "aggregation_type": "sum_agg",
            "field_name": "qty",
            "recurring": recurring,
        }
        response = api.post("billable_metrics", {"billable_metric": metric})
        assert response.status_code == 200, response.text
        ids[code] = response.json()["billable_metric"]["lago_id"]
    plan = {
        "name": "Seats",
        "code": "seats_plan",
        "interval": "monthly",
        "amount_cents": 0,
        "amount_currency": "USD",
        "pay_in_advance": False,
        "charges": [
            {
                "billable_metric_id": ids["seats"],
                "charge_model": "standard",
                "pay_in_advance": True,
                "prorated": prorated,
                "properties": {"amount": "10"},
            },
            {
                "billable_metric_id": ids["clicks"],
                "charge_model": "standard",
                "pay_in_advance": True,
                "properties": {"amount": "1"},
            },
        ],
    }
    response = api.post("plans", {"plan": plan})
    assert response.status_code == 200, response.text
    set_clock(api, at(1, 1))
    response = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "seats_plan",
                "external_id": "s",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        },
    )
    assert response.status_code == 200, response.text


def send(api: Any, tx: str, code: str, qty: int, when: datetime) -> None:
    set_clock(api, when)
    event = {
        "transaction_id": tx,
        "external_subscription_id": "s",
        "code": code,
        "timestamp": int(when.timestamp()),
        "properties": {"qty": qty},
    }
    response = api.post("events", {"event": event})
    assert response.status_code == 200, response.text


def run(api: Any, when: datetime) -> None:
    set_clock(api, when)
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []


def periodic_charges(api: Any, reason: str = "subscription_periodic") -> list[tuple[Any, ...]]:
    """(metric, units, amount, service start, service end) of the charge fees on the
    invoices issued for `reason`, oldest first."""
    with api.database.unit_of_work() as session:
        rows = session.scalars(
            select(Fee)
            .join(Invoice, Invoice.id == Fee.invoice_id)
            .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
            .where(InvoiceSubscription.invoicing_reason == reason, Fee.fee_type == "charge")
            .order_by(Fee.from_datetime)
        )
        return [
            (f.item["code"], f.units, f.amount_cents, f.from_datetime, f.to_datetime) for f in rows
        ]


@pytest.mark.parametrize("prorated", [False, True])
def test_recurring_in_advance_charge_is_billed_again_for_each_new_period(
    api: Any, prorated: bool
) -> None:
    setup(api, prorated=prorated)
    send(api, "s1", "seats", 5, at(1, 2))
    send(api, "k1", "clicks", 3, at(1, 2))
    run(api, at(1, 2, 1))  # both billed in advance as they come, on their own invoices
    run(api, at(2, 1))
    # February 1st: the 5 seats carried into February are billed again for all of it,
    # unprorated: 5 x 10.00 = 5_000, service Feb 1st..29th (2024 is a leap year). The
    # clicks (not recurring) are not billed again, nor is anything billed in arrears.
    end_of_february = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    assert periodic_charges(api) == [("seats", 5, 5_000, at(2, 1), end_of_february)]
    send(api, "s2", "seats", 2, at(2, 10))
    run(api, at(2, 10, 1))
    run(api, at(3, 1))
    # March 1st: 5 + 2 = 7 seats carried into March: 7 x 10.00 = 7_000.
    end_of_march = datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert periodic_charges(api)[1] == ("seats", 7, 7_000, at(3, 1), end_of_march)
    set_clock(api, at(3, 15, 12))
    assert api.delete("subscriptions/s").status_code == 200
    # The termination invoice bills nothing again for a period that will not come.
    assert periodic_charges(api, "subscription_terminating") == []
