"""The charge models: Lago's pricing rules as pure functions over frozen dataclasses.

parse_properties validates a Lago `properties` dict into typed properties;
compute_charge prices one bucket's usage (major units, unrounded, with an explanation);
finalize_fee rounds it once into a fee's money fields.
"""

from meterly.domain.pricing.advance import AdvanceCharge, AdvanceEvent, price_in_advance
from meterly.domain.pricing.engine import billable_increment, compute_charge, pay_in_advance_amount
from meterly.domain.pricing.fees import (
    FeeAmounts,
    commitment_true_up,
    finalize_fee,
    prorata,
    spending_minimum_true_up,
)
from meterly.domain.pricing.models import (
    ChargeModel,
    ChargeProperties,
    DynamicProperties,
    GraduatedPercentageProperties,
    GraduatedProperties,
    PackageProperties,
    PercentageProperties,
    PercentageRange,
    PriceRange,
    StandardProperties,
    VolumeProperties,
)
from meterly.domain.pricing.parsing import (
    charge_model,
    decimal_amount,
    normalized_properties,
    parse_properties,
)
from meterly.domain.pricing.percentage import free_allowance, running_totals
from meterly.domain.pricing.results import ChargeAmount, ExplanationLine, PricingInput

normalized = normalized_properties

__all__ = [
    "AdvanceCharge",
    "AdvanceEvent",
    "ChargeAmount",
    "ChargeModel",
    "ChargeProperties",
    "DynamicProperties",
    "ExplanationLine",
    "FeeAmounts",
    "GraduatedPercentageProperties",
    "GraduatedProperties",
    "PackageProperties",
    "PercentageProperties",
    "PercentageRange",
    "PriceRange",
    "PricingInput",
    "StandardProperties",
    "VolumeProperties",
    "billable_increment",
    "charge_model",
    "commitment_true_up",
    "compute_charge",
    "decimal_amount",
    "finalize_fee",
    "free_allowance",
    "normalized",
    "normalized_properties",
    "parse_properties",
    "pay_in_advance_amount",
    "price_in_advance",
    "prorata",
    "running_totals",
    "spending_minimum_true_up",
]
