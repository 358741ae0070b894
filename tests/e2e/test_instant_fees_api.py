"""POST /events/estimate_instant_fees and its batch form: Lago's FeeEstimateObject, from
the same computation the billing run does, and nothing stored. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from meterly.store.tables import Fee
from tests.integration.test_pay_in_advance import at, event, setup


def fee_count(api: Any) -> int:
    with api.database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(Fee)) or 0)


def test_instant_estimate_is_the_advance_fee_in_lagos_estimate_shape(api: Any) -> None:
    setup(api)  # sum of qty, standard 10 USD a unit, paid in advance
    answer = api.post("events/estimate_instant_fees", {"event": event("e1", at(2), 3)})
    assert answer.status_code == 200, answer.text
    (fee,) = answer.json()["fees"]
    # 3 units x 10.00 USD = 30.00 USD = 3000 cents, no taxes.
    assert (fee["amount_cents"], fee["total_amount_cents"], fee["units"]) == (3000, 3000, "3.0")
    assert fee["amount_currency"] == "USD"
    assert fee["lago_id"] is None and fee["lago_invoice_id"] is None
    assert fee["pay_in_advance"] is True
    assert fee["external_subscription_id"] == "s"
    assert fee["item"]["code"] == "seats"
    assert fee["event_transaction_id"] == "e1"
    assert "lago_fixed_charge_id" not in fee  # not part of the estimate object
    assert fee_count(api) == 0


def test_batch_estimates_each_event_on_its_own(api: Any) -> None:
    setup(api)
    answer = api.post(
        "events/batch_estimate_instant_fees",
        {"events": [event("a", at(2), 2), event("b", at(3), 5)]},
    )
    assert answer.status_code == 200, answer.text
    # 2 x 10.00 = 2000 cents; 5 x 10.00 = 5000 cents (each as if alone).
    assert [(f["event_transaction_id"], f["amount_cents"]) for f in answer.json()["fees"]] == [
        ("a", 2000),
        ("b", 5000),
    ]
    assert fee_count(api) == 0


def test_instant_estimate_errors_change_nothing(api: Any) -> None:
    setup(api)
    missing = api.post(
        "events/estimate_instant_fees",
        {"event": {**event("x", at(2), 1), "external_subscription_id": "nope"}},
    )
    assert missing.status_code == 404 and missing.json()["code"] == "subscription_not_found"
    assert api.post("events/batch_estimate_instant_fees", {"events": []}).status_code == 400
    too_many = api.post(
        "events/batch_estimate_instant_fees",
        {"events": [event(f"t{n}", at(2), 1) for n in range(101)]},
    )
    assert too_many.status_code == 422
    assert too_many.json()["error_details"] == {"events": ["too_many_events"]}
    assert fee_count(api) == 0
