"""Properties where proration, tiers and pay in advance meet (issue 19).

* A prorated charge over a whole period (every event weighing the whole period) prices
  exactly like the unprorated charge, graduated included.
* Pay in advance: the fees of a period's events add up to the arrears price of the
  period's usage when the usage never decreases (Lago then issues no period-end true-up:
  the in-advance charge stays off the periodic invoice), prorated or not; when it does
  decrease, they add up to the price of the high-water usage, never less than arrears.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from itertools import accumulate

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.aggregation import aggregate
from meterly.domain.pricing import (
    AdvanceEvent,
    ChargeProperties,
    PricingInput,
    compute_charge,
    parse_properties,
    price_in_advance,
)
from meterly.domain.usage import AggregationType, BillableMetric, UsageEvent

D = Decimal
START = datetime(2024, 4, 1, tzinfo=UTC)
END = datetime(2024, 4, 30, 23, 59, 59, 999999, tzinfo=UTC)

amounts = st.decimals(min_value=0, max_value=100, places=3, allow_nan=False).map(str)
quantities = st.decimals(min_value=0, max_value=50, places=2, allow_nan=False)
# Events that add usage: a zero-unit event re-pays a first-tier flat in advance (Lago prices
# the "without" side of a zero total at 0), so the sums below hold for events that add.
additions = st.decimals(min_value=D("0.01"), max_value=50, places=2, allow_nan=False)
# A 20-day period keeps the weights exact (k / 20 = 0.05 steps).
weights = st.integers(min_value=1, max_value=20).map(lambda days: D(days) / D(20))


@st.composite
def graduated_ladders(draw: st.DrawFn) -> ChargeProperties:
    """A valid graduated ladder: integer (0–b1, b1+1–b2, ...) or adjacent (0–b1, b1–b2...)."""
    # Gaps of 2 or more: an integer tier must end above where it starts (b1+1 < b2).
    gaps = draw(st.lists(st.integers(2, 20), max_size=3))
    bounds = list(accumulate(gaps))
    adjacent = draw(st.booleans()) and len(bounds) > 0
    ranges: list[dict[str, object]] = []
    lower = 0
    for bound in [*bounds, None]:
        ranges.append(
            {
                "from_value": lower,
                "to_value": bound,
                "per_unit_amount": draw(amounts),
                "flat_amount": draw(amounts),
            }
        )
        if bound is not None:
            lower = bound if adjacent else bound + 1
    return parse_properties("graduated", {"graduated_ranges": ranges})


@st.composite
def arrears_models(draw: st.DrawFn) -> ChargeProperties:
    """Models whose in-advance fees telescope to the arrears price (Lago's baseline)."""
    kind = draw(st.sampled_from(["standard", "graduated", "package", "graduated_percentage"]))
    if kind == "standard":
        return parse_properties("standard", {"amount": draw(amounts)})
    if kind == "graduated":
        return draw(graduated_ladders())
    if kind == "package":
        return parse_properties(
            "package",
            {"amount": draw(amounts), "package_size": draw(st.integers(1, 10)), "free_units": 0},
        )
    top = draw(st.integers(1, 60))
    return parse_properties(
        "graduated_percentage",
        {
            "graduated_percentage_ranges": [
                {"from_value": 0, "to_value": top, "rate": draw(amounts), "flat_amount": "0"},
                {
                    "from_value": top + 1,
                    "to_value": None,
                    "rate": draw(amounts),
                    "flat_amount": "0",
                },
            ]
        },
    )


# --- a prorated charge over a whole period --------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(ladder=graduated_ladders(), values=st.lists(quantities, max_size=8))
def test_prorated_graduated_over_a_whole_period_equals_graduated(
    ladder: ChargeProperties, values: list[Decimal]
) -> None:
    # Every event weighs the whole period: prorated increment = full increment.
    total = sum(values, D(0))
    whole = PricingInput(
        units=total, full_units=total, prorated_events=tuple((v, v) for v in values)
    )
    assert (
        compute_charge(ladder, whole).amount
        == compute_charge(ladder, PricingInput(units=total)).amount
    )


@settings(max_examples=100, deadline=None)
@given(
    ladder=graduated_ladders(),
    values=st.lists(quantities, max_size=8),
    kind=st.sampled_from([AggregationType.SUM, AggregationType.UNIQUE_COUNT]),
    hours=st.lists(st.integers(0, 23), min_size=8, max_size=8),
)
def test_events_on_the_first_day_prorate_to_the_unprorated_price(
    ladder: ChargeProperties,
    values: list[Decimal],
    kind: AggregationType,
    hours: list[int],
) -> None:
    # Events on the period's first day count every day: the prorated aggregation gives
    # the full units, and each event's increment is (full, full).
    metric = BillableMetric(code="m", aggregation_type=kind, field_name="v", recurring=True)
    events = [
        UsageEvent(
            transaction_id=str(i),
            code="m",
            timestamp=START + timedelta(hours=hours[i]),
            properties={"v": str(v) if kind is AggregationType.SUM else f"seat-{i}"},
        )
        for i, v in enumerate(values)
    ]
    prorated = aggregate(metric, events, window=(START, END), prorated=True, period_days=30)
    plain = aggregate(metric, events, window=(START, END))
    assert prorated.units == plain.units == prorated.full_units
    usage = PricingInput(
        units=prorated.units,
        full_units=prorated.full_units,
        prorated_events=prorated.prorated_events,
    )
    assert (
        compute_charge(ladder, usage).amount
        == compute_charge(ladder, PricingInput(units=plain.units)).amount
    )


# --- pay in advance against arrears ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(props=arrears_models(), values=st.lists(additions, min_size=1, max_size=8))
def test_in_advance_fees_of_growing_usage_add_up_to_the_arrears_price(
    props: ChargeProperties, values: list[Decimal]
) -> None:
    totals = list(accumulate(values))
    fees = price_in_advance(
        props, [AdvanceEvent(total=t, value=v) for t, v in zip(totals, values, strict=True)]
    )
    arrears = compute_charge(props, PricingInput(units=totals[-1], events_count=len(values)))
    assert sum((f.amount for f in fees), D(0)) == arrears.amount
    assert sum((f.units for f in fees), D(0)) == totals[-1]


@settings(max_examples=200, deadline=None)
@given(
    props=st.one_of(
        amounts.map(lambda a: parse_properties("standard", {"amount": a})), graduated_ladders()
    ),
    steps=st.lists(st.tuples(additions, weights), min_size=1, max_size=8),
    opening=quantities,
)
def test_in_advance_prorated_fees_add_up_to_the_prorated_arrears_price(
    props: ChargeProperties, steps: list[tuple[Decimal, Decimal]], opening: Decimal
) -> None:
    # A recurring prorated charge: `opening` carried over (weighing the whole period), then
    # seats added on various days. The arrears price of the period is priced on the same
    # increments; the in-advance fees bill it minus what the opening alone costs.
    totals = list(accumulate([opening, *(v for v, _ in steps)]))[1:]
    fees = price_in_advance(
        props,
        [AdvanceEvent(total=t, weight=w) for t, (_, w) in zip(totals, steps, strict=True)],
        prorated=True,
        opening_total=opening,
    )
    increments = [(opening, opening), *((v, v * w) for v, w in steps)]

    def price(pairs: list[tuple[Decimal, Decimal]]) -> Decimal:
        usage = PricingInput(
            units=sum((p for _, p in pairs), D(0)),
            full_units=sum((f for f, _ in pairs), D(0)),
            prorated_events=tuple(pairs),
        )
        return compute_charge(props, usage).amount

    opening_alone = price(increments[:1]) if opening else D(0)
    assert sum((f.amount for f in fees), D(0)) == price(increments) - opening_alone


@settings(max_examples=200, deadline=None)
@given(
    amount=amounts,
    values=st.lists(
        st.decimals(min_value=-50, max_value=50, places=2, allow_nan=False), min_size=1, max_size=8
    ),
)
def test_in_advance_fees_of_any_usage_bill_its_high_water_mark(
    amount: str, values: list[Decimal]
) -> None:
    # Decreases bill 0 and must be climbed back: the fees add up to the price of the
    # highest running total (at least 0), never less than the arrears price.
    props = parse_properties("standard", {"amount": amount})
    totals = list(accumulate(values))
    fees = price_in_advance(props, [AdvanceEvent(total=t) for t in totals])
    high_water = max(D(0), *totals)
    billed = sum((f.amount for f in fees), D(0))
    assert billed == high_water * D(amount)
    assert billed >= compute_charge(props, PricingInput(units=totals[-1])).amount


# --- the increments and the prorated units -------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2024, 3, 1), max_value=datetime(2024, 4, 30, 23), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from([AggregationType.SUM, AggregationType.UNIQUE_COUNT]),
    rows=st.lists(
        st.tuples(
            moments,
            st.sampled_from(["1", "-2", "3.5", "a", "b", "c"]),
            st.sampled_from([None, "add", "remove"]),
        ),
        max_size=12,
    ),
    timezone=st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles"]),
)
def test_increments_add_up_to_the_prorated_and_full_units(
    kind: AggregationType, rows: list[tuple[datetime, str, str | None]], timezone: str
) -> None:
    # Before the ceil(5) of the prorated units, the prorated parts of the increments are
    # the prorated units, and their full parts the full units: the prorated graduated
    # model walks the same usage the other models price.
    metric = BillableMetric(code="m", aggregation_type=kind, field_name="v", recurring=True)
    events = [
        UsageEvent(
            transaction_id=str(i),
            code="m",
            timestamp=moment,
            properties={"v": value, "operation_type": operation},
        )
        for i, (moment, value, operation) in enumerate(rows)
    ]
    result = aggregate(
        metric,
        [e for e in events if e.timestamp >= START],
        window=(START, END),
        prior_events=[e for e in events if e.timestamp < START],
        prorated=True,
        timezone=timezone,
        period_days=30,
    )
    increments = result.prorated_events or ()
    with localcontext(prec=200):
        full = sum((f for f, _ in increments), D(0))
        prorated = sum((p for _, p in increments), D(0))
        # units = ceil(Σ prorated, 5); each part carries a division rounded at 60 digits.
        assert result.units - D("0.00001") < prorated <= result.units + D("1e-50")
    assert full == result.full_units
