"""Revenue analytics from issued invoices and their fees (Lago's analytics endpoints).

Every figure is read from finalized invoices, so it matches what customers were billed:

* gross revenue: invoice `total_amount_cents` (after coupons and prepaid credits, taxes
  included; voided invoices left out, credit notes not subtracted) by issuing month;
* MRR: subscription fees normalised to one month (quarterly / 3, yearly / 12 spread over
  the months the fee covers, weekly x 52 / 12), by month;
* invoiced usage: charge fees by month and billable metric code;
* invoice collection: invoices by month and payment status;
* overdue balance: the unpaid part of overdue invoices, by month of their due date.

Months are calendar months in UTC. Each series has one row per month of the asked range
(`months`, default 12, ending with the current month) and currency, zeros included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, noload

from meterly.store.clock_scope import in_scope
from meterly.store.tables import Customer, Fee, Invoice, Organization, Plan, Subscription

DEFAULT_MONTHS = 12
_ISSUED = ("finalized",)
# Invoices are read for their totals only: their fees and periods are not loaded.
_BARE = (noload(Invoice.fees), noload(Invoice.periods))
_MONTHS_PER_INTERVAL = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}


@dataclass(frozen=True, slots=True)
class Scope:
    """What the caller asked: one organization, optionally a currency and a customer."""

    organization_id: str
    now: datetime
    currency: str | None = None
    months: int = DEFAULT_MONTHS
    external_customer_id: str | None = None

    def month_range(self) -> list[date]:
        """The first days of the asked months, oldest first, ending with the current one."""
        current = self.now.astimezone(UTC).date().replace(day=1)
        result = [current]
        for _ in range(max(self.months, 1) - 1):
            result.append(add_months(result[-1], -1))
        return list(reversed(result))


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date().replace(day=1)


@dataclass(slots=True)
class MonthRow:
    month: date
    currency: str
    amount_cents: int = 0
    invoices_count: int = 0
    code: str | None = None
    payment_status: str | None = None
    units: Decimal = Decimal(0)
    invoice_ids: list[str] = field(default_factory=list)


def _default_currency(session: Session, scope: Scope) -> str:
    if scope.currency:
        return scope.currency
    org = session.get(Organization, scope.organization_id)
    return org.default_currency if org else "USD"


def _issued_invoices(session: Session, scope: Scope) -> list[Invoice]:
    query = (
        select(Invoice)
        .options(*_BARE)
        .where(
            Invoice.organization_id == scope.organization_id,
            Invoice.status.in_(_ISSUED),
            in_scope(Invoice.customer_id),
        )
    )
    if scope.currency:
        query = query.where(Invoice.currency == scope.currency)
    if scope.external_customer_id:
        query = query.join(Customer, Customer.id == Invoice.customer_id).where(
            Customer.external_id == scope.external_customer_id
        )
    return list(session.scalars(query.order_by(Invoice.issuing_date, Invoice.id)))


def _currencies(session: Session, scope: Scope, seen: Iterable[str]) -> list[str]:
    found = sorted(set(seen))
    if scope.currency:
        return [scope.currency]
    return found or [_default_currency(session, scope)]


def _series(
    session: Session,
    scope: Scope,
    rows: dict[tuple[date, str], MonthRow],
) -> list[MonthRow]:
    """One row per (month, currency) of the range, zeros filled in."""
    result: list[MonthRow] = []
    for cur in _currencies(session, scope, (c for _, c in rows)):
        for month in scope.month_range():
            result.append(rows.get((month, cur)) or MonthRow(month=month, currency=cur))
    return result


def gross_revenue(session: Session, scope: Scope) -> list[MonthRow]:
    rows: dict[tuple[date, str], MonthRow] = {}
    wanted = set(scope.month_range())
    for inv in _issued_invoices(session, scope):
        month = month_of(inv.issuing_date)
        if month not in wanted:
            continue
        row = rows.setdefault((month, inv.currency), MonthRow(month=month, currency=inv.currency))
        row.amount_cents += inv.total_amount_cents
        row.invoices_count += 1
        row.invoice_ids.append(inv.id)
    return _series(session, scope, rows)


def _subscription_fees(session: Session, scope: Scope) -> list[tuple[Fee, Invoice, str]]:
    query = (
        select(Fee, Invoice, Plan.interval)
        .options(*_BARE)
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .join(Subscription, Subscription.id == Fee.subscription_id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(
            Fee.organization_id == scope.organization_id,
            Fee.fee_type == "subscription",
            Fee.deleted_at.is_(None),
            Invoice.status.in_(_ISSUED),
            in_scope(Invoice.customer_id),
        )
    )
    if scope.currency:
        query = query.where(Fee.currency == scope.currency)
    if scope.external_customer_id:
        query = query.join(Customer, Customer.id == Invoice.customer_id).where(
            Customer.external_id == scope.external_customer_id
        )
    return [(f, i, str(interval)) for f, i, interval in session.execute(query)]


def monthly_shares(amount_cents: int, interval: str, start: date) -> list[tuple[date, Decimal]]:
    """A subscription fee spread over the months it pays for, in monthly-equivalent cents."""
    if interval == "weekly":
        return [(start, Decimal(amount_cents) * 52 / 12)]
    span = _MONTHS_PER_INTERVAL.get(interval, 1)
    share = Decimal(amount_cents) / span
    return [(add_months(start, i), share) for i in range(span)]


def mrr(session: Session, scope: Scope) -> list[MonthRow]:
    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    wanted = set(scope.month_range())
    for fee, invoice, interval in _subscription_fees(session, scope):
        start = month_of(fee.from_datetime or invoice.issuing_date)
        for month, share in monthly_shares(fee.amount_cents, interval, start):
            if month in wanted:
                totals[(month, fee.currency)] += share
    rows = {
        key: MonthRow(
            month=key[0],
            currency=key[1],
            amount_cents=int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP)),
        )
        for key, value in totals.items()
    }
    return _series(session, scope, rows)


def _charge_fees(session: Session, scope: Scope) -> list[tuple[Fee, Invoice]]:
    query = (
        select(Fee, Invoice)
        .options(*_BARE)
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .where(
            Fee.organization_id == scope.organization_id,
            Fee.fee_type == "charge",
            Fee.deleted_at.is_(None),
            Invoice.status.in_(_ISSUED),
            in_scope(Invoice.customer_id),
        )
    )
    if scope.currency:
        query = query.where(Fee.currency == scope.currency)
    if scope.external_customer_id:
        query = query.join(Customer, Customer.id == Invoice.customer_id).where(
            Customer.external_id == scope.external_customer_id
        )
    return [(f, i) for f, i in session.execute(query)]


def invoiced_usage(session: Session, scope: Scope) -> list[MonthRow]:
    """Charge fees by month and metric code (only the months and codes that have some)."""
    rows: dict[tuple[date, str, str], MonthRow] = {}
    wanted = set(scope.month_range())
    for fee, invoice in _charge_fees(session, scope):
        month = month_of(invoice.issuing_date)
        if month not in wanted:
            continue
        code = str(fee.item.get("code") or "")
        key = (month, fee.currency, code)
        row = rows.setdefault(key, MonthRow(month=month, currency=fee.currency, code=code))
        row.amount_cents += fee.amount_cents
        row.units += fee.units
    return sorted(rows.values(), key=lambda r: (r.month, r.currency, r.code or ""))


def invoice_collection(session: Session, scope: Scope) -> list[MonthRow]:
    rows: dict[tuple[date, str, str], MonthRow] = {}
    wanted = set(scope.month_range())
    for inv in _issued_invoices(session, scope):
        month = month_of(inv.issuing_date)
        if month not in wanted:
            continue
        key = (month, inv.currency, inv.payment_status)
        row = rows.setdefault(
            key, MonthRow(month=month, currency=inv.currency, payment_status=inv.payment_status)
        )
        row.amount_cents += inv.total_amount_cents
        row.invoices_count += 1
    return sorted(rows.values(), key=lambda r: (r.month, r.currency, r.payment_status or ""))


def is_overdue(inv: Invoice, now: datetime) -> bool:
    unpaid = (
        inv.payment_status != "succeeded" and inv.total_amount_cents > inv.total_paid_amount_cents
    )
    return unpaid and (inv.payment_overdue or inv.payment_due_date < now)


def overdue_balance(session: Session, scope: Scope) -> list[MonthRow]:
    """Unpaid amounts of invoices past their due date, by month of the due date."""
    rows: dict[tuple[date, str], MonthRow] = {}
    for inv in _issued_invoices(session, scope):
        if not is_overdue(inv, scope.now):
            continue
        month = month_of(inv.payment_due_date)
        row = rows.setdefault((month, inv.currency), MonthRow(month=month, currency=inv.currency))
        row.amount_cents += inv.total_amount_cents - inv.total_paid_amount_cents
        row.invoices_count += 1
        row.invoice_ids.append(inv.id)
    return sorted(rows.values(), key=lambda r: (r.month, r.currency))


# --- dashboard figures ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receivables:
    currency: str
    outstanding_cents: int  # finalized, not paid
    overdue_cents: int  # of which past due
    outstanding_count: int
    overdue_count: int


def receivables(session: Session, scope: Scope) -> list[Receivables]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for inv in _issued_invoices(session, scope):
        if inv.payment_status == "succeeded":
            continue
        due = inv.total_amount_cents - inv.total_paid_amount_cents
        if due <= 0:
            continue
        entry = sums[inv.currency]
        entry[0] += due
        entry[2] += 1
        if is_overdue(inv, scope.now):
            entry[1] += due
            entry[3] += 1
    return [
        Receivables(
            currency=c,
            outstanding_cents=v[0],
            overdue_cents=v[1],
            outstanding_count=v[2],
            overdue_count=v[3],
        )
        for c, v in sorted(sums.items())
    ]


@dataclass(frozen=True, slots=True)
class CustomerRevenue:
    external_id: str
    name: str | None
    currency: str
    amount_cents: int
    invoices_count: int


def top_customers(session: Session, scope: Scope, *, limit: int = 10) -> list[CustomerRevenue]:
    """Customers by invoiced total over the asked months, largest first."""
    wanted = set(scope.month_range())
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for inv in _issued_invoices(session, scope):
        if month_of(inv.issuing_date) in wanted:
            entry = totals[(inv.customer_id, inv.currency)]
            entry[0] += inv.total_amount_cents
            entry[1] += 1
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])[:limit]
    customers = {
        c.id: c
        for c in session.scalars(select(Customer).where(Customer.id.in_([k[0] for k, _ in ranked])))
    }
    return [
        CustomerRevenue(
            external_id=customers[cid].external_id,
            name=customers[cid].name,
            currency=cur,
            amount_cents=values[0],
            invoices_count=values[1],
        )
        for (cid, cur), values in ranked
        if cid in customers
    ]
