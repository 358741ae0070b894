"""Typed charge properties, one frozen dataclass per Lago charge model.

The wire format (decimal strings, integer bounds) is parsed once by `parsing.py`;
pricing code then works on Decimals and never re-reads the raw dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class ChargeModel(StrEnum):
    STANDARD = "standard"
    GRADUATED = "graduated"
    GRADUATED_PERCENTAGE = "graduated_percentage"
    PACKAGE = "package"
    PERCENTAGE = "percentage"
    VOLUME = "volume"
    DYNAMIC = "dynamic"


@dataclass(frozen=True, slots=True)
class PriceRange:
    """A tier of a graduated or volume charge; `to_value` None means "and above"."""

    from_value: Decimal
    to_value: Decimal | None
    per_unit_amount: Decimal
    flat_amount: Decimal


@dataclass(frozen=True, slots=True)
class PercentageRange:
    """A tier of a graduated_percentage charge; `rate` is a percent (1.5 means 1.5 %)."""

    from_value: Decimal
    to_value: Decimal | None
    rate: Decimal
    flat_amount: Decimal


@dataclass(frozen=True, slots=True)
class StandardProperties:
    amount: Decimal
    pricing_group_keys: tuple[str, ...] = ()

    @property
    def model(self) -> ChargeModel:
        return ChargeModel.STANDARD


@dataclass(frozen=True, slots=True)
class GraduatedProperties:
    ranges: tuple[PriceRange, ...]
    pricing_group_keys: tuple[str, ...] = ()

    @property
    def model(self) -> ChargeModel:
        return ChargeModel.GRADUATED


@dataclass(frozen=True, slots=True)
class GraduatedPercentageProperties:
    ranges: tuple[PercentageRange, ...]
    pricing_group_keys: tuple[str, ...] = ()

    @property
    def model(self) -> ChargeModel:
        return ChargeModel.GRADUATED_PERCENTAGE


@dataclass(frozen=True, slots=True)
class VolumeProperties:
    ranges: tuple[PriceRange, ...]
    pricing_group_keys: tuple[str, ...] = ()

    @property
    def model(self) -> ChargeModel:
        return ChargeModel.VOLUME


@dataclass(frozen=True, slots=True)
class PackageProperties:
    amount: Decimal
    package_size: int
    free_units: int = 0
    pricing_group_keys: tuple[str, ...] = ()

    @property
    def model(self) -> ChargeModel:
        return ChargeModel.PACKAGE


@dataclass(frozen=True, slots=True)
class PercentageProperties:
    """Lago's percentage model; absent optional properties are None (Lago reads them as 0)."""

    rate: Decimal
    fixed_amount: Decimal | None = None
    free_units_per_events: int | None = None
    free_units_per_total_aggregation: Decimal | None = None
    per_transaction_min_amount: Decimal | None = None
    per_transaction_max_amount: Decimal | None = None
    pricing_group_keys: tuple[str, ...] = ()

    @property
    def model(self) -> ChargeModel:
        return ChargeModel.PERCENTAGE

    @property
    def has_transaction_bounds(self) -> bool:
        return (
            self.per_transaction_min_amount is not None
            or self.per_transaction_max_amount is not None
        )


@dataclass(frozen=True, slots=True)
class DynamicProperties:
    """Dynamic pricing has no parameters: each event carries its own price."""

    pricing_group_keys: tuple[str, ...] = ()

    @property
    def model(self) -> ChargeModel:
        return ChargeModel.DYNAMIC


ChargeProperties = (
    StandardProperties
    | GraduatedProperties
    | GraduatedPercentageProperties
    | VolumeProperties
    | PackageProperties
    | PercentageProperties
    | DynamicProperties
)
