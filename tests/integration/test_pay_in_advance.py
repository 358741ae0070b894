"""Pay-in-advance charges: a fee per event, the same figure estimated beforehand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee, Invoice


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 1, day, hour, tzinfo=UTC)


def setup(
    api: Any,
    *,
    aggregation: str = "sum_agg",
    model: str = "standard",
    properties: dict[str, Any] | None = None,
    invoiceable: bool = True,
) -> None:
    metric: dict[str, Any] = {"name": "Seats", "code": "seats", "aggregation_type": aggregation}
    if aggregation != "count_agg":
        metric["field_name"] = "qty"
    bm = api.post("billable_metrics", {"billable_metric": metric}).json()["billable_metric"]
    plan = api.post(
        "plans",
        {
            "plan": {
                "name": "Seats",
                "code": "seats_plan",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "USD",
                "pay_in_advance": False,
                "charges": [
                    {
                        "billable_metric_id": bm["lago_id"],
                        "charge_model": model,
                        "pay_in_advance": True,
                        "invoiceable": invoiceable,
                        "properties": properties or {"amount": "10"},
                    }
                ],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    api.post(
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


def event(tx: str, when: datetime, qty: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transaction_id": tx,
        "external_subscription_id": "s",
        "code": "seats",
        "timestamp": str(int(when.timestamp())),
    }
    if qty is not None:
        body["properties"] = {"qty": qty}
    return body


def advance_fees(api: Any) -> list[tuple[str, int]]:
    with api.database.unit_of_work() as session:
        rows = session.scalars(
            select(Fee).where(Fee.pay_in_advance.is_(True)).order_by(Fee.from_datetime)
        )
        return [(f.event_transaction_id or "", f.amount_cents) for f in rows]


def run(api: Any, when: datetime) -> None:
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []


def test_sum_bills_only_above_the_high_water_mark(api: Any) -> None:
    setup(api)
    for tx, day, qty in [("a", 2, 5), ("b", 3, -3), ("c", 4, 4)]:
        assert api.post("events", {"event": event(tx, at(day), qty)}).status_code == 200
    run(api, at(5))
    # Running totals 5, 2, 6: bill 5, then 0 (a decrease), then only 6 - 5 = 1.
    assert advance_fees(api) == [("a", 5000), ("b", 0), ("c", 1000)]


def test_processing_twice_creates_no_second_fee(api: Any) -> None:
    setup(api)
    api.post("events", {"event": event("a", at(2), 2)})
    run(api, at(3))
    run(api, at(3))
    assert advance_fees(api) == [("a", 2000)]


def test_invoiceable_fee_gets_its_own_finalized_invoice(api: Any) -> None:
    setup(api)
    api.post("events", {"event": event("a", at(2), 2)})
    run(api, at(3))
    with api.database.unit_of_work() as session:
        invoices = list(session.scalars(select(Invoice).where(Invoice.total_amount_cents > 0)))
        assert len(invoices) == 1
        assert invoices[0].status == "finalized"
        assert invoices[0].periods[0].invoicing_reason == "in_advance_charge"


def test_in_advance_fees_are_not_billed_again_in_arrears(api: Any) -> None:
    setup(api)
    api.post("events", {"event": event("a", at(2), 2)})
    run(api, datetime(2024, 2, 1, 1, tzinfo=UTC))
    with api.database.unit_of_work() as session:
        total = sum(session.scalars(select(Invoice.total_amount_cents)))
    assert total == 2000


def test_estimate_gives_the_figure_the_billing_run_will_bill(api: Any) -> None:
    setup(
        api,
        aggregation="count_agg",
        model="graduated",
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 2, "per_unit_amount": "1", "flat_amount": "0"},
                {"from_value": 3, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "0"},
            ]
        },
    )
    for n in range(2):
        api.post("events", {"event": event(f"e{n}", at(2 + n))})
    estimate = api.post("events/estimate_fees", {"event": event("next", at(9))})
    assert estimate.status_code == 200, estimate.text
    (fee,) = estimate.json()["fees"]
    assert fee["amount_cents"] == 50  # the third call falls in the 0.5 tier
    assert fee["event_transaction_id"] == "next"
    api.post("events", {"event": event("next", at(9))})
    run(api, at(10))
    assert dict(advance_fees(api))["next"] == 50


def test_estimate_errors(api: Any) -> None:
    setup(api)
    missing = api.post(
        "events/estimate_fees",
        {"event": {**event("x", at(2), 1), "external_subscription_id": "nope"}},
    )
    assert missing.status_code == 404 and missing.json()["code"] == "subscription_not_found"
    unknown = api.post("events/estimate_fees", {"event": {**event("x", at(2), 1), "code": "other"}})
    assert unknown.status_code == 404 and unknown.json()["code"] == "billable_metric_not_found"
