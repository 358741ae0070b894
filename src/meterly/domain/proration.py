"""Proration of recurring charges by days (lago-semantics item 9), shared by the reference
aggregation (`meterly.domain.aggregation`) and the store's SQL path.

A value added on day d of the period is used (date(period end) - d + 1) days out of the
full period's days, counted in the customer's timezone; a unique value is used from its
add to its remove (the remove day counts). Prorated totals are `ceil(…, 5)`.

The per-event forms (`prorated_sum_increments`, `prorated_unique_count_increments`) give
each event's (full, prorated) increment, unrounded: the prorated graduated model
(`meterly.domain.pricing.prorated`) walks them in timestamp order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from meterly.domain.money import ceil_to

PRORATED_PRECISION = 5
# Digits for the intermediate products and quotients (Lago uses BigDecimal).
_WORK_PRECISION = 60
_ZERO = Decimal(0)
_ONE = Decimal(1)

Window = tuple[datetime, datetime]
# One event's (full, prorated) contribution to a prorated aggregation.
ProratedIncrement = tuple[Decimal, Decimal]


def local_date(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def window_days(window: Window, timezone: str) -> int:
    """Calendar days the window touches in the customer's timezone."""
    return (local_date(window[1], timezone) - local_date(window[0], timezone)).days + 1


def _prorated_days(start: datetime, end: datetime, window: Window, timezone: str) -> int:
    """Days of [start, end] inside the window, both end days counted, in the timezone."""
    first = max(start, window[0])
    last = min(end, window[1])
    return (local_date(last, timezone) - local_date(first, timezone)).days + 1


def proration_weight(
    moment: datetime, *, window: Window, timezone: str = "UTC", period_days: int | None = None
) -> Decimal:
    """(date(to) - date(max(moment, from)) + 1) / period days: the share of the period a
    value added at `moment` is used for (a pay-in-advance event on a prorated charge)."""
    days_in_period = period_days or window_days(window, timezone)
    with localcontext(prec=_WORK_PRECISION):
        return Decimal(_prorated_days(moment, window[1], window, timezone)) / days_in_period


def prorated_sum_units(
    values: Sequence[tuple[datetime, Decimal]],
    *,
    window: Window,
    timezone: str = "UTC",
    period_days: int | None = None,
) -> Decimal:
    """Σ value × (date(to) - date(max(event, from)) + 1) / period_days, ceil(5).

    Values before the window (a recurring metric's earlier events) weigh the whole window.
    """
    days_in_period = period_days or window_days(window, timezone)
    with localcontext(prec=_WORK_PRECISION):
        weighted = _ZERO
        for moment, value in values:
            weighted += value * _prorated_days(moment, window[1], window, timezone)
        return ceil_to(weighted / days_in_period, PRORATED_PRECISION)


def prorated_sum_increments(
    values: Sequence[tuple[datetime, Decimal]],
    *,
    window: Window,
    timezone: str = "UTC",
    period_days: int | None = None,
) -> tuple[ProratedIncrement, ...]:
    """Per value, in order: (value, value × days from its day to the window end / period days).

    The per-event form of `prorated_sum_units` (unrounded: the prorated graduated model
    splits these between tiers; its own total is what gets rounded). Zero values change
    nothing and are left out (so a recurring metric's earlier events summing to 0 give
    no increment, however the caller found that sum).
    """
    days_in_period = period_days or window_days(window, timezone)
    with localcontext(prec=_WORK_PRECISION):
        return tuple(
            (value, value * _prorated_days(moment, window[1], window, timezone) / days_in_period)
            for moment, value in values
            if value != 0
        )


def prorated_unique_count_increments(
    operations: Sequence[tuple[datetime, str, bool]],
    *,
    window: Window,
    timezone: str = "UTC",
    period_days: int | None = None,
) -> tuple[ProratedIncrement, ...]:
    """Per operation that changes the presence of a value: (+1, its presence days / period
    days) for an add, (-1, 0) for a remove (the add already counted the days up to it).

    The values present before the window come first, sorted by value (they all start at
    the window start); then the window's operations in order. Adds of a present value and
    removes of an absent one change nothing and give no increment. The prorated parts
    add up to `prorated_unique_count_units` before its ceil(5).
    """
    days_in_period = period_days or window_days(window, timezone)
    start, end = window
    present: set[str] = set()  # values present before the window
    opened: list[datetime] = []  # presence start of each +1 step, in order
    closed_on: dict[int, datetime] = {}  # index in `opened` -> the remove that closed it
    open_index: dict[str, int] = {}
    signs: list[int] = []
    in_window = False

    def add(value: str, since: datetime) -> None:
        open_index[value] = len(opened)
        opened.append(since)
        signs.append(1)

    for moment, value, is_add in operations:
        if moment < start:
            if is_add:
                present.add(value)
            else:
                present.discard(value)
            continue
        if not in_window:
            in_window = True
            for prior in sorted(present):
                add(prior, start)
        if is_add and value not in open_index:
            add(value, moment)
        elif not is_add and value in open_index:
            closed_on[open_index.pop(value)] = moment
            signs.append(-1)
    if not in_window:
        for prior in sorted(present):
            add(prior, start)
    increments: list[ProratedIncrement] = []
    added = 0
    with localcontext(prec=_WORK_PRECISION):
        for sign in signs:
            if sign < 0:
                increments.append((-_ONE, _ZERO))
                continue
            since = opened[added]
            until = closed_on.get(added, end)
            days = _prorated_days(since, until, window, timezone)
            increments.append((_ONE, Decimal(days) / days_in_period))
            added += 1
    return tuple(increments)


def prorated_unique_count_units(
    operations: Sequence[tuple[datetime, str, bool]],
    *,
    window: Window,
    timezone: str = "UTC",
    period_days: int | None = None,
) -> Decimal:
    """Σ over the presence intervals of each value of days used / period_days, ceil(5).

    A value is present from its add until its next remove (the remove day counts) or the
    window end; intervals that ended before the window are left out; an add before the
    window counts from the window start. Operations are in timestamp order.
    """
    days_in_period = period_days or window_days(window, timezone)
    added_at: dict[str, datetime] = {}
    used_days = 0

    def close(start: datetime, end: datetime) -> int:
        if end < window[0]:
            return 0
        return max(_prorated_days(start, end, window, timezone), 0)

    for moment, value, is_add in operations:
        if is_add:
            added_at.setdefault(value, moment)
        elif value in added_at:
            used_days += close(added_at.pop(value), moment)
    for start in added_at.values():
        used_days += close(start, window[1])
    with localcontext(prec=_WORK_PRECISION):
        return ceil_to(Decimal(used_days) / days_in_period, PRORATED_PRECISION)
