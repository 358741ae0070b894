"""The fee object on the wire (lago-api.md §7.7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import object_session

from meterly.api.http import Payload
from meterly.api.wire import dec, iso
from meterly.domain.money import currency
from meterly.store.tables import Customer, Fee, Subscription

_ITEM_TYPES = {
    "subscription": "Subscription",
    "charge": "BillableMetric",
    "add_on": "AddOn",
    "credit": "WalletTransaction",
    "commitment": "Commitment",
    "fixed_charge": "AddOn",
}


class FeeIn(Payload):
    payment_status: str | None = None


def from_to(value: datetime | None) -> str | None:
    """Lago's fee `from_date`/`to_date`: `2024-01-01T00:00:00+00:00`."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _major(cents: Decimal, code: str) -> Decimal:
    return cents.scaleb(-currency(code).exponent)


def item(row: Fee) -> dict[str, Any]:
    stored = row.item or {}
    return {
        "type": stored.get("type") or row.fee_type,
        "code": stored.get("code"),
        "name": stored.get("name"),
        "description": stored.get("description"),
        "invoice_display_name": stored.get("invoice_display_name"),
        "filters": stored.get("filters"),
        "filter_invoice_display_name": stored.get("filter_invoice_display_name"),
        "lago_item_id": stored.get("lago_item_id"),
        "item_type": stored.get("item_type") or _ITEM_TYPES.get(row.fee_type, "Subscription"),
        "grouped_by": stored.get("grouped_by") or {},
    }


def applied_tax_id(owner_id: str, tax_code: str) -> str:
    """A stable id for an applied tax the billing engine stored without one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"meterly:applied_tax:{owner_id}:{tax_code}"))


def fee_applied_taxes(row: Fee) -> list[dict[str, Any]]:
    result = []
    for tax in row.applied_taxes or []:
        code = tax.get("tax_code") or tax.get("code") or ""
        result.append(
            {
                "lago_id": tax.get("lago_id") or applied_tax_id(row.id, code),
                "lago_fee_id": row.id,
                "lago_tax_id": tax.get("lago_tax_id") or tax.get("tax_id"),
                "tax_name": tax.get("tax_name") or tax.get("name"),
                "tax_code": code,
                "tax_rate": float(tax.get("tax_rate") or tax.get("rate") or 0),
                "tax_description": tax.get("tax_description") or tax.get("description"),
                "amount_cents": int(tax.get("amount_cents") or 0),
                "amount_currency": row.currency,
                "created_at": iso(row.created_at),
            }
        )
    return result


def _external_ids(row: Fee) -> tuple[str | None, str | None]:
    session = object_session(row)
    if session is None:
        return None, None
    customer = session.get(Customer, row.customer_id)
    sub = session.get(Subscription, row.subscription_id) if row.subscription_id else None
    return (customer.external_id if customer else None), (sub.external_id if sub else None)


def fee(
    row: Fee,
    *,
    with_taxes: bool,
    external_customer_id: str | None = None,
    external_subscription_id: str | None = None,
) -> dict[str, Any]:
    if external_customer_id is None or (
        external_subscription_id is None and row.subscription_id is not None
    ):
        external_customer_id, external_subscription_id = _external_ids(row)
    code = row.currency
    precise_total_cents = (
        row.precise_amount_cents - row.precise_coupons_amount_cents + row.taxes_precise_amount_cents
    )
    sub_total_precise = Decimal(row.amount_cents) - row.precise_coupons_amount_cents
    body: dict[str, Any] = {
        "lago_id": row.id,
        "lago_charge_id": row.charge_id,
        "lago_charge_filter_id": row.charge_filter_id,
        "lago_fixed_charge_id": (row.properties or {}).get("fixed_charge_id")
        if row.fee_type == "fixed_charge"
        else None,
        "lago_invoice_id": row.invoice_id,
        "lago_true_up_fee_id": None,
        "lago_true_up_parent_fee_id": row.true_up_parent_fee_id,
        "lago_original_fee_id": None,
        "lago_subscription_id": row.subscription_id,
        "external_subscription_id": external_subscription_id,
        "lago_customer_id": row.customer_id,
        "external_customer_id": external_customer_id,
        "item": item(row),
        "pay_in_advance": row.pay_in_advance,
        "invoiceable": row.invoiceable,
        "amount_cents": row.amount_cents,
        "amount_currency": code,
        "precise_amount": dec(_major(row.precise_amount_cents, code)),
        "precise_total_amount": dec(_major(precise_total_cents, code)),
        "taxes_amount_cents": row.taxes_amount_cents,
        "taxes_precise_amount": dec(_major(row.taxes_precise_amount_cents, code)),
        "taxes_rate": float(row.taxes_rate),
        "total_aggregated_units": dec(row.total_aggregated_units),
        "total_amount_cents": row.amount_cents + row.taxes_amount_cents,
        "total_amount_currency": code,
        "units": dec(row.units),
        "description": (row.item or {}).get("fee_description"),
        "precise_unit_amount": dec(row.precise_unit_amount),
        "precise_coupons_amount_cents": dec(row.precise_coupons_amount_cents),
        "sub_total_excluding_taxes_amount_cents": int(
            sub_total_precise.to_integral_value(rounding="ROUND_HALF_UP")
        ),
        "sub_total_excluding_taxes_precise_amount_cents": dec(sub_total_precise),
        "events_count": row.events_count,
        "payment_status": row.payment_status,
        "created_at": iso(row.created_at),
        "succeeded_at": iso(row.succeeded_at),
        "failed_at": iso(row.failed_at),
        "refunded_at": iso(row.refunded_at),
        "amount_details": row.amount_details or {},
        "self_billed": False,
        "pricing_unit_details": None,
        "presentation_breakdowns": [
            {"presentation_by": p["presentation_by"], "units": dec(Decimal(p["units"]))}
            for p in (row.item or {}).get("presentation_breakdowns") or []
        ],
        "from_date": from_to(row.from_datetime),
        "to_date": from_to(row.to_datetime),
    }
    if row.pay_in_advance and row.fee_type == "charge":
        body["event_transaction_id"] = row.event_transaction_id
    if with_taxes:
        body["applied_taxes"] = fee_applied_taxes(row)
    return body
