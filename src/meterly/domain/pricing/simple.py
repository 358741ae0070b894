"""Untiered charge models: standard, package and dynamic."""

from __future__ import annotations

from decimal import Decimal

from meterly.domain.money import Currency, decimal_str
from meterly.domain.pricing._arith import ZERO, divide, exact, plain
from meterly.domain.pricing.models import DynamicProperties, PackageProperties, StandardProperties
from meterly.domain.pricing.results import (
    ChargeAmount,
    ExplanationLine,
    PricingInput,
    format_quantity,
)


@exact
def price_standard(props: StandardProperties, usage: PricingInput) -> ChargeAmount:
    """Standard: units × amount. Negative units give a negative amount; the fee clamps it."""
    amount = usage.units * props.amount
    line = ExplanationLine(
        label="Per unit",
        units=usage.units,
        unit_price=props.amount,
        flat_amount=ZERO,
        amount=amount,
    )
    unit_amount = divide(amount, usage.units_for_unit_amount)
    return ChargeAmount(amount, usage.units, unit_amount, {}, (line,))


def package_count(paid_units: Decimal, package_size: int) -> Decimal:
    """Packages started by `paid_units`: a started package is billed in full (ceil).

    Done with an exact divmod: 10.0001 units at size 10 are 2 packages, exactly 10 is 1.
    """
    if paid_units <= 0:
        return ZERO
    whole, rest = divmod(paid_units, Decimal(package_size))
    return whole + (1 if rest > 0 else 0)


@exact
def price_package(props: PackageProperties, usage: PricingInput) -> ChargeAmount:
    """Package: ceil((units − free_units) / package_size) × amount, 0 when nothing is paid.

    Lago's unit amount is per *paid* unit here, unlike every other model.
    """
    free = Decimal(props.free_units)
    paid = usage.units - free
    packages = package_count(paid, props.package_size)
    amount = packages * props.amount
    lines: list[ExplanationLine] = []
    if props.free_units and usage.units > 0:
        lines.append(
            ExplanationLine(
                label=f"Free units (first {format_quantity(free)})",
                units=min(usage.units, free),
                unit_price=ZERO,
                flat_amount=ZERO,
                amount=ZERO,
            )
        )
    lines.append(
        ExplanationLine(
            label=f"Packages of {format_quantity(Decimal(props.package_size))}",
            units=packages,
            unit_price=props.amount,
            flat_amount=ZERO,
            amount=amount,
        )
    )
    unit_amount = divide(amount, paid) if paid > 0 else ZERO
    return ChargeAmount(
        amount, usage.units, unit_amount, _package_details(props, usage), tuple(lines)
    )


def _package_details(props: PackageProperties, usage: PricingInput) -> dict[str, object]:
    if usage.units == 0:
        return {
            "free_units": "0.0",
            "paid_units": "0.0",
            "per_package_size": 0,
            "per_package_unit_amount": "0.0",
        }
    paid = usage.units - props.free_units
    return {
        "free_units": decimal_str(Decimal(props.free_units)),
        "paid_units": decimal_str(plain(max(paid, ZERO))),
        "per_package_size": props.package_size,
        "per_package_unit_amount": decimal_str(props.amount),
    }


@exact
def price_dynamic(
    props: DynamicProperties, usage: PricingInput, *, currency: Currency
) -> ChargeAmount:
    """Dynamic: each event carries its own price (minor units); the amount is their sum in
    major units of the plan currency, and 0 whenever there are no units."""
    divisor = usage.units_for_unit_amount
    if divisor == 0:
        return ChargeAmount(ZERO, usage.units, ZERO, {}, ())
    amount = usage.precise_total_amount_cents.scaleb(-currency.exponent)
    line = ExplanationLine(
        label="Sum of event prices",
        units=usage.units,
        unit_price=ZERO,
        flat_amount=amount,
        amount=amount,
    )
    return ChargeAmount(amount, usage.units, divide(amount, divisor), {}, (line,))
