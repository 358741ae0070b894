"""Standard, package and dynamic charge models."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.errors import DomainError
from meterly.domain.money import currency
from meterly.domain.pricing import (
    DynamicProperties,
    PricingInput,
    compute_charge,
    parse_properties,
)
from tests.unit.test_pricing_builders import package, standard, usage

D = Decimal


def test_standard_multiplies_units_by_the_unit_amount() -> None:
    result = compute_charge(standard("0.05"), usage(900))
    assert result.amount == D("45")
    assert result.unit_amount == D("0.05")
    assert result.amount_details == {}


def test_standard_storage_filter_example_300_gb_at_0_04() -> None:
    assert compute_charge(standard("0.04"), usage(300)).amount == D("12")


def test_standard_keeps_every_decimal_of_the_product() -> None:
    # Python's default 28-digit context would round this product; Lago's BigDecimal does not.
    result = compute_charge(standard("0.000123456789"), usage("123456789.123456789"))
    assert result.amount == D("0.000123456789") * D("123456789.123456789")
    assert result.amount == D("15241.578765432099750190521")


def test_standard_zero_units_have_zero_unit_amount() -> None:
    result = compute_charge(standard("2"), usage(0))
    assert result.amount == 0
    assert result.unit_amount == 0


def test_standard_negative_units_are_not_clamped_by_the_model() -> None:
    assert compute_charge(standard("2"), usage(-1)).amount == D(-2)


@pytest.mark.parametrize(
    ("units", "expected"),
    [
        ("0", "0"),
        ("100", "0"),  # all free
        ("101", "10"),  # one unit paid starts a package
        ("1100", "10"),  # exactly one full package
        ("1101", "20"),
        ("1100.5", "20"),
    ],
)
def test_package_bills_every_started_package_after_free_units(units: str, expected: str) -> None:
    # lago-api.md §7.4 emails charge: 10 per 1000, the first 100 free.
    assert compute_charge(package("10", 1000, 100), usage(units)).amount == D(expected)


def test_package_count_is_an_exact_ceiling() -> None:
    assert compute_charge(package("1", 10), usage("10")).amount == 1
    assert compute_charge(package("1", 10), usage("10.0001")).amount == 2


def test_package_unit_amount_is_per_paid_unit() -> None:
    result = compute_charge(package("10", 1000, 100), usage(600))
    assert result.unit_amount == D("0.02")  # 10 / 500 paid units


def test_package_amount_details() -> None:
    result = compute_charge(package("10", 1000, 100), usage(1500))
    assert result.amount_details == {
        "free_units": "100.0",
        "paid_units": "1400.0",
        "per_package_size": 1000,
        "per_package_unit_amount": "10.0",
    }


def test_package_amount_details_at_zero_units_are_the_literal_zero_shape() -> None:
    result = compute_charge(package("10", 1000, 100), usage(0))
    assert result.amount_details == {
        "free_units": "0.0",
        "paid_units": "0.0",
        "per_package_size": 0,
        "per_package_unit_amount": "0.0",
    }


def test_package_amount_details_when_all_units_are_free() -> None:
    result = compute_charge(package("10", 1000, 100), usage(40))
    assert result.amount_details["paid_units"] == "0.0"
    assert result.amount_details["free_units"] == "100.0"
    assert result.unit_amount == 0


def test_package_explanation_shows_free_units_and_packages() -> None:
    result = compute_charge(package("10", 1000, 100), usage(2500))
    assert [line.label for line in result.lines] == [
        "Free units (first 100)",
        "Packages of 1,000",
    ]
    assert result.lines[1].units == 3
    assert sum(line.amount for line in result.lines) == result.amount == 30


@pytest.mark.parametrize(
    ("code", "expected"), [("EUR", "12.345"), ("JPY", "1234.5"), ("KWD", "1.2345")]
)
def test_dynamic_divides_the_events_precise_cents_by_the_currency_subunit(
    code: str, expected: str
) -> None:
    props = parse_properties("dynamic", {})
    usage_ = PricingInput(units=D(3), events_count=3, precise_total_amount_cents=D("1234.5"))
    assert compute_charge(props, usage_, currency=currency(code)).amount == D(expected)


def test_dynamic_is_zero_without_units_even_if_events_carry_prices() -> None:
    usage_ = PricingInput(units=D(0), precise_total_amount_cents=D(500))
    result = compute_charge(DynamicProperties(), usage_, currency=currency("EUR"))
    assert result.amount == 0


def test_dynamic_needs_a_currency() -> None:
    with pytest.raises(DomainError) as error:
        compute_charge(DynamicProperties(), PricingInput(units=D(1)))
    assert error.value.code == "currency_required"


def test_pricing_input_rejects_float_units() -> None:
    with pytest.raises(DomainError):
        PricingInput(units=1.5)  # type: ignore[arg-type]
