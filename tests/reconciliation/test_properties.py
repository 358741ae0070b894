"""Properties on a real database (both backends), with Hypothesis choosing plans and events.

1. The explanation's arithmetic reproduces every fee: each line is units × unit price +
   flat amount, the lines add up to the fee, and the fee equals a graduated price computed
   here by hand from the tiers and the events.
2. After random ingestion with duplicates and retries, reconciliation's accepted = stored
   = billed for every event the client got a 200 for.

Each example bills a fresh customer's month: the clock moves one month per example, so
the database grows but no example sees another's events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterly.services.common import FrozenClock
from tests.conftest import ApiClient
from tests.reconciliation.helpers import bill, send, subscribe

EXAMPLES = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

tiers = st.tuples(
    st.integers(min_value=1, max_value=20),  # the first tier's last unit
    st.decimals(min_value=0, max_value=5, places=2),  # first tier's unit price
    st.decimals(min_value=0, max_value=5, places=2),  # second tier's unit price
    st.decimals(min_value=0, max_value=10, places=1),  # second tier's flat amount
)
values = st.lists(st.integers(min_value=0, max_value=15), min_size=0, max_size=6)


def graduated_by_hand(
    units: Decimal, last: int, p1: Decimal, p2: Decimal, flat: Decimal
) -> Decimal:
    """Lago's graduated model: units up to `last` at p1; beyond, p2 each plus the flat fee
    once any unit falls in the second tier."""
    first = min(units, Decimal(last))
    rest = max(units - last, Decimal(0))
    return first * p1 + (rest * p2 + flat if rest > 0 else Decimal(0))


class Month:
    """Hands out a fresh month per example: 2024-01, 2024-02, ..."""

    def __init__(self) -> None:
        self.index = 0

    def next(self) -> tuple[datetime, datetime]:
        start = datetime(2024 + self.index // 12, self.index % 12 + 1, 1, tzinfo=UTC)
        self.index += 1
        end = datetime(2024 + self.index // 12, self.index % 12 + 1, 1, tzinfo=UTC)
        return start, end


def one_plan(api: ApiClient, code: str, last: int, p1: Decimal, p2: Decimal, flat: Decimal) -> None:
    bm: Any = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": code,
                "code": code,
                "aggregation_type": "sum_agg",
                "field_name": "mb",
            }
        },
    )
    assert bm.status_code == 200, bm.text
    ranges = [
        {"from_value": 0, "to_value": last, "per_unit_amount": str(p1), "flat_amount": "0"},
        {
            "from_value": last + 1,
            "to_value": None,
            "per_unit_amount": str(p2),
            "flat_amount": str(flat),
        },
    ]
    plan: Any = api.post(
        "plans",
        {
            "plan": {
                "name": code,
                "code": "metered",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "USD",
                "charges": [
                    {
                        "billable_metric_id": bm.json()["billable_metric"]["lago_id"],
                        "charge_model": "graduated",
                        "properties": {"graduated_ranges": ranges},
                    }
                ],
            }
        },
    )
    assert plan.status_code == 200, plan.text


def test_explanations_reproduce_every_fee(api: ApiClient, clock: FrozenClock) -> None:
    months = Month()
    state = {"n": 0}

    @EXAMPLES
    @given(tiers=tiers, amounts=values)
    def check(tiers: tuple[int, Decimal, Decimal, Decimal], amounts: list[int]) -> None:
        last, p1, p2, flat = tiers
        state["n"] += 1
        n = state["n"]
        start, end = months.next()
        clock.set(start)
        # Each example its own metric and plan (plan codes are unique: delete the last).
        if n > 1:
            assert api.delete("plans/metered").status_code == 200  # type: ignore[attr-defined]
        one_plan(api, f"m{n}", last, p1, p2, flat)
        subscribe(api, f"c{n}", f"s{n}", start)
        for i, value in enumerate(amounts):
            send(
                api,
                f"e{n}-{i}",
                start + timedelta(days=1, hours=i),
                value=value,
                code=f"m{n}",
                sub=f"s{n}",
            )
        bill(api, clock, end + timedelta(hours=1))
        fees: Any = api.get(
            "fees", params={"external_subscription_id": f"s{n}", "fee_type": "charge"}
        )
        (fee,) = [f for f in fees.json()["fees"] if f["item"]["code"] == f"m{n}"]
        body: Any = api.get(f"fees/{fee['lago_id']}/explain")
        explanation = body.json()["explanation"]
        total = Decimal(0)
        for line in explanation["lines"]:
            units, price = Decimal(line["units"]), Decimal(line["unit_price"])
            flat_amount, amount = Decimal(line["flat_amount"]), Decimal(line["amount"])
            if price or flat_amount or not amount:
                assert units * price + flat_amount == amount, line
            total += amount
        expected = graduated_by_hand(Decimal(sum(amounts)), last, p1, p2, flat)
        assert total == expected
        # Dollars to cents, rounded half up once.
        cents = int((expected * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert fee["amount_cents"] == cents == explanation["totals"]["amount_cents"]
        assert explanation["usage"]["events_count"] == len(amounts)

    check()


def test_accepted_equals_stored_equals_billed(api: ApiClient, clock: FrozenClock) -> None:
    months = Month()
    state = {"n": 0}
    bm: Any = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "mb",
                "code": "mb",
                "aggregation_type": "sum_agg",
                "field_name": "mb",
            }
        },
    )
    one_id = bm.json()["billable_metric"]["lago_id"]
    plan: Any = api.post(
        "plans",
        {
            "plan": {
                "name": "p",
                "code": "metered",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "USD",
                "charges": [
                    {
                        "billable_metric_id": one_id,
                        "charge_model": "standard",
                        "properties": {"amount": "1"},
                    }
                ],
            }
        },
    )
    assert plan.status_code == 200

    @EXAMPLES
    @given(
        sends=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 5)), min_size=1, max_size=15),
        batch=st.booleans(),
    )
    def check(sends: list[tuple[int, int]], batch: bool) -> None:
        state["n"] += 1
        n = state["n"]
        start, end = months.next()
        clock.set(start)
        subscribe(api, f"c{n}", f"s{n}", start)
        acknowledged: set[str] = set()
        for tx, value in sends:
            # Transaction ids repeat: the repeats are the client's retries and duplicates.
            event = {
                "transaction_id": f"t{n}-{tx}",
                "external_subscription_id": f"s{n}",
                "code": "mb",
                "timestamp": str(int((start + timedelta(hours=tx + 1)).timestamp())),
                "properties": {"mb": value},
            }
            if batch:
                res: Any = api.post("events/batch", {"events": [event]})
            else:
                res = api.post("events", {"event": event})
            if res.status_code == 200:
                acknowledged.add(event["transaction_id"])
            else:
                # Only a duplicate may be refused, and only after its first acknowledgement.
                assert res.status_code == 422 and event["transaction_id"] in acknowledged
        bill(api, clock, end + timedelta(hours=1))
        report: Any = api.get(
            "reconciliation",
            params={
                "external_customer_id": f"c{n}",
                "from": start.isoformat(),
                "to": end.isoformat(),
            },
        )
        totals = report.json()["totals"]
        assert totals["accepted"] == totals["stored"] == totals["billed"] == len(acknowledged)
        assert totals["not_billed"] == 0 and totals["pending"] == 0

    check()
