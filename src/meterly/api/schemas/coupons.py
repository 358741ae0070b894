"""Coupons and applied coupons on the wire (lago-api.md §7.9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import dec, iso
from meterly.services.credits import remaining_amount_cents
from meterly.store.tables import Customer, Invoice
from meterly.store.tables_coupons import AppliedCouponRow, CouponCredit, CouponRow


class AppliesToIn(Payload):
    plan_codes: list[str] | None = None
    billable_metric_codes: list[str] | None = None


class CouponIn(Payload):
    name: str | None = None
    code: str | None = None
    description: str | None = None
    coupon_type: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    # A JSON number (the Lago client sends a float) or a numeric string; read as text.
    percentage_rate: Any = None
    frequency: str | None = None
    frequency_duration: int | None = None
    expiration: str | None = None
    expiration_at: datetime | None = None
    reusable: bool | None = None
    applies_to: AppliesToIn | None = None


class AppliedCouponIn(Payload):
    external_customer_id: str | None = None
    coupon_code: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    percentage_rate: Any = None
    frequency: str | None = None
    frequency_duration: int | None = None


def coupon(row: CouponRow) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "name": row.name,
        "code": row.code,
        "description": row.description,
        "coupon_type": row.coupon_type,
        "amount_cents": row.amount_cents,
        "amount_currency": row.amount_currency,
        "percentage_rate": dec(row.percentage_rate),
        "frequency": row.frequency,
        "frequency_duration": row.frequency_duration,
        "reusable": row.reusable,
        "limited_plans": bool(row.plan_codes),
        "limited_billable_metrics": bool(row.billable_metric_codes),
        "plan_codes": list(row.plan_codes or []),
        "billable_metric_codes": list(row.billable_metric_codes or []),
        "created_at": iso(row.created_at),
        "expiration": row.expiration,
        "expiration_at": iso(row.expiration_at),
        "terminated_at": iso(row.terminated_at),
    }


def coupon_credit(credit: CouponCredit, invoice: Invoice, coupon_row: CouponRow) -> dict[str, Any]:
    return {
        "lago_id": credit.id,
        "amount_cents": credit.amount_cents,
        "amount_currency": credit.amount_currency,
        "before_taxes": True,
        "item": {
            "lago_item_id": coupon_row.id,
            "type": "coupon",
            "code": coupon_row.code,
            "name": coupon_row.name,
            "description": coupon_row.description,
        },
        "invoice": {"lago_id": invoice.id, "payment_status": invoice.payment_status},
    }


def applied_coupon(
    row: AppliedCouponRow,
    coupon_row: CouponRow,
    customer: Customer,
    *,
    credits: list[tuple[CouponCredit, Invoice]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lago_id": row.id,
        "lago_coupon_id": coupon_row.id,
        "coupon_code": coupon_row.code,
        "coupon_name": coupon_row.name,
        "coupon_description": coupon_row.description,
        "coupon_status": coupon_row.status,
        "coupon_deleted_at": iso(coupon_row.deleted_at),
        "lago_customer_id": customer.id,
        "external_customer_id": customer.external_id,
        "status": row.status,
        "amount_cents": row.amount_cents,
        "amount_cents_remaining": remaining_amount_cents(row),
        "amount_currency": row.amount_currency,
        "percentage_rate": dec(row.percentage_rate),
        "frequency": row.frequency,
        "frequency_duration": row.frequency_duration,
        "frequency_duration_remaining": row.frequency_duration_remaining,
        "expiration_at": iso(coupon_row.expiration_at),
        "created_at": iso(row.created_at),
        "terminated_at": iso(row.terminated_at),
    }
    if credits is not None:
        body["credits"] = [coupon_credit(c, i, coupon_row) for c, i in credits]
    return body
