"""The invoice waterfall: from rounded fees to the amount due, keeping every step.

Lago's order (`Invoices::CalculateFeesService`, lago-semantics.md item 12):

1. `fees_amount_cents = Σ fee.amount_cents` (rounded fees, not the precise ones);
2. − the progressive-billing credit (what earlier progressive-billing invoices of the
   period already billed). It is spread over the charge fees pro rata into their
   `precise_coupons_amount_cents`, as Lago does, and capped at what those fees hold;
3. − coupons, in `coupons.order_coupons` order, each on the remaining subtotal (or
   the remaining amount of its eligible fees) and spread pro rata, each fee's share
   computed on its own (`coupons.coupon_shares`: no remainder on the last fee);
   → `sub_total_excluding_taxes_amount_cents`;
4. + taxes per fee on `amount_cents − precise_coupons_amount_cents`, summed per tax
   unrounded and rounded once per tax → `sub_total_including_taxes_amount_cents`;
5. − credit-note credits: available balances, oldest first, each capped at what is
   left; spread over the fees pro rata to their tax-inclusive amount
   (`precise_credit_notes_amount_cents`);
6. − prepaid credits: wallets by priority then created_at. The fees are grouped by
   (fee_type, billable metric); each group can be paid up to its tax-inclusive amount
   minus its credit-note share; the amount left after credit notes is apportioned to
   the groups in whole minor units pro rata to those amounts (largest remainder), so
   an unrestricted wallet with enough balance always brings the invoice to 0; groups
   are visited largest first; a wallet only pays groups its `applies_to` allows.

Wire names: Lago's `total_amount_cents` is the amount after prepaid credits (Lago
subtracts both the credit notes and the wallets from it); `total_due_amount_cents`
equals it at issue (nothing paid yet). The amount after credit notes and before
wallets is `total_before_prepaid_amount_cents`. `payment_status` is `succeeded` when
`total_amount_cents` is 0, else `pending`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterly.domain.coupons import (
    AppliedCoupon,
    CouponableFee,
    CouponApplication,
    allocate_pro_rata,
    apply_coupon,
    order_coupons,
)
from meterly.domain.errors import ValidationFailed
from meterly.domain.money import FEE_ROUNDING, ZERO, Currency, round_cents
from meterly.domain.taxes import (
    FEE_TYPES,
    FeeTaxes,
    InvoiceAppliedTax,
    Tax,
    invoice_applied_taxes,
    tax_fee,
)
from meterly.domain.wallets import WalletBalance, application_order


@dataclass(frozen=True, slots=True)
class FeeLine:
    """A finalised fee as the waterfall sees it."""

    id: str
    fee_type: str
    amount_cents: int
    precise_amount_cents: Decimal
    plan_code: str | None = None
    billable_metric_code: str | None = None
    taxes: tuple[Tax, ...] = ()
    # The wallet an event named to pay this charge fee: only that wallet pays it.
    target_wallet_code: str | None = None

    def __post_init__(self) -> None:
        if self.fee_type not in FEE_TYPES:
            raise ValidationFailed.field("fee_type", "value_is_invalid")
        if isinstance(self.amount_cents, bool) or not isinstance(self.amount_cents, int):
            raise ValidationFailed.field("amount_cents", "value_is_invalid")
        if self.amount_cents < 0:
            raise ValidationFailed.field("amount_cents", "value_is_out_of_range")
        if not isinstance(self.precise_amount_cents, Decimal):
            raise ValidationFailed.field("precise_amount_cents", "value_is_invalid")


@dataclass(frozen=True, slots=True)
class CreditNoteBalance:
    """An available credit note of the customer, in the invoice's currency."""

    id: str
    balance_amount_cents: int
    created_at: datetime

    def __post_init__(self) -> None:
        if self.balance_amount_cents < 0:
            raise ValidationFailed.field("balance_amount_cents", "value_is_out_of_range")


@dataclass(frozen=True, slots=True)
class FeeResult:
    """One fee after the waterfall."""

    fee_id: str
    fee_type: str
    amount_cents: int
    precise_amount_cents: Decimal
    # Progressive-billing credit and coupons, as Lago stores them in one column.
    precise_coupons_amount_cents: Decimal
    progressive_billing_credit_precise_cents: Decimal
    coupons_precise_cents: Decimal
    taxes: FeeTaxes
    precise_credit_notes_amount_cents: Decimal

    @property
    def sub_total_excluding_taxes_precise_cents(self) -> Decimal:
        return Decimal(self.amount_cents) - self.precise_coupons_amount_cents

    @property
    def sub_total_excluding_taxes_amount_cents(self) -> int:
        return round_cents(self.sub_total_excluding_taxes_precise_cents, FEE_ROUNDING)

    @property
    def taxes_amount_cents(self) -> int:
        return self.taxes.amount_cents

    @property
    def taxes_precise_amount_cents(self) -> Decimal:
        return self.taxes.precise_amount_cents

    @property
    def taxes_rate(self) -> Decimal:
        return self.taxes.taxes_rate

    @property
    def total_precise_cents(self) -> Decimal:
        """Tax-inclusive amount of the fee."""
        return self.sub_total_excluding_taxes_precise_cents + self.taxes.precise_amount_cents


@dataclass(frozen=True, slots=True)
class CreditNoteConsumption:
    credit_note_id: str
    amount_cents: int
    balance_before_cents: int
    remaining_balance_cents: int

    @property
    def consumed(self) -> bool:
        """The credit note's `credit_status` becomes `consumed` at 0."""
        return self.remaining_balance_cents == 0


@dataclass(frozen=True, slots=True)
class WalletFeeGroupPayment:
    """The part of a wallet consumption paying one (fee_type, metric) group."""

    fee_type: str
    billable_metric_code: str | None
    amount_cents: int


@dataclass(frozen=True, slots=True)
class WalletConsumption:
    """One outbound wallet transaction (`transaction_status: invoiced`)."""

    wallet_id: str
    amount_cents: int
    credit_amount: Decimal
    balance_before_cents: int
    remaining_balance_cents: int
    groups: tuple[WalletFeeGroupPayment, ...]


@dataclass(frozen=True, slots=True)
class InvoiceTotals:
    """Every step of the waterfall, integers in minor units with precise decimals beside."""

    currency: Currency
    fees_amount_cents: int
    progressive_billing_credit_amount_cents: int
    coupons_amount_cents: int
    sub_total_excluding_taxes_amount_cents: int
    taxes_amount_cents: int
    taxes_precise_amount_cents: Decimal
    sub_total_including_taxes_amount_cents: int
    credit_notes_amount_cents: int
    total_before_prepaid_amount_cents: int
    prepaid_credit_amount_cents: int
    total_amount_cents: int
    total_due_amount_cents: int
    payment_status: str
    fees: tuple[FeeResult, ...]
    coupons: tuple[CouponApplication, ...]
    applied_taxes: tuple[InvoiceAppliedTax, ...]
    credit_notes: tuple[CreditNoteConsumption, ...]
    wallets: tuple[WalletConsumption, ...]

    @property
    def precise_coupons_amount_cents(self) -> Decimal:
        return sum((f.coupons_precise_cents for f in self.fees), ZERO)

    @property
    def taxes_rate(self) -> Decimal:
        """Lago's invoice taxes_rate is not a single value; the sum of applied rates."""
        return sum((t.tax.rate for t in self.applied_taxes), ZERO)


@dataclass(slots=True)
class _FeeState:
    line: FeeLine
    pb: Decimal = ZERO
    coupons: Decimal = ZERO

    @property
    def precise_coupons(self) -> Decimal:
        return self.pb + self.coupons


def compute_invoice(
    *,
    currency: Currency,
    fees: Sequence[FeeLine],
    progressive_billing_credit_cents: int = 0,
    coupons: Sequence[AppliedCoupon] = (),
    credit_note_credits: Sequence[CreditNoteBalance] = (),
    wallets: Sequence[WalletBalance] = (),
) -> InvoiceTotals:
    """Run the waterfall over rounded fees (see module doc)."""
    if len({f.id for f in fees}) != len(fees):
        raise ValidationFailed.field("fees", "value_already_exist")
    if progressive_billing_credit_cents < 0:
        raise ValidationFailed.field("progressive_billing_credit_amount_cents", "value_is_invalid")
    states = [_FeeState(line=f) for f in fees]
    fees_amount = sum(f.amount_cents for f in fees)

    pb_amount = _apply_progressive_billing(states, progressive_billing_credit_cents)
    applications = _apply_coupons(states, coupons, currency)
    coupons_amount = sum(a.amount_cents for a in applications)
    sub_total_excl = fees_amount - pb_amount - coupons_amount

    fee_taxes = [
        tax_fee(
            base_amount_cents=Decimal(s.line.amount_cents) - s.precise_coupons, taxes=s.line.taxes
        )
        for s in states
    ]
    applied_taxes = invoice_applied_taxes(fee_taxes)
    taxes_amount = sum(t.amount_cents for t in applied_taxes)
    sub_total_incl = sub_total_excl + taxes_amount

    cn_consumptions = _apply_credit_notes(credit_note_credits, sub_total_incl)
    cn_amount = sum(c.amount_cents for c in cn_consumptions)
    total_before_prepaid = sub_total_incl - cn_amount
    inclusive = [
        Decimal(s.line.amount_cents) - s.precise_coupons + t.precise_amount_cents
        for s, t in zip(states, fee_taxes, strict=True)
    ]
    cn_shares = allocate_pro_rata(amount=Decimal(cn_amount), weights=inclusive)

    wallet_consumptions = _apply_wallets(
        currency=currency,
        states=states,
        caps=[i - c for i, c in zip(inclusive, cn_shares, strict=True)],
        wallets=wallets,
        remaining_invoice=total_before_prepaid,
    )
    prepaid = sum(w.amount_cents for w in wallet_consumptions)
    total = total_before_prepaid - prepaid

    return InvoiceTotals(
        currency=currency,
        fees_amount_cents=fees_amount,
        progressive_billing_credit_amount_cents=pb_amount,
        coupons_amount_cents=coupons_amount,
        sub_total_excluding_taxes_amount_cents=sub_total_excl,
        taxes_amount_cents=taxes_amount,
        taxes_precise_amount_cents=sum((t.precise_amount_cents for t in applied_taxes), ZERO),
        sub_total_including_taxes_amount_cents=sub_total_incl,
        credit_notes_amount_cents=cn_amount,
        total_before_prepaid_amount_cents=total_before_prepaid,
        prepaid_credit_amount_cents=prepaid,
        total_amount_cents=total,
        total_due_amount_cents=total,
        payment_status="succeeded" if total == 0 else "pending",
        fees=tuple(
            FeeResult(
                fee_id=s.line.id,
                fee_type=s.line.fee_type,
                amount_cents=s.line.amount_cents,
                precise_amount_cents=s.line.precise_amount_cents,
                precise_coupons_amount_cents=s.precise_coupons,
                progressive_billing_credit_precise_cents=s.pb,
                coupons_precise_cents=s.coupons,
                taxes=t,
                precise_credit_notes_amount_cents=c,
            )
            for s, t, c in zip(states, fee_taxes, cn_shares, strict=True)
        ),
        coupons=applications,
        applied_taxes=applied_taxes,
        credit_notes=cn_consumptions,
        wallets=wallet_consumptions,
    )


def _apply_progressive_billing(states: list[_FeeState], credit_cents: int) -> int:
    charges = [s for s in states if s.line.fee_type == "charge"]
    room = sum((Decimal(s.line.amount_cents) for s in charges), ZERO)
    amount = min(credit_cents, int(room))
    shares = allocate_pro_rata(
        amount=Decimal(amount), weights=[Decimal(s.line.amount_cents) for s in charges]
    )
    for s, share in zip(charges, shares, strict=True):
        s.pb += share
    return amount


def _apply_coupons(
    states: list[_FeeState], coupons: Sequence[AppliedCoupon], currency: Currency
) -> tuple[CouponApplication, ...]:
    applications: list[CouponApplication] = []
    by_id = {s.line.id: s for s in states}
    for applied in order_coupons(coupons):
        remaining_subtotal = sum(
            (Decimal(s.line.amount_cents) - s.precise_coupons for s in states), ZERO
        )
        if remaining_subtotal <= 0:
            break
        application = apply_coupon(
            applied_coupon=applied,
            fees=[
                CouponableFee(
                    id=s.line.id,
                    fee_type=s.line.fee_type,
                    amount_cents=s.line.amount_cents,
                    precise_coupons_amount_cents=s.precise_coupons,
                    plan_code=s.line.plan_code,
                    billable_metric_code=s.line.billable_metric_code,
                )
                for s in states
            ],
            currency_code=currency.code,
        )
        if application is None:
            continue
        for allocation in application.allocations:
            by_id[allocation.fee_id].coupons += allocation.precise_amount_cents
        applications.append(application)
    return tuple(applications)


def _apply_credit_notes(
    credit_notes: Sequence[CreditNoteBalance], amount_cents: int
) -> tuple[CreditNoteConsumption, ...]:
    left = amount_cents
    out: list[CreditNoteConsumption] = []
    for note in sorted(credit_notes, key=lambda n: n.created_at):
        if left <= 0:
            break
        used = min(note.balance_amount_cents, left)
        if used <= 0:
            continue
        left -= used
        out.append(
            CreditNoteConsumption(
                credit_note_id=note.id,
                amount_cents=used,
                balance_before_cents=note.balance_amount_cents,
                remaining_balance_cents=note.balance_amount_cents - used,
            )
        )
    return tuple(out)


def _apply_wallets(
    *,
    currency: Currency,
    states: list[_FeeState],
    caps: list[Decimal],
    wallets: Sequence[WalletBalance],
    remaining_invoice: int,
) -> tuple[WalletConsumption, ...]:
    precise_groups: dict[tuple[str, str | None, str | None], Decimal] = {}
    for s, cap in zip(states, caps, strict=True):
        charge = s.line.fee_type == "charge"
        key = (
            s.line.fee_type,
            s.line.billable_metric_code if charge else None,
            s.line.target_wallet_code if charge else None,
        )
        precise_groups[key] = precise_groups.get(key, ZERO) + cap
    keys = list(precise_groups)
    apportioned = apportion(total=remaining_invoice, weights=[precise_groups[k] for k in keys])
    groups = dict(zip(keys, apportioned, strict=True))
    order = sorted(groups, key=lambda k: -groups[k])
    out: list[WalletConsumption] = []
    for wallet in application_order(wallets):
        wallet_left = wallet.balance_cents
        payments: list[WalletFeeGroupPayment] = []
        for key in order:
            if remaining_invoice <= 0 or wallet_left <= 0:
                break
            if groups[key] <= 0:
                continue
            if key[2] is not None:  # a targeted fee: its wallet pays it, whatever applies_to says
                if key[2] != wallet.code:
                    continue
            elif not wallet.applies_to.allows(fee_type=key[0], billable_metric_code=key[1]):
                continue
            used = min(groups[key], wallet_left, remaining_invoice)
            groups[key] -= used
            wallet_left -= used
            remaining_invoice -= used
            payments.append(
                WalletFeeGroupPayment(
                    fee_type=key[0], billable_metric_code=key[1], amount_cents=used
                )
            )
        spent = wallet.balance_cents - wallet_left
        if spent <= 0:
            continue
        out.append(
            WalletConsumption(
                wallet_id=wallet.id,
                amount_cents=spent,
                credit_amount=wallet.credits_for(cents=spent, currency=currency),
                balance_before_cents=wallet.balance_cents,
                remaining_balance_cents=wallet_left,
                groups=tuple(payments),
            )
        )
    return tuple(out)


def apportion(*, total: int, weights: Sequence[Decimal]) -> list[int]:
    """Split an integer total over weights pro rata in whole units (largest remainder).

    The parts sum to `total` (when it is positive and some weight is), and ties in the
    remainders go to the earlier weight.
    """
    positive = [max(w, ZERO) for w in weights]
    weight_sum = sum(positive, ZERO)
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    exact = [Decimal(total) * w / weight_sum for w in positive]
    parts = [int(e) for e in exact]
    short = total - sum(parts)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:short]:
        parts[i] += 1
    return parts
