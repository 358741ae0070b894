"""An advance runs each due instant in order, at that instant (issue 18, point 5): a trial's
end, the 45- and 15-day notices before `ending_at`, the termination at `ending_at`, an
unpaid invoice turning overdue the day after its due date. The webhooks are enqueued as
usual, each dated at its own step, and for the clock's objects only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from meterly.store.tables import Webhook
from tests.integration.life_helpers import at, ok, plan


def test_dues_are_run_in_order_each_at_its_instant(api: Any) -> None:
    hook = {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}}
    ok(api.post("webhook_endpoints", hook))
    plan(api, "basic", amount=1000, trial=10)
    clock = {"test_clock": {"name": "steps", "frozen_time": at(2025, 1, 1).isoformat()}}
    clock_id = ok(api.post("test_clocks", clock))["test_clock"]["lago_id"]
    ok(api.post("customers", {"customer": {"external_id": "tc", "test_clock_id": clock_id}}))
    sub = {
        "external_customer_id": "tc",
        "plan_code": "basic",
        "external_id": "tc-sub",
        "ending_at": at(2025, 3, 20).isoformat(),
    }
    ok(api.post("subscriptions", {"subscription": sub}))
    ok(api.post("customers", {"customer": {"external_id": "live"}}))  # a live bystander
    with api.database.unit_of_work() as session:
        before = {w.id for w in session.scalars(select(Webhook))}

    advance = {"test_clock": {"frozen_time": at(2025, 4, 1).isoformat()}}
    ok(api.post(f"test_clocks/{clock_id}/advance", advance))

    with api.database.unit_of_work() as session:
        queued = [
            (w.created_at.isoformat(), w.webhook_type)
            for w in session.scalars(
                select(Webhook)
                .where(Webhook.id.not_in(before))
                .order_by(Webhook.created_at, Webhook.webhook_type)
            )
        ]
    # Invoice webhooks aside, what happened to the subscription, each at its instant.
    about_subscription = [q for q in queued if q[1].startswith("subscription.")]
    assert about_subscription == [
        # A 10-day trial from January 1 ends on January 11 at 00:00.
        ("2025-01-11T00:00:00+00:00", "subscription.trial_ended"),
        # 45 days before March 20 is February 3; 15 days before is March 5.
        ("2025-02-03T00:00:00+00:00", "subscription.termination_alert"),
        ("2025-03-05T00:00:00+00:00", "subscription.termination_alert"),
        ("2025-03-20T00:00:00+00:00", "subscription.terminated"),
    ]
    created = [q for q in queued if q[1] == "invoice.created"]
    # February 1 (January), March 1 (February), and the termination on March 20.
    assert [q[0][:10] for q in created] == ["2025-02-01", "2025-03-01", "2025-03-20"]
    overdue = [q[0][:10] for q in queued if q[1] == "invoice.payment_overdue"]
    # Each is due on its issuing day (no payment term) and overdue the next day.
    assert overdue == ["2025-02-02", "2025-03-02", "2025-03-21"]
