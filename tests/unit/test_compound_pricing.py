"""Where two of Lago's rules meet (issue 19, lago-semantics item 13): worked examples.

Prorated graduated walks the events with their (full, prorated) increments; pay in advance
prices prorated, recurring and dynamic charges through the same models; latest_agg never
goes below 0. Every figure is worked by hand in the comments, from Lago's rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext

import pytest

from meterly.domain.aggregation import aggregate
from meterly.domain.errors import DomainError
from meterly.domain.money import currency
from meterly.domain.pricing import (
    AdvanceEvent,
    PricingInput,
    compute_charge,
    parse_properties,
    pay_in_advance_amount,
    price_in_advance,
)
from meterly.domain.proration import (
    prorated_sum_increments,
    prorated_unique_count_increments,
    prorated_unique_count_units,
    proration_weight,
)
from meterly.domain.usage import AggregationType, BillableMetric, UsageEvent
from tests.unit.test_pricing_builders import graduated, standard, tier

D = Decimal
# April 2024: 30 days, so day d of the month weighs (30 - d + 1) / 30.
START = datetime(2024, 4, 1, tzinfo=UTC)
END = datetime(2024, 4, 30, 23, 59, 59, 999999, tzinfo=UTC)
WINDOW = (START, END)
USD = currency("USD")
SEATS = graduated(tier(0, 2, "10"), tier(3, None, "4", "50"))


def ratio(numerator: int, denominator: int) -> Decimal:
    """A day ratio the way the aggregation divides (60 significant digits)."""
    with localcontext(prec=60):
        return D(numerator) / D(denominator)


def on(day: int) -> datetime:
    return datetime(2024, 4, day, 12, tzinfo=UTC)


def prorated(*increments: tuple[str, str]) -> PricingInput:
    """Usage of a prorated charge from (full, prorated) increments in event order."""
    pairs = tuple((D(full), D(part)) for full, part in increments)
    return PricingInput(
        units=sum((p for _, p in pairs), D(0)),
        full_units=sum((f for f, _ in pairs), D(0)),
        prorated_events=pairs,
    )


# --- prorated graduated --------------------------------------------------------------------


def test_prorated_graduated_picks_tiers_with_the_full_units() -> None:
    # 3 seats added on April 16: weight (30 - 16 + 1) / 30 = 0.5, prorated 1.5.
    # Full units 1..2 fall in 0–2: 2 × 0.5 × 10 = 10; unit 3 in 3–∞: 1 × 0.5 × 4 = 2;
    # the full total reached 3–∞, so its flat 50 is billed: 10 + 2 + 50 = 62.
    # (Graduated over the prorated total 1.5 would give 1.5 × 10 = 15 and no flat.)
    priced = compute_charge(SEATS, prorated(("3", "1.5")))
    assert priced.amount == D(62)


def test_prorated_graduated_prices_each_event_with_its_own_proration() -> None:
    # Day 1: 2 seats (weight 1): 2 × 1 × 10 = 20 in 0–2 (flat 5).
    # Day 16: 1 seat (weight 0.5), the third full unit: 1 × 0.5 × 4 = 2 in 3–∞ (flat 50).
    # 20 + 5 + 2 + 50 = 77.
    props = graduated(tier(0, 2, "10", "5"), tier(3, None, "4", "50"))
    assert compute_charge(props, prorated(("2", "2"), ("1", "0.5"))).amount == D(77)


def test_an_event_straddling_tiers_pays_each_tier_its_share() -> None:
    # Lago's own example: tiers 0–5 at 1 and 6–∞ at 2, one event of 75 with weight 0.5.
    # 5 full units in 0–5: 5 × 0.5 × 1 = 2.5; 70 in 6–∞: 70 × 0.5 × 2 = 70; 72.5.
    props = graduated(tier(0, 5, "1"), tier(6, None, "2"))
    priced = compute_charge(props, prorated(("75", "37.5")))
    assert priced.amount == D("72.5")
    assert [line.units for line in priced.lines] == [D("2.5"), D(35)]
    assert sum(line.amount for line in priced.lines) == priced.amount


def test_a_removal_takes_back_its_tier_units_and_the_flat_stays() -> None:
    # Day 1: +3 (weight 1): 2 × 10 = 20 in 0–2, 1 × 4 = 4 in 3–∞.
    # Day 16: -1 (weight 0.5, prorated -0.5) takes back unit 3: -1 × 0.5 × 4 = -2.
    # The full total reached 3, so the flat 50 of 3–∞ is billed once: 20 + 4 - 2 + 50 = 72.
    assert compute_charge(SEATS, prorated(("3", "3"), ("-1", "-0.5"))).amount == D(72)


def test_zero_prorated_units_bill_the_first_tiers_flat_amount() -> None:
    props = graduated(tier(0, 2, "10", "7"), tier(3, None, "4", "50"))
    # No event: 0 units, Lago bills the first tier's flat amount, 7.
    assert compute_charge(props, prorated()).amount == D(7)


def test_a_negative_full_total_prices_zero() -> None:
    # Full units -2: Lago answers 0 for the whole charge, flats included.
    props = graduated(tier(0, 2, "10", "7"), tier(3, None, "4", "50"))
    priced = compute_charge(props, prorated(("-2", "-1")))
    assert priced.amount == 0
    assert sum(line.amount for line in priced.lines) == 0


def test_a_negative_prorated_amount_is_raised_to_zero_before_the_flats() -> None:
    # Day 1: -1 (weight 1): -1 × 10 = -10; day 28: +1 (weight 3/30 = 0.1): 0.1 × 10 = 1.
    # Variable part -9 is raised to 0; the highest full total (0) reached 0–2: flat 3.
    props = graduated(tier(0, 2, "10", "3"), tier(3, None, "4", "50"))
    priced = compute_charge(props, prorated(("-1", "-1"), ("1", "0.1")))
    assert priced.amount == D(3)
    assert sum(line.amount for line in priced.lines) == D(3)


def test_prorated_volume_selects_its_tier_with_the_full_units() -> None:
    # 3 seats from April 16: prorated 1.5, full 3. Volume 0–2 at 10, 3–∞ at 4 (flat 50):
    # the tier follows the full 3 units (3–∞), priced on the prorated 1.5: 1.5 × 4 + 50 = 56.
    props = parse_properties(
        "volume", {"volume_ranges": [tier(0, 2, "10"), tier(3, None, "4", "50")]}
    )
    usage = PricingInput(units=D("1.5"), full_units=D(3), prorated_events=((D(3), D("1.5")),))
    assert compute_charge(props, usage).amount == D(56)


def test_unprorated_graduated_is_unchanged() -> None:
    # No increments (an unprorated charge): graduated over 3 units: 2 × 10 + 1 × 4 + 50 = 74.
    assert compute_charge(SEATS, PricingInput(units=D(3))).amount == D(74)


def test_prorated_graduated_unit_amount_divides_by_the_full_units() -> None:
    # 62 (first test) / 3 full units = 20.666...
    priced = compute_charge(SEATS, prorated(("3", "1.5")))
    assert priced.unit_amount.quantize(D("0.0001")) == D("20.6667")


# --- per-event increments of the aggregation -----------------------------------------------


def test_prorated_sum_increments_weigh_each_value_by_its_remaining_days() -> None:
    # Day 1: 2 × 30/30 = 2; day 16: 4 × 15/30 = 2; day 30: 3 × 1/30 = 0.1; a 0 adds nothing.
    values = [(on(1), D(2)), (on(16), D(4)), (on(20), D(0)), (on(30), D(3))]
    increments = prorated_sum_increments(values, window=WINDOW)
    assert increments == ((D(2), D(2)), (D(4), D(2)), (D(3), ratio(3, 30)))


def test_prorated_unique_count_increments_close_each_presence_interval() -> None:
    # "a" present since March, removed April 10: days 1..10 = 10/30.
    # "b" added April 16 and kept: days 16..30 = 15/30. The remove gives (-1, 0); a second
    # add of "b" and a remove of the absent "c" change nothing.
    operations = [
        (datetime(2024, 3, 5, tzinfo=UTC), "a", True),
        (on(10), "a", False),
        (on(16), "b", True),
        (on(17), "b", True),
        (on(18), "c", False),
    ]
    increments = prorated_unique_count_increments(operations, window=WINDOW)
    assert increments == ((D(1), ratio(10, 30)), (D(-1), D(0)), (D(1), ratio(15, 30)))
    # The prorated parts add up to the prorated units before ceil(5): 25/30 -> 0.83334.
    assert prorated_unique_count_units(operations, window=WINDOW) == D("0.83334")


def test_values_present_before_the_window_and_never_touched_weigh_the_whole_window() -> None:
    operations = [(datetime(2024, 3, 5, tzinfo=UTC), "z", True)]
    # Only a prior add: one (+1, 30/30) increment.
    assert prorated_unique_count_increments(operations, window=WINDOW) == ((D(1), D(1)),)


def test_aggregation_carries_the_increments_of_a_prorated_unique_count() -> None:
    metric = BillableMetric(
        code="seats", aggregation_type=AggregationType.UNIQUE_COUNT, field_name="id",
        recurring=True,
    )  # fmt: skip
    events = [
        UsageEvent(transaction_id="1", code="seats", timestamp=on(16), properties={"id": "a"}),
        UsageEvent(transaction_id="2", code="seats", timestamp=on(16), properties={"id": "b"}),
    ]
    result = aggregate(metric, events, window=WINDOW, prorated=True, period_days=30)
    # Two seats from April 16: each (1, 15/30 = 0.5); units 1, full units 2.
    assert result.prorated_events == ((D(1), D("0.5")), (D(1), D("0.5")))
    assert (result.units, result.full_units) == (D(1), D(2))
    # Tiers 0–1 at 2 and 2–∞ at 10 with flat 30: seat 1 costs 0.5 × 2 = 1, seat 2 sits in
    # 2–∞: 0.5 × 10 = 5, and its flat 30 is billed: 36 (graduated over 1 unit would be 2).
    props = graduated(tier(0, 1, "2"), tier(2, None, "10", "30"))
    usage = PricingInput(
        units=result.units, full_units=result.full_units, prorated_events=result.prorated_events
    )
    assert compute_charge(props, usage).amount == D(36)


def test_latest_agg_with_a_negative_last_value_gives_zero_units() -> None:
    metric = BillableMetric(code="m", aggregation_type=AggregationType.LATEST, field_name="v")
    events = [
        UsageEvent(transaction_id="1", code="m", timestamp=on(2), properties={"v": 5}),
        UsageEvent(transaction_id="2", code="m", timestamp=on(3), properties={"v": -3}),
    ]
    # The last value is -3: Lago gives 0 units, not -3.
    assert aggregate(metric, events, window=WINDOW).units == 0


def test_proration_weight_counts_the_event_day_in_the_customer_timezone() -> None:
    # April in Paris (UTC+2): from 2024-03-31 22:00 UTC to 2024-04-30 21:59:59.999999 UTC.
    paris = (
        datetime(2024, 3, 31, 22, tzinfo=UTC),
        datetime(2024, 4, 30, 21, 59, 59, 999999, tzinfo=UTC),
    )
    moment = datetime(2024, 4, 15, 23, 30, tzinfo=UTC)
    # 2024-04-15 23:30 UTC is April 16, 01:30 in Paris: days 16..30 = 15 -> 15/30 = 0.5.
    assert proration_weight(moment, window=paris, timezone="Europe/Paris", period_days=30) == D(
        "0.5"
    )
    # In UTC (April window in UTC) it is still April 15: days 15..30 = 16 -> 16/30.
    assert proration_weight(moment, window=WINDOW, period_days=30) == ratio(16, 30)


# --- pay in advance -----------------------------------------------------------------------


def test_in_advance_prorated_fee_is_priced_on_the_remaining_days() -> None:
    # One seat on April 16 at 30 a seat: prorated 1 × 15/30 = 0.5; fee 0.5 × 30 = 15.
    (charged,) = price_in_advance(
        standard("30"), [AdvanceEvent(total=D(1), weight=D("0.5"))], prorated=True
    )
    assert (charged.units, charged.amount) == (D("0.5"), D(15))


def test_in_advance_recurring_readd_of_a_value_present_since_an_earlier_period_costs_zero() -> None:
    # Seat "a" has been present since last period: the period opens at 1.
    # Re-adding "a" keeps the total at 1: nothing above the opening, fee 0.
    # Adding "b" raises it to 2: 1 unit × 10 = 10.
    fees = price_in_advance(
        standard("10"),
        [AdvanceEvent(total=D(1)), AdvanceEvent(total=D(2))],
        opening_total=D(1),
    )
    assert [(f.units, f.amount) for f in fees] == [(D(0), D(0)), (D(1), D(10))]


def test_in_advance_recurring_opening_counts_in_the_tiers() -> None:
    # Two seats carried over, a third added: graduated 0–2 at 10, 3–∞ at 4 (flat 50).
    # price(3) - price(2) = (20 + 4 + 50) - 20 = 54.
    (charged,) = price_in_advance(SEATS, [AdvanceEvent(total=D(3))], opening_total=D(2))
    assert charged.amount == D(54)


def test_in_advance_prorated_with_an_opening_prices_only_the_new_seat() -> None:
    # Two seats carried over (weight 1), one added on April 16 (weight 0.5) at 30 a seat:
    # (2 + 0.5) × 30 - 2 × 30 = 15.
    (charged,) = price_in_advance(
        standard("30"),
        [AdvanceEvent(total=D(3), weight=D("0.5"))],
        prorated=True,
        opening_total=D(2),
        opening_weight=D(1),
    )
    assert charged.amount == D(15)


def test_in_advance_dynamic_event_costs_its_own_price() -> None:
    dynamic = parse_properties("dynamic", {})
    fees = price_in_advance(
        dynamic,
        [
            AdvanceEvent(total=D(2), precise_total_amount_cents=D(1250)),
            AdvanceEvent(total=D(1), precise_total_amount_cents=D(300)),
        ],
        currency=USD,
    )
    # 1250 cents = 12.50 USD; the second event lowers the units yet costs its 300 = 3.00.
    assert [f.amount for f in fees] == [D("12.50"), D("3.00")]


def test_dynamic_in_advance_amount_is_the_difference_of_event_prices() -> None:
    dynamic = parse_properties("dynamic", {})
    before = PricingInput(units=D(1), precise_total_amount_cents=D(100))
    after = PricingInput(units=D(2), precise_total_amount_cents=D(1100))
    # (1100 - 100) cents = 10.00 USD.
    assert pay_in_advance_amount(dynamic, before=before, after=after, currency=USD) == D(10)


def test_dynamic_in_advance_amount_needs_the_plan_currency() -> None:
    dynamic = parse_properties("dynamic", {})
    usage = PricingInput(units=D(1), precise_total_amount_cents=D(100))
    # Event prices are minor units: without the currency there is no subunit to divide by.
    with pytest.raises(DomainError) as raised:
        pay_in_advance_amount(dynamic, before=PricingInput(units=D(0)), after=usage)
    assert raised.value.code == "currency_required"
