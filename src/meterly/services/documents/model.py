"""The document model: everything an invoice or a credit note shows, computed once.

`invoice_document` and `credit_note_document` read the stored rows into frozen
dataclasses of exact figures (integer minor units, Decimals) and local dates. Every
rendering (the HTML page, the PDF, the e-invoice XML) reads these and only formats
them; none recomputes a figure. Seller, buyer, language, timezone and custom sections
come from the snapshot taken when the document was issued (services/invoicing/snapshot),
so a later change of address never rewrites an issued document; drafts and documents
issued before snapshots existed use the current rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound
from meterly.domain.money import currency
from meterly.domain.periods import local_date
from meterly.services.billing import amount_due_cents
from meterly.services.invoicing import snapshot
from meterly.store.tables import CreditNote, Fee, Invoice, Subscription, Wallet

# Significant digits a unit price keeps beyond the currency's minor unit, at most
# `_EXTRA_PLACES` more places: 0.0134187742… EUR prints 0.01342, the exact value stays
# in the fee (`precise_unit_amount`).
_SIGNIFICANT = 4
_EXTRA_PLACES = 4


@dataclass(frozen=True, slots=True)
class Party:
    """A seller or buyer block as of issue time."""

    name: str
    external_id: str = ""
    email: str = ""
    legal_name: str = ""
    legal_number: str = ""
    tax_identification_number: str = ""
    address_line1: str = ""
    address_line2: str = ""
    zipcode: str = ""
    city: str = ""
    state: str = ""
    country: str = ""
    logo_url: str = ""

    @property
    def address_lines(self) -> tuple[str, ...]:
        city = " ".join(p for p in (self.zipcode, self.city) if p)
        parts = (self.address_line1, self.address_line2, city, self.state, self.country)
        return tuple(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Tier:
    label: str
    units: Decimal
    unit_price: Decimal  # exact, major units
    display_unit_price: Decimal  # rounded for people
    flat_amount: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Line:
    fee_id: str
    fee_type: str  # subscription | charge | add_on | credit | commitment
    name: str
    detail: str  # filters, grouping: printed under the name
    units: Decimal
    unit_price: Decimal  # exact, major units
    display_unit_price: Decimal
    amount_cents: int
    taxes_rate: Decimal
    period_from: date | None
    period_to: date | None
    tiers: tuple[Tier, ...]


@dataclass(frozen=True, slots=True)
class SubscriptionGroup:
    """The lines one subscription contributes to the invoice, with its local period."""

    external_id: str
    name: str
    plan_name: str
    period_from: date | None
    period_to: date | None
    lines: tuple[Line, ...]

    @property
    def amount_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@dataclass(frozen=True, slots=True)
class TaxLine:
    code: str
    name: str
    rate: Decimal  # percent
    base_cents: int
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Deduction:
    """A coupon, a credit note, prepaid credits or usage already billed: present only when
    the invoice has one."""

    kind: str  # coupon | credit_note | prepaid_credit | progressive_billing
    name: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class CustomSection:
    code: str
    display_name: str
    details: str


@dataclass(frozen=True, slots=True)
class Totals:
    fees_cents: int
    coupons_cents: int
    progressive_billing_cents: int
    sub_total_excluding_taxes_cents: int
    taxes_cents: int
    sub_total_including_taxes_cents: int
    credit_notes_cents: int
    prepaid_credits_cents: int
    total_cents: int
    paid_cents: int
    due_cents: int


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    id: str
    number: str
    status: str
    invoice_type: str
    payment_status: str
    currency: str
    exponent: int
    locale: str
    timezone: str
    issuing_date: date
    payment_due_date: date
    net_payment_term: int
    seller: Party
    buyer: Party
    groups: tuple[SubscriptionGroup, ...]  # one per subscription, in billing order
    lines: tuple[Line, ...]  # lines of no subscription (add-ons, one-off, credits)
    taxes: tuple[TaxLine, ...]
    deductions: tuple[Deduction, ...]
    totals: Totals
    custom_sections: tuple[CustomSection, ...]

    @property
    def all_lines(self) -> tuple[Line, ...]:
        return tuple(line for g in self.groups for line in g.lines) + self.lines


@dataclass(frozen=True, slots=True)
class CreditNoteLine:
    fee_id: str
    name: str
    amount_cents: int
    taxes_rate: Decimal


@dataclass(frozen=True, slots=True)
class CreditNoteDocument:
    id: str
    number: str
    invoice_id: str
    invoice_number: str
    invoice_issuing_date: date
    currency: str
    exponent: int
    locale: str
    timezone: str
    issuing_date: date
    reason: str
    description: str
    seller: Party
    buyer: Party
    lines: tuple[CreditNoteLine, ...]
    taxes: tuple[TaxLine, ...]
    coupons_adjustment_cents: int
    sub_total_excluding_taxes_cents: int
    taxes_cents: int
    total_cents: int
    credit_cents: int
    refund_cents: int
    offset_cents: int


# --- figures -------------------------------------------------------------------------------


def decimal(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int | str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return Decimal(0)
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(0)


def display_unit_price(value: object, exponent: int) -> Decimal:
    """A unit price as people read it: the currency's minor unit, or up to four significant
    digits when the price is finer (never more than four places beyond the minor unit)."""
    exact = decimal(value)
    if exact == 0:
        return Decimal(0).scaleb(-exponent)
    places_used = max(-int(exact.normalize().as_tuple().exponent), 0)
    if places_used <= exponent:
        return exact.quantize(Decimal(1).scaleb(-exponent))
    # adjusted() is the power of ten of the first significant digit: 0.0134 -> -2.
    wanted = _SIGNIFICANT - 1 - exact.adjusted()
    places = min(max(exponent, wanted), exponent + _EXTRA_PLACES, places_used)
    rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    # Trailing zeros past the minor unit carry nothing: 0.01340 reads 0.0134.
    trimmed = rounded.normalize()
    if -int(trimmed.as_tuple().exponent) < exponent:
        return rounded.quantize(Decimal(1).scaleb(-exponent))
    return trimmed


# --- parties -------------------------------------------------------------------------------


def _party(block: Mapping[str, Any]) -> Party:
    def text(key: str) -> str:
        value = block.get(key)
        return str(value) if value else ""

    return Party(
        name=text("name") or text("external_id"),
        external_id=text("external_id"),
        email=text("email"),
        legal_name=text("legal_name"),
        legal_number=text("legal_number"),
        tax_identification_number=text("tax_identification_number"),
        address_line1=text("address_line1"),
        address_line2=text("address_line2"),
        zipcode=text("zipcode"),
        city=text("city"),
        state=text("state"),
        country=text("country"),
        logo_url=text("logo_url"),
    )


def _snapshot(
    session: Session, stored: Mapping[str, Any] | None, org_id: str, customer_id: str
) -> Mapping[str, Any]:
    """The frozen snapshot of an issued document, or what it would be now (drafts, and
    documents issued before snapshots were taken)."""
    if stored:
        return stored
    return snapshot.take(session, organization_id=org_id, customer_id=customer_id)


# --- lines ---------------------------------------------------------------------------------


def _fee_name(item: Mapping[str, Any], fee_type: str) -> tuple[str, str]:
    name = str(item.get("invoice_display_name") or item.get("name") or item.get("code") or fee_type)
    parts: list[str] = []
    if item.get("filter_invoice_display_name"):
        parts.append(str(item["filter_invoice_display_name"]))
    elif isinstance(item.get("filters"), dict) and item["filters"]:
        parts.append(
            ", ".join(
                f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in item["filters"].items()
            )
        )
    grouped = item.get("grouped_by")
    if isinstance(grouped, dict) and grouped:
        parts.append(", ".join(f"{k}: {v}" for k, v in grouped.items()))
    return name, " · ".join(parts)


def _tiers(explanation: Sequence[Any], exponent: int) -> tuple[Tier, ...]:
    tiers = []
    for entry in explanation or []:
        if not isinstance(entry, Mapping):
            continue
        price = decimal(entry.get("unit_price", 0))
        tiers.append(
            Tier(
                label=str(entry.get("label", "")),
                units=decimal(entry.get("units", 0)),
                unit_price=price,
                display_unit_price=display_unit_price(price, exponent),
                flat_amount=_money(entry.get("flat_amount", 0), exponent),
                amount=_money(entry.get("amount", 0), exponent),
            )
        )
    return tuple(tiers)


def _money(value: object, exponent: int) -> Decimal:
    """A major-unit amount at the currency's precision (a tier's 8.71000 reads 8.71)."""
    return decimal(value).quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def _local(value: datetime | None, timezone: str) -> date | None:
    return local_date(value, timezone=timezone) if value else None


def _line(fee: Fee, exponent: int, timezone: str) -> Line:
    name, detail = _fee_name(fee.item or {}, fee.fee_type)
    return Line(
        fee_id=fee.id,
        fee_type=fee.fee_type,
        name=name,
        detail=detail,
        units=decimal(fee.units),
        unit_price=decimal(fee.precise_unit_amount),
        display_unit_price=display_unit_price(fee.precise_unit_amount, exponent),
        amount_cents=fee.amount_cents,
        taxes_rate=decimal(fee.taxes_rate),
        period_from=_local(fee.from_datetime, timezone),
        period_to=_local(fee.to_datetime, timezone),
        # A subscription fee's explanation is its days (`31 of 31 days`): the period
        # printed with the subscription says the same, in the document's language.
        tiers=() if fee.fee_type == "subscription" else _tiers(fee.explanation, exponent),
    )


def _groups(
    session: Session, invoice: Invoice, lines: Sequence[tuple[Fee, Line]], timezone: str
) -> tuple[tuple[SubscriptionGroup, ...], tuple[Line, ...]]:
    order: list[str] = []
    periods: dict[str, tuple[date | None, date | None]] = {}
    for period in sorted(invoice.periods, key=lambda p: (p.boundary, p.subscription_id)):
        if period.subscription_id not in periods:
            order.append(period.subscription_id)
        start = period.from_datetime or period.charges_from_datetime
        end = period.to_datetime or period.charges_to_datetime
        periods[period.subscription_id] = (_local(start, timezone), _local(end, timezone))
    by_sub: dict[str, list[Line]] = {}
    loose: list[Line] = []
    for fee, line in lines:
        if fee.subscription_id:
            if fee.subscription_id not in periods and fee.subscription_id not in order:
                order.append(fee.subscription_id)
            by_sub.setdefault(fee.subscription_id, []).append(line)
        else:
            loose.append(line)
    groups = []
    for sub_id in order:
        sub = session.get(Subscription, sub_id)
        if sub is None:
            continue
        first, last = periods.get(sub_id, (None, None))
        group_lines = by_sub.get(sub_id, [])
        if first is None and group_lines:
            first, last = group_lines[0].period_from, group_lines[0].period_to
        plan_name = sub.plan.invoice_display_name or sub.plan.name
        groups.append(
            SubscriptionGroup(
                external_id=sub.external_id,
                name=sub.name or plan_name,
                plan_name=plan_name,
                period_from=first,
                period_to=last,
                lines=tuple(group_lines),
            )
        )
    return tuple(groups), tuple(loose)


def _taxes(rows: Sequence[Any]) -> tuple[TaxLine, ...]:
    return tuple(
        TaxLine(
            code=str(t.get("tax_code") or ""),
            name=str(t.get("tax_name") or t.get("tax_code") or ""),
            rate=decimal(t.get("tax_rate") or 0),
            base_cents=int(t.get("fees_amount_cents") or t.get("base_amount_cents") or 0),
            amount_cents=int(t.get("amount_cents") or 0),
        )
        for t in rows
        if isinstance(t, Mapping)
    )


def _deductions(session: Session, invoice: Invoice) -> tuple[Deduction, ...]:
    breakdown = invoice.breakdown or {}
    found: list[Deduction] = []
    if invoice.progressive_billing_credit_amount_cents:
        found.append(
            Deduction("progressive_billing", "", invoice.progressive_billing_credit_amount_cents)
        )
    for credit in breakdown.get("credits") or []:
        item = credit.get("item") or {}
        kind = str(credit.get("kind") or item.get("type") or "coupon")
        if kind in ("progressive_billing", "invoice"):
            continue  # shown once above, from the invoice's own total
        amount = int(credit.get("amount_cents") or 0)
        if amount:
            name = credit.get("name") or item.get("name") or credit.get("code") or ""
            if kind == "credit_note":
                name = credit.get("code") or name
            found.append(Deduction(kind, str(name), amount))
    wallets = [w for w in breakdown.get("wallets") or [] if int(w.get("amount_cents") or 0)]
    for entry in wallets:
        wallet = session.get(Wallet, entry.get("wallet_id")) if entry.get("wallet_id") else None
        name = (wallet.name if wallet else None) or entry.get("name") or ""
        found.append(Deduction("prepaid_credit", name, int(entry["amount_cents"])))
    if not wallets and invoice.prepaid_credit_amount_cents:
        found.append(Deduction("prepaid_credit", "", invoice.prepaid_credit_amount_cents))
    return tuple(found)


# --- documents -----------------------------------------------------------------------------


def build_invoice_document(session: Session, invoice: Invoice) -> InvoiceDocument:
    frozen = _snapshot(
        session, invoice.document_snapshot, invoice.organization_id, invoice.customer_id
    )
    timezone = str(frozen.get("timezone") or "UTC")
    exponent = currency(invoice.currency).exponent
    fee_lines = [(fee, _line(fee, exponent, timezone)) for fee in invoice.fees]
    groups, loose = _groups(session, invoice, fee_lines, timezone)
    due = amount_due_cents(session, invoice)
    return InvoiceDocument(
        id=invoice.id,
        number=invoice.number or "",
        status=invoice.status,
        invoice_type=invoice.invoice_type,
        payment_status=invoice.payment_status,
        currency=invoice.currency,
        exponent=exponent,
        locale=str(frozen.get("locale") or snapshot.DEFAULT_LOCALE),
        timezone=timezone,
        issuing_date=local_date(invoice.issuing_date, timezone="UTC"),
        payment_due_date=local_date(invoice.payment_due_date, timezone="UTC"),
        net_payment_term=invoice.net_payment_term,
        seller=_party(frozen.get("seller") or {}),
        buyer=_party(frozen.get("buyer") or {}),
        groups=groups,
        lines=loose,
        taxes=_taxes((invoice.breakdown or {}).get("applied_taxes") or []),
        deductions=_deductions(session, invoice),
        totals=Totals(
            fees_cents=invoice.fees_amount_cents,
            coupons_cents=invoice.coupons_amount_cents,
            progressive_billing_cents=invoice.progressive_billing_credit_amount_cents,
            sub_total_excluding_taxes_cents=invoice.sub_total_excluding_taxes_amount_cents,
            taxes_cents=invoice.taxes_amount_cents,
            sub_total_including_taxes_cents=invoice.sub_total_including_taxes_amount_cents,
            credit_notes_cents=invoice.credit_notes_amount_cents,
            prepaid_credits_cents=invoice.prepaid_credit_amount_cents,
            total_cents=invoice.total_amount_cents,
            paid_cents=invoice.total_paid_amount_cents,
            due_cents=due,
        ),
        custom_sections=tuple(
            CustomSection(
                code=str(s.get("code") or ""),
                display_name=str(s.get("display_name") or s.get("name") or ""),
                details=str(s.get("details") or ""),
            )
            for s in frozen.get("custom_sections") or []
        ),
    )


def invoice_document(session: Session, invoice_id: str) -> InvoiceDocument:
    """Everything the invoice's documents show (HTML, PDF, e-invoice XML)."""
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound("invoice")
    return build_invoice_document(session, invoice)


def build_credit_note_document(session: Session, note: CreditNote) -> CreditNoteDocument:
    frozen = _snapshot(session, note.document_snapshot, note.organization_id, note.customer_id)
    timezone = str(frozen.get("timezone") or "UTC")
    invoice = session.get(Invoice, note.invoice_id)
    if invoice is None:
        raise NotFound("invoice")
    lines = []
    for item in note.items:
        fee = session.get(Fee, item.fee_id)
        name, detail = _fee_name((fee.item if fee else None) or {}, fee.fee_type if fee else "fee")
        lines.append(
            CreditNoteLine(
                fee_id=item.fee_id,
                name=f"{name} ({detail})" if detail else name,
                amount_cents=item.amount_cents,
                taxes_rate=decimal(fee.taxes_rate) if fee else Decimal(0),
            )
        )
    return CreditNoteDocument(
        id=note.id,
        number=note.number,
        invoice_id=invoice.id,
        invoice_number=invoice.number or invoice.id,
        invoice_issuing_date=local_date(invoice.issuing_date, timezone="UTC"),
        currency=note.currency,
        exponent=currency(note.currency).exponent,
        locale=str(frozen.get("locale") or snapshot.DEFAULT_LOCALE),
        timezone=timezone,
        issuing_date=local_date(note.issuing_date, timezone="UTC"),
        reason=note.reason,
        description=note.description or "",
        seller=_party(frozen.get("seller") or {}),
        buyer=_party(frozen.get("buyer") or {}),
        lines=tuple(lines),
        taxes=_taxes(note.applied_taxes or []),
        coupons_adjustment_cents=note.coupons_adjustment_amount_cents,
        sub_total_excluding_taxes_cents=note.sub_total_excluding_taxes_amount_cents,
        taxes_cents=note.taxes_amount_cents,
        total_cents=note.total_amount_cents,
        credit_cents=note.credit_amount_cents,
        refund_cents=note.refund_amount_cents,
        offset_cents=note.offset_amount_cents,
    )


def credit_note_document(session: Session, credit_note_id: str) -> CreditNoteDocument:
    """Everything the credit note's documents show."""
    note = session.get(CreditNote, credit_note_id)
    if note is None:
        raise NotFound("credit_note")
    return build_credit_note_document(session, note)
