"""What the billing clock needs: which billing boundaries have closed, and what to bill.

A *boundary* is an instant at which an invoice for a subscription is due:

* **period end** — the local midnight (UTC instant) that ends a plan period or a
  charges period. It closes the charges period that just ended (usage is billed in
  arrears) and bills the subscription fee: in arrears, of the plan period that just
  ended; in advance, of the plan period that just started.
* **subscription start** — for a pay-in-advance plan only: the first (possibly
  partial) period's fee is billed at `started_at`. No charges are due then.
* **trial end** — for a pay-in-advance plan with a trial: a period's fee is due at the
  start of the period, or when the trial ends if that is later. A period entirely in
  the trial has no subscription fee at all (no boundary for it). The fee of the period
  in which the trial ends is prorated over the days after the trial.

Boundaries that fall on the same instant are merged into one `BillingBoundary`.
Regular boundaries stop before `terminated_at`: the final invoice is described by
`termination_boundary`.

Idempotency: `closed_boundaries(after=last_billed.at)` never returns a boundary at or
before `after`, so a second run with the same `after` bills nothing twice; invoices
should still be keyed by (subscription, boundary.at).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from meterly.domain.errors import ValidationFailed
from meterly.domain.periods import (
    BillingPeriod,
    BillingTime,
    PlanInterval,
    charges_interval,
    local_date,
    period_containing,
    require_aware,
    zone,
)

_MICROSECONDS_PER_DAY = Decimal(86_400_000_000)


class BoundaryReason(StrEnum):
    SUBSCRIPTION_START = "subscription_start"
    PERIOD_END = "period_end"
    TRIAL_END = "trial_end"
    TERMINATION = "termination"


@dataclass(frozen=True, slots=True)
class SubscriptionTerms:
    """What a subscription and its plan say about time.

    `started_at` is the subscription start: its first period is clipped to it.
    `anchor` is the billing anchor, Lago's `subscription_at`: the subscription that
    replaces another on an upgrade or downgrade keeps the original one, so anniversary
    periods, the proration denominator and the next boundary do not move with a plan
    change (lago-semantics item 14). None: `started_at`.
    `trial_started_at` is Lago's `initial_started_at`, the first start of the
    subscription's external_id: the trial runs from there, so a plan change or a
    subscription re-created with the same external id gets no new trial. None:
    `started_at`.
    `trial_period_days` is the plan's `trial_period` (decimal days, 0 = no trial).
    `bill_charges_monthly` is honoured for yearly and semiannual plans only.
    """

    started_at: datetime
    billing_time: BillingTime
    interval: PlanInterval
    timezone: str
    plan_pay_in_advance: bool
    trial_period_days: Decimal = Decimal(0)
    bill_charges_monthly: bool = False
    terminated_at: datetime | None = None
    anchor: datetime | None = None
    trial_started_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "started_at", require_aware(self.started_at, "started_at"))
        anchor = self.started_at if self.anchor is None else self.anchor
        object.__setattr__(self, "anchor", require_aware(anchor, "subscription_at"))
        trial_from = self.started_at if self.trial_started_at is None else self.trial_started_at
        object.__setattr__(self, "trial_started_at", require_aware(trial_from, "started_at"))
        if self.terminated_at is not None:
            terminated_at = require_aware(self.terminated_at, "terminated_at")
            object.__setattr__(self, "terminated_at", terminated_at)
            if self.terminated_at < self.started_at:
                raise ValidationFailed.field("terminated_at", "invalid_date_range")
        if isinstance(self.trial_period_days, float) or not isinstance(
            self.trial_period_days, Decimal | int
        ):
            raise ValidationFailed.field("trial_period", "value_is_invalid")
        if self.trial_period_days < 0:
            raise ValidationFailed.field("trial_period", "value_is_invalid")
        object.__setattr__(self, "billing_time", BillingTime(self.billing_time))
        object.__setattr__(self, "interval", PlanInterval(self.interval))
        zone(self.timezone)

    @property
    def billing_anchor(self) -> datetime:
        """The anchor of the subscription's periods (`anchor`, set in `__post_init__`)."""
        assert self.anchor is not None
        return self.anchor

    @property
    def trial_ends_at(self) -> datetime | None:
        """`trial_started_at + trial_period_days` days (exact, in UTC), or None without a
        trial."""
        if self.trial_period_days == 0:
            return None
        assert self.trial_started_at is not None
        micro = int((Decimal(self.trial_period_days) * _MICROSECONDS_PER_DAY).to_integral_value())
        return self.trial_started_at + timedelta(microseconds=micro)

    @property
    def charges_interval(self) -> PlanInterval:
        return charges_interval(self.interval, bill_charges_monthly=self.bill_charges_monthly)


@dataclass(frozen=True, slots=True)
class FeeSpan:
    """The part of one plan period whose subscription fee is billed.

    `full_period`: the whole plan period (its days are the proration denominator).
    `billed`: the span billed — `full_period` clipped to the subscription start (first
    period) and, at termination, ending at `terminated_at`.
    `is_first_period`: the subscription's first period (Lago's full-amount rule for
    pay-in-advance anniversary plans).
    Pass `billed.start`/`billed.end` as `billed_from`/`billed_to` to `subscription_fee`.
    """

    full_period: BillingPeriod
    billed: BillingPeriod
    is_first_period: bool


@dataclass(frozen=True, slots=True)
class BillingBoundary:
    """One invoice due for a subscription.

    `at`: the instant the invoice is issued — a period boundary (local midnight as UTC),
    the subscription start or the trial end (pay-in-advance plans), or the termination.
    `subscription_fee`: the plan period whose subscription fee is billed now, or None.
    `charges_period`: the usage-charges period that just closed (clipped to the
    subscription start, and to `terminated_at` on termination), or None when no charges
    are due (start of a pay-in-advance subscription, trial end).
    `reasons`: why this instant is a boundary (several when they coincide).
    """

    at: datetime
    subscription_fee: FeeSpan | None
    charges_period: BillingPeriod | None
    reasons: tuple[BoundaryReason, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class TerminationBoundary:
    """The final invoice of a terminated subscription.

    `at`: `terminated_at`.
    `subscription_fee`: in arrears, the open plan period billed from its (clipped) start
    to `terminated_at`, termination day included (pass `terminated=True`, and
    `upgraded=True` on an upgrade so the upgrade day goes to the new plan). None for
    pay-in-advance plans: the open period was already paid.
    `charges_period`: the open charges period, from its start to `terminated_at`.
    `paid_in_advance`: pay-in-advance plans only — the open period that was paid (None
    when a trial covered all of it, so nothing was paid).
    `unused_days`: pay-in-advance plans only — days of `paid_in_advance.billed` after
    the termination day (on an upgrade, from the termination day), the basis for the
    credit note (`day_price × unused_days`, capped by the paid fee); 0 in arrears.
    """

    at: datetime
    subscription_fee: FeeSpan | None
    charges_period: BillingPeriod
    paid_in_advance: FeeSpan | None
    unused_days: int


def _plan_period(terms: SubscriptionTerms, instant: datetime) -> BillingPeriod:
    return period_containing(
        instant,
        interval=terms.interval,
        billing_time=terms.billing_time,
        anchor=terms.billing_anchor,
        timezone=terms.timezone,
    )


def _charges_period(terms: SubscriptionTerms, instant: datetime) -> BillingPeriod:
    return period_containing(
        instant,
        interval=terms.charges_interval,
        billing_time=terms.billing_time,
        anchor=terms.billing_anchor,
        timezone=terms.timezone,
    )


def _fee_span(terms: SubscriptionTerms, instant: datetime) -> FeeSpan:
    full = _plan_period(terms, instant)
    return FeeSpan(
        full_period=full,
        billed=full.clipped(start=terms.started_at),
        is_first_period=full.contains(terms.started_at),
    )


def fee_span_containing(terms: SubscriptionTerms, instant: datetime) -> FeeSpan:
    """The plan period containing `instant`, billed from the subscription start at the
    earliest (what a boundary's `subscription_fee` holds for that period)."""
    return _fee_span(terms, require_aware(instant, "instant"))


class _Collector:
    def __init__(self, *, after: datetime | None, until: datetime, before: datetime | None):
        self.after = after
        self.until = until
        self.before = before
        self.fees: dict[datetime, tuple[FeeSpan, BoundaryReason]] = {}
        self.charges: dict[datetime, BillingPeriod] = {}

    def wanted(self, at: datetime) -> bool:
        if self.after is not None and at <= self.after:
            return False
        return at <= self.until and (self.before is None or at < self.before)

    def boundaries(self) -> list[BillingBoundary]:
        result = []
        for at in sorted(set(self.fees) | set(self.charges)):
            fee = self.fees.get(at)
            charges = self.charges.get(at)
            reasons: list[BoundaryReason] = []
            if fee is not None:
                reasons.append(fee[1])
            if charges is not None and BoundaryReason.PERIOD_END not in reasons:
                reasons.append(BoundaryReason.PERIOD_END)
            result.append(
                BillingBoundary(
                    at=at,
                    subscription_fee=None if fee is None else fee[0],
                    charges_period=charges,
                    reasons=tuple(reasons),
                )
            )
        return result


def _collect_fees(terms: SubscriptionTerms, out: _Collector, first_instant: datetime) -> None:
    trial_end = terms.trial_ends_at
    span = _fee_span(terms, first_instant)
    while True:
        if terms.plan_pay_in_advance:
            if span.billed.start > out.until:
                return
            at, reason = (
                span.billed.start,
                (
                    BoundaryReason.SUBSCRIPTION_START
                    if span.is_first_period
                    else BoundaryReason.PERIOD_END
                ),
            )
            if trial_end is not None and trial_end > at:
                at, reason = trial_end, BoundaryReason.TRIAL_END
            all_in_trial = trial_end is not None and trial_end > span.billed.end
            if not all_in_trial and out.wanted(at):
                out.fees[at] = (span, reason)
        else:
            at, reason = span.full_period.end_exclusive, BoundaryReason.PERIOD_END
            if at > out.until:
                return
            if out.wanted(at):
                out.fees[at] = (span, reason)
        if out.before is not None and span.full_period.end_exclusive >= out.before:
            return
        span = _fee_span(terms, span.full_period.end_exclusive)


def _collect_charges(terms: SubscriptionTerms, out: _Collector, first_instant: datetime) -> None:
    period = _charges_period(terms, first_instant)
    while period.end_exclusive <= out.until:
        if out.before is not None and period.end_exclusive >= out.before:
            return
        if out.wanted(period.end_exclusive):
            out.charges[period.end_exclusive] = period.clipped(start=terms.started_at)
        period = _charges_period(terms, period.end_exclusive)


def closed_boundaries(
    terms: SubscriptionTerms, *, after: datetime | None, as_of: datetime
) -> list[BillingBoundary]:
    """Every boundary with `after < at <= as_of` (and `at < terminated_at`), oldest first.

    `after` is the last boundary already billed (None: nothing billed yet). After
    downtime this catches up every period that closed meanwhile, one boundary each.
    At a period end of an arrears plan the fee is for the period that just ended; of a
    pay-in-advance plan for the period that just started. Charges are always for the
    charges period that just ended (monthly for yearly/semiannual plans with
    `bill_charges_monthly`, whose subscription fee is billed only at yearly/semiannual
    boundaries).
    """
    as_of = require_aware(as_of, "as_of")
    if after is not None:
        after = require_aware(after, "after")
    out = _Collector(after=after, until=as_of, before=terms.terminated_at)
    if as_of < terms.started_at:
        return []
    # Start from the period containing `after` (earlier boundaries are all filtered out).
    first_instant = terms.started_at if after is None else max(terms.started_at, after)
    _collect_fees(terms, out, first_instant)
    _collect_charges(terms, out, first_instant)
    return out.boundaries()


def termination_boundary(
    terms: SubscriptionTerms, terminated_at: datetime, *, upgraded: bool = False
) -> TerminationBoundary:
    """The final invoice when the subscription ends at `terminated_at`.

    The open period is the one containing the last instant the subscription was alive
    (`terminated_at − 1µs`), so a termination exactly on a boundary closes the period
    that ends there (`closed_boundaries` stops before `terminated_at`).
    """
    terminated_at = require_aware(terminated_at, "terminated_at")
    if terminated_at < terms.started_at:
        raise ValidationFailed.field("terminated_at", "invalid_date_range")
    last_alive = max(terms.started_at, terminated_at - timedelta(microseconds=1))
    span = _fee_span(terms, last_alive)
    billed = BillingPeriod(start=span.billed.start, end=terminated_at, timezone=terms.timezone)
    charges_full = _charges_period(terms, last_alive)
    charges = BillingPeriod(
        start=max(charges_full.start, terms.started_at), end=terminated_at, timezone=terms.timezone
    )
    if not terms.plan_pay_in_advance:
        fee = FeeSpan(
            full_period=span.full_period, billed=billed, is_first_period=span.is_first_period
        )
        return TerminationBoundary(
            at=terminated_at,
            subscription_fee=fee,
            charges_period=charges,
            paid_in_advance=None,
            unused_days=0,
        )
    trial_end = terms.trial_ends_at
    if trial_end is not None and trial_end > span.billed.end:  # never paid: all in trial
        return TerminationBoundary(
            at=terminated_at,
            subscription_fee=None,
            charges_period=charges,
            paid_in_advance=None,
            unused_days=0,
        )
    unused_days = _unused_days(terms, span, terminated_at, trial_end=trial_end, upgraded=upgraded)
    return TerminationBoundary(
        at=terminated_at,
        subscription_fee=None,
        charges_period=charges,
        paid_in_advance=span,
        unused_days=unused_days,
    )


def _unused_days(
    terms: SubscriptionTerms,
    span: FeeSpan,
    terminated_at: datetime,
    *,
    trial_end: datetime | None,
    upgraded: bool,
) -> int:
    """Days of a paid period left after a termination (lago-semantics items 14 and
    "Credit notes"), counted on local dates like every billed day (`billed_days`).

    The termination day was used, so the unused days start the day after it; on an
    upgrade the termination day goes to the new plan, so they start on it. A termination
    on or before the trial's last day gives back the whole fee, which was billed from
    the trial's end.
    """
    last_paid = span.full_period.last_day
    first_unused = local_date(terminated_at, timezone=terms.timezone)
    if not upgraded:
        first_unused += timedelta(days=1)
    if trial_end is not None:
        trial_last_day = local_date(trial_end, timezone=terms.timezone)
        if trial_last_day >= first_unused - timedelta(days=1):
            first_unused = max(trial_last_day, span.billed.first_day)
    return max((last_paid - first_unused).days + 1, 0)
