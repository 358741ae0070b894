"""Why an invoice line is this amount: its usage, its charge model's arithmetic, the waterfall.

Everything comes from what the fee row stored when it was priced (its item, charge
properties, explanation lines and amount details), never from today's plan: a finalized
invoice explains itself the same way forever. Only the metric's aggregation and the
charge model name are read from the catalogue, which keeps them for the life of a charge.
The events behind a fee are listed with the usage statements' own conditions
(`store.reconciliation_events`), cut at the instant the invoice was finalized.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound
from meterly.domain.money import currency
from meterly.domain.periods import BillingPeriod
from meterly.services.metering import charge_requests
from meterly.store.reconciliation_events import counted_events, event_of, received_cutoff
from meterly.store.tables import Charge, Fee, Invoice, Subscription

EVENTS_PER_PAGE = 100


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _number(value: Decimal | int | str | None) -> str | None:
    """A decimal as plain text with no exponent and no trailing zeros ("2", "0.5")."""
    if value is None:
        return None
    number = Decimal(str(value)).normalize()
    if number == number.to_integral_value():
        number = number.quantize(Decimal(1))
    return format(number, "f")


def _line(raw: dict[str, Any]) -> dict[str, Any]:
    units, price = Decimal(raw["units"]), Decimal(raw["unit_price"])
    flat, amount = Decimal(raw["flat_amount"]), Decimal(raw["amount"])
    product = units * price + flat
    # Adjustment lines (a minimum, a cap) carry their amount with a zero unit price.
    adjustment = price == 0 and flat == 0 and amount != 0
    arithmetic = (
        f"adjustment = {_number(amount)}"
        if adjustment
        else f"{_number(units)} × {_number(price)} + {_number(flat)} = {_number(product)}"
    )
    # A line that stored its own exact arithmetic (a prorated subscription fee) shows it.
    arithmetic = str(raw.get("arithmetic") or arithmetic)
    return {
        "label": raw["label"],
        "units": _number(units),
        "unit_price": _number(price),
        "flat_amount": _number(flat),
        "amount": _number(amount),
        "arithmetic": arithmetic,
    }


def _own_fee(session: Session, organization_id: str, fee_id: str) -> Fee:
    fee = session.get(Fee, fee_id)
    if fee is None or fee.organization_id != organization_id or fee.deleted_at is not None:
        raise NotFound("fee")
    return fee


def _issued_at(session: Session, fee: Fee) -> datetime | None:
    """The instant the fee's figures were frozen: its invoice's finalization (None: a draft)."""
    if fee.invoice_id is None:
        return fee.created_at
    invoice = session.get(Invoice, fee.invoice_id)
    if invoice is None or invoice.status == "draft":
        return None
    return invoice.finalized_at or invoice.created_at


def _metric(charge: Charge | None) -> dict[str, Any] | None:
    if charge is None:
        return None
    metric = charge.billable_metric
    return {
        "lago_id": metric.id,
        "code": metric.code,
        "name": metric.name,
        "aggregation_type": metric.aggregation_type,
        "field_name": metric.field_name,
        "recurring": metric.recurring,
    }


def _totals(fee: Fee, lines: list[dict[str, Any]]) -> dict[str, Any]:
    subunit = currency(fee.currency).subunit_to_unit
    lines_sum = sum((Decimal(line["amount"]) for line in lines), Decimal(0))
    in_cents = lines_sum * subunit
    return {
        "lines_sum": _number(lines_sum),
        "subunit_to_unit": subunit,
        "lines_sum_in_cents": _number(in_cents),
        "precise_amount_cents": _number(fee.precise_amount_cents),
        "amount_cents": fee.amount_cents,
        "rounding": (
            f"{_number(fee.precise_amount_cents)} rounded half up to the cent = {fee.amount_cents}"
        ),
    }


def _proration(fee: Fee) -> dict[str, Any] | None:
    details = fee.amount_details or {}
    if "days" in details and "full_period_days" in details:
        days, full = int(details["days"]), int(details["full_period_days"])
        plan = int(details.get("plan_amount_cents", 0))
        return {
            "days": days,
            "full_period_days": full,
            "factor": f"{days}/{full}",
            "arithmetic": f"{plan} × {days} / {full} = {_number(Decimal(plan) * days / full)}",
        }
    if "prorata" in details:
        return {"factor": str(details["prorata"])}
    return None


def _taxes(fee: Fee) -> list[dict[str, Any]]:
    base = Decimal(fee.amount_cents) - fee.precise_coupons_amount_cents
    found = []
    for tax in fee.applied_taxes or []:
        rate = Decimal(str(tax.get("tax_rate", 0)))
        found.append(
            {
                "tax_code": tax.get("tax_code"),
                "tax_rate": _number(rate),
                "base_amount_cents": _number(base),
                "amount_cents": tax.get("amount_cents"),
                "arithmetic": f"{_number(base)} × {_number(rate)}% = {_number(base * rate / 100)}",
            }
        )
    return found


def explain_fee(session: Session, *, organization_id: str, fee_id: str) -> dict[str, Any]:
    """One fee, from its usage to its amount, every figure reproducible by hand."""
    fee = _own_fee(session, organization_id, fee_id)
    return _explain(session, fee)


def _explain(session: Session, fee: Fee) -> dict[str, Any]:
    charge = session.get(Charge, fee.charge_id) if fee.charge_id else None
    item = fee.item or {}
    lines = [_line(raw) for raw in fee.explanation or []]
    issued_at = _issued_at(session, fee)
    body: dict[str, Any] = {
        "lago_fee_id": fee.id,
        "lago_invoice_id": fee.invoice_id,
        "fee_type": fee.fee_type,
        "item": {
            "code": item.get("code"),
            "name": item.get("name"),
            "invoice_display_name": item.get("invoice_display_name"),
        },
        "currency": fee.currency,
        "source": "stored at issue" if issued_at is not None else "draft: refreshed until issue",
        "metric": _metric(charge),
        "charge": None,
        "window": {"from": _iso(fee.from_datetime), "to": _iso(fee.to_datetime)},
        "filter": item.get("filters"),
        "filter_display_name": item.get("filter_invoice_display_name"),
        "grouped_by": item.get("grouped_by") or {},
        "usage": {
            "events_count": fee.events_count,
            "aggregated_units": _number(fee.total_aggregated_units),
            "billed_units": _number(fee.units),
        },
        "lines": lines,
        "amount_details": fee.amount_details or {},
        "proration": _proration(fee),
        "totals": _totals(fee, lines),
        "coupons_precise_amount_cents": _number(fee.precise_coupons_amount_cents),
        "taxes": _taxes(fee),
        "taxes_amount_cents": fee.taxes_amount_cents,
        "events": None,
    }
    if charge is not None:
        body["charge"] = {
            "lago_id": charge.id,
            "charge_model": charge.charge_model,
            "pay_in_advance": fee.pay_in_advance,
            "prorated": charge.prorated,
            "min_amount_cents": charge.min_amount_cents,
            # The properties the fee was priced with, kept on the fee at issue.
            "properties": fee.properties or {},
        }
        if fee.event_transaction_id is None:
            body["events"] = {
                "count": fee.events_count,
                "counted_until": _iso(issued_at),
                "url": f"/api/v1/fees/{fee.id}/events?page=1&per_page={EVENTS_PER_PAGE}",
            }
        else:
            body["events"] = {"count": 1, "transaction_ids": [fee.event_transaction_id]}
    return body


def fee_events(
    session: Session, *, organization_id: str, fee_id: str, page: int, per_page: int
) -> tuple[list[dict[str, Any]], int]:
    """The events a usage fee counted, oldest first (its charge's bucket, window, group)."""
    fee = _own_fee(session, organization_id, fee_id)
    if fee.charge_id is None or fee.subscription_id is None:
        return [], 0
    charge = session.get(Charge, fee.charge_id)
    sub = session.get(Subscription, fee.subscription_id)
    if charge is None or sub is None or fee.from_datetime is None or fee.to_datetime is None:
        return [], 0
    if fee.event_transaction_id is not None:
        # A pay-in-advance fee prices exactly one event.
        found = event_of(
            session.connection(), fee.organization_id, sub.external_id, fee.event_transaction_id
        )
        return ([found] if found else []), (1 if found else 0)
    window = BillingPeriod(fee.from_datetime, fee.to_datetime)
    requests = charge_requests(
        charge, window=window, recurring_from=sub.started_at, full_period_days=1
    )
    request = next((r for f, r in requests if (f.id if f else None) == fee.charge_filter_id), None)
    if request is None:
        return [], 0
    grouped = (fee.item or {}).get("grouped_by") or {}
    if grouped:
        request = replace(request, group_values=dict(grouped))
    issued_at = _issued_at(session, fee)
    if issued_at is not None:
        issued_at = received_cutoff(
            session.connection(),
            organization_id=fee.organization_id,
            external_subscription_id=sub.external_id,
            request=request,
            finalized_at=issued_at,
            events_count=fee.events_count,
        )
    return counted_events(
        session.connection(),
        organization_id=fee.organization_id,
        external_subscription_id=sub.external_id,
        request=request,
        received_by=issued_at,
        page=page,
        per_page=per_page,
        # A finalized fee lists what it counted, events voided since included (their
        # `voided_at` says so); a draft lists what it will count.
        include_voided=issued_at is not None,
    )


def explain_invoice(session: Session, *, organization_id: str, invoice_id: str) -> dict[str, Any]:
    """Every fee of an invoice explained, then the waterfall from the fees to the total."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.organization_id != organization_id:
        raise NotFound("invoice")
    fees = list(
        session.scalars(
            select(Fee)
            .where(Fee.invoice_id == invoice.id, Fee.deleted_at.is_(None))
            .order_by(Fee.position, Fee.created_at)
        )
    )
    return {
        "lago_invoice_id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "issuing_date": _iso(invoice.issuing_date),
        "finalized_at": _iso(invoice.finalized_at),
        "fees": [_explain(session, fee) for fee in fees],
        "waterfall": waterfall(invoice, fees),
        "breakdown": invoice.breakdown or {},
    }


def waterfall(invoice: Invoice, fees: list[Fee]) -> list[dict[str, Any]]:
    """Lago's order: fees, − progressive credit, − coupons, + taxes, − credit notes, − wallets."""
    fees_sum = sum(f.amount_cents for f in fees)
    steps: list[tuple[str, int, str | None]] = [
        ("fees", invoice.fees_amount_cents, f"sum of {len(fees)} fees = {fees_sum}"),
        ("progressive billing credit", -invoice.progressive_billing_credit_amount_cents, None),
        ("coupons", -invoice.coupons_amount_cents, None),
        ("taxes", invoice.taxes_amount_cents, None),
        ("credit notes", -invoice.credit_notes_amount_cents, None),
        ("prepaid credits (wallets)", -invoice.prepaid_credit_amount_cents, None),
    ]
    running = 0
    out = []
    checkpoints = {
        "coupons": (
            "sub_total_excluding_taxes_amount_cents",
            invoice.sub_total_excluding_taxes_amount_cents,
        ),
        "taxes": (
            "sub_total_including_taxes_amount_cents",
            invoice.sub_total_including_taxes_amount_cents,
        ),
        "prepaid credits (wallets)": ("total_amount_cents", invoice.total_amount_cents),
    }
    for label, amount, note in steps:
        running += amount
        step: dict[str, Any] = {
            "step": label,
            "amount_cents": amount,
            "running_total_cents": running,
        }
        if note:
            step["note"] = note
        if label in checkpoints:
            name, stored = checkpoints[label]
            step["stored"] = {name: stored}
        out.append(step)
    return out
