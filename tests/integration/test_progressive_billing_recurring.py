"""Progressive billing with a recurring threshold crossed again and again in one period
(lago-semantics item 14), billing runs with a moving frozen clock, both backends.

Each threshold invoice deducts what the earlier threshold invoices of the period billed
(their fees minus their own progressive-billing credit), so it bills only the usage above
the previous one; the period's invoice deducts all of them.

Plan: 3000 cents a month in arrears, calls at 1.00 each (100 cents), thresholds at 1000
cents and every 500 cents above it (recurring). Lifetime usage starts at 0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


def setup(api: Any) -> None:
    bm = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    plan = {
        "name": "Usage",
        "code": "usage",
        "interval": "monthly",
        "amount_cents": 3000,
        "amount_currency": "USD",
        "pay_in_advance": False,
        "charges": [
            {
                "billable_metric_id": bm["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "1"},
            }
        ],
        "usage_thresholds": [
            {"amount_cents": 1000, "threshold_display_name": "First 10"},
            {"amount_cents": 500, "recurring": True},
        ],
    }
    assert api.post("plans", {"plan": plan}).status_code == 200
    api.client.app.state.clock.set(at(1, 1, 0))
    sub = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "usage",
                "external_id": "s",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        },
    )
    assert sub.status_code == 200, sub.text


def calls(api: Any, count: int, when: datetime, prefix: str) -> None:
    api.client.app.state.clock.set(when)
    events = [
        {
            "transaction_id": f"{prefix}{i}",
            "external_subscription_id": "s",
            "code": "calls",
            "timestamp": int(when.timestamp()),
        }
        for i in range(count)
    ]
    response = api.post("events/batch", {"events": events})
    assert response.status_code == 200, response.text


def run(api: Any, when: datetime) -> None:
    api.client.app.state.clock.set(when)
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []


def invoices(api: Any) -> list[tuple[str, int, int, int]]:
    """(type, fees, progressive-billing credit, total) of every invoice, oldest first."""
    with api.database.unit_of_work() as session:
        rows = session.scalars(select(Invoice).order_by(Invoice.created_at))
        return [
            (
                r.invoice_type,
                r.fees_amount_cents,
                r.progressive_billing_credit_amount_cents,
                r.total_amount_cents,
            )
            for r in rows
        ]


def test_two_recurring_crossings_bill_only_the_usage_above_the_previous_invoice(
    api: Any,
) -> None:
    setup(api)
    calls(api, 12, at(1, 5), "a")
    run(api, at(1, 5, 13))
    # 1_200 crosses the 1_000 threshold: the usage so far, 1_200, is billed.
    calls(api, 6, at(1, 10), "b")
    run(api, at(1, 10, 13))
    # 1_800 crosses 1_000 + 500 (the recurring threshold, first time): usage 1_800 minus
    # what invoice 1 billed (1_200 - 0) = 600.
    calls(api, 5, at(1, 20), "c")
    run(api, at(1, 20, 13))
    # 2_300 crosses 1_000 + 2 x 500 = 2_000 (second time): usage 2_300 minus what invoices
    # 1 and 2 billed, (1_200 - 0) + (1_800 - 1_200) = 1_800: 500. Deducting their fees
    # (1_200 + 1_800 = 3_000, capped at the 2_300 of usage) would bill 0.
    run(api, at(2, 1, 1))
    # Period end: subscription 3_000 + usage 2_300 = 5_300, minus what the three
    # threshold invoices billed, 1_200 + 600 + 500 = 2_300: 3_000.
    assert invoices(api) == [
        ("progressive_billing", 1_200, 0, 1_200),
        ("progressive_billing", 1_800, 1_200, 600),
        ("progressive_billing", 2_300, 1_800, 500),
        ("subscription", 5_300, 2_300, 3_000),
    ]


def test_a_jump_over_two_recurring_steps_bills_once_and_the_next_crossing_continues(
    api: Any,
) -> None:
    setup(api)
    calls(api, 12, at(1, 5), "a")
    run(api, at(1, 5, 13))
    # 1_200 crosses 1_000: 1_200 billed.
    calls(api, 9, at(1, 10), "b")
    run(api, at(1, 10, 13))
    # 2_100 crosses 1_500 and 2_000 at once: one invoice, 2_100 - 1_200 = 900.
    calls(api, 4, at(1, 20), "c")
    run(api, at(1, 20, 13))
    # 2_500 crosses 2_500: 2_500 - ((1_200 - 0) + (2_100 - 1_200)) = 2_500 - 2_100 = 400.
    run(api, at(2, 1, 1))
    # Period end: 3_000 + 2_500 = 5_500, minus 1_200 + 900 + 400 = 2_500: 3_000.
    assert invoices(api) == [
        ("progressive_billing", 1_200, 0, 1_200),
        ("progressive_billing", 2_100, 1_200, 900),
        ("progressive_billing", 2_500, 2_100, 400),
        ("subscription", 5_500, 2_500, 3_000),
    ]
