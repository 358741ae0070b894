"""Tiered charge models: graduated, graduated percentage and volume.

Graduated prices each tier's units at that tier's price and adds the flat amount of
every tier reached; volume prices *all* units at the single tier the total lands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise

from meterly.domain.money import decimal_str
from meterly.domain.pricing._arith import HUNDRED, ZERO, ceil_integer, divide, exact, plain
from meterly.domain.pricing.models import (
    GraduatedPercentageProperties,
    GraduatedProperties,
    PercentageRange,
    PriceRange,
    VolumeProperties,
)
from meterly.domain.pricing.results import ChargeAmount, ExplanationLine, PricingInput, range_label


def bound_json(value: Decimal | None) -> object:
    """Range bounds are echoed as JSON numbers: integers stay integers."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return decimal_str(value)


def ranges_are_adjacent(ranges: Sequence[PriceRange | PercentageRange]) -> bool:
    """Lago's "adjacent" ladders (0–0.1, 0.1–1, 1–∞): each from_value equals the previous
    to_value. Only then is a tier counted half-open, without the +1 of integer ladders."""
    if len(ranges) < 2:
        return False
    return all(
        current.from_value == (previous.to_value or ZERO) for previous, current in pairwise(ranges)
    )


def _reaches_past(tier: PriceRange | PercentageRange, total: Decimal) -> bool:
    """The walk stops at the first tier that is open or whose to_value covers the total,
    so units exactly equal to a to_value stay in that tier."""
    return tier.to_value is None or tier.to_value >= total


def graduated_tier_units(
    tier: PriceRange | PercentageRange, total: Decimal, *, adjacent: bool
) -> Decimal:
    """Units of `total` that fall in `tier` (graduated rule).

    Integer ladders (0–1000, 1001–10000) count both ends, hence the +1 for every tier
    but the first; adjacent ladders share their bounds and count half-open.
    """
    top = tier.to_value
    effective = top if top is not None and total >= top else total
    if tier.from_value == 0:
        return effective
    return effective - tier.from_value + (0 if adjacent else 1)


def graduated_percentage_tier_units(tier: PercentageRange, total: Decimal) -> Decimal:
    """Units in a graduated-percentage tier. Lago ignores adjacency here, so an adjacent
    ladder counts one unit more than graduated would (15 over 0–10, 10–∞ gives 10 + 6)."""
    top = tier.to_value
    if top is not None and total >= top:
        return top if tier.from_value == 0 else top - tier.from_value + 1
    if tier.from_value == 0:
        return total
    return total - tier.from_value + 1


@exact
def price_graduated(
    props: GraduatedProperties, usage: PricingInput, *, baseline: bool = False
) -> ChargeAmount:
    """Graduated: Σ over reached tiers of tier units × price + flat.

    At zero units the first tier is still reached, so its flat amount is billed. The
    pay-in-advance baseline (`baseline`, Lago's exclude_event) prices 0 units at 0, so
    that the first event of a period pays that flat amount.
    """
    total = usage.units
    if baseline and total == 0:
        return ChargeAmount(ZERO, total, ZERO, {"graduated_ranges": []}, ())
    adjacent = ranges_are_adjacent(props.ranges)
    details: list[dict[str, object]] = []
    lines: list[ExplanationLine] = []
    amount = ZERO
    for tier in props.ranges:
        units = graduated_tier_units(tier, total, adjacent=adjacent)
        price = ZERO if units == 0 else tier.per_unit_amount
        per_unit_total = units * price
        tier_amount = per_unit_total + tier.flat_amount
        amount += tier_amount
        details.append(
            {
                "from_value": bound_json(tier.from_value),
                "to_value": bound_json(tier.to_value),
                "flat_unit_amount": decimal_str(tier.flat_amount),
                "per_unit_amount": decimal_str(price),
                "units": decimal_str(units),
                "per_unit_total_amount": decimal_str(plain(per_unit_total)),
                "total_with_flat_amount": decimal_str(plain(tier_amount)),
            }
        )
        lines.append(
            ExplanationLine(
                label=range_label(tier.from_value, tier.to_value),
                units=units,
                unit_price=tier.per_unit_amount,
                flat_amount=tier.flat_amount,
                amount=tier_amount,
            )
        )
        if _reaches_past(tier, total):
            break
    unit_amount = divide(amount, usage.units_for_unit_amount)
    return ChargeAmount(amount, total, unit_amount, {"graduated_ranges": details}, tuple(lines))


@exact
def price_graduated_percentage(
    props: GraduatedPercentageProperties, usage: PricingInput, *, baseline: bool = False
) -> ChargeAmount:
    """Graduated percentage: Σ over reached tiers of tier units × rate/100 + flat."""
    total = usage.units
    zero_flats = baseline and total == 0
    details: list[dict[str, object]] = []
    lines: list[ExplanationLine] = []
    amount = ZERO
    for tier in props.ranges:
        units = graduated_percentage_tier_units(tier, total)
        flat = ZERO if zero_flats else tier.flat_amount
        per_unit_total = units * tier.rate / HUNDRED
        tier_amount = per_unit_total + flat
        amount += tier_amount
        details.append(
            {
                "from_value": bound_json(tier.from_value),
                "to_value": bound_json(tier.to_value),
                "flat_unit_amount": decimal_str(flat),
                "rate": decimal_str(tier.rate),
                "units": decimal_str(units),
                "per_unit_total_amount": decimal_str(plain(per_unit_total)),
                "total_with_flat_amount": decimal_str(plain(tier_amount)),
            }
        )
        lines.append(
            ExplanationLine(
                label=f"{range_label(tier.from_value, tier.to_value)} at {tier.rate:f} %",
                units=units,
                unit_price=tier.rate / HUNDRED,
                flat_amount=flat,
                amount=tier_amount,
            )
        )
        if _reaches_past(tier, total):
            break
    unit_amount = divide(amount, usage.units_for_unit_amount)
    return ChargeAmount(
        amount, total, unit_amount, {"graduated_percentage_ranges": details}, tuple(lines)
    )


def volume_tier(ranges: Sequence[PriceRange], units: Decimal) -> PriceRange | None:
    """The tier that prices all units: the first with from <= ceil(units) and units <= to.

    Comparing the *ceiling* with from_value is why 100.5 lands in 101–200 rather than
    in a gap between integer tiers. Negative units match nothing.
    """
    ceiling = ceil_integer(units)
    for tier in sorted(ranges, key=lambda r: r.from_value):
        if tier.from_value <= ceiling and (tier.to_value is None or units <= tier.to_value):
            return tier
    return None


@exact
def price_volume(props: VolumeProperties, usage: PricingInput) -> ChargeAmount:
    """Volume: units × the matched tier's price + its flat amount.

    On a prorated charge the tier is chosen with the full (unprorated) units and the
    price applied to the prorated units. Negative units match no tier: Lago fails
    there; we price them at 0 (the fee would be clamped to 0 anyway).
    """
    selector = usage.units_for_unit_amount
    tier = volume_tier(props.ranges, selector)
    if tier is None:
        details = {
            "flat_unit_amount": "0.0",
            "per_unit_amount": "0.0",
            "per_unit_total_amount": "0.0",
        }
        return ChargeAmount(ZERO, usage.units, ZERO, details, ())
    per_unit_total = usage.units * tier.per_unit_amount
    amount = per_unit_total + tier.flat_amount
    shown_price = ZERO if selector == 0 else divide(per_unit_total, selector)
    details = {
        "flat_unit_amount": decimal_str(tier.flat_amount),
        "per_unit_amount": decimal_str(plain(shown_price)),
        "per_unit_total_amount": decimal_str(plain(per_unit_total)),
    }
    line = ExplanationLine(
        label=range_label(tier.from_value, tier.to_value),
        units=usage.units,
        unit_price=tier.per_unit_amount,
        flat_amount=tier.flat_amount,
        amount=amount,
    )
    return ChargeAmount(amount, usage.units, divide(amount, selector), details, (line,))
