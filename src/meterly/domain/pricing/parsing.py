"""Validate Lago `properties` dicts and turn them into typed charge properties.

Lago's rules (Charges::Validators::*): decimal parameters are JSON *strings* that read
as a finite decimal >= 0 (a JSON number is refused, money never travels as a float);
counts are JSON integers; range bounds form an unbroken ladder. Every failing check
adds its code, in check order, under the single attribute `properties`, which is what
the API answers with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from meterly.domain.errors import ValidationFailed
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

RangeT = TypeVar("RangeT", PriceRange, PercentageRange)

# Keys each model keeps (Lago's FilterProperties slices everything else away).
MODEL_KEYS: dict[ChargeModel, tuple[str, ...]] = {
    ChargeModel.STANDARD: ("amount",),
    ChargeModel.GRADUATED: ("graduated_ranges",),
    ChargeModel.GRADUATED_PERCENTAGE: ("graduated_percentage_ranges",),
    ChargeModel.VOLUME: ("volume_ranges",),
    ChargeModel.PACKAGE: ("amount", "free_units", "package_size"),
    ChargeModel.PERCENTAGE: (
        "rate",
        "fixed_amount",
        "free_units_per_events",
        "free_units_per_total_aggregation",
        "per_transaction_min_amount",
        "per_transaction_max_amount",
    ),
    ChargeModel.DYNAMIC: (),
}
MAX_PRESENTATION_GROUP_KEYS = 2


def charge_model(model: str) -> ChargeModel:
    """The charge model for a wire name, or Lago's `charge_model: value_is_invalid`."""
    try:
        return ChargeModel(model)
    except ValueError:
        raise ValidationFailed.field("charge_model", "value_is_invalid") from None


def parse_properties(
    model: str, raw: Mapping[str, object], *, premium: bool = True
) -> ChargeProperties:
    """Validate `raw` for `model`; raise ValidationFailed({"properties": [codes]}).

    `premium` mirrors Lago's licence gate: without it the per-transaction bounds of the
    percentage model are not validated (and have no effect on pricing).
    """
    kind = charge_model(model)
    errors = _Errors()
    group_keys = _group_keys(raw, errors)
    _check_presentation_group_keys(raw.get("presentation_group_keys"), errors)
    parsed = _PARSERS[kind](raw, errors, group_keys, premium)
    errors.raise_if_any()
    return parsed


def normalized_properties(model: str, raw: Mapping[str, object]) -> dict[str, object]:
    """The properties to store and echo: the model's keys as sent, plus grouping keys.

    Lago drops unknown keys per model, accepts the legacy `grouped_by` when
    `pricing_group_keys` is blank, and serialises both names with the same list.
    """
    kind = charge_model(model)
    out: dict[str, object] = {key: raw[key] for key in MODEL_KEYS[kind] if key in raw}
    keys = raw.get("pricing_group_keys") or raw.get("grouped_by")
    if isinstance(keys, list) and keys:
        cleaned = [key for key in keys if key]
        if cleaned:
            out["pricing_group_keys"] = cleaned
            out["grouped_by"] = list(cleaned)
    presentation = raw.get("presentation_group_keys")
    if presentation:
        out["presentation_group_keys"] = presentation
    return out


class _Errors:
    """Codes in check order, each once."""

    def __init__(self) -> None:
        self.codes: list[str] = []

    def add(self, code: str) -> None:
        if code not in self.codes:
            self.codes.append(code)

    def raise_if_any(self) -> None:
        if self.codes:
            raise ValidationFailed({"properties": list(self.codes)})


def decimal_amount(value: object) -> Decimal | None:
    """Lago's DecimalAmountService: a string reading as a finite decimal >= 0, else None."""
    if not isinstance(value, str):
        return None
    try:
        result = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not result.is_finite() or result < 0:
        return None
    return result + 0  # "-0" reads as 0


def _json_integer(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _bound(value: object) -> Decimal | None:
    """A range bound: a JSON number. Bounds are counts, not money, so a JSON float such
    as the 0.1 of adjacent ranges is accepted through its shortest decimal text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        result = Decimal(repr(value))
        return result if result.is_finite() else None
    return None


def _group_keys(raw: Mapping[str, object], errors: _Errors) -> tuple[str, ...]:
    keys = raw.get("pricing_group_keys")
    if not keys:
        keys = raw.get("grouped_by")
    if keys is None or keys == []:
        return ()
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        errors.add("invalid_type")
        return ()
    return tuple(keys)


def _check_presentation_group_keys(value: object, errors: _Errors) -> None:
    if not value:
        return
    if not isinstance(value, list) or not all(_presentation_key_ok(item) for item in value):
        errors.add("invalid_type")
        return
    if len(value) > MAX_PRESENTATION_GROUP_KEYS:
        errors.add("too_many_keys")
    names = [item["value"] for item in value]
    if len(set(names)) != len(names):
        errors.add("value_is_duplicated")


def _presentation_key_ok(item: object) -> bool:
    if not isinstance(item, dict) or not set(item) <= {"value", "options"}:
        return False
    if not isinstance(item.get("value"), str) or not item["value"]:
        return False
    options = item.get("options")
    if options is None:
        return True
    return (
        isinstance(options, dict)
        and set(options) <= {"display_in_invoice"}
        and all(isinstance(v, bool) for v in options.values())
    )


def _required_amount(raw: Mapping[str, object], key: str, code: str, errors: _Errors) -> Decimal:
    value = decimal_amount(raw.get(key))
    if value is None:
        errors.add(code)
        return Decimal(0)
    return value


def _optional_amount(
    raw: Mapping[str, object], key: str, code: str, errors: _Errors
) -> Decimal | None:
    if raw.get(key) is None:
        return None
    value = decimal_amount(raw.get(key))
    if value is None:
        errors.add(code)
    return value


def _parse_standard(
    raw: Mapping[str, object], errors: _Errors, keys: tuple[str, ...], premium: bool
) -> StandardProperties:
    amount = _required_amount(raw, "amount", "invalid_amount", errors)
    return StandardProperties(amount=amount, pricing_group_keys=keys)


def _parse_package(
    raw: Mapping[str, object], errors: _Errors, keys: tuple[str, ...], premium: bool
) -> PackageProperties:
    amount = _required_amount(raw, "amount", "invalid_amount", errors)
    size = _json_integer(raw.get("package_size"))
    if size is None or size <= 0:
        errors.add("invalid_package_size")
    free = _json_integer(raw.get("free_units"))
    if free is None or free < 0:
        errors.add("invalid_free_units")
    return PackageProperties(
        amount=amount, package_size=size or 1, free_units=max(free or 0, 0), pricing_group_keys=keys
    )


def _parse_percentage(
    raw: Mapping[str, object], errors: _Errors, keys: tuple[str, ...], premium: bool
) -> PercentageProperties:
    rate = _required_amount(raw, "rate", "invalid_rate", errors)
    fixed = _optional_amount(raw, "fixed_amount", "invalid_fixed_amount", errors)
    free_events: int | None = None
    if raw.get("free_units_per_events") is not None:
        free_events = _json_integer(raw.get("free_units_per_events"))
        if free_events is None or free_events <= 0:
            errors.add("invalid_free_units_per_events")
            free_events = None
    free_total = _optional_amount(
        raw,
        "free_units_per_total_aggregation",
        "invalid_free_units_per_total_aggregation",
        errors,
    )
    low, high = _transaction_bounds(raw, errors if premium else _Errors())
    return PercentageProperties(
        rate=rate,
        fixed_amount=fixed,
        free_units_per_events=free_events,
        free_units_per_total_aggregation=free_total,
        per_transaction_min_amount=low,
        per_transaction_max_amount=high,
        pricing_group_keys=keys,
    )


def _transaction_bounds(
    raw: Mapping[str, object], errors: _Errors
) -> tuple[Decimal | None, Decimal | None]:
    """Premium per-transaction bounds: blank means unset; Lago reports `invalid_amount`."""
    bounds: list[Decimal | None] = []
    for key in ("per_transaction_min_amount", "per_transaction_max_amount"):
        value = raw.get(key)
        if value is None or value == "":
            bounds.append(None)
            continue
        parsed = decimal_amount(value)
        if parsed is None:
            errors.add("invalid_amount")
        bounds.append(parsed)
    low, high = bounds
    if low is not None and high is not None and high < low:
        errors.add("per_transaction_max_lower_than_per_transaction_min")
    return low, high


def _parse_dynamic(
    raw: Mapping[str, object], errors: _Errors, keys: tuple[str, ...], premium: bool
) -> DynamicProperties:
    return DynamicProperties(pricing_group_keys=keys)


def _ranges(
    raw: Mapping[str, object],
    key: str,
    errors: _Errors,
    *,
    step: Decimal,
    build: Callable[[Mapping[str, object], Decimal, Decimal | None], RangeT],
) -> tuple[RangeT, ...]:
    """Parse a range ladder. Lago's bound rule: with `next` starting at 0, each from_value
    is `next` or `next + 1`; every range but the last has to_value > from_value; the last
    is open (to_value null); then next = to_value + step (0 for graduated, 1 for volume)."""
    items = raw.get(key)
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        errors.add(f"missing_{key}")
        return ()
    parsed: list[RangeT] = []
    expected = Decimal(0)
    bounds_ok = True
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            bounds_ok = False
            continue
        low = _bound(item.get("from_value"))
        high = None if item.get("to_value") is None else _bound(item.get("to_value"))
        last = index == len(items) - 1
        if (
            low is None
            or low not in (expected, expected + 1)
            or (last and item.get("to_value") is not None)
            or (not last and (high is None or high <= low))
        ):
            bounds_ok = False
        parsed.append(build(item, low if low is not None else expected, high))
        expected = (high if high is not None else Decimal(0)) + step
    if not bounds_ok:
        errors.add(f"invalid_{key}")
    return tuple(parsed)


def _price_range_builder(
    errors: _Errors,
) -> Callable[[Mapping[str, object], Decimal, Decimal | None], PriceRange]:
    def build(item: Mapping[str, object], low: Decimal, high: Decimal | None) -> PriceRange:
        return PriceRange(
            from_value=low,
            to_value=high,
            per_unit_amount=_required_amount(item, "per_unit_amount", "invalid_amount", errors),
            flat_amount=_required_amount(item, "flat_amount", "invalid_amount", errors),
        )

    return build


def _percentage_range_builder(
    errors: _Errors,
) -> Callable[[Mapping[str, object], Decimal, Decimal | None], PercentageRange]:
    def build(item: Mapping[str, object], low: Decimal, high: Decimal | None) -> PercentageRange:
        return PercentageRange(
            from_value=low,
            to_value=high,
            flat_amount=_required_amount(item, "flat_amount", "invalid_amount", errors),
            rate=_required_amount(item, "rate", "invalid_rate", errors),
        )

    return build


def _parse_graduated(
    raw: Mapping[str, object], errors: _Errors, keys: tuple[str, ...], premium: bool
) -> GraduatedProperties:
    ranges = _ranges(
        raw, "graduated_ranges", errors, step=Decimal(0), build=_price_range_builder(errors)
    )
    return GraduatedProperties(ranges=ranges, pricing_group_keys=keys)


def _parse_volume(
    raw: Mapping[str, object], errors: _Errors, keys: tuple[str, ...], premium: bool
) -> VolumeProperties:
    ranges = _ranges(
        raw, "volume_ranges", errors, step=Decimal(1), build=_price_range_builder(errors)
    )
    return VolumeProperties(ranges=ranges, pricing_group_keys=keys)


def _parse_graduated_percentage(
    raw: Mapping[str, object], errors: _Errors, keys: tuple[str, ...], premium: bool
) -> GraduatedPercentageProperties:
    ranges = _ranges(
        raw,
        "graduated_percentage_ranges",
        errors,
        step=Decimal(0),
        build=_percentage_range_builder(errors),
    )
    return GraduatedPercentageProperties(ranges=ranges, pricing_group_keys=keys)


_Parser = Callable[[Mapping[str, object], _Errors, tuple[str, ...], bool], ChargeProperties]
_PARSERS: dict[ChargeModel, _Parser] = {
    ChargeModel.STANDARD: _parse_standard,
    ChargeModel.GRADUATED: _parse_graduated,
    ChargeModel.GRADUATED_PERCENTAGE: _parse_graduated_percentage,
    ChargeModel.VOLUME: _parse_volume,
    ChargeModel.PACKAGE: _parse_package,
    ChargeModel.PERCENTAGE: _parse_percentage,
    ChargeModel.DYNAMIC: _parse_dynamic,
}
