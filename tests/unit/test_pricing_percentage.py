"""Percentage charge model: rate, fixed fee per event, free units/events, min/max."""

from __future__ import annotations

from decimal import Decimal

from meterly.domain.pricing import PricingInput, compute_charge, free_allowance, running_totals
from tests.unit.test_pricing_builders import events, percentage

D = Decimal

# lago-api.md §7.4 payments charge.
PAYMENTS = {
    "rate": "1.5",
    "fixed_amount": "0.25",
    "free_units_per_events": 3,
    "free_units_per_total_aggregation": "100.0",
    "per_transaction_min_amount": "0.5",
    "per_transaction_max_amount": "20",
}


def test_percentage_applies_the_rate_in_percent_to_the_units() -> None:
    assert compute_charge(percentage("1"), events(400, 600)).amount == D(10)


def test_percentage_adds_the_fixed_amount_per_event() -> None:
    result = compute_charge(percentage("1", fixed_amount="0.5"), events(*[100] * 10))
    assert result.amount == D(15)  # 1000 × 1 % + 10 × 0.5


def test_percentage_free_events_cover_the_first_events_value_and_fixed_fee() -> None:
    props = percentage("1", fixed_amount="0.5", free_units_per_events=2)
    result = compute_charge(props, events(100, 100, 100))
    # first two events (200) are free; the third pays 1 % of 100 + 0.5
    assert result.amount == D("1.5")
    assert result.amount_details["free_units"] == "200.0"
    assert result.amount_details["free_events"] == 2
    assert result.amount_details["paid_events"] == 1


def test_percentage_free_total_aggregation_caps_the_free_amount() -> None:
    props = percentage("1", fixed_amount="0.25", free_units_per_total_aggregation="150")
    result = compute_charge(props, events(100, 100, 100))
    # running totals [100, 200]: 150 free; one running total below 150 → one free event
    assert result.amount == D("2")  # 150 × 1 % + 2 × 0.25
    assert result.amount_details["free_units"] == "150.0"
    assert result.amount_details["free_events"] == 1


def test_percentage_event_reaching_exactly_the_free_amount_still_pays_the_fixed_fee() -> None:
    props = percentage("10", fixed_amount="1", free_units_per_total_aggregation="100")
    result = compute_charge(props, events(100, 50))
    assert result.amount_details["free_events"] == 0
    assert result.amount == D(7)  # 50 × 10 % + 2 × 1


def test_percentage_free_events_and_free_amount_together_use_the_smaller_non_zero_count() -> None:
    props = percentage(
        "1.5",
        fixed_amount="0.25",
        free_units_per_events=3,
        free_units_per_total_aggregation="100.0",
    )
    result = compute_charge(props, events(10, 20, 30, 200, 50), premium=False)
    # first 3 events total 60 (< 100): 60 free units, 3 free events
    assert result.amount == D("4.25")  # 250 × 1.5 % + 2 × 0.25
    assert result.amount_details == {
        "units": "310.0",
        "free_units": "60.0",
        "free_events": 3,
        "paid_units": "250.0",
        "rate": "1.5",
        "per_unit_total_amount": "3.75",
        "paid_events": 2,
        "fixed_fee_unit_amount": "0.25",
        "fixed_fee_total_amount": "0.5",
        "min_max_adjustment_total_amount": "0.0",
    }


def test_percentage_per_transaction_mode_consumes_free_amount_then_prices_each_event() -> None:
    result = compute_charge(percentage(**PAYMENTS), events(10, 20, 30, 200, 50))
    # 10, 20, 30 free (free amount 100 → 40 left); 200 − 40 = 160 → 2.4 + 0.25;
    # 50 → 0.75 + 0.25.
    assert result.amount == D("3.65")
    assert result.amount_details["min_max_adjustment_total_amount"] == "-0.6"
    assert sum(line.amount for line in result.lines) == result.amount


def test_percentage_per_transaction_minimum_raises_a_small_paying_event() -> None:
    props = percentage("1.5", fixed_amount="0.25", per_transaction_min_amount="0.5")
    assert compute_charge(props, events(10)).amount == D("0.5")  # 0.4 raised to 0.5


def test_percentage_per_transaction_maximum_caps_a_large_event() -> None:
    props = percentage("1.5", fixed_amount="0.25", per_transaction_max_amount="20")
    assert compute_charge(props, events(2000)).amount == D(20)  # 30.25 capped


def test_percentage_fully_free_event_costs_zero_and_is_not_raised_to_the_minimum() -> None:
    result = compute_charge(percentage(**PAYMENTS), events(10))
    assert result.amount == 0


def test_percentage_bounds_are_ignored_without_the_premium_licence() -> None:
    props = percentage("1.5", fixed_amount="0.25", per_transaction_min_amount="0.5")
    assert compute_charge(props, events(10), premium=False).amount == D("0.4")


def test_percentage_zero_units_cost_nothing_even_with_a_fixed_fee() -> None:
    props = percentage("1", fixed_amount="0.5")
    assert compute_charge(props, PricingInput(units=D(0), events_count=3)).amount == 0


def test_percentage_uses_running_totals_given_by_a_count_metric() -> None:
    props = percentage("10", free_units_per_events=2)
    usage_ = PricingInput(
        units=D(5), events_count=5, running_totals=tuple(D(i) for i in range(1, 6))
    )
    # free = running_totals[2 − 1] = 2 → 3 × 10 %
    assert compute_charge(props, usage_).amount == D("0.3")


def test_running_totals_with_free_events_are_the_first_n_cumulative_sums() -> None:
    values = [D(v) for v in (5, 0, 7, 9)]
    totals = running_totals(values, free_units_per_events=3, free_units_per_total_aggregation=D(0))
    assert totals == (D(5), D(5), D(12))


def test_running_totals_with_a_free_amount_stop_after_the_first_total_above_it() -> None:
    values = [D(v) for v in (40, 40, 40, 40)]
    totals = running_totals(values, free_units_per_events=0, free_units_per_total_aggregation=D(50))
    assert totals == (D(40), D(80))


def test_running_totals_are_empty_without_free_units() -> None:
    assert (
        running_totals([D(1)], free_units_per_events=0, free_units_per_total_aggregation=D(0)) == ()
    )


def test_free_allowance_ignores_an_unset_limit_when_choosing_free_events() -> None:
    allowance = free_allowance(
        (D(500),), free_units_per_events=3, free_units_per_total_aggregation=D(100)
    )
    # no running total is below 100, so that zero candidate is ignored: 3 free events
    assert allowance.events == 3
    assert allowance.units == D(100)


def test_percentage_explanation_lines_add_up() -> None:
    props = percentage("1.5", fixed_amount="0.25", free_units_per_events=1)
    result = compute_charge(props, events(10, 20, 30))
    assert [line.label for line in result.lines] == [
        "Free: 10 units, 1 events",
        "1.5 % of paid units",
        "Fixed fee per paying event",
    ]
    assert sum(line.amount for line in result.lines) == result.amount == D("1.25")
