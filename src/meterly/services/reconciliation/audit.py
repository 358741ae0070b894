"""Re-derive finalized invoices from the events and the prices stored at issue; report drift.

For each usage fee the audit reads the events it counted (the usage statements' own
conditions, cut at the invoice's finalization), aggregates them with the domain's
reference aggregation (not the SQL one billing used: two implementations that must agree)
and prices them with the charge properties the fee stored when it was issued. Then it
checks the invoice's waterfall arithmetic. Any difference of a cent or more is drift.
Invoices are read a page at a time, so memory holds one invoice and one fee's events.

Event corrections (services/corrections) change the events after issue; the audit then
compares the events with the fee as corrected (its amount plus its correction documents'
changes, `fee_corrections`): drift until the correction run has issued them, none after.
An organization accepting late events re-derives from every event, late ones included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.aggregation import aggregate
from meterly.domain.money import currency
from meterly.domain.periods import BillingPeriod
from meterly.domain.pricing import PricingInput, compute_charge, finalize_fee, parse_properties
from meterly.domain.usage import AggregationType, UsageEvent
from meterly.services.catalog import billable_metrics
from meterly.services.metering import charge_requests
from meterly.services.reconciliation.explain import waterfall
from meterly.store.event_corrections import corrected_by_fee
from meterly.store.reconciliation_events import counted_events, received_cutoff
from meterly.store.tables import Charge, Fee, Invoice, Organization, Subscription

_PAGE = 1000
_COUNTING = (AggregationType.COUNT, AggregationType.UNIQUE_COUNT)


@dataclass(frozen=True, slots=True)
class Drift:
    """One figure that does not re-derive: what was stored, what the events give."""

    invoice_id: str
    invoice_number: str | None
    fee_id: str | None
    what: str
    stored: str
    derived: str


@dataclass(slots=True)
class AuditReport:
    invoices: int = 0
    fees_rederived: int = 0
    fees_skipped: int = 0
    drifts: list[Drift] = field(default_factory=list)


def audit(
    session: Session,
    *,
    issued_from: datetime | None = None,
    issued_to: datetime | None = None,
    organization_id: str | None = None,
    on_invoice: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Every finalized invoice issued in [issued_from, issued_to), re-derived."""
    where = [Invoice.status == "finalized"]
    if organization_id:
        where.append(Invoice.organization_id == organization_id)
    if issued_from:
        where.append(Invoice.issuing_date >= issued_from)
    if issued_to:
        where.append(Invoice.issuing_date < issued_to)
    total = session.scalar(select(func.count()).select_from(Invoice).where(*where)) or 0
    report = AuditReport()
    last_id = ""
    while True:
        ids = list(
            session.scalars(
                select(Invoice.id)
                .where(*where, Invoice.id > last_id)
                .order_by(Invoice.id)
                .limit(50)
            )
        )
        if not ids:
            break
        last_id = ids[-1]
        for invoice_id in ids:
            invoice = session.get(Invoice, invoice_id)
            if invoice is None:
                continue
            _audit_invoice(session, invoice, report)
            report.invoices += 1
            if on_invoice is not None:
                on_invoice(report.invoices, total)
        session.expunge_all()  # keep memory to one page of invoices
    return report


def _audit_invoice(session: Session, invoice: Invoice, report: AuditReport) -> None:
    fees = list(
        session.scalars(select(Fee).where(Fee.invoice_id == invoice.id, Fee.deleted_at.is_(None)))
    )

    def drift(fee_id: str | None, what: str, stored: object, derived: object) -> None:
        report.drifts.append(
            Drift(invoice.id, invoice.number, fee_id, what, str(stored), str(derived))
        )

    org = session.get(Organization, invoice.organization_id)
    include_late = bool(org is not None and org.accept_late_events)
    corrected = corrected_by_fee(session.connection(), [f.id for f in fees])
    for fee in fees:
        derived = rederive_fee(session, invoice, fee, include_late=include_late)
        if derived is None:
            report.fees_skipped += 1
            continue
        report.fees_rederived += 1
        amount_cents, events_count = derived
        stored = fee.amount_cents + corrected.get(fee.id, 0)
        if amount_cents != stored:
            drift(fee.id, "amount_cents", stored, amount_cents)
        # A corrected fee's events changed after issue: its count no longer re-derives.
        counted = fee.events_count
        if fee.id not in corrected and counted is not None and events_count != counted:
            drift(fee.id, "events_count", counted, events_count)
    fees_sum = sum(f.amount_cents for f in fees)
    if fees_sum != invoice.fees_amount_cents:
        drift(None, "fees_amount_cents", invoice.fees_amount_cents, fees_sum)
    for step in waterfall(invoice, fees):
        for name, stored in (step.get("stored") or {}).items():
            if stored != step["running_total_cents"]:
                drift(None, name, stored, step["running_total_cents"])


def rederive_fee(
    session: Session, invoice: Invoice, fee: Fee, *, include_late: bool = False
) -> tuple[int, int] | None:
    """(amount_cents, events_count) of a usage fee from its events; None if not a usage fee
    this audit re-derives (subscription fees, pay-in-advance fees, prorated charges, the
    fees of correction invoices). Voided events are left out, amended ones read as they
    are now; `include_late`: also the events received after the invoice was finalized."""
    if (
        fee.fee_type != "charge"
        or fee.charge_id is None
        or fee.subscription_id is None
        or fee.event_transaction_id is not None
        or fee.from_datetime is None
        or fee.to_datetime is None
        or fee.true_up_parent_fee_id is not None
        or "min_amount_cents" in (fee.amount_details or {})
        or "corrects_fee_id" in (fee.amount_details or {})
    ):
        return None
    charge = session.get(Charge, fee.charge_id)
    sub = session.get(Subscription, fee.subscription_id)
    if charge is None or sub is None or charge.prorated:
        return None
    window = BillingPeriod(fee.from_datetime, fee.to_datetime)
    requests = charge_requests(charge, window=window, recurring_from=None, full_period_days=1)
    request = next((r for f, r in requests if (f.id if f else None) == fee.charge_filter_id), None)
    if request is None:
        return None
    grouped = (fee.item or {}).get("grouped_by") or {}
    if grouped:
        request = replace(request, group_values=dict(grouped))
    cutoff = (
        None
        if include_late
        else received_cutoff(
            session.connection(),
            organization_id=fee.organization_id,
            external_subscription_id=sub.external_id,
            request=request,
            finalized_at=invoice.finalized_at or invoice.created_at,
            events_count=fee.events_count,
        )
    )
    events: list[UsageEvent] = []
    page = 1
    while True:
        rows, total = counted_events(
            session.connection(),
            organization_id=fee.organization_id,
            external_subscription_id=sub.external_id,
            request=request,
            received_by=cutoff,
            page=page,
            per_page=_PAGE,
        )
        events.extend(_usage_event(r) for r in rows)
        if page * _PAGE >= total:
            break
        page += 1
    metric = billable_metrics.to_domain(charge.billable_metric)
    in_window = [e for e in events if e.timestamp >= window.start]
    prior = [e for e in events if e.timestamp < window.start]
    needs_values = charge.charge_model == "percentage"
    result = aggregate(
        metric,
        in_window,
        window=(window.start, window.end),
        prior_events=prior,
        with_event_values=needs_values,
    )
    running = None
    if metric.aggregation_type in _COUNTING and result.event_values:
        running = tuple(Decimal(i + 1) for i in range(len(result.event_values)))
    cur = currency(fee.currency)
    # The properties stored on the fee at issue: today's plan may price differently.
    priced = compute_charge(
        parse_properties(charge.charge_model, fee.properties or {}),
        PricingInput(
            units=result.units,
            events_count=result.events_count,
            event_values=result.event_values,
            precise_total_amount_cents=result.precise_total_amount_cents,
            full_units=result.full_units,
            running_totals=running,
            prorated_events=result.prorated_events,
        ),
        currency=cur,
    )
    amounts = finalize_fee(
        amount=priced.amount, units=priced.units, currency=cur, unit_amount=priced.unit_amount
    )
    return amounts.amount_cents, result.events_count


def _usage_event(row: dict[str, Any]) -> UsageEvent:
    return UsageEvent(
        transaction_id=row["transaction_id"],
        code=row["code"],
        timestamp=row["timestamp"],
        properties=row["properties"] or {},
        precise_total_amount_cents=row.get("precise_total_amount_cents"),
    )
