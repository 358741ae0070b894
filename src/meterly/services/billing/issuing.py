"""Issuing an invoice: fees in, Lago's waterfall (taxes, credits), then a draft kept through
the grace period or a finalized, numbered invoice. Pay-in-advance fees are issued here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, object_session

from meterly.domain.invoicing import FeeLine, InvoiceTotals, compute_invoice
from meterly.domain.money import Currency, currency
from meterly.domain.periods import (
    BillingPeriod,
    local_date,
    local_midnight,
)
from meterly.domain.schedule import (
    FeeSpan,
)
from meterly.domain.taxes import Tax as TaxRate
from meterly.domain.taxes import tax_fee
from meterly.services.accounts import billing_cache, billing_entities, timezone_of
from meterly.services.billing.fees import (
    commitment_fee,
)
from meterly.services.catalog import TaxContext
from meterly.services.common import Clock, new_id
from meterly.services.credits import available_credits
from meterly.services.invoicing import numbering
from meterly.services.notifications import enqueue
from meterly.store.tables import (
    Charge,
    Customer,
    Fee,
    Invoice,
    InvoiceSubscription,
    Organization,
    Plan,
    Subscription,
)
from meterly.store.tables_coupons import AppliedCouponRow, CouponRow
from meterly.store.tables_credit_notes import CreditNote

PERIODIC = "subscription_periodic"
STARTING = "subscription_starting"
TERMINATING = "subscription_terminating"


# --- issuing ---------------------------------------------------------------------------


@dataclass
class InvoicePart:
    """One subscription's billed period on an invoice: its fees and its exactly-once key.

    The key is (subscription, `boundary`, `reason`): an `invoice_subscriptions` row with a
    unique index, so a consolidated invoice holds one key per subscription it bills.
    """

    sub: Subscription
    fees: list[Fee]
    boundary: datetime
    reason: str
    fee_span: FeeSpan | None
    charges_window: BillingPeriod | None

    @property
    def empty(self) -> bool:
        """Nothing billed at all: no fee and no period (no key either, as before)."""
        return not self.fees and self.fee_span is None and self.charges_window is None


def issue_invoice(
    session: Session,
    *,
    sub: Subscription,
    fees: list[Fee],
    boundary: datetime,
    reason: str,
    fee_span: FeeSpan | None,
    charges_window: BillingPeriod | None,
    clock: Clock,
    invoice_type: str = "subscription",
) -> Invoice | None:
    """Create, tax, credit and settle the invoice of one billed period of a subscription."""
    part = InvoicePart(sub, fees, boundary, reason, fee_span, charges_window)
    return issue_parts(session, parts=[part], at=boundary, clock=clock, invoice_type=invoice_type)


def issue_parts(
    session: Session,
    *,
    parts: Sequence[InvoicePart],
    at: datetime,
    clock: Clock,
    invoice_type: str = "subscription",
) -> Invoice | None:
    """One invoice for the billed periods of one customer's subscriptions at instant `at`.

    Lago's consolidation: the waterfall runs once over all their fees (coupons spread over
    every fee, taxes per fee with each fee's own plan, credit notes and wallets once on the
    total). Each part keeps its own (subscription, boundary, reason) key.
    """
    parts = [part for part in parts if not part.empty]
    if not parts:
        return None
    for part in parts:
        commitment = (
            commitment_fee(
                part.sub, part.fees, part.fee_span, part.charges_window, reason=part.reason
            )
            if part.reason in (PERIODIC, TERMINATING)
            else None
        )
        if commitment is not None:
            part.fees.append(commitment)
    sub = parts[0].sub
    customer: Customer = sub.customer
    org = session.get(Organization, sub.organization_id)
    assert org is not None
    tz = timezone_of(session, sub)
    now = clock.now()
    issuing_day = local_date(at, timezone=tz)
    # The customer's own terms, else its billing entity's, else the organization's.
    in_force = billing_entities.customer_settings(session, customer)
    term, grace = in_force.net_payment_term, in_force.invoice_grace_period
    invoice = Invoice(
        id=new_id(),
        organization_id=sub.organization_id,
        customer_id=sub.customer_id,
        invoice_type=invoice_type,
        status="draft",
        payment_status="pending",
        currency=sub.plan.amount_currency,
        issuing_date=local_midnight(issuing_day, timezone="UTC"),
        payment_due_date=local_midnight(issuing_day + timedelta(days=term), timezone="UTC"),
        net_payment_term=term,
        breakdown={},
        invoice_metadata=[],
        finalize_at=at + timedelta(days=grace) if grace else None,
        created_at=now,
        updated_at=now,
    )
    session.add(invoice)
    # The invoice, its (subscription, boundary) keys and its fees are written by the next
    # flush, in that order (`invoice_row`): a billing run's chunk flushes many invoices at
    # once. A key billed already by a concurrent run fails that flush, rolling back all.
    for part in parts:
        session.add(_period_key(invoice, part, now=now))
    fees = [fee for part in parts for fee in part.fees]
    for position, fee in enumerate(fees):
        fee.invoice_id = invoice.id
        fee.position = position
        fee.created_at = now
        fee.updated_at = now
        session.add(fee)
    totals = apply_waterfall(
        session,
        invoice=invoice,
        fees=fees,
        taxes=billing_cache.tax_context(session, customer, sub.plan),
    )
    _settle(
        session,
        invoice=invoice,
        customer=customer,
        org=org,
        clock=clock,
        grace=grace,
        totals=totals,
    )
    return invoice


def _period_key(invoice: Invoice, part: InvoicePart, *, now: datetime) -> InvoiceSubscription:
    span, window = part.fee_span, part.charges_window
    return InvoiceSubscription(
        id=new_id(),
        invoice_id=invoice.id,
        subscription_id=part.sub.id,
        boundary=part.boundary,
        invoicing_reason=part.reason,
        from_datetime=span.billed.start if span else (window.start if window else None),
        to_datetime=span.billed.end if span else (window.end if window else None),
        charges_from_datetime=window.start if window else None,
        charges_to_datetime=window.end if window else None,
        created_at=now,
    )


def _fee_taxes(fee: Fee, taxes: TaxContext) -> tuple[TaxRate, ...]:
    if fee.fee_type == "charge" and fee.charge_id:
        charge = fee_charge(fee)
        if charge is not None:
            return taxes.for_charge(charge)
    if fee.fee_type == "commitment":
        return taxes.for_fee_type("commitment")
    if fee.fee_type == "fixed_charge":
        # The fixed charge's own tax codes, kept on the fee, else the plan's and above.
        return taxes.for_fee_type("fixed_charge", (fee.properties or {}).get("tax_codes"))
    if fee.fee_type == "add_on":
        # One-off fees keep the tax codes resolved when they were created.
        return taxes.for_fee_type("add_on", (fee.properties or {}).get("tax_codes"))
    return taxes.for_fee_type(fee.fee_type)


def fee_charge(fee: Fee) -> Any:

    session = object_session(fee)
    return session.get(Charge, fee.charge_id) if session and fee.charge_id else None


def apply_waterfall(
    session: Session,
    *,
    invoice: Invoice,
    fees: Iterable[Fee],
    taxes: TaxContext,
    clock: Clock | None = None,
) -> InvoiceTotals:
    """Run Lago's waterfall over the invoice's fees and store every step on the rows.

    With a `clock` the invoice is being finalized: the credits it uses are consumed.
    """

    fee_list = list(fees)
    cur: Currency = currency(invoice.currency)
    taxes_of = _taxes_by_subscription(session, invoice=invoice, fees=fee_list, taxes=taxes)
    lines = [
        FeeLine(
            id=f.id,
            fee_type=f.fee_type,
            amount_cents=f.amount_cents,
            precise_amount_cents=f.precise_amount_cents,
            plan_code=_plan_code(session, f),
            billable_metric_code=f.item.get("code") if f.fee_type == "charge" else None,
            taxes=_fee_taxes(f, taxes_of(f)),
            target_wallet_code=_target_wallet(f),
        )
        for f in fee_list
    ]
    credits = available_credits.gather(session, invoice=invoice, fees=fee_list)
    totals = compute_invoice(
        currency=cur,
        fees=lines,
        progressive_billing_credit_cents=credits.progressive_billing_credit_cents,
        coupons=credits.coupons,
        credit_note_credits=credits.credit_notes,
        wallets=credits.wallets,
    )
    if clock is not None:
        available_credits.consume(session, invoice=invoice, totals=totals, clock=clock)
    by_id = {r.fee_id: r for r in totals.fees}
    ids = tax_ids(session, invoice.organization_id)
    for fee in fee_list:
        result = by_id[fee.id]
        fee.precise_coupons_amount_cents = result.precise_coupons_amount_cents
        fee.taxes_amount_cents = result.taxes_amount_cents
        fee.taxes_precise_amount_cents = result.taxes_precise_amount_cents
        fee.taxes_rate = result.taxes_rate
        fee.applied_taxes = [
            {
                "tax_id": ids.get(a.tax.code),
                "tax_code": a.tax.code,
                "tax_name": a.tax.name,
                "tax_rate": str(a.tax.rate),
                "tax_description": a.tax.description,
                "amount_cents": a.amount_cents,
                "precise_amount_cents": str(a.precise_amount_cents),
            }
            for a in result.taxes.applied
        ]
    invoice.fees_amount_cents = totals.fees_amount_cents
    invoice.progressive_billing_credit_amount_cents = totals.progressive_billing_credit_amount_cents
    invoice.coupons_amount_cents = totals.coupons_amount_cents
    invoice.sub_total_excluding_taxes_amount_cents = totals.sub_total_excluding_taxes_amount_cents
    invoice.taxes_amount_cents = totals.taxes_amount_cents
    invoice.sub_total_including_taxes_amount_cents = totals.sub_total_including_taxes_amount_cents
    invoice.credit_notes_amount_cents = totals.credit_notes_amount_cents
    invoice.prepaid_credit_amount_cents = totals.prepaid_credit_amount_cents
    invoice.total_amount_cents = totals.total_amount_cents
    invoice.breakdown = {
        "applied_taxes": [
            {
                "tax_id": ids.get(t.tax.code),
                "tax_code": t.tax.code,
                "tax_name": t.tax.name,
                "tax_rate": str(t.tax.rate),
                "tax_description": t.tax.description,
                "amount_cents": t.amount_cents,
                "precise_amount_cents": str(t.precise_amount_cents),
                "fees_amount_cents": t.base_amount_cents,
            }
            for t in totals.applied_taxes
        ],
        "credits": _credit_lines(session, totals),
        "wallets": [
            {
                "wallet_id": w.wallet_id,
                "amount_cents": w.amount_cents,
                "credit_amount": str(w.credit_amount),
            }
            for w in totals.wallets
        ],
        "rounding": "half_up",
    }
    invoice.prepaid_credit_amount_cents = totals.prepaid_credit_amount_cents
    invoice.total_amount_cents = totals.total_amount_cents
    return totals


def _taxes_by_subscription(
    session: Session, *, invoice: Invoice, fees: Sequence[Fee], taxes: TaxContext
) -> Callable[[Fee], TaxContext]:
    """Each fee's tax levels: `taxes`, or on a consolidated invoice its own plan's.

    An invoice of one subscription (or none) is taxed with `taxes` as given. When fees of
    several subscriptions share the invoice, each fee takes the plan taxes of the
    subscription it bills (Lago taxes per fee, whatever invoice it is on).
    """
    sub_ids = {f.subscription_id for f in fees if f.subscription_id}
    if len(sub_ids) <= 1:
        return lambda _fee: taxes
    customer = session.get(Customer, invoice.customer_id)
    assert customer is not None
    by_sub: dict[str, TaxContext] = {}
    for sub_id in sub_ids:
        sub = session.get(Subscription, sub_id)
        if sub is not None:
            by_sub[sub_id] = billing_cache.tax_context(session, customer, sub.plan)
    return lambda fee: by_sub.get(fee.subscription_id or "", taxes)


def _credit_lines(session: Session, totals: InvoiceTotals) -> list[dict[str, Any]]:
    """The invoice's `credits[]`: coupons (before taxes) and credit notes (after), each
    named the way Lago names them: the coupon, or the credit note and the invoice it credits."""

    lines: list[dict[str, Any]] = []
    for application in totals.coupons:
        applied = session.get(AppliedCouponRow, application.applied_coupon.id)
        coupon = session.get(CouponRow, applied.coupon_id) if applied else None
        lines.append(
            {
                "kind": "coupon",
                "applied_coupon_id": application.applied_coupon.id,
                "lago_item_id": coupon.id if coupon else application.applied_coupon.id,
                "code": application.applied_coupon.coupon_code,
                "name": coupon.name if coupon else application.applied_coupon.coupon_code,
                "description": coupon.description if coupon else None,
                "amount_cents": application.amount_cents,
                "before_taxes": True,
            }
        )
    for consumption in totals.credit_notes:
        note = session.get(CreditNote, consumption.credit_note_id)
        credited = session.get(Invoice, note.invoice_id) if note else None
        lines.append(
            {
                "kind": "credit_note",
                "credit_note_id": consumption.credit_note_id,
                "lago_item_id": consumption.credit_note_id,
                "code": note.number if note else None,
                "name": credited.number if credited else None,
                "description": note.description if note else None,
                "amount_cents": consumption.amount_cents,
                "before_taxes": False,
            }
        )
    if totals.progressive_billing_credit_amount_cents:
        lines.append(
            {
                "kind": "progressive_billing",
                "amount_cents": totals.progressive_billing_credit_amount_cents,
                "before_taxes": True,
            }
        )
    return lines


def tax_ids(session: Session, organization_id: str) -> dict[str, str]:
    """Tax code -> lago_id, so every applied tax names the tax it applies."""
    return billing_cache.tax_ids(session, organization_id)


def _target_wallet(fee: Fee) -> str | None:
    """The wallet named by the events of a charge fee that accepts a target wallet (the fee
    is one group of `target_wallet_code`: metering/usage.py)."""
    if fee.fee_type != "charge":
        return None
    value = (fee.item.get("grouped_by") or {}).get("target_wallet_code")
    return str(value) if value else None


def _plan_code(session: Session, fee: Fee) -> str | None:
    if fee.subscription_id is None:
        return None
    sub = session.get(Subscription, fee.subscription_id)
    if sub is None:
        return None
    plan = sub.plan
    if plan.parent_id:
        parent = session.get(Plan, plan.parent_id)
        return parent.code if parent else plan.code
    return plan.code


def _settle(
    session: Session,
    *,
    invoice: Invoice,
    customer: Customer,
    org: Organization,
    clock: Clock,
    grace: int,
    totals: InvoiceTotals | None = None,
) -> None:
    """Finalize at once, or keep a draft through the grace period; skip empty ones if asked.

    `totals`: the waterfall just computed in this unit of work over the same fees and
    credits; finalizing at once consumes those credits instead of running it again.
    """
    if invoice.total_amount_cents == 0 and not _finalize_zero(customer, org):
        invoice.status = "closed"
        return
    if grace:
        enqueue(session, invoice.organization_id, "invoice.drafted", "invoice", invoice.id, clock)
        return
    if totals is None or invoice.invoice_type == "credit":
        finalize(session, invoice=invoice, clock=clock)
        return

    available_credits.consume(session, invoice=invoice, totals=totals, clock=clock)
    numbering.finalize(session, invoice=invoice, clock=clock)


def _finalize_zero(customer: Customer, org: Organization) -> bool:
    """The customer's own choice, else its billing entity's, else the organization's."""
    setting = customer.finalize_zero_amount_invoice
    if setting == "skip":
        return False
    if setting == "finalize":
        return True
    session = object_session(customer)
    if session is None or not (customer.profile or {}).get("billing_entity_code"):
        return org.finalize_zero_amount_invoice
    return billing_entities.seller_for(session, customer).finalize_zero_amount_invoice


def finalize(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    """Apply and consume the credits available now, then number and finalize.

    Numbering and the lifecycle live in services/invoices.py; the waterfall is re-run
    here so a draft finalized after its grace period uses the credits of that moment.
    """

    if invoice.invoice_type != "credit":
        session.refresh(invoice)
        customer = session.get(Customer, invoice.customer_id)
        assert customer is not None
        apply_waterfall(
            session,
            invoice=invoice,
            fees=invoice.fees,
            taxes=TaxContext.for_customer(session, customer, _invoice_plan(session, invoice)),
            clock=clock,
        )
    return numbering.finalize(session, invoice=invoice, clock=clock)


def _invoice_plan(session: Session, invoice: Invoice) -> Any:
    if not invoice.periods:
        return None
    sub = session.get(Subscription, invoice.periods[0].subscription_id)
    return sub.plan if sub else None


# --- pay-in-advance charges ------------------------------------------------------------


def issue_advance_invoice(
    session: Session, *, sub: Subscription, fee: Fee, clock: Clock, more_fees: Sequence[Fee] = ()
) -> Invoice:
    """An invoiceable pay-in-advance fee gets its own invoice at once (Lago's in_advance_charge).

    `more_fees`: other fees billed at the same instant (in-advance fixed charges)."""
    customer: Customer = sub.customer
    org = session.get(Organization, sub.organization_id)
    assert org is not None
    now = clock.now()
    issuing_day = local_date(now, timezone=timezone_of(session, sub))
    term = billing_entities.customer_settings(session, customer).net_payment_term
    invoice = Invoice(
        id=new_id(),
        organization_id=sub.organization_id,
        customer_id=sub.customer_id,
        invoice_type="subscription",
        status="draft",
        payment_status="pending",
        currency=fee.currency,
        issuing_date=local_midnight(issuing_day, timezone="UTC"),
        payment_due_date=local_midnight(issuing_day + timedelta(days=term), timezone="UTC"),
        net_payment_term=term,
        breakdown={},
        invoice_metadata=[],
        created_at=now,
        updated_at=now,
    )
    session.add(invoice)
    session.flush()
    session.add(
        InvoiceSubscription(
            id=new_id(),
            invoice_id=invoice.id,
            subscription_id=sub.id,
            boundary=fee.from_datetime or now,
            invoicing_reason="in_advance_charge",
            from_datetime=fee.from_datetime,
            to_datetime=fee.to_datetime,
            charges_from_datetime=fee.from_datetime,
            charges_to_datetime=fee.to_datetime,
            created_at=now,
        )
    )
    for billed in (fee, *more_fees):
        billed.invoice_id = invoice.id
    session.flush()
    totals = apply_waterfall(
        session,
        invoice=invoice,
        fees=[fee, *more_fees],
        taxes=billing_cache.tax_context(session, customer, sub.plan),
    )
    _settle(
        session, invoice=invoice, customer=customer, org=org, clock=clock, grace=0, totals=totals
    )
    return invoice


def tax_standalone_fee(session: Session, *, sub: Subscription, fee: Fee) -> None:
    """A non-invoiceable fee still carries its taxes (Lago shows them on GET /fees)."""

    taxes = billing_cache.tax_context(session, sub.customer, sub.plan)
    result = tax_fee(base_amount_cents=Decimal(fee.amount_cents), taxes=_fee_taxes(fee, taxes))
    fee.taxes_amount_cents = result.amount_cents
    fee.taxes_precise_amount_cents = result.precise_amount_cents
    fee.taxes_rate = result.taxes_rate
    ids = tax_ids(session, sub.organization_id)
    fee.applied_taxes = [
        {
            "tax_id": ids.get(a.tax.code),
            "tax_code": a.tax.code,
            "tax_name": a.tax.name,
            "tax_rate": str(a.tax.rate),
            "tax_description": a.tax.description,
            "amount_cents": a.amount_cents,
            "precise_amount_cents": str(a.precise_amount_cents),
        }
        for a in result.applied
    ]
