"""The test clock API (issue 18, point 5): its wire shape, bad input answered in Lago's
error format and changing nothing, a customer's clock fixed at creation, the clock's time
as "now" for its customers (undated events, current usage), and one advance at a time."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from meterly.domain.errors import DomainError
from meterly.services import test_clocks
from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice, TestClock, events
from tests.integration.life_helpers import at, item_metric, ok, plan


def _clock(api: Any, frozen: datetime = at(2025, 1, 1), name: str = "c") -> dict[str, Any]:
    body = {"test_clock": {"name": name, "frozen_time": frozen.isoformat()}}
    return ok(api.post("test_clocks", body))["test_clock"]


def _subscribed(api: Any, clock_id: str) -> None:
    item_metric(api)
    plan(api, "basic", amount=1000, with_items=True)
    customer = {"external_id": "tc", "test_clock_id": clock_id}
    ok(api.post("customers", {"customer": customer}))
    sub = {"external_customer_id": "tc", "plan_code": "basic", "external_id": "tc-sub"}
    ok(api.post("subscriptions", {"subscription": sub}))


def test_wire_shape_list_and_show(api: Any, clock: FrozenClock) -> None:
    first = _clock(api, name="first")
    assert first == {
        "lago_id": first["lago_id"],
        "name": "first",
        "frozen_time": "2025-01-01T00:00:00Z",
        "status": "ready",
        "customers_count": 0,
        "created_at": "2024-01-15T12:00:00Z",  # the live clock's time (conftest)
    }
    ok(api.post("customers", {"customer": {"external_id": "a", "test_clock_id": first["lago_id"]}}))
    _clock(api, name="second")
    listed = ok(api.get("test_clocks", params={"per_page": 1, "page": 2}))
    assert listed["meta"]["total_count"] == 2
    assert listed["meta"]["total_pages"] == 2
    assert [c["name"] for c in listed["test_clocks"]] == ["first"] or [
        c["name"] for c in listed["test_clocks"]
    ] == ["second"]
    shown = ok(api.get(f"test_clocks/{first['lago_id']}"))["test_clock"]
    assert shown["customers_count"] == 1
    customer = ok(api.get("customers/a"))["customer"]
    assert customer["test_clock_id"] == first["lago_id"]
    assert customer["created_at"] == "2025-01-01T00:00:00Z"  # born at the clock's time


def test_bad_input_is_refused_and_changes_nothing(api: Any) -> None:
    missing = api.post("test_clocks", {"test_clock": {"name": "x"}})
    assert missing.status_code == 422
    assert missing.json()["error_details"] == {"frozen_time": ["value_is_mandatory"]}
    assert api.get("test_clocks/00000000-0000-0000-0000-000000000000").json()["code"] == (
        "test_clock_not_found"
    )
    clock_id = _clock(api)["lago_id"]
    earlier = {"test_clock": {"frozen_time": at(2024, 12, 31).isoformat()}}
    refused = api.post(f"test_clocks/{clock_id}/advance", earlier)
    assert refused.status_code == 422
    assert refused.json()["error_details"] == {"frozen_time": ["must_be_later_than_current_time"]}
    shown = ok(api.get(f"test_clocks/{clock_id}"))["test_clock"]
    assert (shown["frozen_time"], shown["status"]) == ("2025-01-01T00:00:00Z", "ready")
    unknown = {"customer": {"external_id": "u", "test_clock_id": "nope"}}
    assert api.post("customers", unknown).json()["code"] == "test_clock_not_found"
    assert api.get("customers/u").status_code == 404


def test_a_customers_clock_cannot_change(api: Any) -> None:
    first, second = _clock(api)["lago_id"], _clock(api)["lago_id"]
    ok(api.post("customers", {"customer": {"external_id": "a", "test_clock_id": first}}))
    moved = api.post("customers", {"customer": {"external_id": "a", "test_clock_id": second}})
    assert moved.status_code == 422
    assert moved.json()["error_details"] == {"test_clock_id": ["cannot_be_changed"]}
    # An update that does not name the clock keeps it.
    ok(api.post("customers", {"customer": {"external_id": "a", "name": "renamed"}}))
    assert ok(api.get("customers/a"))["customer"]["test_clock_id"] == first
    live = {"customer": {"external_id": "live"}}
    ok(api.post("customers", live))
    attach = {"customer": {"external_id": "live", "test_clock_id": first}}
    assert api.post("customers", attach).status_code == 422


def test_undated_events_and_current_usage_are_at_the_clocks_time(api: Any) -> None:
    clock_id = _clock(api)["lago_id"]
    _subscribed(api, clock_id)
    ok(
        api.post(
            f"test_clocks/{clock_id}/advance",
            {"test_clock": {"frozen_time": "2025-01-10T08:00:00Z"}},
        )
    )
    undated = {"transaction_id": "t1", "external_subscription_id": "tc-sub", "code": "items",
               "properties": {"item_count": 4}}  # fmt: skip
    stored = ok(api.post("events", {"event": undated}))["event"]
    assert stored["timestamp"].startswith("2025-01-10T08:00:00")
    batch = [{**undated, "transaction_id": "t2"}]
    ok(api.post("events/batch", {"events": batch}))
    with api.database.unit_of_work() as session:
        stamps = sorted(session.scalars(select(events.c.timestamp)))
    assert [s.isoformat() for s in stamps] == ["2025-01-10T08:00:00+00:00"] * 2
    usage = ok(
        api.get("customers/tc/current_usage", params={"external_subscription_id": "tc-sub"})
    )["customer_usage"]
    # The clock's January, not the live clock's (January 2024): 2 x 4 items at 100 = 800.
    assert usage["from_datetime"] == "2025-01-01T00:00:00Z"
    assert usage["amount_cents"] == 800


def test_an_advancing_clock_refuses_a_second_advance_and_deletion(api: Any) -> None:
    clock_id = _clock(api)["lago_id"]
    with api.database.unit_of_work() as session:
        session.execute(
            update(TestClock).where(TestClock.id == clock_id).values(status="advancing")
        )
    again = api.post(
        f"test_clocks/{clock_id}/advance", {"test_clock": {"frozen_time": "2025-02-01T00:00:00Z"}}
    )
    assert (again.status_code, again.json()["code"]) == (405, "test_clock_advancing")
    assert api.delete(f"test_clocks/{clock_id}").status_code == 405
    assert ok(api.get(f"test_clocks/{clock_id}"))["test_clock"]["frozen_time"] == (
        "2025-01-01T00:00:00Z"
    )


def test_two_advances_at_once_bill_each_boundary_once(api: Any, clock: FrozenClock) -> None:
    clock_id = _clock(api)["lago_id"]
    _subscribed(api, clock_id)
    outcomes: list[str] = []

    def advance() -> None:
        try:
            test_clocks.advance(
                api.database,
                organization_id=api.org_id,
                clock_id=clock_id,
                frozen_time=at(2025, 4, 1),
                wall_clock=clock,
            )
            outcomes.append("advanced")
        except DomainError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=advance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One advanced; the other was refused while it ran, or found the time already reached.
    assert sorted(outcomes) in (
        ["advanced", "test_clock_advancing"],
        ["advanced", "validation_errors"],
    )
    with api.database.unit_of_work() as session:
        issued = session.scalar(select(func.count()).select_from(Invoice))
    assert issued == 3  # February, March and April 1: one invoice each, never two


def test_the_command_line_advances_a_clock(api: Any, migrated_db_url: str) -> None:
    from typer.testing import CliRunner

    from meterly.cli.main import app

    clock_id = _clock(api)["lago_id"]
    _subscribed(api, clock_id)
    args = ["test-clock", "advance", clock_id, "--to", "2025-03-01T00:00:00Z"]
    result = CliRunner().invoke(
        app, [*args, "--org", api.org_id, "--database-url", migrated_db_url]
    )
    assert result.exit_code == 0, result.output
    # Steps: February 1 (January billed), February 2 (January's invoice, due on the 1st,
    # becomes overdue), March 1 (February billed): 2 invoices.
    assert "steps\t3" in result.output and "invoices issued\t2" in result.output
    assert ok(api.get(f"test_clocks/{clock_id}"))["test_clock"]["frozen_time"] == (
        "2025-03-01T00:00:00Z"
    )
    again = CliRunner().invoke(app, [*args, "--org", api.org_id, "--database-url", migrated_db_url])
    assert again.exit_code == 1
    assert "must_be_later_than_current_time" in again.output
