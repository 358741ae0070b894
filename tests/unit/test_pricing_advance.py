"""Pay-in-advance charges: one fee per event, the difference of two prices."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.errors import ValidationFailed
from meterly.domain.pricing import (
    PricingInput,
    billable_increment,
    compute_charge,
    pay_in_advance_amount,
)
from tests.unit.test_pricing_builders import (
    events,
    graduated,
    graduated_percentage,
    pct_tier,
    percentage,
    standard,
    tier,
    usage,
    volume,
)

D = Decimal


def count(n: int) -> PricingInput:
    return PricingInput(units=D(n), events_count=n, event_values=(D(1),) * n)


def test_standard_event_fee_is_its_units_times_the_price() -> None:
    fee = pay_in_advance_amount(standard("0.5"), before=count(3), after=count(4))
    assert fee == D("0.5")


def test_graduated_first_event_pays_the_first_tiers_flat_amount() -> None:
    props = graduated(tier(0, 10, "1", "5"), tier(11, None, "0.5", "2"))
    assert pay_in_advance_amount(props, before=count(0), after=count(1)) == D(6)


def test_graduated_event_crossing_into_a_tier_pays_that_tiers_flat() -> None:
    props = graduated(tier(0, 10, "1", "5"), tier(11, None, "0.5", "2"))
    assert pay_in_advance_amount(props, before=count(10), after=count(11)) == D("2.5")


def test_graduated_percentage_first_event_pays_the_first_flat() -> None:
    props = graduated_percentage(pct_tier(0, None, "10", "1"))
    before, after = events(), events(50)
    assert pay_in_advance_amount(props, before=before, after=after) == D(6)


def test_percentage_events_consume_the_free_amount_in_order() -> None:
    props = percentage("10", free_units_per_total_aggregation="50")
    values = (30, 30, 30)
    fees = [
        pay_in_advance_amount(props, before=events(*values[:i]), after=events(*values[: i + 1]))
        for i in range(len(values))
    ]
    assert fees == [0, 1, 3]
    assert sum(fees) == compute_charge(props, events(*values)).amount


def test_volume_cannot_be_billed_in_advance() -> None:
    with pytest.raises(ValidationFailed) as error:
        pay_in_advance_amount(volume(tier(0, None, "1")), before=usage(0), after=usage(1))
    assert error.value.details == {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]}


def test_high_water_mark_bills_only_the_rise_above_the_previous_maximum() -> None:
    assert billable_increment(previous_max=D(10), running_total_after=D(15)) == (D(5), D(15))


def test_high_water_mark_bills_nothing_for_a_decrease() -> None:
    assert billable_increment(previous_max=D(15), running_total_after=D(12)) == (D(0), D(15))


def test_high_water_mark_bills_nothing_for_a_rise_still_under_the_maximum() -> None:
    assert billable_increment(previous_max=D(15), running_total_after=D(15)) == (D(0), D(15))


def test_high_water_mark_sequence_bills_the_period_maximum_once() -> None:
    maximum, billed = D(0), D(0)
    for total in (D(5), D(8), D(3), D(9), D(2), D(9)):
        units, maximum = billable_increment(previous_max=maximum, running_total_after=total)
        billed += units
    assert billed == maximum == D(9)
