"""Properties of billing periods over every interval, billing time and timezone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.periods import (
    BillingTime,
    PlanInterval,
    billed_days,
    local_date,
    period_containing,
)

# East and west of UTC, half-hour and 45-minute offsets, DST at midnight (Santiago,
# Havana, Beirut, historical São Paulo), southern-hemisphere DST (Auckland).
TIMEZONES = [
    "UTC",
    "Asia/Tokyo",
    "Pacific/Auckland",
    "America/Los_Angeles",
    "Europe/Paris",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "America/Sao_Paulo",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1),  # hypothesis takes naive bounds
    max_value=datetime(2060, 12, 31),
    timezones=st.just(UTC),
)
intervals = st.sampled_from(list(PlanInterval))
billing_times = st.sampled_from(list(BillingTime))
timezones = st.sampled_from(TIMEZONES)


# Anchors include the 28th–31st often, the interesting anniversary days.
def _safe_anchor(y: int, m: int, d: int, h: int) -> datetime:
    for day in (d, 30, 29, 28):
        try:
            return datetime(y, m, day, h, tzinfo=UTC)
        except ValueError:
            continue
    raise AssertionError("unreachable")


anchors = st.one_of(
    instants,
    st.builds(
        _safe_anchor,
        st.sampled_from([2020, 2023, 2024]),
        st.integers(1, 12),
        st.sampled_from([1, 15, 28, 29, 30, 31]),
        st.integers(0, 23),
    ),
)


@settings(max_examples=300, deadline=None)
@given(instants, intervals, billing_times, timezones, anchors)
def test_instant_is_always_inside_the_period_containing_it(
    instant: datetime, interval: PlanInterval, billing_time: BillingTime, tz: str, anchor: datetime
) -> None:
    p = period_containing(
        instant, interval=interval, billing_time=billing_time, anchor=anchor, timezone=tz
    )
    assert p.contains(instant)
    assert p.start <= instant <= p.end


@settings(max_examples=200, deadline=None)
@given(instants, intervals, billing_times, timezones, anchors)
def test_periods_tile_time_without_gap_or_overlap(
    instant: datetime, interval: PlanInterval, billing_time: BillingTime, tz: str, anchor: datetime
) -> None:
    kw = {"interval": interval, "billing_time": billing_time, "anchor": anchor, "timezone": tz}
    p = period_containing(instant, **kw)  # type: ignore[arg-type]
    for _ in range(14):
        nxt = period_containing(p.end_exclusive, **kw)  # type: ignore[arg-type]
        assert nxt.start == p.end + timedelta(microseconds=1)
        assert nxt.start > p.end
        # The last instant of a period still belongs to it, not to the next one.
        assert period_containing(p.end, **kw) == p  # type: ignore[arg-type]
        p = nxt


@settings(max_examples=200, deadline=None)
@given(instants, intervals, billing_times, timezones, anchors)
def test_period_starts_at_a_local_midnight_and_has_plausible_length(
    instant: datetime, interval: PlanInterval, billing_time: BillingTime, tz: str, anchor: datetime
) -> None:
    p = period_containing(
        instant, interval=interval, billing_time=billing_time, anchor=anchor, timezone=tz
    )
    # The instant just before the start is on the previous local date.
    assert local_date(p.start - timedelta(microseconds=1), timezone=tz) < p.first_day
    bounds = {
        PlanInterval.WEEKLY: (7, 7),
        PlanInterval.MONTHLY: (28, 31),
        PlanInterval.QUARTERLY: (89, 92),
        PlanInterval.SEMIANNUAL: (181, 184),
        PlanInterval.YEARLY: (365, 366),
    }[interval]
    assert bounds[0] <= p.days <= bounds[1]
    assert p.days == (p.last_day - p.first_day).days + 1


@settings(max_examples=200, deadline=None)
@given(instants, billing_times, timezones, anchors)
def test_anniversary_periods_start_on_the_anchor_day_or_the_month_end(
    instant: datetime, billing_time: BillingTime, tz: str, anchor: datetime
) -> None:
    p = period_containing(
        instant, interval="monthly", billing_time="anniversary", anchor=anchor, timezone=tz
    )
    anchor_day = local_date(anchor, timezone=tz).day
    first = p.first_day
    month_end = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    assert first.day == min(anchor_day, month_end.day)


@settings(max_examples=300, deadline=None)
@given(instants, intervals, billing_times, timezones, anchors, st.data())
def test_billed_days_is_between_one_and_the_period_days(
    instant: datetime,
    interval: PlanInterval,
    billing_time: BillingTime,
    tz: str,
    anchor: datetime,
    data: st.DataObject,
) -> None:
    p = period_containing(
        instant, interval=interval, billing_time=billing_time, anchor=anchor, timezone=tz
    )
    span = p.end - p.start
    a = data.draw(st.integers(0, span // timedelta(microseconds=1) - 1))
    b = data.draw(st.integers(a + 1, span // timedelta(microseconds=1)))
    from_ = p.start + timedelta(microseconds=a)
    to = p.start + timedelta(microseconds=b)
    days = billed_days(from_, to, timezone=tz)
    assert 1 <= days <= p.days
    assert billed_days(p.start, p.end, timezone=tz) == p.days
