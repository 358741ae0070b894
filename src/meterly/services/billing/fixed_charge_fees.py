"""Fixed-charge fees: a plan's recurring add-on fees, units x price through the charge
models of `domain.pricing` (standard, graduated, volume).

Each subscription has a units timeline per fixed charge (`fixed_charge_units`, Lago's
fixed charge events): without a row the plan's units apply; a change applied now starts
at the instant it was made, one deferred starts at the next billing period.

- In arrears: billed when the period closes, for the units at its end, or, prorated,
  for each span of units weighted by its days (Lago counts from the day a span starts
  through the day the next one starts, both included) over the period's days, ceil(5).
- In advance: the first period is billed when the subscription starts (prorated from the
  start day when the charge is prorated); every later period is billed at the boundary
  that opens it, for the units in effect then, whole.
- A units increase applied now on a charge paid in advance bills the difference at once:
  (new units - units already paid for the period), prorated over the days left
  (today included) when the charge is prorated. A decrease refunds nothing: it shows
  from the next period on.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, localcontext

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.money import ceil_to, currency
from meterly.domain.periods import BillingPeriod, charges_period_containing, local_date
from meterly.domain.pricing import (
    PricingInput,
    compute_charge,
    finalize_fee,
    parse_properties,
)
from meterly.services.accounts import timezone_of
from meterly.services.billing.issuing import issue_advance_invoice
from meterly.services.common import Clock, new_id
from meterly.store.tables import (
    Fee,
    FixedCharge,
    FixedChargeUnits,
    Invoice,
    Subscription,
)
from meterly.store.tables_coupons import AddOnRow

PRORATED_PRECISION = 5
_ZERO = Decimal(0)


# --- the units timeline --------------------------------------------------------------


def plan_fixed_charges(session: Session, sub: Subscription) -> list[FixedCharge]:
    """The live fixed charges of the subscription's plan (its override, if any).

    In a billing run's batch session (`runs.batch_session`, marked in `session.info`) the
    plan's list is read once for the batch: a run never edits the catalogue it bills.
    """
    memo: dict[str, list[FixedCharge]] | None = (
        session.info.setdefault(_FIXED_MEMO, {}) if session.info.get(BATCH_MARK) else None
    )
    if memo is not None and sub.plan_id in memo:
        return list(memo[sub.plan_id])
    charges = list(
        session.scalars(
            select(FixedCharge)
            .where(FixedCharge.plan_id == sub.plan_id, FixedCharge.deleted_at.is_(None))
            .order_by(FixedCharge.position, FixedCharge.created_at, FixedCharge.id)
        )
    )
    if memo is not None:
        memo[sub.plan_id] = charges
    return list(charges)


# session.info keys: set by a billing run's batch session; the memo of plan fixed charges.
BATCH_MARK = "billing_batch"
_FIXED_MEMO = "billing_batch_fixed_charges"


def _timeline(session: Session, sub: Subscription, code: str) -> list[FixedChargeUnits]:
    return list(
        session.scalars(
            select(FixedChargeUnits)
            .where(
                FixedChargeUnits.subscription_id == sub.id,
                FixedChargeUnits.fixed_charge_code == code,
            )
            .order_by(FixedChargeUnits.effective_at, FixedChargeUnits.created_at)
        )
    )


def units_at(session: Session, sub: Subscription, fixed: FixedCharge, instant: datetime) -> Decimal:
    """The subscription's units of this fixed charge in effect at `instant`."""
    units = fixed.units
    for row in _timeline(session, sub, fixed.code):
        if row.effective_at <= instant:
            units = row.units
    return units


def latest_units(session: Session, sub: Subscription, fixed: FixedCharge) -> Decimal:
    """The subscription's own units (the last change recorded, even one not yet in effect)."""
    rows = _timeline(session, sub, fixed.code)
    return rows[-1].units if rows else fixed.units


def record_units(
    session: Session,
    *,
    sub: Subscription,
    fixed: FixedCharge,
    units: Decimal,
    effective_at: datetime,
    now: datetime,
    previous: Decimal | None = None,
) -> None:
    """A units change; the first one also records the units the subscription had until
    then (`previous`, else the plan's), so a later change of the plan's units cannot
    rewrite its past."""
    if not _timeline(session, sub, fixed.code):
        start = sub.started_at or sub.subscription_at
        before = fixed.units if previous is None else previous
        session.add(_units_row(sub, fixed.code, before, start, now))
    # A change replaces any other one starting at the same instant (a deferred change
    # sent twice before the next period keeps the last one).
    for row in _timeline(session, sub, fixed.code):
        if row.effective_at == effective_at:
            session.delete(row)
    session.flush()
    session.add(_units_row(sub, fixed.code, units, effective_at, now))
    session.flush()


def _units_row(
    sub: Subscription, code: str, units: Decimal, effective_at: datetime, now: datetime
) -> FixedChargeUnits:
    return FixedChargeUnits(
        id=new_id(),
        organization_id=sub.organization_id,
        subscription_id=sub.id,
        fixed_charge_code=code,
        units=units,
        effective_at=effective_at,
        created_at=now,
    )


def prorated_units(
    spans: list[tuple[datetime, Decimal]], *, window: BillingPeriod, period_days: int
) -> Decimal:
    """Σ units × days / period days over the spans of units inside `window`, ceil(5).

    `spans`: (start, units) in order, the first starting at or before the window. A span
    lasts from its start day through the day the next span starts (Lago's rule: the day
    of a change counts for both), the last one to the window's end; zero units add 0.
    """
    tz = window.timezone
    total = _ZERO
    with localcontext(prec=60):
        for index, (start, units) in enumerate(spans):
            following = spans[index + 1][0] if index + 1 < len(spans) else window.end
            first = max(start, window.start)
            if following < window.start or units <= 0:
                continue
            days = (local_date(following, timezone=tz) - local_date(first, timezone=tz)).days + 1
            total += units * days / period_days
    return ceil_to(total, PRORATED_PRECISION)


def _spans(
    session: Session, sub: Subscription, fixed: FixedCharge, window: BillingPeriod
) -> list[tuple[datetime, Decimal]]:
    """The units spans of the window: the units at its start, then each change inside it."""
    spans = [(window.start, units_at(session, sub, fixed, window.start))]
    for row in _timeline(session, sub, fixed.code):
        if window.start < row.effective_at <= window.end:
            spans.append((row.effective_at, row.units))
    return spans


# --- fees of a period ----------------------------------------------------------------


def fixed_charges_period(sub: Subscription, instant: datetime, timezone: str) -> BillingPeriod:
    """The plan period containing `instant`: fixed charges follow the plan's interval."""
    return charges_period_containing(
        instant,
        interval=sub.plan.interval,
        billing_time=sub.billing_time,
        anchor=sub.subscription_at,
        timezone=timezone,
        bill_charges_monthly=False,
    )


def periodic_fixed_charge_fees(
    session: Session, sub: Subscription, window: BillingPeriod, *, terminating: bool = False
) -> list[Fee]:
    """What a closed charges window bills: the in-arrears fixed charges of the period it
    ends, and (unless the subscription ends) the in-advance ones of the next period."""
    fixed_charges = plan_fixed_charges(session, sub)
    if not fixed_charges:
        return []
    period = fixed_charges_period(sub, window.start, window.timezone)
    closes_period = window.end >= period.end
    if not closes_period and not terminating:
        return []  # a monthly charges window inside a longer plan period
    started = sub.started_at or sub.subscription_at
    billed = BillingPeriod(
        start=max(period.start, started), end=min(period.end, window.end), timezone=window.timezone
    )
    fees = [
        _arrears_fee(session, sub, fixed, billed, period)
        for fixed in fixed_charges
        if not fixed.pay_in_advance
    ]
    ends = sub.terminated_at is not None and sub.terminated_at <= period.end_exclusive
    if closes_period and not terminating and not ends:
        following = fixed_charges_period(sub, period.end_exclusive, window.timezone)
        fees.extend(
            _advance_fee(session, sub, fixed, following, following.start)
            for fixed in fixed_charges
            if fixed.pay_in_advance
        )
    return [fee for fee in fees if fee is not None]


def _arrears_fee(
    session: Session,
    sub: Subscription,
    fixed: FixedCharge,
    billed: BillingPeriod,
    period: BillingPeriod,
) -> Fee | None:
    spans = _spans(session, sub, fixed, billed)
    full_units = spans[-1][1]
    units = (
        prorated_units(spans, window=billed, period_days=period.days)
        if fixed.prorated
        else full_units
    )
    return _priced_fee(
        session, sub, fixed, units=units, full_units=full_units, billed=billed, advance=False
    )


def _advance_fee(
    session: Session,
    sub: Subscription,
    fixed: FixedCharge,
    period: BillingPeriod,
    billed_from: datetime,
) -> Fee | None:
    """A period paid in advance from `billed_from`, for the units in effect then."""
    billed = BillingPeriod(start=billed_from, end=period.end, timezone=period.timezone)
    full_units = units_at(session, sub, fixed, billed_from)
    units = full_units
    if fixed.prorated:
        units = prorated_units([(billed_from, full_units)], window=billed, period_days=period.days)
    return _priced_fee(
        session, sub, fixed, units=units, full_units=full_units, billed=billed, advance=True
    )


def _priced_fee(
    session: Session,
    sub: Subscription,
    fixed: FixedCharge,
    *,
    units: Decimal,
    full_units: Decimal,
    billed: BillingPeriod,
    advance: bool,
    paid_units: Decimal | None = None,
) -> Fee | None:
    """The fee of `units` (prorated or not) priced with the fixed charge's model.

    `paid_units`: the whole units this fee pays for the period (a mid-period increase
    pays only the difference); a later increase subtracts them.
    """
    properties = parse_properties(fixed.charge_model, fixed.properties)
    priced = compute_charge(properties, PricingInput(units=units, full_units=full_units))
    cur = currency(sub.plan.amount_currency)
    money = finalize_fee(amount=priced.amount, units=units, currency=cur)
    if money.amount_cents == 0 and units == 0:
        return None  # no units, nothing to show (Lago skips zero fixed-charge fees)
    add_on = session.get_one(AddOnRow, fixed.add_on_id)
    name = fixed.invoice_display_name or add_on.invoice_display_name or add_on.name
    return Fee(
        id=new_id(),
        organization_id=sub.organization_id,
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        add_on_id=add_on.id,
        fee_type="fixed_charge",
        item={
            "type": "fixed_charge",
            "code": fixed.code,
            "name": add_on.name,
            "description": add_on.description,
            "invoice_display_name": name,
            "filters": None,
            "filter_invoice_display_name": None,
            "lago_item_id": add_on.id,
            "item_type": "AddOn",
            "grouped_by": {},
        },
        pay_in_advance=advance,
        invoiceable=True,
        currency=sub.plan.amount_currency,
        amount_cents=money.amount_cents,
        precise_amount_cents=money.precise_amount_cents,
        unit_amount_cents=money.unit_amount_cents,
        precise_unit_amount=money.precise_unit_amount,
        units=money.units,
        total_aggregated_units=full_units,
        events_count=None,
        amount_details=dict(priced.amount_details),
        explanation=[
            {
                "label": line.label,
                "units": str(line.units),
                "unit_price": str(line.unit_price),
                "flat_amount": str(line.flat_amount),
                "amount": str(line.amount),
            }
            for line in priced.lines
        ],
        properties={
            "fixed_charge_id": fixed.id,
            "fixed_charge_code": fixed.code,
            "tax_codes": list(fixed.tax_codes or ()),
            "fixed_charges_from_datetime": billed.start.isoformat(),
            "fixed_charges_to_datetime": billed.end.isoformat(),
            "paid_units": str(full_units if paid_units is None else paid_units),
        },
        applied_taxes=[],
        payment_status="pending",
        from_datetime=billed.start,
        to_datetime=billed.end,
    )


# --- billed at once --------------------------------------------------------------------


def bill_start(session: Session, *, sub: Subscription, clock: Clock) -> Invoice | None:
    """The first period of the in-advance fixed charges, billed when the subscription
    starts (prorated from its start day when a charge is prorated), on its own invoice."""
    start = sub.started_at or sub.subscription_at
    tz = timezone_of(session, sub)
    period = fixed_charges_period(sub, start, tz)
    fees = [
        _advance_fee(session, sub, fixed, period, max(start, period.start))
        for fixed in plan_fixed_charges(session, sub)
        if fixed.pay_in_advance
    ]
    return _issue(session, sub, [f for f in fees if f is not None], clock)


def plan_units_changed(
    session: Session, *, fixed: FixedCharge, previous: Decimal, apply_now: bool, clock: Clock
) -> None:
    """A plan's fixed charge got new units: its running subscriptions take them now or at
    their next period, as `change_units` does (Lago emits a units event for each). Those
    that set their own units keep them."""
    if fixed.units == previous:
        return
    running = session.scalars(
        select(Subscription).where(
            Subscription.plan_id == fixed.plan_id, Subscription.status == "active"
        )
    )
    for sub in list(running):
        if _timeline(session, sub, fixed.code):
            continue
        change_units(
            session,
            sub=sub,
            fixed=fixed,
            units=fixed.units,
            apply_now=apply_now,
            clock=clock,
            previous=previous,
        )


def change_units(
    session: Session,
    *,
    sub: Subscription,
    fixed: FixedCharge,
    units: Decimal,
    apply_now: bool,
    clock: Clock,
    previous: Decimal | None = None,
) -> Invoice | None:
    """Record a subscription's new units; an increase applied now on a charge paid in
    advance bills its difference at once (prorated over the days left when prorated).
    `previous`: the units it had so far, when the plan's were already changed."""
    now = clock.now()
    tz = timezone_of(session, sub)
    period = fixed_charges_period(sub, now, tz)
    if apply_now or sub.status != "active":
        # A subscription not running yet takes its units from its start.
        effective = now if sub.status == "active" else (sub.started_at or sub.subscription_at)
    else:
        effective = period.end_exclusive
    record_units(
        session,
        sub=sub,
        fixed=fixed,
        units=units,
        effective_at=effective,
        now=now,
        previous=previous,
    )
    if effective != now:
        return None
    if sub.status != "active" or not fixed.pay_in_advance:
        return None
    delta = units - _paid_units(session, sub, fixed, period)
    if delta <= 0:
        return None
    billed = BillingPeriod(start=now, end=period.end, timezone=tz)
    priced_units = (
        prorated_units([(now, delta)], window=billed, period_days=period.days)
        if fixed.prorated
        else delta
    )
    fee = _priced_fee(
        session,
        sub,
        fixed,
        units=priced_units,
        full_units=delta,
        billed=billed,
        advance=True,
        paid_units=delta,
    )
    return _issue(session, sub, [fee] if fee is not None else [], clock)


def _paid_units(
    session: Session, sub: Subscription, fixed: FixedCharge, period: BillingPeriod
) -> Decimal:
    """The units of this fixed charge already paid in advance for `period`."""
    fees = session.scalars(
        select(Fee).where(
            Fee.subscription_id == sub.id,
            Fee.fee_type == "fixed_charge",
            Fee.pay_in_advance.is_(True),
            Fee.deleted_at.is_(None),
            Fee.from_datetime >= period.start,
            Fee.to_datetime <= period.end,
        )
    )
    return sum(
        (
            Decimal(str((f.properties or {}).get("paid_units", "0")))
            for f in fees
            if (f.properties or {}).get("fixed_charge_code") == fixed.code
        ),
        _ZERO,
    )


def _issue(session: Session, sub: Subscription, fees: list[Fee], clock: Clock) -> Invoice | None:
    """One invoice for fees billed at once (Lago bills in-advance fixed charges alone)."""
    if not fees:
        return None
    now = clock.now()
    first = fees[0]
    for position, fee in enumerate(fees):
        fee.position, fee.created_at, fee.updated_at = position, now, now
        session.add(fee)
    session.flush()
    invoice = issue_advance_invoice(session, sub=sub, fee=first, clock=clock, more_fees=fees[1:])
    return invoice
