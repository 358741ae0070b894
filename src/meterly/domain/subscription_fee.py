"""The subscription fee: a plan's recurring amount, prorated by days like Lago.

Rule (lago-semantics item 11):

    amount = days × plan.amount_cents / days_in_full_period

* `days` are the local dates from `from`'s to `to`'s in the customer's timezone
  (`periods.billed_days`): a span that starts mid-day counts from the beginning of that
  day, and the day `to` falls on counts whole, even at its local midnight.
* `days_in_full_period` is the number of calendar days of the *full* period (a
  mid-period calendar start is prorated against the whole calendar month, 31 for
  January, 365/366 for a year ...). After a plan change the full period is the one of
  the original anchor (`subscription_at`), so a monthly→yearly upgrade on 2023-09-28 of
  a subscription anchored on 06-29 bills 275/366 of the yearly amount.
* Termination day is billed (`to` = the termination instant, at 00:00 too).
  On an upgrade the upgrade day goes to the new plan: the old plan bills `days − 1`.
* Trials: days before the trial ends are not billed (`from` moves to the trial end;
  the trial-end day itself is billed when the trial ends during it). A trial covering
  the whole span gives 0. Usage charges are never affected by trials.
* Pay in advance + anniversary + first period starting on the anchor day (and no trial
  in the span, not a termination) ⇒ the full amount, no proration. The first period of
  a subscription that replaced another starts on the change day, not on the anchor
  day: it is prorated.
* Billing the whole period gives exactly `plan.amount_cents`.

Float vs Decimal: Lago computes `days × amount_cents.fdiv(period_days)` in binary
Float and rounds with Float#round (half away from zero). We compute the exact rational
`days × amount_cents / period_days` in Decimal (28 significant digits) and round half
away from zero (half up for these non-negative amounts). The two agree except when the
exact value is a half-cent tie (`2·days·amount ≡ period_days mod 2·period_days`):
Lago's Float product may land one ulp below or above .5 and round either way, while we
always round the exact tie up. `precise_amount_cents` also differs in its last digits
from Lago's Float (54.83870967741935 there, 54.83870967741935483870967742 here).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterly.domain.errors import ValidationFailed
from meterly.domain.money import SUBSCRIPTION_FEE_ROUNDING
from meterly.domain.periods import (
    BillingPeriod,
    BillingTime,
    PlanInterval,
    billed_days,
    local_date,
    require_aware,
)

_YEARLY_FACTOR: dict[PlanInterval, int] = {
    PlanInterval.WEEKLY: 52,
    PlanInterval.MONTHLY: 12,
    PlanInterval.QUARTERLY: 4,
    PlanInterval.SEMIANNUAL: 2,
    PlanInterval.YEARLY: 1,
}


@dataclass(frozen=True, slots=True)
class SubscriptionFeeAmount:
    """A computed subscription fee.

    `amount_cents`: the fee in minor units, rounded half away from zero.
    `precise_amount_cents`: the unrounded Decimal (Lago's precise_amount_cents).
    `days`: days billed (0 when a trial covers the span).
    `full_period_days`: calendar days of the full period (the denominator).
    """

    amount_cents: int
    precise_amount_cents: Decimal
    days: int
    full_period_days: int


def yearly_amount_cents(amount_cents: int, interval: PlanInterval | str) -> int:
    """A plan's amount over a year: weekly ×52, monthly ×12, quarterly ×4, semiannual ×2."""
    return amount_cents * _YEARLY_FACTOR[PlanInterval(interval)]


def is_upgrade(*, old_yearly_amount_cents: int, new_yearly_amount_cents: int) -> bool:
    """Lago's `upgraded?`: the new plan costs at least as much per year as the old one.

    An upgrade applies immediately (old subscription terminated, upgrade day billed to the
    new plan); otherwise it is a downgrade, scheduled for the next billing date.
    """
    return old_yearly_amount_cents <= new_yearly_amount_cents


def _round(precise: Decimal) -> int:
    return int(precise.to_integral_value(rounding=SUBSCRIPTION_FEE_ROUNDING))


def subscription_fee(
    *,
    plan_amount_cents: int,
    interval: PlanInterval | str,
    period: BillingPeriod,
    billed_from: datetime,
    billed_to: datetime,
    timezone: str,
    pay_in_advance: bool,
    billing_time: BillingTime | str,
    is_first_period: bool,
    trial_end: datetime | None = None,
    terminated: bool = False,
    upgraded: bool = False,
) -> SubscriptionFeeAmount:
    """The subscription fee for the span `[billed_from, billed_to]` of `period`.

    `period` is the *full* (unclipped) plan period; its day count is the denominator.
    `billed_from` is the period start, or the subscription start for a first period
    that starts mid-period. `billed_to` is the period's inclusive end, or the
    termination instant. `upgraded=True` means this is the old subscription's last fee
    after an upgrade: the upgrade day is not billed (days − 1). `interval` is accepted
    for symmetry with the plan (and validated); the day count comes from `period`.
    """
    PlanInterval(interval)
    time_kind = BillingTime(billing_time)
    if isinstance(plan_amount_cents, bool) or not isinstance(plan_amount_cents, int):
        raise ValidationFailed.field("amount_cents", "value_is_invalid")
    if plan_amount_cents < 0:
        raise ValidationFailed.field("amount_cents", "value_is_invalid")
    billed_from = require_aware(billed_from, "from_datetime")
    billed_to = require_aware(billed_to, "to_datetime")
    if billed_to < billed_from:
        raise ValidationFailed.field("to_datetime", "invalid_date_range")
    full_days = billed_days(period.start, period.end, timezone=timezone)

    start = billed_from
    in_trial = False
    trial_end = None if trial_end is None else require_aware(trial_end, "trial_end")
    if trial_end is not None and trial_end > billed_from:
        in_trial = True
        if trial_end > billed_to:
            return SubscriptionFeeAmount(0, Decimal(0), 0, full_days)
        start = trial_end

    full_amount_rule = (
        pay_in_advance
        and time_kind is BillingTime.ANNIVERSARY
        and is_first_period
        and local_date(billed_from, timezone=timezone)
        == local_date(period.start, timezone=timezone)
    )
    if full_amount_rule and not (in_trial or terminated or upgraded):
        return SubscriptionFeeAmount(
            plan_amount_cents, Decimal(plan_amount_cents), full_days, full_days
        )

    days = billed_days(start, billed_to, timezone=timezone)
    if upgraded:
        days = max(days - 1, 0)
    days = min(days, full_days)
    if days == full_days:
        return SubscriptionFeeAmount(plan_amount_cents, Decimal(plan_amount_cents), days, full_days)
    precise = Decimal(days) * Decimal(plan_amount_cents) / Decimal(full_days)
    return SubscriptionFeeAmount(_round(precise), precise, days, full_days)


def day_price_cents(*, plan_amount_cents: int, full_period_days: int) -> Decimal:
    """One day of the subscription fee (for credit notes: day price × unused days)."""
    return Decimal(plan_amount_cents) / Decimal(full_period_days)
