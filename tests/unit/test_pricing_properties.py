"""Validation and normalisation of Lago charge `properties`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.errors import ValidationFailed
from meterly.domain.pricing import (
    ChargeModel,
    GraduatedProperties,
    PackageProperties,
    PercentageProperties,
    StandardProperties,
    normalized_properties,
    parse_properties,
)
from tests.unit.test_pricing_builders import pct_tier, tier

D = Decimal


def codes(model: str, raw: dict[str, object], *, premium: bool = True) -> list[str]:
    with pytest.raises(ValidationFailed) as error:
        parse_properties(model, raw, premium=premium)
    assert set(error.value.details) == {"properties"}
    return error.value.details["properties"]  # type: ignore[return-value]


def test_charge_model_lists_lagos_models() -> None:
    assert {m.value for m in ChargeModel} == {
        "standard", "graduated", "graduated_percentage", "package", "percentage", "volume",
        "dynamic",
    }  # fmt: skip


def test_unknown_charge_model_is_value_is_invalid() -> None:
    with pytest.raises(ValidationFailed) as error:
        parse_properties("tiered", {})
    assert error.value.details == {"charge_model": ["value_is_invalid"]}


def test_standard_parses_a_decimal_string() -> None:
    assert parse_properties("standard", {"amount": "0.05"}) == StandardProperties(D("0.05"))


@pytest.mark.parametrize("amount", [0.05, 5, None, "abc", "-1", "", "NaN", "Infinity", True])
def test_standard_amount_must_be_a_non_negative_decimal_string(amount: object) -> None:
    assert codes("standard", {"amount": amount}) == ["invalid_amount"]


def test_standard_missing_amount_is_invalid_amount() -> None:
    assert codes("standard", {}) == ["invalid_amount"]


@pytest.mark.parametrize("amount", ["0", "-0", " 1.5 ", "1e3", ".5", "1_000"])
def test_lenient_decimal_strings_are_accepted(amount: str) -> None:
    parsed = parse_properties("standard", {"amount": amount})
    assert isinstance(parsed, StandardProperties)
    assert parsed.amount >= 0


def test_package_parses_size_and_free_units() -> None:
    parsed = parse_properties("package", {"amount": "10", "package_size": 1000, "free_units": 100})
    assert parsed == PackageProperties(D(10), 1000, 100)


@pytest.mark.parametrize("size", [0, -1, "10", 1.0, None, True])
def test_package_size_must_be_a_positive_integer(size: object) -> None:
    raw = {"amount": "10", "package_size": size, "free_units": 0}
    assert codes("package", raw) == ["invalid_package_size"]


@pytest.mark.parametrize("free", [-1, "1", None, 0.5])
def test_package_free_units_must_be_a_non_negative_integer(free: object) -> None:
    raw = {"amount": "10", "package_size": 10, "free_units": free}
    assert codes("package", raw) == ["invalid_free_units"]


def test_package_collects_every_code() -> None:
    raw = {"amount": 10, "package_size": 0, "free_units": -1}
    assert codes("package", raw) == ["invalid_amount", "invalid_package_size", "invalid_free_units"]


def test_percentage_parses_every_property() -> None:
    parsed = parse_properties(
        "percentage",
        {
            "rate": "1.5",
            "fixed_amount": "0.25",
            "free_units_per_events": 3,
            "free_units_per_total_aggregation": "100.0",
            "per_transaction_min_amount": "0.5",
            "per_transaction_max_amount": "20",
        },
    )
    assert parsed == PercentageProperties(D("1.5"), D("0.25"), 3, D(100), D("0.5"), D(20))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"rate": 1.5}, ["invalid_rate"]),
        ({"rate": "x"}, ["invalid_rate"]),
        ({"rate": "1", "fixed_amount": 0.5}, ["invalid_fixed_amount"]),
        ({"rate": "1", "free_units_per_events": 0}, ["invalid_free_units_per_events"]),
        ({"rate": "1", "free_units_per_events": "3"}, ["invalid_free_units_per_events"]),
        (
            {"rate": "1", "free_units_per_total_aggregation": 100},
            ["invalid_free_units_per_total_aggregation"],
        ),
        ({"rate": "1", "per_transaction_min_amount": 0.5}, ["invalid_amount"]),
        ({"rate": "1", "per_transaction_max_amount": "-2"}, ["invalid_amount"]),
        (
            {"rate": "1", "per_transaction_min_amount": "5", "per_transaction_max_amount": "2"},
            ["per_transaction_max_lower_than_per_transaction_min"],
        ),
    ],
)
def test_percentage_validation_codes(raw: dict[str, object], expected: list[str]) -> None:
    assert codes("percentage", raw) == expected


def test_percentage_bounds_are_not_validated_without_premium() -> None:
    raw = {"rate": "1", "per_transaction_min_amount": "5", "per_transaction_max_amount": "2"}
    assert isinstance(parse_properties("percentage", raw, premium=False), PercentageProperties)


def test_graduated_parses_ranges_in_order() -> None:
    parsed = parse_properties(
        "graduated", {"graduated_ranges": [tier(0, 10, "1", "2"), tier(11, None, "0.5")]}
    )
    assert isinstance(parsed, GraduatedProperties)
    assert [(r.from_value, r.to_value) for r in parsed.ranges] == [(0, 10), (11, None)]


def test_graduated_accepts_adjacent_ranges_with_decimal_bounds() -> None:
    raw = {"graduated_ranges": [tier(0, 0.1), tier(0.1, 1), tier(1, None)]}
    parsed = parse_properties("graduated", raw)
    assert isinstance(parsed, GraduatedProperties)
    assert parsed.ranges[0].to_value == D("0.1")


@pytest.mark.parametrize(
    "ranges",
    [
        [tier(2, None)],  # does not start at 0 (or 1)
        [tier(0, 100)],  # last range is not open
        [tier(0, 100), tier(120, None)],  # hole
        [tier(0, None), tier(1, None)],  # open range before the last
        [tier(0, 10), tier(11, 5), tier(6, None)],  # to_value below from_value
        [tier(0, 10), tier(9, None)],  # overlap
        [tier("0", None)],  # bounds are JSON numbers
        ["not a range"],
    ],
)
def test_graduated_invalid_ladders(ranges: list[object]) -> None:
    assert codes("graduated", {"graduated_ranges": ranges}) == ["invalid_graduated_ranges"]


@pytest.mark.parametrize("raw", [{}, {"graduated_ranges": []}, {"graduated_ranges": None}])
def test_graduated_without_ranges_is_missing_graduated_ranges(raw: dict[str, object]) -> None:
    assert codes("graduated", raw) == ["missing_graduated_ranges"]


def test_graduated_range_amounts_are_decimal_strings() -> None:
    raw = {"graduated_ranges": [tier(0, None, 0.5, "1")]}  # type: ignore[arg-type]
    assert codes("graduated", raw) == ["invalid_amount"]


def test_graduated_collects_amount_and_ladder_codes() -> None:
    raw = {"graduated_ranges": [tier(0, 10, "x"), tier(50, None)]}
    assert codes("graduated", raw) == ["invalid_amount", "invalid_graduated_ranges"]


def test_volume_requires_plus_one_steps() -> None:
    ok = parse_properties("volume", {"volume_ranges": [tier(0, 100), tier(101, None)]})
    assert ok.model == ChargeModel.VOLUME
    raw = {"volume_ranges": [tier(0, 10), tier(10, None)]}  # adjacent: graduated only
    assert codes("volume", raw) == ["invalid_volume_ranges"]


def test_volume_without_ranges_is_missing_volume_ranges() -> None:
    assert codes("volume", {"volume_ranges": []}) == ["missing_volume_ranges"]


def test_graduated_percentage_codes() -> None:
    key = "graduated_percentage_ranges"
    assert codes("graduated_percentage", {key: []}) == ["missing_graduated_percentage_ranges"]
    bad = {key: [pct_tier(0, 100, "1"), pct_tier(120, None, "1")]}
    assert codes("graduated_percentage", bad) == ["invalid_graduated_percentage_ranges"]
    assert codes("graduated_percentage", {key: [pct_tier(0, None, 1)]}) == ["invalid_rate"]  # type: ignore[arg-type]
    assert codes("graduated_percentage", {key: [pct_tier(0, None, "1", 2)]}) == ["invalid_amount"]  # type: ignore[arg-type]


def test_dynamic_has_no_parameters() -> None:
    assert parse_properties("dynamic", {}).model == ChargeModel.DYNAMIC


def test_pricing_group_keys_are_kept_on_every_model() -> None:
    parsed = parse_properties("standard", {"amount": "1", "pricing_group_keys": ["bucket"]})
    assert parsed.pricing_group_keys == ("bucket",)


def test_legacy_grouped_by_is_read_when_pricing_group_keys_is_blank() -> None:
    parsed = parse_properties("dynamic", {"grouped_by": ["region"]})
    assert parsed.pricing_group_keys == ("region",)


@pytest.mark.parametrize("keys", ["bucket", [1], [""]])
def test_pricing_group_keys_must_be_a_list_of_strings(keys: object) -> None:
    assert codes("standard", {"amount": "1", "pricing_group_keys": keys}) == ["invalid_type"]


def test_presentation_group_keys_rules() -> None:
    def key(value: str) -> dict[str, object]:
        return {"value": value, "options": {"display_in_invoice": True}}

    base = {"amount": "1"}
    parse_properties("standard", {**base, "presentation_group_keys": [key("team")]})
    assert codes("standard", {**base, "presentation_group_keys": ["team"]}) == ["invalid_type"]
    three = [key("a"), key("b"), key("c")]
    assert codes("standard", {**base, "presentation_group_keys": three}) == ["too_many_keys"]
    twice = [key("a"), key("a")]
    assert codes("standard", {**base, "presentation_group_keys": twice}) == ["value_is_duplicated"]


def test_normalized_properties_drop_unknown_keys_and_mirror_grouped_by() -> None:
    raw = {"amount": "0.05", "pricing_group_keys": ["bucket"], "rate": "1", "junk": True}
    assert normalized_properties("standard", raw) == {
        "amount": "0.05",
        "pricing_group_keys": ["bucket"],
        "grouped_by": ["bucket"],
    }


def test_normalized_properties_echo_values_as_sent() -> None:
    ranges = [tier(0, 1000, "0", "0"), tier(1001, None, "0.002", "5")]
    assert normalized_properties("graduated", {"graduated_ranges": ranges}) == {
        "graduated_ranges": ranges
    }


def test_normalized_properties_promote_legacy_grouped_by() -> None:
    out = normalized_properties("dynamic", {"grouped_by": ["region"]})
    assert out == {"pricing_group_keys": ["region"], "grouped_by": ["region"]}
