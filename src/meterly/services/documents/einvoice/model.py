"""What an e-invoice states, read from an issued invoice, with EN 16931's sums made to hold.

EN 16931 (the European e-invoice semantic model) checks its totals exactly:

- BT-106, the sum of the line net amounts: every fee, at its amount;
- BT-107, document allowances: coupons and progressive-billing credit, one allowance
  per VAT rate (an allowance carries a VAT category), so that
- BT-116 per rate (the taxable base) is the lines of that rate minus its allowance, and
  equals the base the invoice taxed (its `applied_taxes` breakdown);
- BT-109 = BT-106 - BT-107 (the invoice's sub total excluding taxes), BT-110 the VAT,
  BT-112 = BT-109 + BT-110, BT-113 the prepaid amount (credit notes and wallet credits
  already paid), BT-115 = BT-112 - BT-113, the invoice's total due.

Figures are integers of the currency's minor unit until they are written. The seller
and buyer are the document's snapshot (as at issue time, the customer's billing entity as
seller), as on the PDF.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from meterly.domain.money import currency
from meterly.services.invoicing import snapshot
from meterly.store.tables import Fee, Invoice
from meterly.store.tables_credit_notes import CreditNote

# UN/ECE rec 20: "one" (C62) for a unit of usage, a subscription period, an add-on.
UNIT_CODE = "C62"
# VAT category of a line no tax applies to: exempt, with the reason EN 16931 asks for.
EXEMPT = "E"
STANDARD = "S"
EXEMPTION_REASON = "Not subject to VAT"


@dataclass(frozen=True)
class Party:
    name: str
    country: str
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    zipcode: str | None = None
    state: str | None = None
    email: str | None = None
    legal_number: str | None = None
    tax_identification_number: str | None = None


@dataclass(frozen=True)
class Line:
    number: int
    name: str
    quantity: Decimal
    net_cents: int
    vat_category: str
    vat_rate: Decimal

    def unit_price(self, exponent: int) -> Decimal:
        """BT-146, net of the line over its quantity (one when no unit was counted)."""
        amount = Decimal(self.net_cents).scaleb(-exponent)
        if self.quantity == 0:
            return amount
        return (amount / self.quantity).quantize(Decimal(1).scaleb(-6)).normalize()


@dataclass(frozen=True)
class VatGroup:
    """One VAT rate of the document: its allowance, taxable base and tax (BG-23)."""

    category: str
    rate: Decimal
    lines_cents: int
    allowance_cents: int
    tax_cents: int

    @property
    def base_cents(self) -> int:
        return self.lines_cents - self.allowance_cents


@dataclass(frozen=True)
class EInvoice:
    kind: str  # "invoice" or "credit_note"
    number: str
    issue_date: date
    due_date: date | None
    currency: str
    exponent: int
    seller: Party
    buyer: Party
    lines: tuple[Line, ...]
    vat_groups: tuple[VatGroup, ...]
    prepaid_cents: int
    payment_terms: str | None = None
    preceding_number: str | None = None

    @property
    def line_total_cents(self) -> int:  # BT-106
        return sum(line.net_cents for line in self.lines)

    @property
    def allowance_total_cents(self) -> int:  # BT-107
        return sum(group.allowance_cents for group in self.vat_groups)

    @property
    def tax_exclusive_cents(self) -> int:  # BT-109
        return self.line_total_cents - self.allowance_total_cents

    @property
    def tax_total_cents(self) -> int:  # BT-110
        return sum(group.tax_cents for group in self.vat_groups)

    @property
    def tax_inclusive_cents(self) -> int:  # BT-112
        return self.tax_exclusive_cents + self.tax_total_cents

    @property
    def due_cents(self) -> int:  # BT-115
        return self.tax_inclusive_cents - self.prepaid_cents

    def amount(self, cents: int) -> str:
        """A minor-unit integer written in major units at the currency's precision."""
        return f"{Decimal(cents).scaleb(-self.exponent):.{self.exponent}f}"


def party(name: str | None, profile: dict[str, Any], fallback_country: str) -> Party:
    return Party(
        name=name or profile.get("legal_name") or "",
        country=(profile.get("country") or fallback_country).upper(),
        address_line1=profile.get("address_line1"),
        address_line2=profile.get("address_line2"),
        city=profile.get("city"),
        zipcode=profile.get("zipcode"),
        state=profile.get("state"),
        email=profile.get("email"),
        legal_number=profile.get("legal_number"),
        tax_identification_number=profile.get("tax_identification_number"),
    )


def _rate(value: Any) -> Decimal:
    return Decimal(str(value or 0)).normalize()


def _line_name(item: dict[str, Any], fee_type: str) -> str:
    return str(item.get("invoice_display_name") or item.get("name") or item.get("code") or fee_type)


def parties(
    session: Session, stored: dict[str, Any] | None, organization_id: str, customer_id: str
) -> tuple[Party, Party]:
    """Seller and buyer as the document's snapshot froze them (drafts: as they are now)."""
    frozen = stored or snapshot.take(
        session, organization_id=organization_id, customer_id=customer_id
    )
    seller_block = dict(frozen.get("seller") or {})
    buyer_block = dict(frozen.get("buyer") or {})
    seller = party(seller_block.get("name"), seller_block, "FR")
    buyer_name = buyer_block.get("name") or buyer_block.get("external_id")
    return seller, party(buyer_name, buyer_block, seller.country)


def read_invoice(session: Session, invoice: Invoice) -> EInvoice:
    """The e-invoice of an issued invoice (its fees, taxes, credits, seller and buyer)."""
    seller, buyer = parties(
        session, invoice.document_snapshot, invoice.organization_id, invoice.customer_id
    )
    lines: list[Line] = []
    for fee in sorted(invoice.fees, key=lambda f: (f.position, f.created_at, f.id)):
        if fee.deleted_at is not None:
            continue
        taxes = list(fee.applied_taxes or [])
        rate = sum((_rate(tax.get("tax_rate")) for tax in taxes), Decimal(0))
        lines.append(
            Line(
                number=len(lines) + 1,
                name=_line_name(dict(fee.item or {}), fee.fee_type),
                quantity=Decimal(fee.units or 0).normalize(),
                net_cents=fee.amount_cents,
                vat_category=STANDARD if rate > 0 else EXEMPT,
                vat_rate=rate,
            )
        )
    return EInvoice(
        kind="invoice",
        number=invoice.number or invoice.id,
        issue_date=invoice.issuing_date.date(),
        due_date=invoice.payment_due_date.date() if invoice.payment_due_date else None,
        currency=invoice.currency,
        exponent=currency(invoice.currency).exponent,
        seller=seller,
        buyer=buyer,
        lines=tuple(lines),
        vat_groups=vat_groups(invoice, lines),
        prepaid_cents=invoice.credit_notes_amount_cents + invoice.prepaid_credit_amount_cents,
        payment_terms=f"Net {invoice.net_payment_term} days" if invoice.net_payment_term else None,
    )


def vat_groups(invoice: Invoice, lines: list[Line]) -> tuple[VatGroup, ...]:
    """BG-23 of an invoice, from the taxes its waterfall applied."""
    return _vat_groups(
        lines,
        (invoice.breakdown or {}).get("applied_taxes") or [],
        sub_total_cents=invoice.sub_total_excluding_taxes_amount_cents,
        taxes_cents=invoice.taxes_amount_cents,
    )


def _vat_groups(
    lines: list[Line], applied_taxes: list[Any], *, sub_total_cents: int, taxes_cents: int
) -> tuple[VatGroup, ...]:
    """BG-23 from a document's own tax breakdown, with the allowance that makes it add up.

    The taxable base of a rate is what the document taxed (fees after coupons and
    credits); the allowance of that rate is its lines minus that base. Lines with no tax
    take what is left of the sub total excluding taxes. The VAT of the rates adds up to
    the document's tax total: a cent of rounding between them (a credit note moves its
    taxes so that sub total + taxes = total) goes to the largest rate. A fee carries one
    rate here: several taxes on one fee are added into one rate.
    """
    by_rate: dict[Decimal, list[int]] = {}
    for tax in applied_taxes:
        taxed = by_rate.setdefault(_rate(tax.get("tax_rate")), [0, 0])
        taxed[0] += int(tax.get("fees_amount_cents") or tax.get("base_amount_cents") or 0)
        taxed[1] += int(tax.get("amount_cents") or 0)
    lines_by_rate: dict[Decimal, int] = {}
    for line in lines:
        lines_by_rate[line.vat_rate] = lines_by_rate.get(line.vat_rate, 0) + line.net_cents
    rates = sorted(rate for rate in set(by_rate) | set(lines_by_rate) if rate != 0)
    figures = [by_rate.get(rate, [lines_by_rate.get(rate, 0), 0]) for rate in rates]
    if figures:
        largest = max(range(len(figures)), key=lambda i: figures[i][1])
        figures[largest][1] += taxes_cents - sum(tax for _, tax in figures)
    groups = [
        VatGroup(STANDARD, rate, lines_by_rate.get(rate, 0), lines_by_rate.get(rate, 0) - base, tax)
        for rate, (base, tax) in zip(rates, figures, strict=True)
    ]
    untaxed_lines = lines_by_rate.get(Decimal(0), 0)
    if untaxed_lines or not groups:
        base = sub_total_cents - sum(base for base, _ in figures)
        groups.append(VatGroup(EXEMPT, Decimal(0), untaxed_lines, untaxed_lines - base, 0))
    return tuple(groups)


def read_credit_note(session: Session, note: CreditNote) -> EInvoice:
    """The e-invoice of a credit note: its items as lines, crediting its invoice."""
    invoice = session.get(Invoice, note.invoice_id)
    assert invoice is not None
    seller, buyer = parties(session, note.document_snapshot, note.organization_id, note.customer_id)
    lines: list[Line] = []
    for item in sorted(note.items, key=lambda i: (i.position, i.created_at, i.id)):
        fee = session.get(Fee, item.fee_id)
        assert fee is not None
        rate = sum((_rate(tax.get("tax_rate")) for tax in fee.applied_taxes or []), Decimal(0))
        lines.append(
            Line(
                number=len(lines) + 1,
                name=_line_name(dict(fee.item or {}), fee.fee_type),
                quantity=Decimal(1),
                net_cents=item.amount_cents,
                vat_category=STANDARD if rate > 0 else EXEMPT,
                vat_rate=rate,
            )
        )
    groups = _vat_groups(
        lines,
        list(note.applied_taxes or []),
        sub_total_cents=note.sub_total_excluding_taxes_amount_cents,
        taxes_cents=note.taxes_amount_cents,
    )
    return EInvoice(
        kind="credit_note",
        number=note.number,
        issue_date=note.issuing_date.date(),
        due_date=None,
        currency=note.currency,
        exponent=currency(note.currency).exponent,
        seller=seller,
        buyer=buyer,
        lines=tuple(lines),
        vat_groups=groups,
        prepaid_cents=0,
        preceding_number=invoice.number or invoice.id,
    )
