"""Pay-in-advance pricing of a period's events, one fee per event, in timestamp order.

Each event's fee is price(usage with it) − price(usage without it) (lago-semantics items 7
and 13), through the same models as arrears pricing, so proration, recurrence and dynamic
prices meet here the way they meet at the end of the period:

* the billable quantity of an event is what its running total rises above the highest
  total seen so far (the high-water mark; a count rises by 1 per event, a decrease bills 0);
* a recurring metric opens the period at the total its earlier periods left
  (`opening_total`): that is part of both sides, so re-adding a value present since an
  earlier period bills 0;
* on a prorated charge each increment is weighted by the remaining days of the period
  from its event's day (`AdvanceEvent.weight`), and both sides are priced on prorated
  quantities (graduated through the prorated graduated model);
* a dynamic charge bills each event its own price (see `pay_in_advance_amount`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from meterly.domain.money import Currency
from meterly.domain.pricing._arith import ONE, ZERO, exact
from meterly.domain.pricing.engine import pay_in_advance_amount
from meterly.domain.pricing.models import ChargeProperties
from meterly.domain.pricing.results import PricingInput


@dataclass(frozen=True, slots=True)
class AdvanceEvent:
    """One event of a pay-in-advance bucket.

    `total`: the bucket's running total after the event (count: 1, 2, 3...; sum: the
    cumulative sum; unique count: the values present), a recurring opening included.
    `value`: its value for the percentage model (1 for a count).
    `weight`: on a prorated charge, (days from the event's day to the period end + 1) /
    days of the full period; None otherwise.
    """

    total: Decimal
    value: Decimal = ONE
    precise_total_amount_cents: Decimal = ZERO
    weight: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AdvanceCharge:
    """What one event costs: the units it adds (prorated when the charge is) and the
    amount in major units, unrounded (finalize_fee rounds and clamps it)."""

    units: Decimal
    amount: Decimal


@dataclass
class _Side:
    """The usage priced on one side of an event's fee."""

    full: Decimal
    prorated: Decimal
    increments: list[tuple[Decimal, Decimal]]

    def pricing_input(
        self, *, prorated: bool, events: Sequence[AdvanceEvent], values: Sequence[Decimal]
    ) -> PricingInput:
        return PricingInput(
            units=self.prorated if prorated else self.full,
            events_count=len(events),
            event_values=tuple(values),
            precise_total_amount_cents=sum((e.precise_total_amount_cents for e in events), ZERO),
            full_units=self.full if prorated else None,
            prorated_events=tuple(self.increments) if prorated else None,
        )


@exact
def price_in_advance(
    properties: ChargeProperties,
    events: Sequence[AdvanceEvent],
    *,
    prorated: bool = False,
    opening_total: Decimal = ZERO,
    opening_weight: Decimal = ONE,
    currency: Currency | None = None,
    premium: bool = True,
) -> list[AdvanceCharge]:
    """The fee of every event of a bucket, in order (see the module doc).

    `opening_total` is what a recurring metric carries into the period, weighted (on a
    prorated charge) by `opening_weight`, the share of the full period the window covers.
    """
    side = _Side(full=opening_total, prorated=ZERO, increments=[])
    if opening_total:
        side.prorated = opening_total * opening_weight
        side.increments.append((opening_total, side.prorated))
    high = opening_total
    values = [e.value for e in events]
    charges: list[AdvanceCharge] = []
    for i, event in enumerate(events):
        increment = max(event.total - high, ZERO)
        high = max(high, event.total)
        weighted = increment * (event.weight if event.weight is not None else ONE)
        after = _Side(
            full=side.full + increment,
            prorated=side.prorated + weighted,
            increments=[*side.increments, (increment, weighted)],
        )
        amount = pay_in_advance_amount(
            properties,
            before=side.pricing_input(prorated=prorated, events=events[:i], values=values[:i]),
            after=after.pricing_input(
                prorated=prorated, events=events[: i + 1], values=values[: i + 1]
            ),
            currency=currency,
            premium=premium,
        )
        units = weighted if prorated else increment
        charges.append(AdvanceCharge(units=units, amount=amount))
        side = after
    return charges
