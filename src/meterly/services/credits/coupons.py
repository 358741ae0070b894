"""Coupons and applied coupons: the catalogue, and applying coupons to customers (with
what an applied coupon has credited so far).

The rules themselves (order, base, amount, spread, consumption) live in
`domain/coupons.py`; this module loads and stores them. Offering a customer's active
coupons to invoices, and recording what a finalized invoice used, is `coupon_credits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.coupons import CouponType, Expiration, Frequency
from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import is_currency
from meterly.services.accounts import customers
from meterly.services.common import Clock, new_id
from meterly.store.tables import BillableMetricRow, Customer, Invoice, Plan
from meterly.store.tables_coupons import AppliedCouponRow, CouponCredit, CouponRow

ACTIVE = "active"
TERMINATED = "terminated"
_HUNDRED = Decimal(100)

# --- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CouponInput:
    """A create or update request; None means "not sent"."""

    name: str | None = None
    code: str | None = None
    description: str | None = None
    coupon_type: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    percentage_rate: object = None
    frequency: str | None = None
    frequency_duration: int | None = None
    expiration: str | None = None
    expiration_at: datetime | None = None
    reusable: bool | None = None
    plan_codes: tuple[str, ...] | None = None
    billable_metric_codes: tuple[str, ...] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class AppliedCouponInput:
    external_customer_id: str | None = None
    coupon_code: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    percentage_rate: object = None
    frequency: str | None = None
    frequency_duration: int | None = None


# --- coupons ---------------------------------------------------------------------------


def find(session: Session, *, organization_id: str, code: str) -> CouponRow:
    row = session.scalar(
        select(CouponRow).where(
            CouponRow.organization_id == organization_id,
            CouponRow.code == code,
            CouponRow.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("coupon")
    return row


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int
) -> tuple[list[CouponRow], int]:
    where = (CouponRow.organization_id == organization_id, CouponRow.deleted_at.is_(None))
    total = session.scalar(select(func.count()).select_from(CouponRow).where(*where)) or 0
    rows = session.scalars(
        select(CouponRow)
        .where(*where)
        .order_by(CouponRow.created_at.desc(), CouponRow.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def create(session: Session, *, organization_id: str, data: CouponInput, clock: Clock) -> CouponRow:
    errors: dict[str, list[str]] = {}
    for required in ("name", "code", "coupon_type"):
        if not getattr(data, required):
            errors[required] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    assert data.code is not None and data.name is not None
    now = clock.now()
    row = CouponRow(
        id=new_id(),
        organization_id=organization_id,
        code=data.code,
        name=data.name,
        description=data.description,
        coupon_type=data.coupon_type,
        frequency=data.frequency or Frequency.ONCE.value,
        expiration=data.expiration or Expiration.NO_EXPIRATION.value,
        reusable=True if data.reusable is None else data.reusable,
        status=ACTIVE,
        plan_codes=[],
        billable_metric_codes=[],
        created_at=now,
        updated_at=now,
    )
    _apply_terms(row, data)
    _apply_expiration(row, data, now=now)
    _validate(row)
    _apply_targets(session, row, data)
    _check_code_free(session, organization_id, data.code)
    session.add(row)
    session.flush()
    return row


def update(session: Session, *, row: CouponRow, data: CouponInput, clock: Clock) -> CouponRow:
    """Name, description and expiration always; the terms only while nobody uses the coupon."""
    now = clock.now()
    if data.name is not None:
        row.name = data.name
    if "description" in data.sent:
        row.description = data.description
    if data.expiration is not None:
        row.expiration = data.expiration
    _apply_expiration(row, data, now=now)
    if not _is_applied(session, row):
        if data.code is not None and data.code != row.code:
            _check_code_free(session, row.organization_id, data.code)
            row.code = data.code
        if data.coupon_type is not None:
            row.coupon_type = data.coupon_type
        if data.frequency is not None:
            row.frequency = data.frequency
        if data.reusable is not None:
            row.reusable = data.reusable
        _apply_terms(row, data)
        _apply_targets(session, row, data)
    _validate(row)
    row.updated_at = now
    session.flush()
    return row


def delete(session: Session, *, row: CouponRow, clock: Clock) -> CouponRow:
    """Terminate the coupon and the applied coupons still using it (Lago's destroy)."""
    now = clock.now()
    _terminate_coupon(row, now)
    row.deleted_at = now
    for applied in session.scalars(
        select(AppliedCouponRow).where(
            AppliedCouponRow.coupon_id == row.id, AppliedCouponRow.status == ACTIVE
        )
    ):
        mark_applied_terminated(applied, now)
    session.flush()
    return row


def terminate_expired(session: Session, *, clock: Clock) -> int:
    """The hourly job: time-limited coupons whose `expiration_at` passed are terminated.

    Coupons already applied to customers keep running (Lago's rule).
    """
    now = clock.now()
    rows = list(
        session.scalars(
            select(CouponRow).where(
                CouponRow.status == ACTIVE,
                CouponRow.expiration == Expiration.TIME_LIMIT.value,
                CouponRow.expiration_at.is_not(None),
                CouponRow.expiration_at <= now,
            )
        )
    )
    for row in rows:
        _terminate_coupon(row, now)
    session.flush()
    return len(rows)


def is_active(row: CouponRow, *, at: datetime) -> bool:
    if row.status != ACTIVE or row.deleted_at is not None:
        return False
    return not (
        row.expiration == Expiration.TIME_LIMIT.value
        and row.expiration_at is not None
        and row.expiration_at <= at
    )


def _terminate_coupon(row: CouponRow, now: datetime) -> None:
    if row.status != TERMINATED:
        row.status = TERMINATED
        row.terminated_at = now
        row.updated_at = now


def _is_applied(session: Session, row: CouponRow) -> bool:
    return (
        session.scalar(
            select(AppliedCouponRow.id).where(AppliedCouponRow.coupon_id == row.id).limit(1)
        )
        is not None
    )


def _check_code_free(session: Session, organization_id: str, code: str) -> None:
    taken = session.scalar(
        select(CouponRow.id).where(
            CouponRow.organization_id == organization_id,
            CouponRow.code == code,
            CouponRow.deleted_at.is_(None),
        )
    )
    if taken:
        raise ValidationFailed.field("code", "value_already_exist")


def _apply_terms(row: CouponRow, data: CouponInput) -> None:
    if "amount_cents" in data.sent:
        row.amount_cents = data.amount_cents
    if "amount_currency" in data.sent:
        row.amount_currency = data.amount_currency.upper() if data.amount_currency else None
    if "percentage_rate" in data.sent:
        row.percentage_rate = parse_rate(data.percentage_rate)
    if "frequency_duration" in data.sent:
        row.frequency_duration = data.frequency_duration


def _apply_expiration(row: CouponRow, data: CouponInput, *, now: datetime) -> None:
    if "expiration_at" in data.sent:
        at = data.expiration_at
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        if at is not None and at <= now:
            raise ValidationFailed.field("expiration_at", "invalid_date")
        row.expiration_at = at
    if row.expiration == Expiration.NO_EXPIRATION.value:
        row.expiration_at = None


def _validate(row: CouponRow) -> None:
    """Lago's coupon validations, each field with its code, before anything is stored."""
    errors: dict[str, list[str]] = {}
    if row.coupon_type not in {t.value for t in CouponType}:
        errors["coupon_type"] = ["value_is_invalid"]
    if row.frequency not in {f.value for f in Frequency}:
        errors["frequency"] = ["value_is_invalid"]
    if row.expiration not in {e.value for e in Expiration}:
        errors["expiration"] = ["value_is_invalid"]
    elif row.expiration == Expiration.TIME_LIMIT.value and row.expiration_at is None:
        errors["expiration_at"] = ["value_is_mandatory"]
    errors |= _terms_errors(
        coupon_type=row.coupon_type,
        amount_cents=row.amount_cents,
        amount_currency=row.amount_currency,
        percentage_rate=row.percentage_rate,
        frequency=row.frequency,
        frequency_duration=row.frequency_duration,
    )
    if errors:
        raise ValidationFailed(errors)
    if row.coupon_type == CouponType.PERCENTAGE.value:
        row.amount_cents, row.amount_currency = None, None
    else:
        row.percentage_rate = None
    if row.frequency != Frequency.RECURRING.value:
        row.frequency_duration = None


def _terms_errors(
    *,
    coupon_type: str,
    amount_cents: int | None,
    amount_currency: str | None,
    percentage_rate: Decimal | None,
    frequency: str,
    frequency_duration: int | None,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if coupon_type == CouponType.FIXED_AMOUNT.value:
        if amount_cents is None:
            errors["amount_cents"] = ["value_is_mandatory"]
        elif amount_cents < 0:
            errors["amount_cents"] = ["value_is_invalid"]
        if not amount_currency:
            errors["amount_currency"] = ["value_is_mandatory"]
        elif not is_currency(amount_currency):
            errors["amount_currency"] = ["value_is_invalid"]
    elif coupon_type == CouponType.PERCENTAGE.value:
        if percentage_rate is None:
            errors["percentage_rate"] = ["value_is_mandatory"]
        elif not (0 < percentage_rate <= _HUNDRED):
            errors["percentage_rate"] = ["value_is_invalid"]
    if frequency == Frequency.RECURRING.value:
        if frequency_duration is None:
            errors["frequency_duration"] = ["value_is_mandatory"]
        elif frequency_duration < 1:
            errors["frequency_duration"] = ["value_is_invalid"]
    return errors


def parse_rate(value: object) -> Decimal | None:
    """A percentage sent as a JSON number or a string, read through its text (never a float)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationFailed.field("percentage_rate", "value_is_invalid")
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed.field("percentage_rate", "value_is_invalid") from None
    if not rate.is_finite():
        raise ValidationFailed.field("percentage_rate", "value_is_invalid")
    return rate


def _apply_targets(session: Session, row: CouponRow, data: CouponInput) -> None:
    if data.plan_codes is None and data.billable_metric_codes is None:
        return
    plans = list(dict.fromkeys(data.plan_codes or ()))
    metrics = list(dict.fromkeys(data.billable_metric_codes or ()))
    if plans and metrics:
        raise ValidationFailed.field("applies_to", "only_one_limitation_type_allowed")
    if plans:
        found = set(
            session.scalars(
                select(Plan.code).where(
                    Plan.organization_id == row.organization_id,
                    Plan.code.in_(plans),
                    Plan.deleted_at.is_(None),
                    Plan.parent_id.is_(None),
                )
            )
        )
        if len(found) != len(plans):
            raise NotFound("plan")
    if metrics:
        found = set(
            session.scalars(
                select(BillableMetricRow.code).where(
                    BillableMetricRow.organization_id == row.organization_id,
                    BillableMetricRow.code.in_(metrics),
                    BillableMetricRow.deleted_at.is_(None),
                )
            )
        )
        if len(found) != len(metrics):
            raise NotFound("billable_metric")
    row.plan_codes = plans
    row.billable_metric_codes = metrics


# --- applied coupons -------------------------------------------------------------------


def apply(
    session: Session, *, organization_id: str, data: AppliedCouponInput, clock: Clock
) -> AppliedCouponRow:
    """Apply a coupon to a customer, with optional overrides of its terms."""
    customer = _customer(session, organization_id, data.external_customer_id)
    coupon = session.scalar(
        select(CouponRow).where(
            CouponRow.organization_id == organization_id,
            CouponRow.code == (data.coupon_code or ""),
            CouponRow.deleted_at.is_(None),
        )
    )
    now = clock.now()
    if coupon is None or not is_active(coupon, at=now):
        raise NotFound("coupon")
    if not coupon.reusable and _already_applied(session, coupon, customer):
        raise ValidationFailed.field("coupon", "coupon_is_not_reusable")
    frequency = data.frequency or coupon.frequency
    if frequency not in {f.value for f in Frequency}:
        raise ValidationFailed.field("frequency", "value_is_invalid")
    rate = parse_rate(data.percentage_rate)
    row = AppliedCouponRow(
        id=new_id(),
        organization_id=organization_id,
        coupon_id=coupon.id,
        customer_id=customer.id,
        status=ACTIVE,
        amount_cents=data.amount_cents if data.amount_cents is not None else coupon.amount_cents,
        amount_currency=(data.amount_currency or coupon.amount_currency or "").upper() or None,
        percentage_rate=rate if rate is not None else coupon.percentage_rate,
        frequency=frequency,
        frequency_duration=data.frequency_duration
        if data.frequency_duration is not None
        else coupon.frequency_duration,
        created_at=now,
        updated_at=now,
    )
    errors = _terms_errors(
        coupon_type=coupon.coupon_type,
        amount_cents=row.amount_cents,
        amount_currency=row.amount_currency,
        percentage_rate=row.percentage_rate,
        frequency=row.frequency,
        frequency_duration=row.frequency_duration,
    )
    if errors:
        raise ValidationFailed(errors)
    if row.frequency != Frequency.RECURRING.value:
        row.frequency_duration = None
    row.frequency_duration_remaining = row.frequency_duration
    if coupon.coupon_type == CouponType.FIXED_AMOUNT.value:
        _align_currency(customer, row.amount_currency, now)
    session.add(row)
    session.flush()
    return row


def _align_currency(customer: Customer, code: str | None, now: datetime) -> None:
    """A fixed coupon is in the customer's currency; a customer without one takes it."""
    if code is None:
        return
    if customer.currency is None:
        customer.currency = code
        customer.updated_at = now
    elif customer.currency.upper() != code.upper():
        raise ValidationFailed.field("currency", "currencies_does_not_match")


def _already_applied(session: Session, coupon: CouponRow, customer: Customer) -> bool:
    return (
        session.scalar(
            select(AppliedCouponRow.id)
            .where(
                AppliedCouponRow.coupon_id == coupon.id,
                AppliedCouponRow.customer_id == customer.id,
            )
            .limit(1)
        )
        is not None
    )


def _customer(session: Session, organization_id: str, external_id: str | None) -> Customer:

    if not external_id:
        raise NotFound("customer")
    return customers.find(session, organization_id=organization_id, external_id=external_id)


@dataclass(frozen=True, slots=True)
class AppliedCouponFilters:
    external_customer_id: str | None = None
    status: str | None = None
    coupon_codes: tuple[str, ...] = ()


def list_applied(
    session: Session,
    *,
    organization_id: str,
    filters: AppliedCouponFilters,
    page: int,
    per_page: int,
) -> tuple[list[AppliedCouponRow], int]:
    query = select(AppliedCouponRow).where(AppliedCouponRow.organization_id == organization_id)
    if filters.external_customer_id is not None:
        query = query.join(Customer, Customer.id == AppliedCouponRow.customer_id).where(
            Customer.external_id == filters.external_customer_id, Customer.deleted_at.is_(None)
        )
    if filters.status:
        query = query.where(AppliedCouponRow.status == filters.status)
    if filters.coupon_codes:
        query = query.join(CouponRow, CouponRow.id == AppliedCouponRow.coupon_id).where(
            CouponRow.code.in_(filters.coupon_codes)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AppliedCouponRow.created_at.desc(), AppliedCouponRow.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def find_applied(
    session: Session, *, organization_id: str, external_customer_id: str, applied_coupon_id: str
) -> AppliedCouponRow:
    customer = _customer(session, organization_id, external_customer_id)
    row = session.get(AppliedCouponRow, applied_coupon_id)
    if row is None or row.customer_id != customer.id:
        raise NotFound("applied_coupon")
    return row


def terminate_applied(session: Session, *, row: AppliedCouponRow, clock: Clock) -> AppliedCouponRow:
    mark_applied_terminated(row, clock.now())
    session.flush()
    return row


# Public: `coupon_credits` also ends an applied coupon an invoice used up.
def mark_applied_terminated(row: AppliedCouponRow, now: datetime) -> None:
    if row.status != TERMINATED:
        row.status = TERMINATED
        row.terminated_at = now
        row.updated_at = now


def credits_of(session: Session, applied_coupon_id: str) -> list[tuple[CouponCredit, Invoice]]:
    """The invoice credits an applied coupon gave, oldest first."""
    rows = session.execute(
        select(CouponCredit, Invoice)
        .join(Invoice, Invoice.id == CouponCredit.invoice_id)
        .where(CouponCredit.applied_coupon_id == applied_coupon_id)
        .order_by(CouponCredit.created_at, CouponCredit.id)
    )
    return [(credit, invoice) for credit, invoice in rows.tuples()]


def remaining_amount_cents(row: AppliedCouponRow) -> int | None:
    """Lago's `amount_cents_remaining`: only `once` fixed coupons have one."""
    if row.frequency != Frequency.ONCE.value or row.amount_cents is None:
        return None
    if row.amount_cents_remaining is not None:
        return row.amount_cents_remaining
    return row.amount_cents
