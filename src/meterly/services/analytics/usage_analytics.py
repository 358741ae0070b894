"""Lago's usage analytics (`GET /analytics/usage`): invoiced usage per billable metric,
per period of the asked granularity and per currency.

The figures are the charge fees of finalized invoices, counted in the period where their
usage window starts. A monthly fee, looked at day by day, therefore shows up on the first
day of its window: what is invoiced is known per window, not per day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import ValidationFailed
from meterly.store.tables import (
    BillableMetricRow,
    Charge,
    Customer,
    Fee,
    Invoice,
    Plan,
    Subscription,
)

GRANULARITIES = ("daily", "weekly", "monthly", "yearly")


@dataclass(frozen=True, slots=True)
class UsageQuery:
    organization_id: str
    time_granularity: str = "monthly"
    currency: str | None = None
    from_date: date | None = None
    to_date: date | None = None
    customer_type: str | None = None
    external_customer_id: str | None = None
    customer_country: str | None = None
    external_subscription_id: str | None = None
    is_billable_metric_recurring: bool | None = None
    plan_code: str | None = None
    billable_metric_code: str | None = None

    def __post_init__(self) -> None:
        if self.time_granularity not in GRANULARITIES:
            raise ValidationFailed.field("time_granularity", "value_is_invalid")


@dataclass(slots=True)
class UsageRow:
    start: date
    end: date
    currency: str
    billable_metric_code: str
    metric_deleted: bool
    amount_cents: int = 0
    units: Decimal = Decimal(0)


def period_of(day: date, granularity: str) -> tuple[date, date]:
    """The first and last day of the period of `granularity` holding `day` (weeks start on
    Monday, as ISO weeks do)."""
    if granularity == "daily":
        return day, day
    if granularity == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if granularity == "yearly":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following - timedelta(days=1)


def usage(session: Session, query: UsageQuery) -> list[UsageRow]:
    statement = (
        select(Fee, BillableMetricRow.code, BillableMetricRow.deleted_at, Customer.profile)
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .join(Charge, Charge.id == Fee.charge_id)
        .join(BillableMetricRow, BillableMetricRow.id == Charge.billable_metric_id)
        .join(Customer, Customer.id == Fee.customer_id)
        .where(
            Fee.organization_id == query.organization_id,
            Fee.fee_type == "charge",
            Fee.deleted_at.is_(None),
            Invoice.status == "finalized",
        )
    )
    if query.currency:
        statement = statement.where(Fee.currency == query.currency)
    if query.from_date:
        statement = statement.where(Fee.from_datetime >= _midnight(query.from_date))
    if query.to_date:
        statement = statement.where(
            Fee.from_datetime < _midnight(query.to_date + timedelta(days=1))
        )
    if query.external_customer_id:
        statement = statement.where(Customer.external_id == query.external_customer_id)
    if query.external_subscription_id or query.plan_code:
        statement = statement.join(Subscription, Subscription.id == Fee.subscription_id)
        if query.external_subscription_id:
            statement = statement.where(Subscription.external_id == query.external_subscription_id)
        if query.plan_code:
            statement = statement.join(Plan, Plan.id == Charge.plan_id).where(
                Plan.code == query.plan_code
            )
    if query.is_billable_metric_recurring is not None:
        statement = statement.where(
            BillableMetricRow.recurring.is_(query.is_billable_metric_recurring)
        )
    if query.billable_metric_code:
        statement = statement.where(BillableMetricRow.code == query.billable_metric_code)
    rows: dict[tuple[date, str, str], UsageRow] = {}
    for fee, code, deleted_at, profile in session.execute(statement):
        if not _customer_matches(profile or {}, query):
            continue
        moment = fee.from_datetime or fee.created_at
        start, end = period_of(moment.astimezone(UTC).date(), query.time_granularity)
        row = rows.setdefault(
            (start, fee.currency, code),
            UsageRow(start, end, fee.currency, code, metric_deleted=deleted_at is not None),
        )
        row.amount_cents += fee.amount_cents
        row.units += fee.units
    return sorted(rows.values(), key=lambda r: (r.start, r.currency, r.billable_metric_code))


def _customer_matches(profile: dict[str, object], query: UsageQuery) -> bool:
    """Type and country are among Lago's free customer fields, kept as sent (a JSON
    column): compared here rather than in SQL, the same way on both backends."""
    if query.customer_type and profile.get("customer_type") != query.customer_type:
        return False
    country = str(profile.get("country") or "").upper()
    return not (query.customer_country and country != query.customer_country.upper())


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
