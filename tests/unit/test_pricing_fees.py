"""Fee finalisation (rounding once to the minor unit) and minimum true-ups."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.errors import DomainError
from meterly.domain.money import currency
from meterly.domain.pricing import (
    commitment_true_up,
    compute_charge,
    finalize_fee,
    prorata,
    spending_minimum_true_up,
)
from tests.unit.test_pricing_builders import API_CALLS_RANGES, graduated, package, usage

D = Decimal
EUR, JPY, KWD = currency("EUR"), currency("JPY"), currency("KWD")


def test_half_a_cent_rounds_up_to_one_cent() -> None:
    assert finalize_fee(amount=D("0.005"), units=D(1), currency=EUR).amount_cents == 1


def test_just_under_half_a_cent_rounds_down() -> None:
    assert finalize_fee(amount=D("0.004999"), units=D(1), currency=EUR).amount_cents == 0


def test_precise_amount_cents_keep_the_unrounded_value() -> None:
    fee = finalize_fee(amount=D("10.12345"), units=D(1), currency=EUR)
    assert fee.amount_cents == 1012
    assert fee.precise_amount_cents == D("1012.345")


@pytest.mark.parametrize(("unit", "cents"), [("0.025", 2), ("0.015", 1), ("0.0199", 1)])
def test_unit_amount_cents_are_truncated_not_rounded(unit: str, cents: int) -> None:
    fee = finalize_fee(amount=D(unit) * 4, units=D(4), currency=EUR)
    assert fee.unit_amount_cents == cents
    assert fee.precise_unit_amount == D(unit)


def test_zero_decimal_currency_rounds_to_whole_yen() -> None:
    fee = finalize_fee(amount=D("100.5"), units=D(3), currency=JPY)
    assert fee.amount_cents == 101
    assert fee.precise_amount_cents == D("100.5")


def test_three_decimal_currency_uses_thousandths() -> None:
    fee = finalize_fee(amount=D("100.50"), units=D(1), currency=KWD)
    assert fee.amount_cents == 100500


def test_negative_amounts_and_units_are_clamped_to_zero() -> None:
    fee = finalize_fee(amount=D("-3"), units=D(2), currency=EUR)
    assert (fee.amount_cents, fee.precise_amount_cents, fee.units) == (0, 0, 0)
    fee = finalize_fee(amount=D("3"), units=D(-2), currency=EUR)
    assert (fee.amount_cents, fee.unit_amount_cents, fee.units) == (0, 0, 0)


def test_zero_units_have_zero_unit_amount() -> None:
    fee = finalize_fee(amount=D(2), units=D(0), currency=EUR)
    assert fee.amount_cents == 200
    assert fee.unit_amount_cents == 0


def test_a_models_own_unit_amount_can_be_kept() -> None:
    priced = compute_charge(package("10", 1000, 100), usage(600))
    fee = finalize_fee(
        amount=priced.amount, units=priced.units, currency=EUR, unit_amount=priced.unit_amount
    )
    assert fee.unit_amount_cents == 2  # 10 / 500 paid units


def test_graduated_current_usage_example_finalises_to_1300_cents() -> None:
    priced = compute_charge(graduated(*API_CALLS_RANGES), usage(5000))
    fee = finalize_fee(amount=priced.amount, units=priced.units, currency=currency("USD"))
    assert fee.amount_cents == 1300
    assert fee.unit_amount_cents == 0  # 0.0026 USD truncated


def test_finalize_fee_rejects_floats() -> None:
    with pytest.raises(DomainError):
        finalize_fee(amount=0.1, units=D(1), currency=EUR)  # type: ignore[arg-type]


def test_spending_minimum_tops_up_to_the_minimum() -> None:
    assert spending_minimum_true_up(fees_amount_cents=700, min_amount_cents=1000) == 300


def test_spending_minimum_reached_needs_no_true_up() -> None:
    assert spending_minimum_true_up(fees_amount_cents=1200, min_amount_cents=1000) == 0


def test_spending_minimum_is_prorated_and_rounded_half_up() -> None:
    half = prorata(days_used=15, days_in_period=30)
    assert (
        spending_minimum_true_up(fees_amount_cents=300, min_amount_cents=1000, prorata=half) == 200
    )
    assert spending_minimum_true_up(fees_amount_cents=0, min_amount_cents=1001, prorata=half) == 501


def test_commitment_true_up_on_a_partial_period() -> None:
    share = prorata(days_used=10, days_in_period=31)
    # 10000 × 10 / 31 = 3225.8… → 3226, minus 1000 of fees
    assert (
        commitment_true_up(fees_amount_cents=1000, commitment_amount_cents=10000, prorata=share)
        == 2226
    )


def test_commitment_true_up_is_never_negative() -> None:
    assert commitment_true_up(fees_amount_cents=20000, commitment_amount_cents=10000) == 0


def test_full_period_prorata_is_one() -> None:
    assert prorata(days_used=31, days_in_period=31) == 1
