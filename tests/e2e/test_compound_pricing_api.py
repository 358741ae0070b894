"""Issue 19 (pricing half), through HTTP and billing runs, on SQLite and PostgreSQL.

Each test builds one metric, one plan with one charge and one subscription in April 2024
(30 days: an event on day d weighs (30 - d + 1) / 30 on a prorated charge), sends events,
then reads `current_usage`, `estimate_fees` or the fees a billing run creates. Every
figure is worked by hand from Lago's rules (lago-semantics items 6-9 and 13).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee

SEATS_LADDER = [
    {"from_value": 0, "to_value": 2, "per_unit_amount": "10", "flat_amount": "0"},
    {"from_value": 3, "to_value": None, "per_unit_amount": "4", "flat_amount": "50"},
]


def april(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 4, day, hour, tzinfo=UTC)


def setup(
    api: Any,
    *,
    aggregation: str,
    model: str,
    properties: dict[str, Any],
    recurring: bool = False,
    prorated: bool = False,
    pay_in_advance: bool = False,
    subscription_at: datetime = april(1, 0),
    now: datetime = april(25),
) -> None:
    api.client.app.state.clock.set(now)
    metric: dict[str, Any] = {
        "name": "Seats",
        "code": "seats",
        "aggregation_type": aggregation,
        "field_name": "qty",
        "recurring": recurring,
    }
    bm = api.post("billable_metrics", {"billable_metric": metric})
    assert bm.status_code == 200, bm.text
    charge: dict[str, Any] = {
        "billable_metric_id": bm.json()["billable_metric"]["lago_id"],
        "charge_model": model,
        "pay_in_advance": pay_in_advance,
        "prorated": prorated,
        "invoiceable": True,
        "properties": properties,
    }
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
                "charges": [charge],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "USD"}})
    sub = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "seats_plan",
                "external_id": "s",
                "subscription_at": subscription_at.isoformat().replace("+00:00", "Z"),
            }
        },
    )
    assert sub.status_code == 200, sub.text


def event(tx: str, when: datetime, qty: object, **extra: Any) -> dict[str, Any]:
    return {
        "transaction_id": tx,
        "external_subscription_id": "s",
        "code": "seats",
        "timestamp": str(int(when.timestamp())),
        "properties": {"qty": qty},
        **extra,
    }


def send(api: Any, *events: dict[str, Any]) -> None:
    for body in events:
        response = api.post("events", {"event": body})
        assert response.status_code == 200, response.text


def charge_usage(api: Any) -> dict[str, Any]:
    response = api.get("customers/c/current_usage", params={"external_subscription_id": "s"})
    assert response.status_code == 200, response.text
    (charge,) = response.json()["customer_usage"]["charges_usage"]
    return dict(charge)


def estimate(api: Any, body: dict[str, Any]) -> int:
    response = api.post("events/estimate_fees", {"event": body})
    assert response.status_code == 200, response.text
    (fee,) = response.json()["fees"]
    return int(fee["amount_cents"])


def bill(api: Any, when: datetime) -> None:
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []


def charge_fees(api: Any, *, pay_in_advance: bool) -> list[tuple[str | None, int]]:
    with api.database.unit_of_work() as session:
        rows = session.scalars(
            select(Fee)
            .where(Fee.fee_type == "charge", Fee.pay_in_advance.is_(pay_in_advance))
            .order_by(Fee.created_at, Fee.from_datetime)
        )
        return [(f.event_transaction_id, f.amount_cents) for f in rows]


# --- point 1: prorated graduated ------------------------------------------------------------


def test_prorated_graduated_sum_reaches_its_second_tier_in_usage_and_on_the_invoice(
    api: Any,
) -> None:
    setup(
        api,
        aggregation="sum_agg",
        model="graduated",
        properties={"graduated_ranges": SEATS_LADDER},
        recurring=True,
        prorated=True,
    )
    send(api, event("three-seats", april(16), 3))
    # 3 seats on April 16 weigh 15/30 = 0.5. Full units 1..2 in 0–2: 2 × 0.5 × 10 = 10;
    # unit 3 in 3–∞: 1 × 0.5 × 4 = 2; the full total reached 3–∞: flat 50. 62.00 USD.
    # (Graduated over the prorated 1.5 units would have shown 1.5 × 10 = 15.00.)
    assert charge_usage(api)["amount_cents"] == 6200
    bill(api, datetime(2024, 5, 1, 1, tzinfo=UTC))
    assert charge_fees(api, pay_in_advance=False) == [(None, 6200)]


def test_prorated_graduated_unique_count_seats_added_late_pay_the_second_tiers_flat(
    api: Any,
) -> None:
    setup(
        api,
        aggregation="unique_count_agg",
        model="graduated",
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 1, "per_unit_amount": "2", "flat_amount": "0"},
                {"from_value": 2, "to_value": None, "per_unit_amount": "10", "flat_amount": "30"},
            ]
        },
        recurring=True,
        prorated=True,
    )
    send(api, event("a", april(16), "seat-a"), event("b", april(16), "seat-b"))
    # Two seats from April 16, each weighing 15/30 = 0.5. Seat 1 in 0–1: 0.5 × 2 = 1;
    # seat 2 in 2–∞: 0.5 × 10 = 5, and 2–∞'s flat 30: 36.00 USD.
    # (Graduated over the prorated total 1.0 would stay in 0–1: 1 × 2 = 2.00.)
    assert charge_usage(api)["amount_cents"] == 3600
    bill(api, datetime(2024, 5, 1, 1, tzinfo=UTC))
    assert charge_fees(api, pay_in_advance=False) == [(None, 3600)]


# --- point 4: pay in advance + prorated -----------------------------------------------------


def test_in_advance_prorated_fee_and_estimate_bill_the_remaining_days(api: Any) -> None:
    setup(
        api,
        aggregation="unique_count_agg",
        model="standard",
        properties={"amount": "30"},
        recurring=True,
        prorated=True,
        pay_in_advance=True,
    )
    seat = event("a", april(16), "seat-a")
    # A seat added on April 16 is used 15 of 30 days: 30 × 15/30 = 15.00 USD, not 30.00.
    assert estimate(api, seat) == 1500
    send(api, seat)
    bill(api, april(25))
    assert charge_fees(api, pay_in_advance=True) == [("a", 1500)]


# --- point 5: pay in advance + recurring ----------------------------------------------------


def test_in_advance_recurring_readd_of_a_seat_from_an_earlier_period_costs_nothing(
    api: Any,
) -> None:
    setup(
        api,
        aggregation="unique_count_agg",
        model="standard",
        properties={"amount": "10"},
        recurring=True,
        pay_in_advance=True,
        subscription_at=datetime(2024, 3, 1, tzinfo=UTC),
        now=datetime(2024, 3, 11, tzinfo=UTC),
    )
    send(api, event("march-a", datetime(2024, 3, 10, tzinfo=UTC), "seat-a"))
    bill(api, datetime(2024, 3, 11, tzinfo=UTC))
    api.client.app.state.clock.set(april(7))
    readd = event("april-a", april(5), "seat-a")
    # seat-a has been present since March: April opens with 1 seat; re-adding it keeps 1,
    # nothing rises above the opening: 0. seat-b raises it to 2: 1 × 10 = 10.00 USD.
    assert estimate(api, readd) == 0
    send(api, readd, event("april-b", april(6), "seat-b"))
    bill(api, april(7))
    assert charge_fees(api, pay_in_advance=True) == [
        ("march-a", 1000),
        ("april-a", 0),
        ("april-b", 1000),
    ]


# --- point 6: pay in advance dynamic --------------------------------------------------------


def test_in_advance_dynamic_fee_is_the_events_own_price(api: Any) -> None:
    setup(
        api,
        aggregation="sum_agg",
        model="dynamic",
        properties={},
        pay_in_advance=True,
    )
    priced = event("priced", april(3), 1, precise_total_amount_cents="1250")
    # The event carries its price: 1250 cents = 12.50 USD (not 0).
    assert estimate(api, priced) == 1250
    send(api, priced, event("second", april(4), 2, precise_total_amount_cents="300.4"))
    bill(api, april(5))
    # The second costs its own 300.4 cents, rounded half up to 300.
    assert charge_fees(api, pay_in_advance=True) == [("priced", 1250), ("second", 300)]


# --- point 7: recurring metrics have no lower time bound ------------------------------------


def test_recurring_metric_counts_events_from_before_the_subscription_started(api: Any) -> None:
    setup(
        api,
        aggregation="sum_agg",
        model="standard",
        properties={"amount": "1"},
        recurring=True,
    )
    send(
        api,
        event("before-start", datetime(2024, 3, 20, tzinfo=UTC), 5),
        event("in-april", april(10), 2),
    )
    # March 20 is before the subscription's start (April 1): Lago counts it anyway.
    # 5 + 2 = 7 units × 1 = 7.00 USD.
    usage = charge_usage(api)
    assert usage["amount_cents"] == 700
    bill(api, datetime(2024, 5, 1, 1, tzinfo=UTC))
    assert charge_fees(api, pay_in_advance=False) == [(None, 700)]


# --- point 12: latest_agg -------------------------------------------------------------------


def test_latest_agg_with_a_negative_last_value_shows_zero_units(api: Any) -> None:
    setup(api, aggregation="latest_agg", model="standard", properties={"amount": "1"})
    send(api, event("first", april(2), 5), event("last", april(3), -3))
    # The last value is -3: 0 units, 0.00 USD (not -3 units).
    usage = charge_usage(api)
    assert float(usage["units"]) == 0
    assert usage["amount_cents"] == 0


# --- point 13: a precise_total_amount_cents that is not a decimal ---------------------------


def test_non_decimal_event_price_is_accepted_and_counts_as_zero(api: Any) -> None:
    setup(api, aggregation="sum_agg", model="dynamic", properties={})
    send(
        api,
        event("garbled", april(2), 1, precise_total_amount_cents="abc"),
        event("priced", april(3), 1, precise_total_amount_cents="250"),
    )
    # "abc" is stored as 0: the dynamic charge sums 0 + 250 cents = 2.50 USD.
    assert charge_usage(api)["amount_cents"] == 250
    stored = api.get("events/garbled")
    assert stored.status_code == 200, stored.text
    assert float(stored.json()["event"]["precise_total_amount_cents"]) == 0
