"""Builders for the subscription-life scenarios (tests/integration/test_subscription_life_*).

Each scenario drives the API and the billing run with a frozen clock that moves, like a
Lago user would, and reads back what was billed: fees by plan, credit notes, invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee, Invoice, InvoiceSubscription, Plan, Subscription
from meterly.store.tables_credit_notes import CreditNote


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def item_metric(api: Any) -> None:
    """`items`: the sum of `item_count`, priced 1 EUR a unit by plans that have a charge."""
    ok(
        api.post(
            "billable_metrics",
            {
                "billable_metric": {
                    "name": "Items",
                    "code": "items",
                    "aggregation_type": "sum_agg",
                    "field_name": "item_count",
                }
            },
        )
    )


def vat(api: Any, rate: float) -> None:
    ok(api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": rate}}))


def plan(
    api: Any,
    code: str,
    *,
    amount: int,
    interval: str = "monthly",
    pay_in_advance: bool = False,
    trial: float | None = None,
    with_items: bool = False,
    taxed: bool = False,
) -> None:
    body: dict[str, Any] = {
        "name": code,
        "code": code,
        "interval": interval,
        "amount_cents": amount,
        "amount_currency": "EUR",
        "pay_in_advance": pay_in_advance,
        "charges": [],
    }
    if with_items:
        metric = ok(api.get("billable_metrics/items"))["billable_metric"]
        body["charges"] = [
            {
                "billable_metric_id": metric["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "1"},
            }
        ]
    if trial is not None:
        body["trial_period"] = trial
    if taxed:
        body["tax_codes"] = ["vat"]
    ok(api.post("plans", {"plan": body}))


def customer(api: Any, *, timezone: str | None = None, grace: int | None = None) -> None:
    body: dict[str, Any] = {"external_id": "cust", "name": "Customer"}
    if timezone:
        body["timezone"] = timezone
    if grace is not None:
        body["billing_configuration"] = {"invoice_grace_period": grace}
    ok(api.post("customers", {"customer": body}))


def subscribe(
    api: Any,
    clock: FrozenClock,
    when: datetime,
    plan_code: str,
    *,
    billing_time: str = "calendar",
    external_id: str = "sub",
    ending_at: datetime | None = None,
) -> dict[str, Any]:
    """Create (or change the plan of) the subscription `external_id` at `when`."""
    clock.set(when)
    body: dict[str, Any] = {
        "external_customer_id": "cust",
        "plan_code": plan_code,
        "external_id": external_id,
        "billing_time": billing_time,
    }
    if ending_at is not None:
        body["ending_at"] = ending_at.isoformat()
    return ok(api.post("subscriptions", {"subscription": body}))["subscription"]


def terminate(
    api: Any, clock: FrozenClock, when: datetime, *, external_id: str = "sub"
) -> dict[str, Any]:
    clock.set(when)
    return ok(api.delete(f"subscriptions/{external_id}"))["subscription"]


def send_items(
    api: Any, when: datetime, *, count: int, each: int, prefix: str, external_id: str = "sub"
) -> None:
    events = [
        {
            "transaction_id": f"{prefix}{n}",
            "external_subscription_id": external_id,
            "code": "items",
            "timestamp": str(int(when.timestamp())),
            "properties": {"item_count": each},
        }
        for n in range(count)
    ]
    ok(api.post("events/batch", {"events": events}))


def bill(api: Any, clock: FrozenClock, as_of: datetime) -> runs.RunReport:
    clock.set(as_of)
    report = runs.run(api.database, as_of=as_of, clock=FrozenClock(as_of))
    assert report.errors == []
    return report


@dataclass(frozen=True)
class BilledFee:
    plan_code: str
    fee_type: str
    amount_cents: int
    first_day: str  # the UTC date of the fee's from_datetime
    last_day: str
    invoice_id: str | None
    to_datetime: datetime | None


def fees(api: Any, fee_type: str = "subscription") -> list[BilledFee]:
    """The fees of this type, oldest first, with the plan they bill."""
    with api.database.unit_of_work() as session:
        rows = session.execute(
            select(Fee, Plan.code)
            .join(Subscription, Subscription.id == Fee.subscription_id)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(Fee.fee_type == fee_type, Fee.deleted_at.is_(None))
            .order_by(Fee.created_at, Fee.from_datetime, Fee.id)
        )
        return [
            BilledFee(
                plan_code=code,
                fee_type=fee.fee_type,
                amount_cents=fee.amount_cents,
                first_day=fee.from_datetime.date().isoformat() if fee.from_datetime else "",
                last_day=fee.to_datetime.date().isoformat() if fee.to_datetime else "",
                invoice_id=fee.invoice_id,
                to_datetime=fee.to_datetime,
            )
            for fee, code in rows
        ]


@dataclass(frozen=True)
class Note:
    number: str
    status: str
    invoice_id: str
    total_amount_cents: int
    credit_amount_cents: int
    balance_amount_cents: int


def credit_notes(api: Any) -> list[Note]:
    with api.database.unit_of_work() as session:
        return [
            Note(
                number=n.number,
                status=n.status,
                invoice_id=n.invoice_id,
                total_amount_cents=n.total_amount_cents,
                credit_amount_cents=n.credit_amount_cents,
                balance_amount_cents=n.balance_amount_cents,
            )
            for n in session.scalars(
                select(CreditNote).order_by(CreditNote.created_at, CreditNote.number)
            )
        ]


@dataclass(frozen=True)
class BilledInvoice:
    id: str
    status: str
    number: str | None
    fees_amount_cents: int
    credit_notes_amount_cents: int
    total_amount_cents: int
    issuing_date: str


def invoice(api: Any, invoice_id: str | None) -> BilledInvoice:
    with api.database.unit_of_work() as session:
        row = session.get(Invoice, invoice_id)
        assert row is not None
        return BilledInvoice(
            id=row.id,
            status=row.status,
            number=row.number,
            fees_amount_cents=row.fees_amount_cents,
            credit_notes_amount_cents=row.credit_notes_amount_cents,
            total_amount_cents=row.total_amount_cents,
            issuing_date=row.issuing_date.date().isoformat(),
        )


def termination_invoice(api: Any, plan_code: str) -> BilledInvoice:
    """The invoice that bills the termination of the subscription on this plan."""
    with api.database.unit_of_work() as session:
        invoice_id = session.scalar(
            select(InvoiceSubscription.invoice_id)
            .join(Subscription, Subscription.id == InvoiceSubscription.subscription_id)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(
                Plan.code == plan_code,
                InvoiceSubscription.invoicing_reason == "subscription_terminating",
            )
        )
    return invoice(api, invoice_id)


def subscription_rows(api: Any, external_id: str = "sub") -> list[Subscription]:
    with api.database.unit_of_work() as session:
        rows = list(
            session.scalars(
                select(Subscription)
                .where(Subscription.external_id == external_id)
                .order_by(Subscription.created_at, Subscription.id)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows
