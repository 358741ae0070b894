"""Subscriptions waiting for their first payment (Lago's `activation_rules`, issue 17
point 6), through the API and the billing run, on SQLite and PostgreSQL.

The plan is 100.00 EUR a month paid in advance, billed on the anniversary of the start
(2024-01-15 12:00 UTC), so the start's invoice is one whole period: 10000 cents, no tax.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice, Subscription, Webhook
from tests.integration.life_helpers import at, bill, customer, ok, plan

START = at(2024, 1, 15, 12)
PAYMENT_RULE = {"type": "payment", "timeout_hours": 48}


def hooks(api: Any) -> None:
    """One endpoint listening to everything, so the outbox records every webhook."""
    endpoint = {"webhook_url": "https://hooks.example/lago", "signature_algo": "hmac"}
    ok(api.post("webhook_endpoints", {"webhook_endpoint": endpoint}))


def subscribe(
    api: Any, clock: FrozenClock, *, rules: list[Any] | None, plan_code: str = "gated"
) -> Any:
    clock.set(START)
    body: dict[str, Any] = {
        "external_customer_id": "cust",
        "plan_code": plan_code,
        "external_id": "sub",
        "billing_time": "anniversary",
    }
    if rules is not None:
        body["activation_rules"] = rules
    return api.post("subscriptions", {"subscription": body})


def setup(api: Any, *, pay_in_advance: bool = True, amount: int = 10000) -> None:
    hooks(api)
    plan(api, "gated", amount=amount, pay_in_advance=pay_in_advance)
    customer(api)


def shown(api: Any) -> dict[str, Any]:
    body: dict[str, Any] = ok(api.get("subscriptions/sub"))["subscription"]
    return body


def sub_invoices(api: Any) -> list[Invoice]:
    """Every invoice of the customer, oldest first."""
    with api.database.unit_of_work() as session:
        rows = list(session.scalars(select(Invoice).order_by(Invoice.created_at, Invoice.id)))
        for row in rows:
            session.expunge(row)
        return rows


def subscription_webhooks(api: Any) -> list[str]:
    with api.database.unit_of_work() as session:
        sub_id = session.scalar(select(Subscription.id).where(Subscription.external_id == "sub"))
        return list(
            session.scalars(
                select(Webhook.webhook_type)
                .where(Webhook.object_id == sub_id)
                .order_by(Webhook.created_at, Webhook.id)
            )
        )


def pay(api: Any, invoice_id: str, amount: int) -> Any:
    payment = {"invoice_id": invoice_id, "amount_cents": amount, "reference": "wire"}
    return api.post("payments", {"payment": payment})


def test_incomplete_until_paid_then_billed_as_usual(api: Any, clock: FrozenClock) -> None:
    setup(api)
    created = ok(subscribe(api, clock, rules=[{"type": "payment"}]))["subscription"]
    assert created["status"] == "incomplete" and created["activated_at"] is None
    (rule,) = created["activation_rules"]
    # No timeout_hours: it waits without a deadline.
    assert (rule["type"], rule["status"], rule["expires_at"]) == ("payment", "pending", None)

    # The first run comes a month late: the start is billed, the Feb 15 boundary is not.
    bill(api, clock, at(2024, 2, 16))
    (start,) = sub_invoices(api)
    # The start of a plan paid in advance: one whole anniversary period, 10000.
    assert (start.total_amount_cents, start.status) == (10000, "finalized")
    bill(api, clock, at(2024, 2, 16, 1))  # still unpaid: nothing after the start
    assert len(sub_invoices(api)) == 1
    assert shown(api)["status"] == "incomplete"

    clock.set(at(2024, 2, 16, 9))
    assert pay(api, start.id, 4000).status_code == 200  # 4000 of 10000: still waiting
    assert shown(api)["status"] == "incomplete"
    assert pay(api, start.id, 6000).status_code == 200  # 4000 + 6000 = 10000: paid
    active = shown(api)
    assert active["status"] == "active"
    assert active["activated_at"] == "2024-02-16T09:00:00Z"
    assert active["activation_rules"][0]["status"] == "satisfied"
    assert subscription_webhooks(api) == ["subscription.incomplete", "subscription.started"]

    # Active now: the Feb 15 boundary it skipped is billed by the next run, in advance
    # for Feb 15 - Mar 14: 10000.
    bill(api, clock, at(2024, 2, 16, 10))
    first, second = sub_invoices(api)
    assert first.id == start.id and second.total_amount_cents == 10000


def test_failed_payment_cancels_and_voids_the_start(api: Any, clock: FrozenClock) -> None:
    setup(api)
    ok(subscribe(api, clock, rules=[PAYMENT_RULE]))
    bill(api, clock, START)
    (start,) = sub_invoices(api)
    clock.set(START + timedelta(hours=1))
    # The payment failed (Lago's invoice update, as a provider's failure would).
    ok(api.put(f"invoices/{start.id}", {"invoice": {"payment_status": "failed"}}))
    canceled = shown(api)
    assert canceled["status"] == "canceled"
    assert canceled["cancellation_reason"] == "payment_failed"
    assert canceled["canceled_at"] == "2024-01-15T13:00:00Z"
    assert canceled["activated_at"] is None
    assert canceled["activation_rules"][0]["status"] == "failed"
    assert [i.status for i in sub_invoices(api)] == ["voided"]
    assert subscription_webhooks(api) == ["subscription.incomplete", "subscription.canceled"]
    # Nothing more is ever billed for it, nor can it be paid.
    bill(api, clock, at(2024, 3, 20))
    assert len(sub_invoices(api)) == 1
    assert pay(api, start.id, 10000).status_code == 422


def test_timeout_cancels_an_unpaid_subscription(api: Any, clock: FrozenClock) -> None:
    setup(api)
    created = ok(subscribe(api, clock, rules=[PAYMENT_RULE]))["subscription"]
    # 2024-01-15 12:00 + 48 hours = 2024-01-17 12:00.
    assert created["activation_rules"][0]["expires_at"] == "2024-01-17T12:00:00Z"
    bill(api, clock, START)
    bill(api, clock, at(2024, 1, 17, 11, 59))  # a minute before: still waiting
    assert shown(api)["status"] == "incomplete"
    bill(api, clock, at(2024, 1, 17, 12))
    canceled = shown(api)
    assert (canceled["status"], canceled["cancellation_reason"]) == ("canceled", "timeout")
    assert canceled["activation_rules"][0]["status"] == "expired"
    assert [i.status for i in sub_invoices(api)] == ["voided"]
    assert subscription_webhooks(api) == ["subscription.incomplete", "subscription.canceled"]
    bill(api, clock, at(2024, 2, 20))
    assert len(sub_invoices(api)) == 1


def test_a_start_that_costs_nothing_activates_in_the_run(api: Any, clock: FrozenClock) -> None:
    setup(api, amount=0)
    ok(subscribe(api, clock, rules=[PAYMENT_RULE]))
    bill(api, clock, START)
    # A zero invoice is paid when finalized: nothing to wait for.
    assert shown(api)["status"] == "active"
    # Both at the same instant: their order in the outbox is not told apart by time.
    assert sorted(subscription_webhooks(api)) == [
        "subscription.incomplete",
        "subscription.started",
    ]


def test_rules_do_not_gate_a_plan_paid_in_arrears(api: Any, clock: FrozenClock) -> None:
    setup(api, pay_in_advance=False)
    created = ok(subscribe(api, clock, rules=[PAYMENT_RULE]))["subscription"]
    # No first invoice to pay: Lago starts it at once and the rule does not apply.
    assert created["status"] == "active"
    assert created["activation_rules"][0]["status"] == "not_applicable"
    assert subscription_webhooks(api) == ["subscription.started"]


def test_without_rules_a_subscription_starts_as_today(api: Any, clock: FrozenClock) -> None:
    setup(api)
    created = ok(subscribe(api, clock, rules=None))["subscription"]
    assert created["status"] == "active" and created["activation_rules"] == []
    assert created["activated_at"] == "2024-01-15T12:00:00Z"
    bill(api, clock, at(2024, 2, 16))
    # The start and the Feb 15 boundary, 10000 each, paid or not.
    assert [i.total_amount_cents for i in sub_invoices(api)] == [10000, 10000]


def test_terminating_a_waiting_subscription_cancels_it(api: Any, clock: FrozenClock) -> None:
    setup(api)
    ok(subscribe(api, clock, rules=[PAYMENT_RULE]))
    bill(api, clock, START)
    clock.set(START + timedelta(hours=2))
    ended = ok(api.delete("subscriptions/sub"))["subscription"]
    assert (ended["status"], ended["cancellation_reason"]) == ("canceled", None)
    assert [i.status for i in sub_invoices(api)] == ["voided"]


def test_a_future_subscription_waits_from_its_start(api: Any, clock: FrozenClock) -> None:
    setup(api)
    clock.set(START)
    body = {
        "external_customer_id": "cust",
        "plan_code": "gated",
        "external_id": "sub",
        "billing_time": "anniversary",
        "subscription_at": "2024-02-01T00:00:00Z",
        "activation_rules": [PAYMENT_RULE],
    }
    created = ok(api.post("subscriptions", {"subscription": body}))["subscription"]
    assert created["status"] == "pending"
    assert created["activation_rules"][0]["status"] == "inactive"
    bill(api, clock, at(2024, 2, 1))
    waiting = shown(api)
    assert waiting["status"] == "incomplete"
    # The deadline runs from the start: 2024-02-01 00:00 + 48 hours.
    assert waiting["activation_rules"][0]["expires_at"] == "2024-02-03T00:00:00Z"
    (start,) = sub_invoices(api)
    assert start.total_amount_cents == 10000
    assert pay(api, start.id, 10000).status_code == 200
    assert shown(api)["status"] == "active"


def test_bad_rules_are_refused_and_change_nothing(api: Any, clock: FrozenClock) -> None:
    setup(api)
    for rules, code in (
        ([{"type": "signature"}], "invalid_type"),
        ([{"type": "payment", "timeout_hours": -1}], "invalid_timeout_hours"),
        ([{"type": "payment", "timeout_hours": "48"}], "invalid_timeout_hours"),
        ("payment", "value_is_invalid"),
    ):
        answer = subscribe(api, clock, rules=rules)  # type: ignore[arg-type]
        assert answer.status_code == 422, answer.text
        assert answer.json()["error_details"] == {"activation_rules": [code]}
    listed = ok(api.get("subscriptions?status[]=incomplete&status[]=active&status[]=pending"))
    assert listed["subscriptions"] == []
    ok(subscribe(api, clock, rules=[PAYMENT_RULE]))
    # A second subscription with the same external id while the first waits is refused.
    again = subscribe(api, clock, rules=[PAYMENT_RULE])
    assert again.status_code == 422
    assert again.json()["error_details"] == {"external_id": ["value_already_exist"]}


def test_the_incomplete_webhook_carries_the_waiting_subscription(
    api: Any, clock: FrozenClock
) -> None:
    import json

    from meterly.jobs import webhooks

    setup(api)
    ok(subscribe(api, clock, rules=[PAYMENT_RULE]))
    with api.database.unit_of_work() as session:
        row = session.scalars(
            select(Webhook).where(Webhook.webhook_type == "subscription.incomplete")
        ).one()
        token = webhooks.RENDER_CLOCK.set(clock)
        try:
            message = json.loads(webhooks.render(session, row))
        finally:
            webhooks.RENDER_CLOCK.reset(token)
    assert (message["webhook_type"], message["object_type"]) == (
        "subscription.incomplete",
        "subscription",
    )
    body = message["subscription"]
    assert (body["external_id"], body["status"]) == ("sub", "incomplete")
    assert body["activation_rules"][0]["expires_at"] == "2024-01-17T12:00:00Z"


def test_in_advance_fixed_charges_are_paid_before_it_starts(api: Any, clock: FrozenClock) -> None:
    hooks(api)
    seats = {"name": "Seats", "code": "seats", "amount_cents": 0, "amount_currency": "EUR"}
    ok(api.post("add_ons", {"add_on": seats}))
    body = {
        "name": "Gated",
        "code": "gated",
        "interval": "monthly",
        "amount_cents": 10000,
        "amount_currency": "EUR",
        "pay_in_advance": True,
        "charges": [],
        "fixed_charges": [
            {
                "add_on_code": "seats",
                "charge_model": "standard",
                "units": 2,
                "pay_in_advance": True,
                "properties": {"amount": "5"},
            }
        ],
    }
    ok(api.post("plans", {"plan": body}))
    customer(api)
    ok(subscribe(api, clock, rules=[PAYMENT_RULE]))
    # Billed at creation: 2 seats x 5.00 = 10.00, 1000 cents.
    (seats_invoice,) = sub_invoices(api)
    assert seats_invoice.total_amount_cents == 1000
    bill(api, clock, START)
    fee_invoice = next(i for i in sub_invoices(api) if i.id != seats_invoice.id)
    assert fee_invoice.total_amount_cents == 10000
    assert pay(api, fee_invoice.id, 10000).status_code == 200
    # The seats are still owed: it waits.
    assert shown(api)["status"] == "incomplete"
    assert pay(api, seats_invoice.id, 1000).status_code == 200
    assert shown(api)["status"] == "active"


def test_rules_change_only_before_the_start(api: Any, clock: FrozenClock) -> None:
    setup(api)
    clock.set(START)
    body = {
        "external_customer_id": "cust",
        "plan_code": "gated",
        "external_id": "sub",
        "subscription_at": "2024-02-01T00:00:00Z",
    }
    ok(api.post("subscriptions", {"subscription": body}))
    change = {"subscription": {"activation_rules": [{"type": "payment", "timeout_hours": 6}]}}
    pending = ok(api.put("subscriptions/sub", change))["subscription"]
    assert [(r["timeout_hours"], r["status"]) for r in pending["activation_rules"]] == [
        (6, "inactive")
    ]
    bill(api, clock, at(2024, 2, 1))
    assert shown(api)["status"] == "incomplete"
    # Waiting now: Lago refuses any change of its rules.
    refused = api.put("subscriptions/sub", change)
    assert refused.status_code == 422
    assert refused.json()["error_details"] == {"activation_rules": ["value_is_invalid"]}
    assert shown(api)["activation_rules"][0]["status"] == "pending"
