"""What a charge model reads (PricingInput) and what it answers (ChargeAmount)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from meterly.domain.errors import FloatRejected

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PricingInput:
    """The aggregation result of one bucket (a charge, a filter or a group) for pricing.

    - `units`: aggregated units (prorated when the charge is prorated).
    - `events_count`: number of events (percentage fixed fees, free events).
    - `event_values`: per-event values in timestamp order (percentage free units and
      per-transaction bounds). For a count metric every value is 1.
    - `running_totals`: Lago's running totals for the percentage free units, when the
      aggregation built them (count metrics use [1..count]); None builds them from
      `event_values` with the sum-metric rule.
    - `precise_total_amount_cents`: sum of the events' own prices in minor units
      (dynamic model).
    - `full_units`: units without proration (volume picks its tier with them).
    - `prorated_events`: on a prorated charge, each event's (full, prorated) increment in
      timestamp order; a graduated charge then uses the prorated graduated model.
    """

    units: Decimal
    events_count: int = 0
    event_values: tuple[Decimal, ...] = ()
    precise_total_amount_cents: Decimal = ZERO
    full_units: Decimal | None = None
    running_totals: tuple[Decimal, ...] | None = None
    prorated_events: tuple[tuple[Decimal, Decimal], ...] | None = None

    def __post_init__(self) -> None:
        for name in ("units", "precise_total_amount_cents", "full_units"):
            if isinstance(getattr(self, name), float):
                raise FloatRejected(name)
        if any(isinstance(v, float) for v in self.event_values):
            raise FloatRejected("event_values")

    @property
    def units_for_unit_amount(self) -> Decimal:
        """Lago divides by the unprorated units when it has them."""
        return self.full_units if self.full_units is not None else self.units


@dataclass(frozen=True, slots=True)
class ExplanationLine:
    """One human-readable component of a charge: a tier, a fixed fee, an adjustment.

    `amount` = `units` × `unit_price` + `flat_amount` except for adjustment lines
    (unit_price 0), and the lines of a ChargeAmount always add up to its amount.
    """

    label: str
    units: Decimal
    unit_price: Decimal
    flat_amount: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ChargeAmount:
    """A priced bucket: amount in major units, unrounded (rounding happens in finalize_fee)."""

    amount: Decimal
    units: Decimal
    unit_amount: Decimal
    amount_details: Mapping[str, object] = field(default_factory=dict)
    lines: tuple[ExplanationLine, ...] = ()


def format_quantity(value: Decimal) -> str:
    """1001 -> '1,001'; 0.1 -> '0.1' (labels for people, not for the wire)."""
    normal = value.normalize()
    if normal == normal.to_integral_value():
        return f"{normal.to_integral_value():,f}"
    return f"{normal:,f}"


def range_label(from_value: Decimal, to_value: Decimal | None) -> str:
    if to_value is None:
        return f"{format_quantity(from_value)} and above"
    return f"{format_quantity(from_value)} – {format_quantity(to_value)}"
