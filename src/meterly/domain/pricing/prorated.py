"""Prorated graduated: tiers follow the full units, prices apply to the prorated ones.

Lago prices a prorated graduated charge with a model of its own (ProratedGraduatedService),
not with graduated over the prorated total (lago-semantics item 13). The events are walked
in timestamp order, each with its (full, prorated) increment:

* the tier a unit falls in follows the *full* cumulative units: tier k holds the units in
  (previous tier's to_value, to_value] of the running full total (the same split as the
  graduated rule: 0–5, 6–∞ puts units 1..5 in the first tier and 6.. in the second);
* each full unit of an event is priced at its tier's per-unit price times the event's
  proration coefficient (prorated / full), so an event that straddles two tiers pays each
  tier for its own share;
* a tier's flat amount is added once, when the full cumulative units first reach that
  tier (the flats of every tier up to the highest running total are billed).

A negative increment (a removal) takes its units back from the tiers at its own
coefficient. A negative full total prices 0 and a negative amount is raised to 0 before
the flats, as Lago does; zero (prorated) units bill the first tier's flat amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from meterly.domain.money import decimal_str
from meterly.domain.pricing._arith import ZERO, divide, exact, plain
from meterly.domain.pricing.models import GraduatedProperties, PriceRange
from meterly.domain.pricing.results import ChargeAmount, ExplanationLine, PricingInput, range_label
from meterly.domain.pricing.tiered import bound_json


def _tier_bounds(ranges: Sequence[PriceRange]) -> list[tuple[Decimal | None, Decimal | None]]:
    """(lower, upper] of each tier on the full running total; None is unbounded.

    The first tier also takes what lies below 0 (a running total that dipped under 0).
    """
    bounds: list[tuple[Decimal | None, Decimal | None]] = []
    lower: Decimal | None = None
    for tier in ranges:
        bounds.append((lower, tier.to_value))
        lower = tier.to_value
    return bounds


def _overlap(low: Decimal, high: Decimal, bounds: tuple[Decimal | None, Decimal | None]) -> Decimal:
    """Length of (low, high] inside a tier's (lower, upper]."""
    lower, upper = bounds
    start = low if lower is None else max(low, lower)
    end = high if upper is None else min(high, upper)
    return max(end - start, ZERO)


def _reached_flats(ranges: Sequence[PriceRange], highest: Decimal) -> list[Decimal]:
    """The flat amount of each tier the highest full running total reached (0 beyond)."""
    flats: list[Decimal] = []
    reached = True
    for tier in ranges:
        flats.append(tier.flat_amount if reached else ZERO)
        if tier.to_value is None or highest <= tier.to_value:
            reached = False
    return flats


@exact
def price_prorated_graduated(
    props: GraduatedProperties, usage: PricingInput, *, baseline: bool = False
) -> ChargeAmount:
    """Prorated graduated over `usage.prorated_events` (see the module doc).

    `baseline` is the pay-in-advance exclude_event pricing: zero units cost 0 there, so
    the first event of a period pays the first tier's flat amount.
    """
    ranges = props.ranges
    bounds = _tier_bounds(ranges)
    full_in_tier = [ZERO] * len(ranges)
    prorated_in_tier = [ZERO] * len(ranges)
    running = highest = ZERO
    for full, prorated in usage.prorated_events or ():
        if full == 0:
            continue
        low, high = (running, running + full) if full > 0 else (running + full, running)
        sign = 1 if full > 0 else -1
        for k, tier_bounds in enumerate(bounds):
            share = _overlap(low, high, tier_bounds)
            if share:
                full_in_tier[k] += sign * share
                prorated_in_tier[k] += divide(sign * share * prorated, full)
        running += full
        highest = max(highest, running)
    if usage.units == 0:
        if baseline:
            return ChargeAmount(ZERO, usage.units, ZERO, {"graduated_ranges": []}, ())
        running = highest = ZERO
        full_in_tier, prorated_in_tier = [ZERO] * len(ranges), [ZERO] * len(ranges)
    per_unit = [prorated_in_tier[k] * tier.per_unit_amount for k, tier in enumerate(ranges)]
    flats = _reached_flats(ranges, highest)
    lines = [
        ExplanationLine(
            label=range_label(tier.from_value, tier.to_value),
            units=plain(prorated_in_tier[k]),
            unit_price=tier.per_unit_amount,
            flat_amount=flats[k],
            amount=per_unit[k] + flats[k],
        )
        for k, tier in enumerate(ranges)
        if flats[k] or prorated_in_tier[k] or full_in_tier[k]
    ]
    variable = sum(per_unit, ZERO)
    if running < 0:
        lines.append(_adjustment("Negative total units", -(variable + sum(flats, ZERO))))
        amount = ZERO
    elif variable < 0:
        lines.append(_adjustment("Negative prorated amount raised to 0", -variable))
        amount = sum(flats, ZERO)
    else:
        amount = variable + sum(flats, ZERO)
    details = [
        {
            "from_value": bound_json(tier.from_value),
            "to_value": bound_json(tier.to_value),
            "flat_unit_amount": decimal_str(flats[k]),
            "per_unit_amount": decimal_str(tier.per_unit_amount),
            "units": decimal_str(plain(full_in_tier[k])),
            "per_unit_total_amount": decimal_str(plain(per_unit[k])),
            "total_with_flat_amount": decimal_str(plain(per_unit[k] + flats[k])),
        }
        for k, tier in enumerate(ranges)
        if flats[k] or full_in_tier[k]
    ]
    unit_amount = divide(amount, usage.units_for_unit_amount)
    return ChargeAmount(
        amount, usage.units, unit_amount, {"graduated_ranges": details}, tuple(lines)
    )


def _adjustment(label: str, amount: Decimal) -> ExplanationLine:
    return ExplanationLine(
        label=label, units=ZERO, unit_price=ZERO, flat_amount=ZERO, amount=amount
    )
