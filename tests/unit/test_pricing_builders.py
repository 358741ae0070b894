"""Builders for the pricing tests (no tests here): Lago-shaped properties and usage."""

from __future__ import annotations

from decimal import Decimal

from meterly.domain.pricing import ChargeProperties, PricingInput, parse_properties

D = Decimal


def tier(lo: object, hi: object, per_unit: str = "0", flat: str = "0") -> dict[str, object]:
    return {"from_value": lo, "to_value": hi, "per_unit_amount": per_unit, "flat_amount": flat}


def pct_tier(lo: object, hi: object, rate: str = "0", flat: str = "0") -> dict[str, object]:
    return {"from_value": lo, "to_value": hi, "rate": rate, "flat_amount": flat}


def graduated(*tiers: dict[str, object]) -> ChargeProperties:
    return parse_properties("graduated", {"graduated_ranges": list(tiers)})


def volume(*tiers: dict[str, object]) -> ChargeProperties:
    return parse_properties("volume", {"volume_ranges": list(tiers)})


def graduated_percentage(*tiers: dict[str, object]) -> ChargeProperties:
    return parse_properties("graduated_percentage", {"graduated_percentage_ranges": list(tiers)})


def standard(amount: str) -> ChargeProperties:
    return parse_properties("standard", {"amount": amount})


def package(amount: str, size: int, free: int = 0) -> ChargeProperties:
    return parse_properties("package", {"amount": amount, "package_size": size, "free_units": free})


def percentage(rate: str, **extra: object) -> ChargeProperties:
    return parse_properties("percentage", {"rate": rate, **extra})


def usage(units: object, **fields: object) -> PricingInput:
    """PricingInput from str/int units; event_values given as strings or ints."""
    values = tuple(D(str(v)) for v in fields.pop("event_values", ()))  # type: ignore[attr-defined]
    count = fields.pop("events_count", len(values))
    return PricingInput(units=D(str(units)), events_count=count, event_values=values, **fields)  # type: ignore[arg-type]


def events(*values: object) -> PricingInput:
    """Usage of a sum metric: units = Σ values, one event per value, in order."""
    decimals = tuple(D(str(v)) for v in values)
    return PricingInput(
        units=sum(decimals, D(0)), events_count=len(decimals), event_values=decimals
    )


# lago-api.md §7.4: the "Startup" plan's graduated API-calls charge.
API_CALLS_RANGES = (
    tier(0, 1000, "0", "0"),
    tier(1001, 10000, "0.002", "5"),
    tier(10001, None, "0.001", "0"),
)
