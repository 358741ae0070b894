"""Taxes: which taxes a fee carries, and how much they amount to.

Precedence (the most specific non-empty level wins, checked against Lago's
`Fees::ApplyTaxesService#applicable_taxes`):

1. explicit tax codes given with the fee (one-off invoice `tax_codes`) — always win;
2. the add-on's taxes, for an `add_on` fee;
3. the charge's taxes, for a `charge` fee (also a fixed charge);
4. the commitment's taxes, for a `commitment` fee;
5. the plan's taxes, for `subscription`, `charge` and `commitment` fees only
   (an add-on fee never inherits plan taxes);
6. the customer's taxes;
7. the organization's (billing entity's) default taxes.

A `credit` fee (wallet purchase) has no charge, add-on or plan level, so it falls to
the customer, then the organization.

Amounts: per fee and per tax the product `(amount_cents - precise_coupons_amount_cents)
× rate / 100` is kept unrounded; the fee's `taxes_amount_cents` is the rounded sum of
its products; the invoice rounds, per tax, the sum of the unrounded products once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from meterly.domain.errors import ValidationFailed
from meterly.domain.money import TAX_ROUNDING, ZERO, round_cents

HUNDRED = Decimal(100)

FEE_TYPES = ("subscription", "charge", "add_on", "credit", "commitment", "fixed_charge")


@dataclass(frozen=True, slots=True)
class Tax:
    """A tax rate in percent (`Decimal("20")` is 20 %)."""

    code: str
    name: str
    rate: Decimal
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Decimal) or not self.rate.is_finite() or self.rate < 0:
            raise ValidationFailed.field("rate", "value_is_invalid")
        if not self.code:
            raise ValidationFailed.field("code", "value_is_mandatory")


def applicable_taxes(
    *,
    organization: Sequence[Tax] = (),
    customer: Sequence[Tax] = (),
    plan: Sequence[Tax] = (),
    charge_or_addon: Sequence[Tax] = (),
    fee_type: str = "charge",
    explicit: Sequence[Tax] | None = None,
) -> tuple[Tax, ...]:
    """The taxes a fee carries: the most specific non-empty level (see module doc).

    `charge_or_addon` holds the charge's, the add-on's or the commitment's taxes,
    depending on `fee_type`.
    """
    if fee_type not in FEE_TYPES:
        raise ValidationFailed.field("fee_type", "value_is_invalid")
    if explicit is not None:
        return tuple(explicit)
    if fee_type in ("add_on", "charge", "fixed_charge", "commitment") and charge_or_addon:
        return tuple(charge_or_addon)
    if fee_type in ("subscription", "charge", "fixed_charge", "commitment") and plan:
        return tuple(plan)
    if customer:
        return tuple(customer)
    return tuple(organization)


@dataclass(frozen=True, slots=True)
class FeeAppliedTax:
    """One tax on one fee: the unrounded product and its rounding."""

    tax: Tax
    base_amount_cents: Decimal
    precise_amount_cents: Decimal
    amount_cents: int


@dataclass(frozen=True, slots=True)
class FeeTaxes:
    """All the taxes of one fee."""

    base_amount_cents: Decimal
    applied: tuple[FeeAppliedTax, ...]
    precise_amount_cents: Decimal
    amount_cents: int
    taxes_rate: Decimal


def tax_fee(*, base_amount_cents: Decimal, taxes: Sequence[Tax]) -> FeeTaxes:
    """Taxes of one fee on its taxable base (`amount_cents − precise_coupons_amount_cents`)."""
    base = max(Decimal(base_amount_cents), ZERO)
    applied = tuple(
        FeeAppliedTax(
            tax=tax,
            base_amount_cents=base,
            precise_amount_cents=base * tax.rate / HUNDRED,
            amount_cents=round_cents(base * tax.rate / HUNDRED, TAX_ROUNDING),
        )
        for tax in _unique(taxes)
    )
    precise = sum((a.precise_amount_cents for a in applied), ZERO)
    return FeeTaxes(
        base_amount_cents=base,
        applied=applied,
        precise_amount_cents=precise,
        amount_cents=round_cents(precise, TAX_ROUNDING),
        taxes_rate=sum((t.rate for t in _unique(taxes)), ZERO),
    )


@dataclass(frozen=True, slots=True)
class InvoiceAppliedTax:
    """One tax on an invoice: summed unrounded over the fees, rounded once (half up)."""

    tax: Tax
    precise_base_amount_cents: Decimal
    base_amount_cents: int
    precise_amount_cents: Decimal
    amount_cents: int


def invoice_applied_taxes(fee_taxes: Sequence[FeeTaxes]) -> tuple[InvoiceAppliedTax, ...]:
    """Per tax code, in order of first appearance: Σ unrounded products, rounded once."""
    order: list[str] = []
    taxes: dict[str, Tax] = {}
    bases: dict[str, Decimal] = {}
    amounts: dict[str, Decimal] = {}
    for fee in fee_taxes:
        for applied in fee.applied:
            code = applied.tax.code
            if code not in taxes:
                order.append(code)
                taxes[code] = applied.tax
                bases[code] = ZERO
                amounts[code] = ZERO
            bases[code] += applied.base_amount_cents
            amounts[code] += applied.precise_amount_cents
    return tuple(
        InvoiceAppliedTax(
            tax=taxes[code],
            precise_base_amount_cents=bases[code],
            base_amount_cents=round_cents(bases[code], TAX_ROUNDING),
            precise_amount_cents=amounts[code],
            amount_cents=round_cents(amounts[code], TAX_ROUNDING),
        )
        for code in order
    )


def _unique(taxes: Sequence[Tax]) -> tuple[Tax, ...]:
    seen: set[str] = set()
    out: list[Tax] = []
    for tax in taxes:
        if tax.code not in seen:
            seen.add(tax.code)
            out.append(tax)
    return tuple(out)
