"""Dispatch from typed properties to a charge model, and pay-in-advance deltas."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from meterly.domain.errors import DomainError, ValidationFailed
from meterly.domain.money import Currency
from meterly.domain.pricing._arith import ZERO, exact
from meterly.domain.pricing.models import (
    ChargeProperties,
    DynamicProperties,
    GraduatedPercentageProperties,
    GraduatedProperties,
    PackageProperties,
    PercentageProperties,
    StandardProperties,
    VolumeProperties,
)
from meterly.domain.pricing.percentage import price_percentage, running_totals
from meterly.domain.pricing.prorated import price_prorated_graduated
from meterly.domain.pricing.results import ChargeAmount, PricingInput
from meterly.domain.pricing.simple import price_dynamic, price_package, price_standard
from meterly.domain.pricing.tiered import (
    price_graduated,
    price_graduated_percentage,
    price_volume,
)


def compute_charge(
    properties: ChargeProperties,
    usage: PricingInput,
    *,
    currency: Currency | None = None,
    premium: bool = True,
) -> ChargeAmount:
    """Price one bucket's usage with its charge model.

    `currency` is needed by the dynamic model only (event prices arrive in minor units).
    `premium` is Lago's licence gate for the percentage per-transaction bounds.
    The amount may be negative (negative units); finalize_fee clamps it.
    """
    return _price(properties, usage, currency=currency, premium=premium, baseline=False)


def _price(
    properties: ChargeProperties,
    usage: PricingInput,
    *,
    currency: Currency | None,
    premium: bool,
    baseline: bool,
) -> ChargeAmount:
    match properties:
        case StandardProperties():
            return price_standard(properties, usage)
        case GraduatedProperties():
            if usage.prorated_events is not None:
                return price_prorated_graduated(properties, usage, baseline=baseline)
            return price_graduated(properties, usage, baseline=baseline)
        case GraduatedPercentageProperties():
            return price_graduated_percentage(properties, usage, baseline=baseline)
        case VolumeProperties():
            return price_volume(properties, usage)
        case PackageProperties():
            return price_package(properties, usage)
        case PercentageProperties():
            return price_percentage(properties, usage, premium=premium)
        case DynamicProperties():
            if currency is None:
                raise DomainError("the dynamic model needs a currency", code="currency_required")
            return price_dynamic(properties, usage, currency=currency)
    raise TypeError(f"not charge properties: {properties!r}")  # pragma: no cover


@exact
def pay_in_advance_amount(
    properties: ChargeProperties,
    *,
    before: PricingInput,
    after: PricingInput,
    currency: Currency | None = None,
    premium: bool = True,
) -> Decimal:
    """The fee of one pay-in-advance event: price(after) − price(before).

    `after` includes the event, `before` leaves it out. Lago prices the baseline with
    its exclude_event flag: zero units cost 0 even where a first tier has a flat amount
    (so the first event of the period pays that flat), and the percentage baseline
    reuses the running totals of the run that includes the event. Volume cannot be
    billed in advance; a dynamic event costs its own price. The delta may be negative;
    the fee clamps it to 0.
    """
    if isinstance(properties, VolumeProperties):
        raise ValidationFailed.field("pay_in_advance", "invalid_aggregation_type_or_charge_model")
    if isinstance(properties, DynamicProperties):
        # Lago bills an in-advance dynamic event its own price (lago-semantics item 13):
        # the event's precise_total_amount_cents in major units, whatever its units.
        if currency is None:
            raise DomainError("the dynamic model needs a currency", code="currency_required")
        spent = after.precise_total_amount_cents - before.precise_total_amount_cents
        return spent.scaleb(-currency.exponent)
    if isinstance(properties, PercentageProperties):
        before = replace(before, running_totals=_shared_running_totals(properties, after))
    with_event = _price(properties, after, currency=currency, premium=premium, baseline=False)
    without = _price(properties, before, currency=currency, premium=premium, baseline=True)
    return with_event.amount - without.amount


def _shared_running_totals(props: PercentageProperties, after: PricingInput) -> tuple[Decimal, ...]:
    if after.running_totals is not None:
        return after.running_totals
    return running_totals(
        after.event_values,
        free_units_per_events=props.free_units_per_events or 0,
        free_units_per_total_aggregation=props.free_units_per_total_aggregation or ZERO,
    )


def billable_increment(
    *, previous_max: Decimal, running_total_after: Decimal
) -> tuple[Decimal, Decimal]:
    """High-water mark of sum / unique_count metrics billed in advance.

    Only the part of the period's running total above its previous maximum is billed;
    a decrease (or a rise that stays under the maximum) bills 0. Returns
    (units to bill, new maximum).
    """
    if running_total_after > previous_max:
        return running_total_after - previous_max, running_total_after
    return ZERO, previous_max
