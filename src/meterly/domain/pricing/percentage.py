"""The percentage charge model: a rate on the aggregated amount plus a fixed fee per event.

Free units can be granted as the first N events (`free_units_per_events`) and/or the
first X of the aggregated amount (`free_units_per_total_aggregation`). Lago derives them
from running totals of the event values in timestamp order; the rules below reproduce
its arithmetic, including its quirks, so invoices match to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from meterly.domain.money import decimal_str
from meterly.domain.pricing._arith import HUNDRED, ZERO, divide, exact, plain
from meterly.domain.pricing.models import PercentageProperties
from meterly.domain.pricing.results import (
    ChargeAmount,
    ExplanationLine,
    PricingInput,
    format_quantity,
)


def running_totals(
    values: Sequence[Decimal],
    *,
    free_units_per_events: int,
    free_units_per_total_aggregation: Decimal,
) -> tuple[Decimal, ...]:
    """Lago's running totals for a sum metric (count metrics use 1, 2, …, count).

    Empty without free units. With N free events: the cumulative sums of the first N
    values. Otherwise cumulative sums while the total so far is <= the free amount (the
    first total above it is included, then the walk stops).
    """
    if free_units_per_events == 0 and free_units_per_total_aggregation == 0:
        return ()
    totals: list[Decimal] = []
    total = ZERO
    if free_units_per_events > 0:
        for value in values[:free_units_per_events]:
            total += value
            totals.append(total)
        return tuple(totals)
    for value in values:
        if total > free_units_per_total_aggregation:
            break
        total += value
        totals.append(total)
    return tuple(totals)


@dataclass(frozen=True, slots=True)
class FreeAllowance:
    units: Decimal  # free amount of the aggregation
    events: int  # free events (no fixed fee)


def free_allowance(
    totals: Sequence[Decimal],
    *,
    free_units_per_events: int,
    free_units_per_total_aggregation: Decimal,
) -> FreeAllowance:
    """Free units and free events from the running totals (first matching case wins)."""
    per_events = free_units_per_events
    cap = free_units_per_total_aggregation
    last = totals[-1] if totals else ZERO
    if last == 0:
        units = ZERO
    elif 0 < per_events < len(totals):
        units = totals[per_events - 1]
    elif cap == 0 or last <= cap:
        units = last
    else:
        units = cap
    # The smallest *non-zero* candidate: an unset limit (0) never wins. An event that
    # brings the running total to exactly the cap is therefore a paid event.
    below_cap = sum(1 for total in totals if total < cap)
    candidates = [c for c in (per_events, below_cap) if c != 0]
    return FreeAllowance(units=units, events=min(candidates) if candidates else 0)


def _per_transaction_amount(
    props: PercentageProperties, values: Sequence[Decimal], fixed: Decimal
) -> Decimal:
    """Premium per-transaction pricing: each paying event's value × rate + fixed fee,
    clamped to [min, max]. Free events and free amount are consumed first, in order;
    an event fully covered by them costs 0 and is *not* raised to the minimum. Note that
    the free amount keeps covering events beyond the first N free events (Lago)."""
    free_events = props.free_units_per_events or 0
    free_amount = props.free_units_per_total_aggregation or ZERO
    total = ZERO
    for event_value in values:
        value = event_value
        if free_events > 0 or free_amount > 0:
            free_events -= 1
            if free_amount <= 0:
                continue
            if free_amount > value:
                free_amount -= value
                continue
            value -= free_amount
            free_amount = ZERO
            free_events = 0
        event_amount = value * props.rate / HUNDRED + fixed
        low, high = props.per_transaction_min_amount, props.per_transaction_max_amount
        if low is not None and event_amount < low:
            event_amount = low
        elif high is not None and event_amount > high:
            event_amount = high
        total += event_amount
    return total


@exact
def price_percentage(
    props: PercentageProperties, usage: PricingInput, *, premium: bool = True
) -> ChargeAmount:
    """Percentage: (units − free units) × rate/100 + paying events × fixed_amount."""
    per_events = props.free_units_per_events or 0
    cap = props.free_units_per_total_aggregation or ZERO
    totals = usage.running_totals
    if totals is None:
        totals = running_totals(
            usage.event_values,
            free_units_per_events=per_events,
            free_units_per_total_aggregation=cap,
        )
    free = free_allowance(
        totals, free_units_per_events=per_events, free_units_per_total_aggregation=cap
    )
    units, count = usage.units, usage.events_count
    fixed = props.fixed_amount or ZERO
    rate_part = ZERO if free.units > units else (units - free.units) * props.rate / HUNDRED
    fixed_part = ZERO if units == 0 or free.events >= count else (count - free.events) * fixed
    amount = rate_part + fixed_part
    adjustment = ZERO
    if premium and props.has_transaction_bounds:
        amount = _per_transaction_amount(props, usage.event_values, fixed)
        adjustment = amount - rate_part - fixed_part

    free_events = min(count, free.events)
    paid_events = count - free_events
    paid_units = max(units - free.units, ZERO)
    details: dict[str, object] = {
        "units": decimal_str(units),
        "free_units": decimal_str(plain(free.units)),
        "free_events": free_events,
        "paid_units": decimal_str(plain(paid_units)),
        "rate": decimal_str(props.rate),
        "per_unit_total_amount": decimal_str(plain(rate_part)),
        "paid_events": paid_events,
        "fixed_fee_unit_amount": decimal_str(fixed if paid_events > 0 else ZERO),
        "fixed_fee_total_amount": decimal_str(plain(fixed_part)),
        "min_max_adjustment_total_amount": decimal_str(plain(adjustment)),
    }
    lines = _lines(props, free, paid_units, rate_part, fixed_part, adjustment, count)
    unit_amount = divide(amount, usage.units_for_unit_amount)
    return ChargeAmount(amount, units, unit_amount, details, lines)


def _lines(
    props: PercentageProperties,
    free: FreeAllowance,
    paid_units: Decimal,
    rate_part: Decimal,
    fixed_part: Decimal,
    adjustment: Decimal,
    count: int,
) -> tuple[ExplanationLine, ...]:
    lines: list[ExplanationLine] = []
    if free.units > 0 or free.events > 0:
        lines.append(
            ExplanationLine(
                label=f"Free: {format_quantity(free.units)} units, {free.events} events",
                units=free.units,
                unit_price=ZERO,
                flat_amount=ZERO,
                amount=ZERO,
            )
        )
    lines.append(
        ExplanationLine(
            label=f"{decimal_str(props.rate)} % of paid units",
            units=paid_units if rate_part != 0 else ZERO,
            unit_price=props.rate / HUNDRED,
            flat_amount=ZERO,
            amount=rate_part,
        )
    )
    if fixed_part != 0:
        lines.append(
            ExplanationLine(
                label="Fixed fee per paying event",
                units=Decimal(count - free.events),
                unit_price=props.fixed_amount or ZERO,
                flat_amount=ZERO,
                amount=fixed_part,
            )
        )
    if adjustment != 0:
        lines.append(
            ExplanationLine(
                label="Per-transaction minimum/maximum adjustment",
                units=ZERO,
                unit_price=ZERO,
                flat_amount=adjustment,
                amount=adjustment,
            )
        )
    return tuple(lines)
