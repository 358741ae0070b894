"""Graduated and graduated-percentage charge models."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.pricing import compute_charge
from tests.unit.test_pricing_builders import (
    API_CALLS_RANGES,
    graduated,
    graduated_percentage,
    pct_tier,
    tier,
    usage,
)

D = Decimal


def amount_for(props: object, units: str) -> Decimal:
    return compute_charge(props, usage(units)).amount  # type: ignore[arg-type]


def test_graduated_5000_api_calls_cost_13_dollars_as_in_the_current_usage_example() -> None:
    result = compute_charge(graduated(*API_CALLS_RANGES), usage(5000))
    assert result.amount == D("13")


def test_graduated_amount_details_list_every_reached_tier() -> None:
    result = compute_charge(graduated(*API_CALLS_RANGES), usage(5000))
    assert result.amount_details == {
        "graduated_ranges": [
            {
                "from_value": 0,
                "to_value": 1000,
                "flat_unit_amount": "0.0",
                "per_unit_amount": "0.0",
                "units": "1000.0",
                "per_unit_total_amount": "0.0",
                "total_with_flat_amount": "0.0",
            },
            {
                "from_value": 1001,
                "to_value": 10000,
                "flat_unit_amount": "5.0",
                "per_unit_amount": "0.002",
                "units": "4000.0",
                "per_unit_total_amount": "8.0",
                "total_with_flat_amount": "13.0",
            },
        ]
    }


def test_graduated_explanation_has_one_line_per_tier_with_readable_labels() -> None:
    result = compute_charge(graduated(*API_CALLS_RANGES), usage(5000))
    assert [line.label for line in result.lines] == ["0 – 1,000", "1,001 – 10,000"]
    assert [line.units for line in result.lines] == [D(1000), D(4000)]
    assert result.lines[1].flat_amount == D(5)
    assert sum(line.amount for line in result.lines) == result.amount


def test_graduated_open_tier_label_says_and_above() -> None:
    result = compute_charge(graduated(*API_CALLS_RANGES), usage(20000))
    assert result.lines[-1].label == "10,001 and above"


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        ("1000", "0"),  # exactly the first to_value stays in the first tier
        ("1001", "5.002"),  # to_value + 1 reaches the second tier and its flat
        ("10000", "23"),
        ("10001", "23.001"),
    ],
)
def test_graduated_tier_boundaries(units: str, expected: str) -> None:
    assert amount_for(graduated(*API_CALLS_RANGES), units) == D(expected)


def test_graduated_fractional_units_between_integer_tiers_fall_in_the_upper_tier() -> None:
    # 1000.5 units: 1000 in the first tier, 0.5 in the second (plus its flat amount).
    result = compute_charge(graduated(*API_CALLS_RANGES), usage("1000.5"))
    assert result.lines[1].units == D("0.5")
    assert result.amount == D("5.001")


def test_graduated_zero_units_still_charge_the_first_tiers_flat_amount() -> None:
    props = graduated(tier(0, 10, "10", "2"), tier(11, None, "5", "3"))
    result = compute_charge(props, usage(0))
    assert result.amount == D(2)
    assert result.unit_amount == 0
    assert len(result.lines) == 1


def test_graduated_fifteen_units_over_two_tiers_add_both_flats() -> None:
    props = graduated(tier(0, 10, "10", "2"), tier(11, None, "5", "3"))
    # 10 × 10 + 2 and (15 − 11 + 1) × 5 + 3
    assert compute_charge(props, usage(15)).amount == D(130)


def test_graduated_unit_amount_is_unrounded_amount_over_units() -> None:
    props = graduated(tier(0, 10, "10", "2"), tier(11, None, "5", "3"))
    result = compute_charge(props, usage(12))
    assert result.amount == D(115)
    # 9.58333… kept to BigDecimal's 32 significant digits, not rounded to cents
    assert result.unit_amount == D("9.5833333333333333333333333333333")


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        ("0.05", "0.5"),  # 0.05 × 10
        ("0.1", "1"),
        ("0.5", "3"),  # 0.1 × 10 + 0.4 × 5
        ("2", "6.5"),  # 1 + 0.9 × 5 + 1 × 1
    ],
)
def test_graduated_adjacent_ranges_count_half_open_without_the_plus_one(
    units: str, expected: str
) -> None:
    props = graduated(tier(0, 0.1, "10"), tier(0.1, 1, "5"), tier(1, None, "1"))
    assert amount_for(props, units) == D(expected)


def test_graduated_adjacent_integer_ladder_prices_integer_units_like_the_plus_one_ladder() -> None:
    adjacent = graduated(tier(0, 10, "1"), tier(10, 20, "2"), tier(20, None, "3"))
    plus_one = graduated(tier(0, 10, "1"), tier(11, 20, "2"), tier(21, None, "3"))
    for units in ("0", "5", "10", "11", "20", "25"):
        assert amount_for(adjacent, units) == amount_for(plus_one, units)


def test_graduated_mixed_ladder_is_not_adjacent_and_keeps_the_plus_one() -> None:
    # Only some pairs share their bound: Lago then counts every later tier with +1.
    props = graduated(tier(0, 10, "1"), tier(10, 20, "1"), tier(21, None, "1"))
    assert compute_charge(props, usage(15)).lines[1].units == D(6)


def test_graduated_negative_units_give_a_negative_amount_left_for_the_fee_to_clamp() -> None:
    assert amount_for(graduated(tier(0, None, "2")), "-3") == D(-6)


def test_graduated_percentage_charges_each_tier_rate_and_flat_once() -> None:
    props = graduated_percentage(pct_tier(0, 100, "1", "0"), pct_tier(101, None, "0.5", "2"))
    result = compute_charge(props, usage(250))
    # 100 × 1 % + (250 − 101 + 1) × 0.5 % + 2
    assert result.amount == D("3.75")
    details = result.amount_details["graduated_percentage_ranges"]
    assert details[1]["units"] == "150.0"  # type: ignore[index]
    assert details[1]["rate"] == "0.5"  # type: ignore[index]
    assert sum(line.amount for line in result.lines) == result.amount


def test_graduated_percentage_zero_units_charge_the_first_flat() -> None:
    props = graduated_percentage(pct_tier(0, 100, "1", "1.5"), pct_tier(101, None, "0.5", "2"))
    assert compute_charge(props, usage(0)).amount == D("1.5")


def test_graduated_percentage_ignores_adjacency_and_counts_one_more_unit() -> None:
    props = graduated_percentage(pct_tier(0, 10, "10"), pct_tier(10, None, "10"))
    result = compute_charge(props, usage(15))
    assert [line.units for line in result.lines] == [D(10), D(6)]
    assert result.amount == D("1.6")
