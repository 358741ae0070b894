"""From an unrounded charge amount to the money fields of a fee, and minimum true-ups.

Lago rounds once, here: amount_cents = amount rounded half up to the currency's minor
unit; precise_amount_cents keeps the unrounded value; unit_amount_cents is truncated
(it is assigned to an integer column, Ruby's to_i).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meterly.domain.errors import FloatRejected
from meterly.domain.money import (
    Currency,
    round_cents,
    round_minor,
    to_minor_precise,
    truncate_minor,
)
from meterly.domain.pricing._arith import ZERO, divide, exact


@dataclass(frozen=True, slots=True)
class FeeAmounts:
    amount_cents: int
    precise_amount_cents: Decimal
    unit_amount_cents: int
    precise_unit_amount: Decimal
    units: Decimal


@exact
def finalize_fee(
    *,
    amount: Decimal,
    units: Decimal,
    currency: Currency,
    unit_amount: Decimal | None = None,
) -> FeeAmounts:
    """The money fields of a fee.

    `unit_amount` defaults to amount / units (0 for 0 units); pass ChargeAmount.unit_amount
    to keep a model's own definition (package divides by paid units). Negative units or
    amounts are clamped to 0 first, as Lago does before building the fee.
    """
    for name, value in (("amount", amount), ("units", units), ("unit_amount", unit_amount)):
        if isinstance(value, float):
            raise FloatRejected(name)
    if amount < 0 or units < 0:
        amount, units, unit_amount = ZERO, ZERO, ZERO
    if unit_amount is None:
        unit_amount = divide(amount, units)
    return FeeAmounts(
        amount_cents=round_minor(amount, currency),
        precise_amount_cents=to_minor_precise(amount, currency),
        unit_amount_cents=truncate_minor(unit_amount, currency),
        precise_unit_amount=unit_amount,
        units=units,
    )


def prorata(*, days_used: int, days_in_period: int) -> Decimal:
    """The share of a period that was used: days_used / days_in_period (1 for a full one)."""
    if days_in_period <= 0:
        return Decimal(1)
    return divide(Decimal(days_used), Decimal(days_in_period))


def _true_up(*, fees_amount_cents: int, floor_cents: int, prorata: Decimal) -> int:
    if isinstance(prorata, float):
        raise FloatRejected("prorata")
    target = round_cents(Decimal(floor_cents) * prorata)
    return max(0, target - fees_amount_cents)


def spending_minimum_true_up(
    *, fees_amount_cents: int, min_amount_cents: int, prorata: Decimal = Decimal(1)
) -> int:
    """A charge's spending minimum: the gap between the (prorated) minimum and the charge's
    fees of the period, rounded half up; 0 when the fees already reach it."""
    return _true_up(
        fees_amount_cents=fees_amount_cents, floor_cents=min_amount_cents, prorata=prorata
    )


def commitment_true_up(
    *, fees_amount_cents: int, commitment_amount_cents: int, prorata: Decimal = Decimal(1)
) -> int:
    """A plan's minimum commitment: commitment × days used / days in the full period,
    minus every subscription and charge fee of the period; never negative."""
    return _true_up(
        fees_amount_cents=fees_amount_cents, floor_cents=commitment_amount_cents, prorata=prorata
    )
