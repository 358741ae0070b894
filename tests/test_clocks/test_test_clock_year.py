"""A year of monthly billing under a test clock (issue 18, point 5): a 14-day trial, an
upgrade mid-June, a termination in October, advanced through the API; a live customer on
the same plan beside it, billed only by the live run; then the clock deleted with all that
lived under it.

Figures are worked by hand from Lago's rules in the comments: `basic` is 10.00 EUR a month
in arrears with a 14-day trial, `pro` 30.00 EUR a month in arrears; both price `items` at
1.00 EUR (100 cents) a unit. Events are sent up front with their timestamps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Customer, Fee, Invoice, Subscription, TestClock, events
from tests.integration.life_helpers import at, item_metric, ok, plan

START = at(2025, 1, 1)


def _clock(api: Any, frozen: datetime, name: str = "year") -> dict[str, Any]:
    body = {"test_clock": {"name": name, "frozen_time": frozen.isoformat()}}
    return ok(api.post("test_clocks", body))["test_clock"]


def _advance(api: Any, clock_id: str, to: datetime) -> dict[str, Any]:
    body = {"test_clock": {"frozen_time": to.isoformat()}}
    return ok(api.post(f"test_clocks/{clock_id}/advance", body))["test_clock"]


def _items(api: Any, prefix: str, sub: str, when: datetime, count: int) -> None:
    event = {
        "transaction_id": f"{prefix}-{when.date()}",
        "external_subscription_id": sub,
        "code": "items",
        "timestamp": str(int(when.timestamp())),
        "properties": {"item_count": count},
    }
    ok(api.post("events", {"event": event}))


def _invoices(api: Any, external_customer_id: str) -> list[tuple[str, int]]:
    """(issuing date, total) of the customer's invoices, oldest first."""
    with api.database.unit_of_work() as session:
        rows = session.execute(
            select(Invoice.issuing_date, Invoice.total_amount_cents)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(Customer.external_id == external_customer_id)
            .order_by(Invoice.issuing_date, Invoice.created_at)
        )
        return [(issued.date().isoformat(), total) for issued, total in rows]


def _setup(api: Any) -> str:
    item_metric(api)
    plan(api, "basic", amount=1000, trial=14, with_items=True)
    plan(api, "pro", amount=3000, with_items=True)
    clock_id: str = _clock(api, START)["lago_id"]
    customer = {"external_id": "tc", "name": "Under the clock", "test_clock_id": clock_id}
    ok(api.post("customers", {"customer": customer}))
    sub = {"external_customer_id": "tc", "plan_code": "basic", "external_id": "tc-sub"}
    created = ok(api.post("subscriptions", {"subscription": sub}))["subscription"]
    # Started at the clock's time, not the live one (2024-01-15).
    assert created["started_at"].startswith("2025-01-01T00:00:00")
    for month in range(1, 10):  # 3 items on the 20th, January to September
        if month != 6:
            _items(api, "tc", "tc-sub", at(2025, month, 20, 12), 3)
    _items(api, "tc", "tc-sub", at(2025, 6, 10, 12), 2)  # on basic, before the upgrade
    _items(api, "tc", "tc-sub", at(2025, 6, 20, 12), 4)  # on pro, after it
    _items(api, "tc", "tc-sub", at(2025, 10, 5, 12), 1)
    return clock_id


def _live_customer(api: Any, live: FrozenClock) -> None:
    live.set(START)
    ok(api.post("customers", {"customer": {"external_id": "live", "name": "Live"}}))
    sub = {"external_customer_id": "live", "plan_code": "basic", "external_id": "live-sub"}
    ok(api.post("subscriptions", {"subscription": sub}))
    _items(api, "live", "live-sub", at(2025, 1, 20, 12), 3)


def test_a_year_under_a_test_clock(api: Any, clock: FrozenClock) -> None:
    clock_id = _setup(api)
    _live_customer(api, clock)

    moved = _advance(api, clock_id, at(2025, 6, 15))
    assert (moved["frozen_time"], moved["status"]) == ("2025-06-15T00:00:00Z", "ready")
    assert moved["customers_count"] == 1
    # The upgrade at the clock's time: basic ends on June 15 (that day goes to pro).
    upgrade = {"external_customer_id": "tc", "plan_code": "pro", "external_id": "tc-sub"}
    ok(api.post("subscriptions", {"subscription": upgrade}))
    _advance(api, clock_id, at(2025, 10, 10))
    ok(api.delete("subscriptions/tc-sub"))  # terminated on October 10, the clock's time
    _advance(api, clock_id, at(2026, 1, 1))

    assert _invoices(api, "tc") == [
        # January: a 14-day trial (Jan 1-14), 17 of 31 days billed: 1000 x 17/31 = 548.39
        # -> 548, and 3 items = 300 (usage is billed during a trial): 848.
        ("2025-02-01", 848),
        # February to May: 1000 + 3 items (300) = 1300.
        ("2025-03-01", 1300),
        ("2025-04-01", 1300),
        ("2025-05-01", 1300),
        ("2025-06-01", 1300),
        # The upgrade: basic for June 1-14, 1000 x 14/30 = 466.67 -> 467, and its 2 items
        # (June 10) = 200: 667.
        ("2025-06-15", 667),
        # Pro for June 15-30: 3000 x 16/30 = 1600, and 4 items (June 20) = 400: 2000.
        ("2025-07-01", 2000),
        # July, August, September: 3000 + 3 items (300) = 3300.
        ("2025-08-01", 3300),
        ("2025-09-01", 3300),
        ("2025-10-01", 3300),
        # The termination: October 1-10, the 10th counted: 3000 x 10/31 = 967.74 -> 968,
        # and 1 item (October 5) = 100: 1068. Nothing after.
        ("2025-10-10", 1068),
    ]
    # The clock's advance billed nobody else.
    assert _invoices(api, "live") == []


def test_the_live_run_ignores_the_clock_and_the_clock_ignores_live(
    api: Any, clock: FrozenClock
) -> None:
    clock_id = _setup(api)
    _live_customer(api, clock)
    # The live run at the instants the clock will reach: the live customer only.
    for instant in (at(2025, 2, 1), at(2025, 3, 1)):
        clock.set(instant)
        report = runs.run(api.database, as_of=instant, clock=FrozenClock(instant))
        assert report.errors == []
    assert _invoices(api, "tc") == []
    # Live: January 1000 x 17/31 -> 548 + 3 items 300 = 848; February 1000, no items.
    assert _invoices(api, "live") == [("2025-02-01", 848), ("2025-03-01", 1000)]

    _advance(api, clock_id, at(2025, 3, 1))
    # The clock bills its customer for January and February; the live one is untouched.
    assert _invoices(api, "tc") == [("2025-02-01", 848), ("2025-03-01", 1300)]
    assert _invoices(api, "live") == [("2025-02-01", 848), ("2025-03-01", 1000)]


def test_deleting_the_clock_deletes_everything_under_it(api: Any, clock: FrozenClock) -> None:
    clock_id = _setup(api)
    _live_customer(api, clock)
    _advance(api, clock_id, at(2025, 4, 1))
    clock.set(at(2025, 2, 1))
    runs.run(api.database, as_of=clock.now(), clock=FrozenClock(clock.now()))
    assert len(_invoices(api, "tc")) == 3  # February, March, April
    live_before = _invoices(api, "live")
    assert live_before == [("2025-02-01", 848)]

    gone = ok(api.delete(f"test_clocks/{clock_id}"))["test_clock"]
    assert gone["lago_id"] == clock_id

    assert api.get(f"test_clocks/{clock_id}").status_code == 404
    assert api.get("customers/tc").status_code == 404
    with api.database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(TestClock)) == 0
        subs = session.scalars(select(Subscription.external_id)).all()
        assert subs == ["live-sub"]
        left = session.scalars(select(events.c.external_subscription_id).distinct()).all()
        assert left == ["live-sub"]
        # Every fee left is the live customer's one invoice's: 548 + 300.
        assert sorted(session.scalars(select(Fee.amount_cents))) == [300, 548]
    assert _invoices(api, "live") == live_before
