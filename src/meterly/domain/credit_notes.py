"""Credit notes: what an invoice can still give back, estimates, validation, termination.

* A credit note item credits part of one fee, in the fee's own terms (before coupons
  and taxes). A fee's creditable amount is its `amount_cents` minus the items of
  earlier credit notes on it.
* The coupons adjustment of an item is its share of the fee's coupons:
  `item × fee.precise_coupons_amount_cents / fee.amount_cents`.
* Taxes: per item and tax `(item − adjustment) × rate / 100`, summed unrounded per tax
  (the note's applied taxes, each rounded half up for display). The note's
  `taxes_amount_cents` is the rounded sum of the **precise** per-tax amounts, not the sum
  of the rounded ones (lago-semantics.md item 14, "Credit-note taxes").
* Totals: `sub_total_excluding_taxes = round(Σ precise items − Σ adjustments)`,
  `total = round(Σ item amount_cents − Σ adjustments + precise taxes)`; the taxes are then
  moved by one cent if needed so that sub-total + taxes = total (Lago's
  `AdjustAmountsWithRoundingService`: 7142.857… item → 7143, taxes 1428.571… → 1429,
  total round(7143 + 1428.571…) = 8572). `rounding_adjustment_cents` is what the total
  differs from the rounded precise total.
* A note that credits everything the invoice still has (every fee's creditable amount)
  subtracts the earlier notes' tax rounding adjustments (`taxes − precise taxes` of each)
  from its precise taxes, and gives back exactly what remains of the invoice: its total
  is the invoice's remaining amount, its taxes what the earlier notes left of the
  invoice's taxes, its sub-total the rest. With one tax and no coupon this is Lago's
  figure to the cent (8200 then 8199 for two 68.33 fees at 20 %); with several taxes the
  invoice rounds each tax on its own, which only the remainder accounts for. So the notes
  of an invoice never add up to more than the invoice.
* Validation codes (Lago `CreditNotes::ValidateService`): an item above the fee's
  remaining amount → `amount_cents: higher_than_remaining_fee_amount`; a credit above
  what the invoice can still credit (one unit of rounding tolerated) →
  `credit_amount_cents: higher_than_remaining_invoice_amount`; a refund above the paid
  amount not yet refunded → `refund_amount_cents: higher_than_remaining_invoice_amount`
  (`cannot_refund_unpaid_invoice` when nothing was paid); an offset above the amount
  still due → `offset_amount_cents: higher_than_remaining_invoice_amount`; a total above
  the invoice's remaining amount → `base: higher_than_remaining_invoice_amount`;
  credit + refund + offset away from the total by more than one unit →
  `base: does_not_match_item_amounts` (within one unit, the caller snaps the split to the
  total with `split_to_total`); a zero total →
  `base: total_amount_must_be_positive`.
* Termination / upgrade of a pay-in-advance subscription: `day_price × remaining_days`
  where the remaining days count from the day after termination (from the termination
  day itself on an upgrade, since that day is billed to the new plan), capped at the
  fee's amount minus earlier credit notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import FEE_ROUNDING, TAX_ROUNDING, ZERO, round_cents
from meterly.domain.taxes import (
    FeeTaxes,
    InvoiceAppliedTax,
    Tax,
    invoice_applied_taxes,
    tax_fee,
)

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class CreditableFee:
    """A fee of the invoice, with what earlier credit notes took from it."""

    id: str
    amount_cents: int
    precise_coupons_amount_cents: Decimal = ZERO
    taxes: tuple[Tax, ...] = ()
    credited_amount_cents: int = 0
    fee_type: str = "subscription"

    @property
    def creditable_amount_cents(self) -> int:
        return max(self.amount_cents - self.credited_amount_cents, 0)

    @property
    def coupons_ratio(self) -> Decimal:
        if self.amount_cents <= 0:
            return ZERO
        return min(self.precise_coupons_amount_cents / Decimal(self.amount_cents), Decimal(1))

    def creditable_amount_including_taxes(self) -> Decimal:
        """The creditable amount after the fee's coupons, taxes included pro rata."""
        base = Decimal(self.creditable_amount_cents) * (1 - self.coupons_ratio)
        return base + tax_fee(base_amount_cents=base, taxes=self.taxes).precise_amount_cents


@dataclass(frozen=True, slots=True)
class CreditNoteItemRequest:
    fee_id: str
    amount_cents: int
    precise_amount_cents: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CreditNoteItemAmounts:
    fee_id: str
    amount_cents: int
    precise_amount_cents: Decimal
    precise_coupons_adjustment_cents: Decimal
    taxes: FeeTaxes


@dataclass(frozen=True, slots=True)
class CreditNoteAmounts:
    items: tuple[CreditNoteItemAmounts, ...]
    precise_coupons_adjustment_amount_cents: Decimal
    coupons_adjustment_amount_cents: int
    precise_sub_total_excluding_taxes_amount_cents: Decimal
    sub_total_excluding_taxes_amount_cents: int
    applied_taxes: tuple[InvoiceAppliedTax, ...]
    precise_taxes_amount_cents: Decimal
    taxes_amount_cents: int
    taxes_rate: Decimal
    precise_total_amount_cents: Decimal
    total_amount_cents: int
    rounding_adjustment_cents: int


def compute_credit_note_amounts(
    *,
    fees: Sequence[CreditableFee],
    items: Sequence[CreditNoteItemRequest],
    invoice: InvoiceCreditState | None = None,
) -> CreditNoteAmounts:
    """Items → coupons adjustment, taxes and totals. Validates each item against its fee.

    With the `invoice` (its totals and earlier notes), a note that credits everything
    left gives back exactly what remains (module doc); without it, only the note's own
    rounding applies.
    """
    by_id = {f.id: f for f in fees}
    errors: list[str] = []
    out: list[CreditNoteItemAmounts] = []
    requested: dict[str, int] = {}
    for item in items:
        fee = by_id.get(item.fee_id)
        if fee is None:
            raise NotFound("fee")
        if isinstance(item.amount_cents, bool) or item.amount_cents < 0:
            raise ValidationFailed.field("amount_cents", "value_is_invalid")
        requested[fee.id] = requested.get(fee.id, 0) + item.amount_cents
        if requested[fee.id] > fee.creditable_amount_cents:
            errors.append("higher_than_remaining_fee_amount")
        precise = (
            item.precise_amount_cents
            if item.precise_amount_cents is not None
            else Decimal(item.amount_cents)
        )
        adjustment = precise * fee.coupons_ratio
        out.append(
            CreditNoteItemAmounts(
                fee_id=fee.id,
                amount_cents=item.amount_cents,
                precise_amount_cents=precise,
                precise_coupons_adjustment_cents=adjustment,
                taxes=tax_fee(base_amount_cents=precise - adjustment, taxes=fee.taxes),
            )
        )
    if errors:
        raise ValidationFailed({"amount_cents": sorted(set(errors))})
    precise_items = sum((i.precise_amount_cents for i in out), ZERO)
    items_cents = sum(i.amount_cents for i in out)
    precise_adjustment = sum((i.precise_coupons_adjustment_cents for i in out), ZERO)
    precise_sub = precise_items - precise_adjustment
    applied = invoice_applied_taxes([i.taxes for i in out])
    precise_taxes = sum((t.precise_amount_cents for t in applied), ZERO)
    credits_all = invoice is not None and _credits_everything_left(fees, requested)
    if invoice is not None and credits_all:
        precise_taxes -= invoice.notes_taxes_rounding_cents
    sub = round_cents(precise_sub, FEE_ROUNDING)
    taxes, total = _taxes_and_total(
        sub=sub,
        items_minus_adjustment=Decimal(items_cents) - precise_adjustment,
        precise_taxes=precise_taxes,
    )
    if invoice is not None and credits_all and invoice.taxes_amount_cents is not None:
        # Exactly what remains: the invoice's total minus what the earlier notes gave back,
        # of which the taxes the earlier notes left (never more than the total).
        total = invoice.remaining_amount_cents
        taxes_left = invoice.taxes_amount_cents - invoice.notes_taxes_amount_cents
        taxes = min(max(taxes_left, 0), total)
        sub = total - taxes
    precise_total = precise_sub + precise_taxes
    return CreditNoteAmounts(
        items=tuple(out),
        precise_coupons_adjustment_amount_cents=precise_adjustment,
        coupons_adjustment_amount_cents=round_cents(precise_adjustment, FEE_ROUNDING),
        precise_sub_total_excluding_taxes_amount_cents=precise_sub,
        sub_total_excluding_taxes_amount_cents=sub,
        applied_taxes=applied,
        precise_taxes_amount_cents=precise_taxes,
        taxes_amount_cents=taxes,
        taxes_rate=_effective_rate(precise_sub, precise_taxes),
        precise_total_amount_cents=precise_total,
        total_amount_cents=total,
        rounding_adjustment_cents=total - round_cents(precise_total, FEE_ROUNDING),
    )


def _credits_everything_left(fees: Sequence[CreditableFee], requested: dict[str, int]) -> bool:
    """True when the items take every fee's creditable amount (and something at all)."""
    left = [f for f in fees if f.creditable_amount_cents > 0]
    return bool(left) and all(requested.get(f.id, 0) == f.creditable_amount_cents for f in left)


def _taxes_and_total(
    *, sub: int, items_minus_adjustment: Decimal, precise_taxes: Decimal
) -> tuple[int, int]:
    """`taxes = round(precise taxes)`, `total = round(items − adjustment + precise taxes)`,
    then the taxes moved by one cent so that sub + taxes = total. A note without taxes
    (or a gap of more than one cent, which only fractional items can open) moves the
    total instead: a tax-free note never shows a one-cent tax."""
    taxes = round_cents(precise_taxes, TAX_ROUNDING)
    total = round_cents(items_minus_adjustment + precise_taxes, FEE_ROUNDING)
    gap = total - sub - taxes
    if gap == 0:
        return taxes, total
    if precise_taxes > 0 and abs(gap) == 1 and taxes + gap >= 0:
        return taxes + gap, total
    return taxes, sub + taxes


def _effective_rate(base: Decimal, taxes: Decimal) -> Decimal:
    if base <= 0:
        return ZERO
    return (taxes / base * HUNDRED).quantize(Decimal("0.00001"), rounding=FEE_ROUNDING)


@dataclass(frozen=True, slots=True)
class InvoiceCreditState:
    """What the invoice has given back already, and what was paid.

    `fees_total_amount_cents` is the tax-inclusive amount of the invoice's fees after
    coupons (`sub_total_including_taxes_amount_cents`); `total_amount_cents` is what the
    invoice asked (after credit notes and wallets) and `total_paid_amount_cents` what
    was paid of it.
    """

    fees: tuple[CreditableFee, ...]
    fees_total_amount_cents: int
    total_amount_cents: int
    total_paid_amount_cents: int = 0
    credited_amount_cents: int = 0
    refunded_amount_cents: int = 0
    offset_amount_cents: int = 0
    invoice_type: str = "subscription"
    # The invoice's own taxes (None when unknown: the last note then keeps its own rounding)
    # and what the earlier notes took: Σ taxes and Σ (taxes − precise taxes).
    taxes_amount_cents: int | None = None
    notes_taxes_amount_cents: int = 0
    notes_taxes_rounding_cents: Decimal = ZERO

    @property
    def credit_notes_total_amount_cents(self) -> int:
        return self.credited_amount_cents + self.refunded_amount_cents + self.offset_amount_cents

    @property
    def remaining_amount_cents(self) -> int:
        """What credit notes can still give back in total."""
        return max(self.fees_total_amount_cents - self.credit_notes_total_amount_cents, 0)

    @property
    def creditable_amount_cents(self) -> int:
        return self.remaining_amount_cents

    @property
    def refundable_amount_cents(self) -> int:
        paid = max(self.total_paid_amount_cents - self.refunded_amount_cents, 0)
        return min(paid, self.remaining_amount_cents)

    @property
    def offsettable_amount_cents(self) -> int:
        due = self.total_amount_cents - self.total_paid_amount_cents - self.offset_amount_cents
        return max(min(due, self.remaining_amount_cents), 0)


@dataclass(frozen=True, slots=True)
class CreditNoteEstimate:
    amounts: CreditNoteAmounts
    max_creditable_amount_cents: int
    max_refundable_amount_cents: int
    max_offsettable_amount_cents: int


def estimate_credit_note(
    *, invoice: InvoiceCreditState, items: Sequence[CreditNoteItemRequest]
) -> CreditNoteEstimate:
    """Lago's `POST /credit_notes/estimate`: the amounts and the maxima per kind."""
    amounts = compute_credit_note_amounts(fees=invoice.fees, items=items, invoice=invoice)
    total = amounts.total_amount_cents
    creditable = 0 if invoice.invoice_type == "credit" else invoice.creditable_amount_cents
    return CreditNoteEstimate(
        amounts=amounts,
        max_creditable_amount_cents=min(total, creditable),
        max_refundable_amount_cents=min(total, invoice.refundable_amount_cents),
        max_offsettable_amount_cents=min(total, invoice.offsettable_amount_cents),
    )


def validate_credit_note(
    *,
    invoice: InvoiceCreditState,
    amounts: CreditNoteAmounts,
    credit_amount_cents: int = 0,
    refund_amount_cents: int = 0,
    offset_amount_cents: int = 0,
) -> None:
    """Raise ValidationFailed with every broken rule (see module doc for the codes)."""
    details: dict[str, list[str]] = {}

    def err(field: str, code: str) -> None:
        details.setdefault(field, []).append(code)

    for name, value in (
        ("credit_amount_cents", credit_amount_cents),
        ("refund_amount_cents", refund_amount_cents),
        ("offset_amount_cents", offset_amount_cents),
    ):
        if isinstance(value, bool) or value < 0:
            err(name, "value_is_invalid")
    if details:
        raise ValidationFailed(details)
    total = amounts.total_amount_cents
    if total <= 0:
        err("base", "total_amount_must_be_positive")
    if abs(total - (credit_amount_cents + refund_amount_cents + offset_amount_cents)) > 1:
        err("base", "does_not_match_item_amounts")
    if refund_amount_cents > 0:
        if invoice.total_paid_amount_cents <= 0:
            err("refund_amount_cents", "cannot_refund_unpaid_invoice")
        elif refund_amount_cents > invoice.refundable_amount_cents:
            err("refund_amount_cents", "higher_than_remaining_invoice_amount")
    if credit_amount_cents > 0:
        if invoice.invoice_type == "credit":
            err("credit_amount_cents", "cannot_credit_invoice")
        elif credit_amount_cents > invoice.creditable_amount_cents + 1:
            err("credit_amount_cents", "higher_than_remaining_invoice_amount")
    if offset_amount_cents > 0 and offset_amount_cents > invoice.offsettable_amount_cents:
        err("offset_amount_cents", "higher_than_remaining_invoice_amount")
    if total > invoice.remaining_amount_cents:
        err("base", "higher_than_remaining_invoice_amount")
    if details:
        raise ValidationFailed(details)


@dataclass(frozen=True, slots=True)
class CreditNoteSplit:
    credit_amount_cents: int
    refund_amount_cents: int
    offset_amount_cents: int


def split_to_total(
    *,
    total_amount_cents: int,
    credit_amount_cents: int,
    refund_amount_cents: int,
    offset_amount_cents: int,
) -> CreditNoteSplit:
    """Snap a validated split (within one unit of the total) onto the total, as Lago does:
    the credit takes the difference, else the refund, else the offset. The invoice's
    remaining amount counts the split, so it must equal what the note gives back."""
    parts = [credit_amount_cents, refund_amount_cents, offset_amount_cents]
    gap = total_amount_cents - sum(parts)
    for i, part in enumerate(parts):
        if gap == 0:
            break
        if part > 0 and part + gap >= 0:
            parts[i] = part + gap
            gap = 0
    return CreditNoteSplit(*parts)


def single_day_price(*, amount_cents: int, period_days: int) -> Decimal:
    """The price of one day of a period (minor units, unrounded)."""
    if period_days <= 0:
        raise ValidationFailed.field("period_days", "value_is_out_of_range")
    return Decimal(amount_cents) / Decimal(period_days)


def remaining_days(*, period_end: date, terminated_on: date, upgrade: bool = False) -> int:
    """Days not used: from the day after termination (from the day itself on an upgrade)
    to the period's last day, inclusive."""
    days = (period_end - terminated_on).days + (1 if upgrade else 0)
    return max(days, 0)


@dataclass(frozen=True, slots=True)
class TerminationCredit:
    amount_cents: int
    precise_amount_cents: Decimal
    remaining_days: int


def termination_credit(
    *,
    fee: CreditableFee,
    day_price_cents: Decimal,
    period_end: date,
    terminated_on: date,
    upgrade: bool = False,
) -> TerminationCredit:
    """The credit-note item for the unused part of a pay-in-advance subscription fee."""
    days = remaining_days(period_end=period_end, terminated_on=terminated_on, upgrade=upgrade)
    precise = min(day_price_cents * days, Decimal(fee.creditable_amount_cents))
    precise = max(precise, ZERO)
    return TerminationCredit(
        amount_cents=round_cents(precise, FEE_ROUNDING),
        precise_amount_cents=precise,
        remaining_days=days,
    )


def scaled_items(
    remaining: Sequence[tuple[str, int]], *, numerator: int, denominator: int
) -> list[CreditNoteItemRequest]:
    """Each fee's remaining amount × numerator / denominator, in whole units, summing to
    the exact share of the whole rounded down: the largest-remainder method hands the
    units lost to rounding to the fees with the largest fractional parts (ties: the
    larger fee, then the order given). Fees that get nothing are left out."""
    if denominator <= 0 or not 0 <= numerator <= denominator:
        raise ValidationFailed.field("base", "value_is_out_of_range")
    whole = sum(amount for _, amount in remaining) * numerator // denominator
    shares = [(fee_id, amount, amount * numerator) for fee_id, amount in remaining]
    floors = {fee_id: product // denominator for fee_id, _, product in shares}
    short = whole - sum(floors.values())
    order = sorted(
        range(len(shares)),
        key=lambda i: (-(shares[i][2] % denominator), -shares[i][1], i),
    )
    for i in order[:short]:
        floors[shares[i][0]] += 1
    return [
        CreditNoteItemRequest(fee_id=fee_id, amount_cents=floors[fee_id])
        for fee_id, _, _ in shares
        if floors[fee_id] > 0
    ]
