"""Billing periods: calendar and anniversary periods in the customer's timezone.

Every period is computed on *local dates* in the customer's timezone, then turned into
UTC instants:

* a period starts at the local midnight of its first day (as a UTC instant);
* `BillingPeriod.end` is the **inclusive** last instant of the period, exactly one
  microsecond before the next period starts (Lago's `end_of_day`, 23:59:59.999999 local,
  stored with microsecond precision);
* `BillingPeriod.end_exclusive` is the next boundary (`end + 1µs`): the instant the
  next period starts and the invoice for this one can be issued.

So consecutive periods tile time: `next.start == prev.end_exclusive`, no gap, no overlap.

Local midnight that does not exist (a DST jump at midnight, e.g. America/Santiago) maps
to the transition instant, the first instant of that local date; an ambiguous local
midnight (clocks falling back over midnight) maps to its first occurrence. Either way
the start of a period is the earliest instant whose local date is the period's first day.

Calendar periods: weeks Monday–Sunday, months, quarters (Jan/Apr/Jul/Oct), semesters
(Jan/Jul), years. Anniversary periods start on the subscription's local date: the same
weekday for weekly plans, the same day of the month every 1/3/6/12 months otherwise. An
anniversary day that a month does not have (29–31) falls on that month's last day and
returns to the anchor day in the next long enough month: anchor Jan 31 gives boundaries
Feb 29 (leap year) or Feb 28, then Mar 31, Apr 30, May 31 ... A Feb 29 anchor on a
yearly plan gives Feb 28 in common years and Feb 29 in leap years.

Nothing here reads the clock: the instant is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meterly.domain.errors import ValidationFailed

ONE_MICROSECOND = timedelta(microseconds=1)


class PlanInterval(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    YEARLY = "yearly"


class BillingTime(StrEnum):
    CALENDAR = "calendar"
    ANNIVERSARY = "anniversary"


# Length of each month-based interval, in months.
_MONTHS: dict[PlanInterval, int] = {
    PlanInterval.MONTHLY: 1,
    PlanInterval.QUARTERLY: 3,
    PlanInterval.SEMIANNUAL: 6,
    PlanInterval.YEARLY: 12,
}


def zone(timezone: str) -> ZoneInfo:
    """The IANA timezone, or a validation error on `timezone`."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationFailed.field("timezone", "invalid_timezone") from None


def require_aware(value: datetime, field: str = "datetime") -> datetime:
    """`value` as a UTC datetime; naive datetimes (and non-datetimes) are rejected.

    Normalising to UTC matters: Python compares two datetimes sharing a tzinfo by
    their wall clocks, which is wrong inside a repeated DST hour.
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValidationFailed.field(field, "invalid_date")
    return value.astimezone(UTC)


def local_date(instant: datetime, *, timezone: str) -> date:
    """The customer's calendar date of an instant."""
    return require_aware(instant, "instant").astimezone(zone(timezone)).date()


def local_midnight(day: date, *, timezone: str) -> datetime:
    """The first instant (UTC) of a local date in the customer's timezone."""
    local = datetime.combine(day, time(0), tzinfo=zone(timezone))  # fold=0: see module doc
    return local.astimezone(UTC)


def billed_days(from_: datetime, to: datetime, *, timezone: str) -> int:
    """Days Lago bills between two instants: every local date from `from_`'s to `to`'s.

    Days are calendar days in the customer's timezone (lago-semantics item 14, "Day
    counting"): a span that starts in the middle of a day is counted from the beginning
    of that day, and the day `to` falls on is billed whole, even when `to` is exactly its
    local midnight (Lago adds one second "to make sure we do not miss a day"). So the
    start day and the termination day are always billed: a subscription started on the
    15th at 10:00 and terminated on the 20th at 09:00 (or at 00:00) is billed 6 days, the
    15th to the 20th. With `to` the inclusive end of a period (23:59:59.999999 local) this
    is the number of days of the period. A DST change adds or removes no day.
    """
    from_utc = require_aware(from_, "from_datetime")
    to_utc = require_aware(to, "to_datetime")
    if to_utc < from_utc:  # compared as instants: wall clocks can go backwards (DST fall back)
        raise ValidationFailed.field("to_datetime", "invalid_date_range")
    first = local_date(from_utc, timezone=timezone)
    last = local_date(to_utc, timezone=timezone)
    return (last - first).days + 1


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    """A billing period as UTC instants: `start` inclusive, `end` inclusive.

    `end` is the last microsecond of the period (local 23:59:59.999999 of the last day
    for a full period; a termination instant for a terminated one). `timezone` is the
    customer's IANA timezone the period was computed in (used to count its days).
    """

    start: datetime
    end: datetime
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", require_aware(self.start, "from_datetime"))
        object.__setattr__(self, "end", require_aware(self.end, "to_datetime"))
        if self.end < self.start:
            raise ValidationFailed.field("to_datetime", "invalid_date_range")
        zone(self.timezone)

    @property
    def end_exclusive(self) -> datetime:
        """The first instant after the period: the next boundary for a full period."""
        return self.end + ONE_MICROSECOND

    @property
    def days(self) -> int:
        """Calendar days in the customer's timezone (partial days count as whole)."""
        return billed_days(self.start, self.end, timezone=self.timezone)

    @property
    def first_day(self) -> date:
        return local_date(self.start, timezone=self.timezone)

    @property
    def last_day(self) -> date:
        return local_date(self.end, timezone=self.timezone)

    def contains(self, instant: datetime) -> bool:
        return self.start <= require_aware(instant, "instant") <= self.end

    def clipped(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> BillingPeriod:
        """The same period starting no earlier than `start` and ending no later than `end`."""
        new_start = self.start if start is None else max(self.start, require_aware(start))
        new_end = self.end if end is None else min(self.end, require_aware(end))
        return BillingPeriod(start=new_start, end=new_end, timezone=self.timezone)


# --- local-date arithmetic ---------------------------------------------------------


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (nxt - date(year, month, 1)).days


def _month_date(month_index: int, day: int) -> date:
    """The date in month `month_index` (year*12 + month-1) on `day`, clamped to its end."""
    year, month0 = divmod(month_index, 12)
    return date(year, month0 + 1, min(day, _days_in_month(year, month0 + 1)))


def _period_dates(
    day: date, *, interval: PlanInterval, billing_time: BillingTime, anchor: date
) -> tuple[date, date]:
    """First day of the period containing `day` and first day of the next period."""
    if interval is PlanInterval.WEEKLY:
        weekday = 0 if billing_time is BillingTime.CALENDAR else anchor.weekday()
        first = day - timedelta(days=(day.weekday() - weekday) % 7)
        return first, first + timedelta(days=7)
    step = _MONTHS[interval]
    if billing_time is BillingTime.CALENDAR:
        anchor_index, anchor_day = 0, 1  # periods start on the 1st of Jan (+k·step months)
    else:
        anchor_index, anchor_day = anchor.year * 12 + anchor.month - 1, anchor.day
    index = day.year * 12 + day.month - 1
    start_index = index - (index - anchor_index) % step
    first = _month_date(start_index, anchor_day)
    if first > day:  # e.g. anchor day 15, day is the 10th: previous period
        start_index -= step
        first = _month_date(start_index, anchor_day)
    return first, _month_date(start_index + step, anchor_day)


def _coerce(
    interval: PlanInterval | str, billing_time: BillingTime | str
) -> tuple[PlanInterval, BillingTime]:
    try:
        plan_interval = PlanInterval(interval)
    except ValueError:
        raise ValidationFailed.field("interval", "value_is_invalid") from None
    try:
        time_kind = BillingTime(billing_time)
    except ValueError:
        raise ValidationFailed.field("billing_time", "value_is_invalid") from None
    return plan_interval, time_kind


def period_containing(
    instant: datetime,
    *,
    interval: PlanInterval | str,
    billing_time: BillingTime | str,
    anchor: datetime,
    timezone: str,
) -> BillingPeriod:
    """The full billing period that contains `instant`.

    `anchor` is the subscription start; it matters only for anniversary billing (its
    local date in `timezone` gives the anniversary weekday / day of month / month).
    The period is *not* clipped to the subscription start: see
    `subscription_period_containing` for the first, possibly partial, period.
    """
    plan_interval, time_kind = _coerce(interval, billing_time)
    day = local_date(instant, timezone=timezone)
    anchor_day = local_date(require_aware(anchor, "anchor"), timezone=timezone)
    first, nxt = _period_dates(
        day, interval=plan_interval, billing_time=time_kind, anchor=anchor_day
    )
    start = local_midnight(first, timezone=timezone)
    end_exclusive = local_midnight(nxt, timezone=timezone)
    return BillingPeriod(start=start, end=end_exclusive - ONE_MICROSECOND, timezone=timezone)


def next_boundary(
    instant: datetime,
    *,
    interval: PlanInterval | str,
    billing_time: BillingTime | str,
    anchor: datetime,
    timezone: str,
) -> datetime:
    """The first period boundary strictly after `instant` (a local midnight, in UTC)."""
    return period_containing(
        instant, interval=interval, billing_time=billing_time, anchor=anchor, timezone=timezone
    ).end_exclusive


def subscription_period_containing(
    instant: datetime,
    *,
    interval: PlanInterval | str,
    billing_time: BillingTime | str,
    started_at: datetime,
    timezone: str,
    anchor: datetime | None = None,
) -> BillingPeriod:
    """The period of a subscription that contains `instant`, clipped to its start.

    `anchor` is the billing anchor (the original `subscription_at`, kept through plan
    changes); it defaults to `started_at`. For the first period of a subscription that
    starts mid-period (calendar billing, a plan change on an anniversary subscription, or
    a start after local midnight), the period runs from `started_at` itself to the end of
    the anchored period; its subscription fee is prorated (see `subscription_fee`) and
    its days count from the beginning of the start day (`billed_days`). Later periods are
    full periods.
    """
    period = period_containing(
        instant,
        interval=interval,
        billing_time=billing_time,
        anchor=started_at if anchor is None else anchor,
        timezone=timezone,
    )
    if period.end < started_at:
        raise ValidationFailed.field("instant", "before_subscription_start")
    return period.clipped(start=started_at)


def first_period(
    *,
    interval: PlanInterval | str,
    billing_time: BillingTime | str,
    started_at: datetime,
    timezone: str,
) -> BillingPeriod:
    """The subscription's first period: from `started_at` to the end of its period."""
    return subscription_period_containing(
        started_at,
        interval=interval,
        billing_time=billing_time,
        started_at=started_at,
        timezone=timezone,
    )


def charges_interval(interval: PlanInterval | str, *, bill_charges_monthly: bool) -> PlanInterval:
    """The interval usage charges are billed on.

    `bill_charges_monthly` is honoured only for yearly and semiannual plans (Lago stores
    it as null otherwise): charges are then billed every month while the subscription
    fee stays yearly/semiannual.
    """
    plan_interval = PlanInterval(interval)
    if bill_charges_monthly and plan_interval in (PlanInterval.YEARLY, PlanInterval.SEMIANNUAL):
        return PlanInterval.MONTHLY
    return plan_interval


def charges_period_containing(
    instant: datetime,
    *,
    interval: PlanInterval | str,
    billing_time: BillingTime | str,
    anchor: datetime,
    timezone: str,
    bill_charges_monthly: bool,
) -> BillingPeriod:
    """The full charges period containing `instant` (monthly for yearly/semiannual plans
    with `bill_charges_monthly`, else the plan's own period)."""
    return period_containing(
        instant,
        interval=charges_interval(interval, bill_charges_monthly=bill_charges_monthly),
        billing_time=billing_time,
        anchor=anchor,
        timezone=timezone,
    )
