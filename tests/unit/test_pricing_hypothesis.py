"""Properties of the charge models that must hold for every input."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.money import CURRENCIES, Currency
from meterly.domain.pricing import (
    ChargeProperties,
    PricingInput,
    compute_charge,
    finalize_fee,
    parse_properties,
    pay_in_advance_amount,
)

D = Decimal

amounts = st.decimals(min_value=0, max_value=1000, places=4).map(str)
units_st = st.decimals(min_value=0, max_value=100_000, places=3)


def _cuts(steps: list[int]) -> list[int]:
    """Increasing to_values at least 2 apart, so every +1 tier keeps to_value > from_value."""
    cuts, total = [], 0
    for step in steps:
        total += step
        cuts.append(total)
    return cuts


@st.composite
def ladders(draw: st.DrawFn, *, adjacent_allowed: bool = True) -> list[dict[str, object]]:
    """A valid ladder: integer (+1) bounds, or adjacent bounds for graduated."""
    cuts = _cuts(draw(st.lists(st.integers(2, 10_000), max_size=5)))
    adjacent = adjacent_allowed and draw(st.booleans())
    ranges: list[dict[str, object]] = []
    start = 0
    for cut in cuts:
        ranges.append(
            {"from_value": start, "to_value": cut, "per_unit_amount": draw(amounts),
             "flat_amount": draw(amounts)}
        )  # fmt: skip
        start = cut if adjacent else cut + 1
    ranges.append(
        {"from_value": start, "to_value": None, "per_unit_amount": draw(amounts),
         "flat_amount": draw(amounts)}
    )  # fmt: skip
    return ranges


def graduated_props(ranges: list[dict[str, object]]) -> ChargeProperties:
    return parse_properties("graduated", {"graduated_ranges": ranges})


def volume_props(ranges: list[dict[str, object]]) -> ChargeProperties:
    return parse_properties("volume", {"volume_ranges": ranges})


@st.composite
def any_charge(draw: st.DrawFn) -> ChargeProperties:
    kind = draw(
        st.sampled_from(
            ["standard", "graduated", "volume", "package", "percentage", "graduated_percentage",
             "dynamic"]
        )
    )  # fmt: skip
    if kind == "standard":
        return parse_properties(kind, {"amount": draw(amounts)})
    if kind == "graduated":
        return graduated_props(draw(ladders()))
    if kind == "volume":
        return volume_props(draw(ladders(adjacent_allowed=False)))
    if kind == "graduated_percentage":
        ranges = [
            {"from_value": r["from_value"], "to_value": r["to_value"],
             "rate": r["per_unit_amount"], "flat_amount": r["flat_amount"]}
            for r in draw(ladders(adjacent_allowed=False))
        ]  # fmt: skip
        return parse_properties(kind, {"graduated_percentage_ranges": ranges})
    if kind == "package":
        return parse_properties(
            kind,
            {"amount": draw(amounts), "package_size": draw(st.integers(1, 1000)),
             "free_units": draw(st.integers(0, 1000))},
        )  # fmt: skip
    if kind == "percentage":
        raw: dict[str, object] = {"rate": draw(amounts), "fixed_amount": draw(amounts)}
        if draw(st.booleans()):
            raw["free_units_per_events"] = draw(st.integers(1, 5))
        if draw(st.booleans()):
            raw["free_units_per_total_aggregation"] = draw(amounts)
        if draw(st.booleans()):
            raw["per_transaction_min_amount"] = "0.5"
            raw["per_transaction_max_amount"] = draw(st.sampled_from(["0.5", "3", "100"]))
        return parse_properties(kind, raw)
    return parse_properties("dynamic", {})


@st.composite
def any_usage(draw: st.DrawFn) -> PricingInput:
    values = tuple(draw(st.lists(st.decimals(0, 10_000, places=2), max_size=12)))
    return PricingInput(
        units=sum(values, D(0)),
        events_count=len(values),
        event_values=values,
        precise_total_amount_cents=draw(st.decimals(0, 10**9, places=6)),
    )


@given(ladders(), units_st)
def test_graduated_amount_is_never_negative(ranges: list[dict[str, object]], units: D) -> None:
    assert compute_charge(graduated_props(ranges), PricingInput(units=units)).amount >= 0


@given(ladders(adjacent_allowed=False), units_st, st.one_of(st.none(), units_st))
def test_volume_amount_is_never_negative(
    ranges: list[dict[str, object]], units: D, full: D | None
) -> None:
    usage = PricingInput(units=units, full_units=full)
    assert compute_charge(volume_props(ranges), usage).amount >= 0


@given(ladders(), units_st, units_st)
def test_graduated_is_monotone_non_decreasing_in_units(
    ranges: list[dict[str, object]], a: D, b: D
) -> None:
    low, high = sorted((a, b))
    props = graduated_props(ranges)
    assert (
        compute_charge(props, PricingInput(units=low)).amount
        <= compute_charge(props, PricingInput(units=high)).amount
    )


@settings(max_examples=300)
@given(any_charge(), any_usage())
def test_explanation_lines_add_up_to_the_amount(
    props: ChargeProperties, usage: PricingInput
) -> None:
    result = compute_charge(props, usage, currency=CURRENCIES["EUR"])
    assert sum((line.amount for line in result.lines), D(0)) == result.amount


@given(
    st.decimals(min_value=-1000, max_value=10**9, places=8),
    st.decimals(min_value=0, max_value=10**6, places=3),
    st.sampled_from(sorted(CURRENCIES.values(), key=lambda c: c.code)),
)
def test_finalize_fee_rounding_error_is_at_most_half_a_minor_unit(
    amount: D, units: D, cur: Currency
) -> None:
    fee = finalize_fee(amount=amount, units=units, currency=cur)
    assert abs(D(fee.amount_cents) - fee.precise_amount_cents) <= D("0.5")
    assert fee.amount_cents >= 0
    assert D(fee.unit_amount_cents) <= fee.precise_unit_amount.scaleb(cur.exponent)


@st.composite
def count_chargeable(draw: st.DrawFn) -> ChargeProperties:
    kind = draw(st.sampled_from(["standard", "graduated", "package"]))
    if kind == "standard":
        return parse_properties(kind, {"amount": draw(amounts)})
    if kind == "graduated":
        cuts = _cuts(draw(st.lists(st.integers(2, 10), max_size=4)))
        ranges, start = [], 0
        for cut in [*cuts, None]:
            ranges.append(
                {"from_value": start, "to_value": cut, "per_unit_amount": draw(amounts),
                 "flat_amount": draw(amounts)}
            )  # fmt: skip
            start = (cut or 0) + 1
        return graduated_props(ranges)
    return parse_properties(
        kind,
        {"amount": draw(amounts), "package_size": draw(st.integers(1, 10)),
         "free_units": draw(st.integers(0, 10))},
    )  # fmt: skip


def _count(n: int) -> PricingInput:
    return PricingInput(units=D(n), events_count=n, event_values=(D(1),) * n)


@given(count_chargeable(), st.integers(0, 60))
def test_pay_in_advance_fees_of_a_count_metric_sum_to_the_price_of_the_total(
    props: ChargeProperties, n: int
) -> None:
    fees = [pay_in_advance_amount(props, before=_count(i), after=_count(i + 1)) for i in range(n)]
    expected = compute_charge(props, _count(n)).amount if n else D(0)
    assert sum(fees, D(0)) == expected
