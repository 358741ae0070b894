"""The catalogue, customer and subscription webhooks Lago sends (docs/webhooks.md), each
queued once in the unit of work of the change, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Webhook, WebhookEndpoint
from tests.integration.test_pay_in_advance import at, event, setup
from tests.integration.test_spend_control import calls
from tests.integration.test_spend_control import setup as spend_setup


def queued(api: Any) -> list[tuple[str, str]]:
    with api.database.unit_of_work() as session:
        rows = session.execute(
            select(Webhook.webhook_type, Webhook.object_type).order_by(
                Webhook.created_at, Webhook.id
            )
        )
        return sorted((t, o) for t, o in rows)


def test_catalogue_customer_and_subscription_changes_are_announced(api: Any) -> None:
    assert (
        api.post(
            "webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}}
        ).status_code
        == 200
    )
    metric = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    api.put("billable_metrics/calls", {"billable_metric": {"name": "API calls"}})
    plan = {
        "name": "Pro",
        "code": "pro",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "charges": [
            {
                "billable_metric_id": metric["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "1"},
            }
        ],
    }
    assert api.post("plans", {"plan": plan}).status_code == 200
    api.put("plans/pro", {"plan": {"name": "Pro+"}})
    api.post("customers", {"customer": {"external_id": "c", "name": "C"}})
    api.post("customers", {"customer": {"external_id": "c", "name": "C2"}})  # an update
    started = api.post(
        "subscriptions",
        {"subscription": {"external_customer_id": "c", "plan_code": "pro", "external_id": "s"}},
    )
    assert started.status_code == 200, started.text
    api.put("subscriptions/s", {"subscription": {"name": "Main"}})
    assert queued(api) == sorted(
        [
            ("billable_metric.created", "billable_metric"),
            ("billable_metric.updated", "billable_metric"),
            ("plan.created", "plan"),
            ("plan.updated", "plan"),
            ("customer.created", "customer"),
            ("customer.updated", "customer"),
            ("subscription.started", "subscription"),
            ("subscription.updated", "subscription"),
        ]
    )


def test_a_future_subscription_starts_when_the_clock_reaches_it(api: Any) -> None:
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "EUR",
            }
        },
    )
    api.post("customers", {"customer": {"external_id": "c", "name": "C"}})
    # The API's clock is 2024-01-15 12:00 (tests/conftest.py); the subscription starts on 1 March.
    future = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "p",
                "external_id": "s",
                "subscription_at": "2024-03-01T00:00:00Z",
            }
        },
    )
    assert future.json()["subscription"]["status"] == "pending"
    assert ("subscription.started", "subscription") not in queued(api)
    march = datetime(2024, 3, 1, 1, tzinfo=UTC)
    runs.run(api.database, as_of=march, clock=FrozenClock(march))
    assert queued(api).count(("subscription.started", "subscription")) == 1
    runs.run(api.database, as_of=march, clock=FrozenClock(march))  # a second run: nothing new
    assert queued(api).count(("subscription.started", "subscription")) == 1


def test_deletions_are_announced(api: Any) -> None:
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    api.post(
        "billable_metrics",
        {"billable_metric": {"name": "M", "code": "m", "aggregation_type": "count_agg"}},
    )
    api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "EUR",
            }
        },
    )
    api.post("customers", {"customer": {"external_id": "c", "name": "C"}})
    for path in ("billable_metrics/m", "plans/p", "customers/c"):
        assert api.delete(path).status_code == 200, path
    deleted = [t for t, _ in queued(api) if t.endswith(".deleted")]
    # Lago has no `customer.deleted` webhook.
    assert deleted == ["billable_metric.deleted", "plan.deleted"]


def _bill(api: Any, when: datetime) -> None:
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []


def test_trial_end_is_announced_once(api: Any) -> None:
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "EUR",
                "trial_period": 10,
            }
        },
    )
    api.post("customers", {"customer": {"external_id": "c", "name": "C"}})
    api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "p",
                "external_id": "s",
                "subscription_at": "2024-01-05T00:00:00Z",
            }
        },
    )
    # Started 5 January 00:00 UTC + 10 days of trial = 15 January 00:00 UTC.
    _bill(api, datetime(2024, 1, 14, 23, tzinfo=UTC))
    assert ("subscription.trial_ended", "subscription") not in queued(api)
    _bill(api, datetime(2024, 1, 15, 0, 30, tzinfo=UTC))
    _bill(api, datetime(2024, 1, 16, tzinfo=UTC))
    assert queued(api).count(("subscription.trial_ended", "subscription")) == 1
    shown = api.get("subscriptions/s").json()["subscription"]
    assert shown["trial_ended_at"].startswith("2024-01-15T00:00:00")


def test_termination_is_announced_45_then_15_days_ahead(api: Any) -> None:
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "EUR",
            }
        },
    )
    api.post("customers", {"customer": {"external_id": "c", "name": "C"}})
    api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "p",
                "external_id": "s",
                "ending_at": "2024-06-30T00:00:00Z",
            }
        },
    )

    def alerts() -> int:
        return queued(api).count(("subscription.termination_alert", "subscription"))

    # 30 June - 45 days = 16 May; - 15 days = 15 June.
    _bill(api, datetime(2024, 5, 15, 12, tzinfo=UTC))
    assert alerts() == 0
    _bill(api, datetime(2024, 5, 16, 12, tzinfo=UTC))
    _bill(api, datetime(2024, 5, 20, tzinfo=UTC))
    assert alerts() == 1
    _bill(api, datetime(2024, 6, 15, 12, tzinfo=UTC))
    _bill(api, datetime(2024, 6, 20, tzinfo=UTC))
    assert alerts() == 2


# --- invoices, credit notes, wallets and subscriptions --------------------------------------


def _finalized_invoice(api: Any, *, grace_days: int = 0) -> str:
    """A monthly 100.00 EUR plan in arrears for customer c from 1 January, billed on 1 Feb."""
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 10000,
                "amount_currency": "EUR",
            }
        },
    )
    customer: dict[str, Any] = {"external_id": "c", "name": "C", "currency": "EUR"}
    if grace_days:
        customer["billing_configuration"] = {"invoice_grace_period": grace_days}
    api.post("customers", {"customer": customer})
    api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "p",
                "external_id": "s",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        },
    )
    _bill(api, datetime(2024, 2, 1, 1, tzinfo=UTC))
    (invoice,) = api.get("invoices").json()["invoices"]
    return str(invoice["lago_id"])


def test_invoice_documents_and_disputes_are_announced(api: Any) -> None:
    invoice_id = _finalized_invoice(api)
    assert api.post(f"invoices/{invoice_id}/download_pdf").status_code == 200
    assert api.post(f"invoices/{invoice_id}/lose_dispute").status_code == 200
    note = api.post(
        "credit_notes",
        {
            "credit_note": {
                "invoice_id": invoice_id,
                "reason": "other",
                "credit_amount_cents": 1000,
                "items": [
                    {
                        "fee_id": api.get(f"invoices/{invoice_id}").json()["invoice"]["fees"][0][
                            "lago_id"
                        ],
                        "amount_cents": 1000,
                    }
                ],
            }
        },
    )
    assert note.status_code == 200, note.text
    assert (
        api.post(f"credit_notes/{note.json()['credit_note']['lago_id']}/download").status_code
        == 200
    )
    types = [t for t, _ in queued(api)]
    for expected in (
        "invoice.generated",
        "invoice.payment_dispute_lost",
        "credit_note.created",
        "credit_note.generated",
    ):
        assert types.count(expected) == 1, expected


def test_a_draft_is_announced_and_so_is_its_deletion(api: Any) -> None:
    invoice_id = _finalized_invoice(api, grace_days=3)
    assert api.get(f"invoices/{invoice_id}").json()["invoice"]["status"] == "draft"
    assert api.delete(f"invoices/{invoice_id}").status_code == 200
    types = [t for t, _ in queued(api)]
    assert types.count("invoice.drafted") == 1 and types.count("invoice.deleted") == 1


def test_wallet_and_subscription_endings_are_announced(api: Any) -> None:
    _finalized_invoice(api)
    wallet = api.post(
        "wallets",
        {
            "wallet": {
                "external_customer_id": "c",
                "code": "w",
                "rate_amount": "1",
                "currency": "EUR",
                "granted_credits": "1",
            }
        },
    ).json()["wallet"]
    assert (
        api.put(f"wallets/{wallet['lago_id']}", {"wallet": {"name": "Renamed"}}).status_code == 200
    )
    assert api.delete(f"wallets/{wallet['lago_id']}").status_code == 200
    assert api.delete("subscriptions/s").status_code == 200
    types = [t for t, _ in queued(api)]
    for expected in (
        "wallet.created",
        "wallet.updated",
        "wallet.terminated",
        "subscription.terminated",
    ):
        assert types.count(expected) == 1, expected


def test_paid_top_ups_settle_or_fail_with_their_invoice(api: Any) -> None:
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "EUR"}})
    wallet = api.post(
        "wallets",
        {
            "wallet": {
                "external_customer_id": "c",
                "code": "w",
                "rate_amount": "1",
                "currency": "EUR",
                "invoice_requires_successful_payment": True,
            }
        },
    ).json()["wallet"]
    for credits in ("10", "20"):
        top_up = api.post(
            "wallet_transactions",
            {"wallet_transaction": {"wallet_id": wallet["lago_id"], "paid_credits": credits}},
        )
        assert top_up.status_code == 200, top_up.text
    first, second = sorted(
        (i for i in api.get("invoices").json()["invoices"] if i["invoice_type"] == "credit"),
        key=lambda i: i["total_amount_cents"],
    )
    api.put(f"invoices/{first['lago_id']}", {"invoice": {"payment_status": "succeeded"}})
    api.put(f"invoices/{second['lago_id']}", {"invoice": {"payment_status": "failed"}})
    types = [t for t, _ in queued(api)]
    assert types.count("wallet_transaction.updated") == 1
    assert types.count("wallet_transaction.payment_failure") == 1


def test_a_pay_in_advance_fee_is_announced(api: Any) -> None:
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    setup(api)
    assert api.post("events", {"event": event("e1", at(2), 3)}).status_code == 200
    _bill(api, at(3))
    assert [t for t, _ in queued(api)].count("fee.created") == 1


def test_a_usage_threshold_reached_is_announced(api: Any) -> None:
    spend_setup(api, thresholds=True)  # 1.00 USD a call; thresholds 10.00 then every 5.00
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "https://h.example.com/"}})
    when = datetime(2024, 1, 10, tzinfo=UTC)
    calls(api, 11, when, "a")  # 11 calls = 11.00 USD: past the 10.00 threshold, once
    _bill(api, when)
    _bill(api, when)  # checked again: no second crossing
    with api.database.unit_of_work() as session:
        rows = session.execute(
            select(Webhook.webhook_type)
            .join(WebhookEndpoint, WebhookEndpoint.id == Webhook.webhook_endpoint_id)
            .where(WebhookEndpoint.webhook_url == "https://h.example.com/")
        )
        types = [t for (t,) in rows]
    assert types.count("subscription.usage_threshold_reached") == 1
