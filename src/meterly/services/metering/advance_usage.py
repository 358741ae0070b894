"""Current usage of pay-in-advance charges: never below what was billed in advance.

Lago (`handle_in_advance_current_usage`, lago-semantics.md item 13) prices a pay-in-advance
sum or unique-count charge in current usage on `total − cached_current + cached_max`: the
period's high-water mark billed in advance so far, plus what the events not billed yet
changed since the last billed one. A removal or a negative value lowers the units shown
(`total`, never below 0), not the amount, which stays at least the in-advance fees issued.

Meterly creates in-advance fees in the billing run, not as each event arrives, so a
bucket may hold events not billed yet, and Lago's cached figures are read off the fees:

* `cached_max`: each in-advance fee of a high-water metric bills the rise of the period's
  high-water mark (`billing.advance.price_events`), so the mark billed so far is the sum
  of the units of the bucket's in-advance fees of the period;
* once every event is billed, `cached_current` is the total, and the amount is priced on
  `cached_max`; before, Lago (which bills each event as it arrives) would have raised the
  mark to the total if the total went above it. So the amount is priced on
  `max(total, billed mark, 0)`: Lago's figure once the pending events are billed, and
  never below the fees already issued (subtracting a stale `cached_current` instead would
  drop below them after a pending removal, or count a pending rise twice).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.aggregation import AggregationResult
from meterly.domain.periods import BillingPeriod
from meterly.domain.usage import AggregationType
from meterly.store.tables import Charge, ChargeFilter, Fee, Subscription

_ZERO = Decimal(0)
HIGH_WATER_TYPES = (AggregationType.SUM.value, AggregationType.UNIQUE_COUNT.value)


def applies(charge: Charge) -> bool:
    """Pay-in-advance charges whose fees bill a high-water mark (sum, unique count).

    A prorated charge is left as it is: its in-advance fees bill prorated quantities,
    which are no running total of the events."""
    return (
        charge.pay_in_advance
        and not charge.prorated
        and charge.billable_metric.aggregation_type in HIGH_WATER_TYPES
    )


def billed_in_advance(
    session: Session,
    *,
    sub: Subscription,
    charge: Charge,
    charge_filter: ChargeFilter | None,
    window: BillingPeriod,
) -> Decimal:
    """The high-water mark one bucket's in-advance fees billed for events in `window`."""
    bucket = (
        Fee.charge_filter_id.is_(None)
        if charge_filter is None
        else Fee.charge_filter_id == charge_filter.id
    )
    units = session.scalar(
        select(func.sum(Fee.units)).where(
            Fee.subscription_id == sub.id,
            Fee.charge_id == charge.id,
            bucket,
            Fee.pay_in_advance.is_(True),
            Fee.event_transaction_id.is_not(None),
            Fee.deleted_at.is_(None),
            Fee.from_datetime >= window.start,
            Fee.from_datetime <= window.end,
        )
    )
    return Decimal(units or 0)


def high_water_aggregation(total: AggregationResult, *, billed: Decimal) -> AggregationResult:
    """The aggregation to price: the total, raised to the mark billed in advance."""
    return replace(total, units=max(total.units, billed, _ZERO))


def shown_units(total: AggregationResult) -> Decimal:
    """The units current usage shows for the charge: the total, at least 0."""
    return max(total.units, _ZERO)
