"""Coupons in the invoice-credits waterfall: the provider that offers a customer's active
coupons to each invoice and, at finalization, consumes them and records what each credited.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

from meterly.domain.coupons import AppliedCoupon, AppliedCouponStatus, CouponType, Frequency
from meterly.domain.invoicing import InvoiceTotals
from meterly.services.common import Clock, new_id
from meterly.services.credits import invoice_credits
from meterly.services.credits.coupons import ACTIVE, mark_applied_terminated
from meterly.store.tables import Fee, Invoice
from meterly.store.tables_coupons import AppliedCouponRow, CouponCredit, CouponRow

# Invoices coupons never reduce (Lago applies coupons to subscription invoices only).
_NO_COUPONS = frozenset({"one_off", "add_on", "credit", "progressive_billing"})


def to_domain(row: AppliedCouponRow, coupon: CouponRow) -> AppliedCoupon:
    return AppliedCoupon(
        id=row.id,
        coupon_code=coupon.code,
        coupon_type=CouponType(coupon.coupon_type),
        frequency=Frequency(row.frequency),
        created_at=row.created_at,
        amount_cents=row.amount_cents,
        amount_currency=row.amount_currency,
        percentage_rate=row.percentage_rate,
        frequency_duration=row.frequency_duration,
        frequency_duration_remaining=row.frequency_duration_remaining,
        amount_cents_remaining=row.amount_cents_remaining,
        plan_codes=tuple(coupon.plan_codes or ()),
        billable_metric_codes=tuple(coupon.billable_metric_codes or ()),
        status=AppliedCouponStatus(row.status),
    )


def active_for_customer(session: Session, customer_id: str) -> list[AppliedCoupon]:
    rows = session.execute(
        select(AppliedCouponRow, CouponRow)
        .join(CouponRow, CouponRow.id == AppliedCouponRow.coupon_id)
        .where(AppliedCouponRow.customer_id == customer_id, AppliedCouponRow.status == ACTIVE)
        .order_by(AppliedCouponRow.created_at, AppliedCouponRow.id)
    )
    return [to_domain(applied, coupon) for applied, coupon in rows.tuples()]


class CouponCredits:
    """Offers the customer's active coupons to an invoice; consumes them at finalization."""

    def may_apply(self, invoice: Invoice) -> ColumnElement[bool] | bool:
        if invoice.invoice_type in _NO_COUPONS:
            return False
        return exists().where(
            AppliedCouponRow.customer_id == invoice.customer_id, AppliedCouponRow.status == ACTIVE
        )

    def holders(self, customer_ids: Collection[str]) -> Select[str]:
        return select(AppliedCouponRow.customer_id).where(
            AppliedCouponRow.customer_id.in_(customer_ids), AppliedCouponRow.status == ACTIVE
        )

    def gather(
        self,
        session: Session,
        *,
        invoice: Invoice,
        fees: Sequence[Fee],
        credits: invoice_credits.Credits,
    ) -> None:
        if invoice.invoice_type in _NO_COUPONS:
            return
        credits.coupons.extend(active_for_customer(session, invoice.customer_id))

    def consume(
        self, session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock
    ) -> None:
        if not totals.coupons:
            return
        now = clock.now()
        for application in totals.coupons:
            row = session.get(AppliedCouponRow, application.applied_coupon.id)
            if row is None or row.status != ACTIVE or _credited(session, row.id, invoice.id):
                continue
            used = application.consumption
            fixed = application.applied_coupon.coupon_type is CouponType.FIXED_AMOUNT
            if row.frequency == Frequency.ONCE.value and fixed:
                row.amount_cents_remaining = used.amount_cents_remaining
            if row.frequency == Frequency.RECURRING.value:
                row.frequency_duration_remaining = used.frequency_duration_remaining
            row.updated_at = now
            if used.terminated:
                mark_applied_terminated(row, now)
            session.add(
                CouponCredit(
                    id=new_id(),
                    organization_id=invoice.organization_id,
                    applied_coupon_id=row.id,
                    invoice_id=invoice.id,
                    amount_cents=application.amount_cents,
                    amount_currency=invoice.currency,
                    created_at=now,
                )
            )
        session.flush()


def _credited(session: Session, applied_coupon_id: str, invoice_id: str) -> bool:
    return (
        session.scalar(
            select(CouponCredit.id).where(
                CouponCredit.applied_coupon_id == applied_coupon_id,
                CouponCredit.invoice_id == invoice_id,
            )
        )
        is not None
    )


PROVIDER = CouponCredits()
