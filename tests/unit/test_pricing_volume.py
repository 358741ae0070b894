"""Volume charge model: all units at the price of the single tier reached."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.pricing import PricingInput, compute_charge
from tests.unit.test_pricing_builders import tier, usage, volume

D = Decimal

LADDER = (tier(0, 100, "1", "5"), tier(101, 200, "0.5", "10"), tier(201, None, "0.25", "20"))


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        ("100", "105"),  # exactly to_value stays in the first tier
        ("101", "60.5"),  # to_value + 1: every unit at the second tier's price
        ("200", "110"),
        ("201", "70.25"),
    ],
)
def test_volume_tier_boundaries(units: str, expected: str) -> None:
    assert compute_charge(volume(*LADDER), usage(units)).amount == D(expected)


def test_volume_fractional_units_in_a_gap_land_in_the_upper_tier() -> None:
    # 100.5: ceil is 101 >= from 101 and 100.5 <= 200, so the 101–200 tier prices it.
    result = compute_charge(volume(*LADDER), usage("100.5"))
    assert result.amount == D("60.25")
    assert result.lines[0].label == "101 – 200"


def test_volume_zero_units_charge_the_first_tiers_flat_amount() -> None:
    result = compute_charge(volume(*LADDER), usage(0))
    assert result.amount == D(5)
    assert result.amount_details == {
        "flat_unit_amount": "5.0",
        "per_unit_amount": "0.0",
        "per_unit_total_amount": "0.0",
    }


def test_volume_amount_details_show_the_matched_tier() -> None:
    result = compute_charge(volume(*LADDER), usage(150))
    assert result.amount_details == {
        "flat_unit_amount": "10.0",
        "per_unit_amount": "0.5",
        "per_unit_total_amount": "75.0",
    }
    assert result.unit_amount == D("0.56666666666666666666666666666667")


def test_volume_prorated_charge_picks_the_tier_with_full_units_and_prices_prorated_units() -> None:
    prorated = PricingInput(units=D(75), full_units=D(150))
    result = compute_charge(volume(*LADDER), prorated)
    assert result.amount == D("47.5")  # 75 × 0.5 + 10, tier chosen by 150 units
    assert result.unit_amount == D("0.31666666666666666666666666666667")  # / full units


def test_volume_negative_units_match_no_tier_and_price_zero() -> None:
    assert compute_charge(volume(*LADDER), usage(-5)).amount == 0


def test_volume_explanation_is_a_single_line_equal_to_the_amount() -> None:
    result = compute_charge(volume(*LADDER), usage(250))
    assert len(result.lines) == 1
    assert result.lines[0].amount == result.amount == D("82.5")
