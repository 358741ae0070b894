"""Subscription changes: creating one, changing its plan, updating and terminating it.

Upgrades take effect at once (the old subscription is terminated and billed, a new one
starts with the same external_id); downgrades wait for the end of the current period as a
pending subscription. Terminations are billed by services/billing (boundaries.terminate).
Reading subscriptions lives in services/accounts (subscriptions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.domain.periods import BillingTime
from meterly.domain.subscription_fee import is_upgrade, yearly_amount_cents
from meterly.services.accounts import active, current_period, customer_clock
from meterly.services.accounts import customers as customer_service
from meterly.services.billing import activation, fixed_charge_fees
from meterly.services.billing import terminate as bill_termination
from meterly.services.catalog import fixed_charges
from meterly.services.common import Clock, new_id
from meterly.services.notifications import enqueue
from meterly.store.tables import Charge, ChargeFilter, Plan, Subscription


@dataclass(frozen=True, slots=True)
class SubscriptionInput:
    external_customer_id: str | None = None
    plan_code: str | None = None
    external_id: str | None = None
    name: str | None = None
    billing_time: str | None = None
    subscription_at: datetime | None = None
    ending_at: datetime | None = None
    plan_overrides: dict[str, Any] | None = None
    consolidate_invoice: bool | None = None
    activation_rules: list[Any] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


def _plan(session: Session, organization_id: str, code: str) -> Plan:
    plan = session.scalar(
        select(Plan).where(
            Plan.organization_id == organization_id,
            Plan.code == code,
            Plan.parent_id.is_(None),
            Plan.deleted_at.is_(None),
        )
    )
    if plan is None:
        raise NotFound("plan")
    return plan


def create(
    session: Session, *, organization_id: str, data: SubscriptionInput, clock: Clock
) -> Subscription:
    """Create a subscription, or change the plan of the live one with this external_id."""
    errors: dict[str, list[str]] = {}
    for required in ("external_customer_id", "plan_code", "external_id"):
        if not getattr(data, required):
            errors[required] = ["value_is_mandatory"]
    billing_time = data.billing_time or "calendar"
    if billing_time not in {b.value for b in BillingTime}:
        errors["billing_time"] = ["value_is_invalid"]
    if errors:
        raise ValidationFailed(errors)
    assert data.plan_code and data.external_customer_id and data.external_id
    rules = activation.parse_rules(data.activation_rules)
    plan = _plan(session, organization_id, data.plan_code)
    customer = customer_service.find_optional(
        session, organization_id=organization_id, external_id=data.external_customer_id
    )
    if customer is None:  # Lago creates the customer on the fly
        customer, _ = customer_service.upsert(
            session,
            organization_id=organization_id,
            data=customer_service.CustomerInput(external_id=data.external_customer_id),
            clock=clock,
        )
    clock = customer_clock(session, customer, clock)  # a test clock's customer: its time
    now = clock.now()
    if customer.currency is None:
        customer.currency = plan.amount_currency
    if data.plan_overrides:
        plan = _override_plan(session, plan, data.plan_overrides, now=now)

    current = active(session, organization_id=organization_id, external_id=data.external_id)
    if current is not None:
        if current.customer_id != customer.id:
            raise ValidationFailed.field("external_id", "value_already_exist")
        return _change_plan(session, current, plan, data=data, clock=clock)
    if _incomplete(session, organization_id, data.external_id) is not None:
        # Waiting for its first payment: it cannot be re-planned before it runs.
        raise ValidationFailed.field("external_id", "value_already_exist")
    pending = session.scalar(
        select(Subscription).where(
            Subscription.organization_id == organization_id,
            Subscription.external_id == data.external_id,
            Subscription.status == "pending",
            Subscription.previous_subscription_id.is_(None),
        )
    )
    if pending is not None:  # a future subscription is simply re-planned
        pending.plan_id = plan.id
        pending.updated_at = now
        return pending

    start = data.subscription_at or now
    sub = Subscription(
        id=new_id(),
        organization_id=organization_id,
        customer_id=customer.id,
        plan_id=plan.id,
        external_id=data.external_id,
        name=data.name,
        status="pending" if start > now else "active",
        billing_time=billing_time,
        subscription_at=start,
        started_at=None if start > now else start,
        ending_at=data.ending_at,
        on_termination_invoice="generate",
        consolidate_invoice=data.consolidate_invoice is not False,
        usage_thresholds=[],
        created_at=now,
        updated_at=now,
    )
    session.add(sub)
    session.flush()
    session.refresh(sub)
    activation.attach_rules(session, sub=sub, rules=rules, clock=clock)
    if sub.status == "active" and not activation.gate_start(session, sub=sub, clock=clock):
        _started(session, sub, clock)
    return sub


def _incomplete(session: Session, organization_id: str, external_id: str) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.organization_id == organization_id,
            Subscription.external_id == external_id,
            Subscription.status == activation.INCOMPLETE,
        )
    )


def started(session: Session, subs: Sequence[Subscription], clock: Clock) -> None:
    """Lago's `subscription.started` for subscriptions the billing clock just activated."""
    for sub in subs:
        _started(session, sub, clock)


def _started(session: Session, sub: Subscription, clock: Clock) -> None:
    enqueue(session, sub.organization_id, "subscription.started", "subscription", sub.id, clock)
    # Fixed charges paid in advance bill their first period when the subscription starts.
    fixed_charge_fees.bill_start(session, sub=sub, clock=clock)


def _change_plan(
    session: Session, current: Subscription, plan: Plan, *, data: SubscriptionInput, clock: Clock
) -> Subscription:
    if current.plan_id == plan.id:
        return current
    now = clock.now()
    old_yearly = yearly_amount_cents(current.plan.amount_cents, current.plan.interval)
    new_yearly = yearly_amount_cents(plan.amount_cents, plan.interval)
    upgrade = is_upgrade(old_yearly_amount_cents=old_yearly, new_yearly_amount_cents=new_yearly)
    # Any downgrade scheduled before is replaced by this change.
    for scheduled in session.scalars(
        select(Subscription).where(
            Subscription.previous_subscription_id == current.id, Subscription.status == "pending"
        )
    ):
        scheduled.status, scheduled.canceled_at = "canceled", now
    if upgrade:
        successor = _successor(current, plan, data, start=now, status="active")
        session.add(successor)
        session.flush()
        # One invoice for the change: the old plan's end and the new plan's first fees.
        _end_now(current, clock)
        bill_termination(session, sub=current, clock=clock, upgrading=True, successor=successor)
        session.refresh(successor)
        _started(session, successor, clock)
        return successor
    period = current_period(session, current, at=now)
    starts = period.end_exclusive if period else now
    successor = _successor(current, plan, data, start=starts, status="pending")
    session.add(successor)
    session.flush()
    return current


def _successor(
    current: Subscription, plan: Plan, data: SubscriptionInput, *, start: datetime, status: str
) -> Subscription:
    return Subscription(
        id=new_id(),
        organization_id=current.organization_id,
        customer_id=current.customer_id,
        plan_id=plan.id,
        external_id=current.external_id,
        name=data.name or current.name,
        status=status,
        billing_time=current.billing_time,
        subscription_at=current.subscription_at,
        # A pending downgrade keeps its planned start here until the clock activates it.
        started_at=start,
        ending_at=current.ending_at,
        previous_subscription_id=current.id,
        on_termination_invoice="generate",
        consolidate_invoice=current.consolidate_invoice,
        usage_thresholds=[],
        created_at=start if status == "active" else current.updated_at,
        updated_at=start,
    )


def update(
    session: Session, *, sub: Subscription, data: SubscriptionInput, clock: Clock
) -> Subscription:
    clock = customer_clock(session, sub.customer, clock)
    now = clock.now()
    if "name" in data.sent:
        sub.name = data.name
    if data.consolidate_invoice is not None:
        sub.consolidate_invoice = data.consolidate_invoice
    if "ending_at" in data.sent:
        if data.ending_at is not None and data.ending_at <= now:
            raise ValidationFailed.field("ending_at", "invalid_date")
        sub.ending_at = data.ending_at
    if "activation_rules" in data.sent:
        rules = activation.parse_rules(data.activation_rules)
        activation.replace_rules(session, sub=sub, rules=rules, clock=clock)
    if data.subscription_at is not None:
        if sub.status != "pending":
            raise ValidationFailed.field("subscription_at", "value_is_invalid")
        sub.subscription_at = data.subscription_at
        if data.subscription_at <= now:
            sub.status, sub.started_at = "active", data.subscription_at
            if not activation.gate_start(session, sub=sub, clock=clock):
                _started(session, sub, clock)
    if data.plan_overrides:
        sub.plan_id = _override_plan(session, sub.plan, data.plan_overrides, now=now).id
    sub.updated_at = now
    session.flush()
    session.refresh(sub)
    enqueue(session, sub.organization_id, "subscription.updated", "subscription", sub.id, clock)
    return sub


TERMINATION_CREDIT_NOTES = ("credit", "refund", "offset", "skip")
TERMINATION_INVOICES = ("generate", "skip")


def terminate(
    session: Session,
    *,
    sub: Subscription,
    clock: Clock,
    on_termination_invoice: str | None = None,
    on_termination_credit_note: str | None = None,
) -> Subscription:
    """Terminate an active subscription (billing its open period) or cancel a pending one,
    now: the live clock's now, or for a customer under a test clock the clock's."""
    return terminate_at(
        session,
        sub=sub,
        clock=customer_clock(session, sub.customer, clock),
        on_termination_invoice=on_termination_invoice,
        on_termination_credit_note=on_termination_credit_note,
    )


def terminate_at(
    session: Session,
    *,
    sub: Subscription,
    clock: Clock,
    on_termination_invoice: str | None = None,
    on_termination_credit_note: str | None = None,
) -> Subscription:
    """`terminate` at the instant `clock` shows, whatever the customer's clock (the billing
    run ends a subscription at its own `ending_at`)."""
    if on_termination_invoice is not None and on_termination_invoice not in TERMINATION_INVOICES:
        raise ValidationFailed.field("on_termination_invoice", "value_is_invalid")
    if (
        on_termination_credit_note is not None
        and on_termination_credit_note not in TERMINATION_CREDIT_NOTES
    ):
        raise ValidationFailed.field("on_termination_credit_note", "value_is_invalid")
    if on_termination_credit_note:
        sub.on_termination_credit_note = on_termination_credit_note
    if sub.status == "pending":
        now = clock.now()
        sub.status, sub.canceled_at, sub.updated_at = "canceled", now, now
        return sub
    if sub.status == activation.INCOMPLETE:  # it never ran: canceled, its start unbilled
        activation.cancel(session, sub=sub, reason=None, clock=clock)
        return sub
    if sub.status != "active":
        raise NotAllowed("subscription_not_active")
    if on_termination_invoice:
        sub.on_termination_invoice = on_termination_invoice
    _end_now(sub, clock)
    bill_termination(session, sub=sub, clock=clock, upgrading=False)
    for scheduled in session.scalars(
        select(Subscription).where(
            Subscription.previous_subscription_id == sub.id, Subscription.status == "pending"
        )
    ):
        scheduled.status, scheduled.canceled_at = "canceled", clock.now()
    return sub


def _end_now(sub: Subscription, clock: Clock) -> None:
    """Mark the end before billing it: a period boundary at this very instant (an
    `ending_at` on a billing date, a change at 00:00) is not billed as a boundary, since
    the termination bills the period that ends there; billing both would bill it twice."""
    sub.terminated_at = clock.now()


_OVERRIDABLE = ("name", "invoice_display_name", "description", "amount_cents", "amount_currency")


def _override_plan(
    session: Session, parent: Plan, overrides: dict[str, Any], *, now: datetime
) -> Plan:
    """A hidden child plan carrying the subscription's own prices (Lago's plan_overrides)."""
    base = session.get(Plan, parent.parent_id) if parent.parent_id else parent
    assert base is not None
    child = Plan(
        id=new_id(),
        organization_id=base.organization_id,
        parent_id=base.id,
        code=base.code,
        name=base.name,
        invoice_display_name=base.invoice_display_name,
        description=base.description,
        interval=base.interval,
        amount_cents=base.amount_cents,
        amount_currency=base.amount_currency,
        trial_period=base.trial_period,
        pay_in_advance=base.pay_in_advance,
        bill_charges_monthly=base.bill_charges_monthly,
        tax_codes=list(base.tax_codes),
        minimum_commitment=overrides.get("minimum_commitment", base.minimum_commitment),
        usage_thresholds=overrides.get("usage_thresholds", list(base.usage_thresholds)),
        plan_metadata=base.plan_metadata,
        created_at=now,
        updated_at=now,
    )
    for name in _OVERRIDABLE:
        if overrides.get(name) is not None:
            setattr(child, name, overrides[name])
    if overrides.get("trial_period") is not None:
        from decimal import Decimal

        child.trial_period = Decimal(str(overrides["trial_period"]))
    if overrides.get("tax_codes") is not None:
        child.tax_codes = list(overrides["tax_codes"])
    amount = child.amount_cents
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValidationFailed.field("amount_cents", "value_is_invalid")
    session.add(child)
    session.flush()
    charge_overrides = {
        c.get("id"): c for c in overrides.get("charges") or [] if isinstance(c, dict)
    }
    for charge in base.charges:
        over = charge_overrides.get(charge.id, {})
        _copy_charge(session, charge, child, over, now=now)
    fixed_charges.copy_fixed_charges(
        session, base=base, child=child, overrides=overrides.get("fixed_charges"), now=now
    )
    session.flush()
    session.refresh(child)
    return child


def _copy_charge(
    session: Session, charge: Charge, plan: Plan, over: dict[str, Any], *, now: datetime
) -> None:
    from meterly.domain.pricing import parse_properties

    properties = over.get("properties") or charge.properties
    parse_properties(charge.charge_model, properties)
    copy = Charge(
        id=new_id(),
        organization_id=charge.organization_id,
        plan_id=plan.id,
        billable_metric_id=charge.billable_metric_id,
        position=charge.position,
        code=charge.code,
        charge_model=charge.charge_model,
        invoice_display_name=over.get("invoice_display_name", charge.invoice_display_name),
        pay_in_advance=charge.pay_in_advance,
        prorated=charge.prorated,
        invoiceable=charge.invoiceable,
        accepts_target_wallet=charge.accepts_target_wallet,
        regroup_paid_fees=charge.regroup_paid_fees,
        min_amount_cents=over.get("min_amount_cents", charge.min_amount_cents),
        properties=properties,
        tax_codes=over.get("tax_codes", charge.tax_codes),
        created_at=now,
        updated_at=now,
    )
    session.add(copy)
    filters = over.get("filters")
    sources = (
        [
            {
                "invoice_display_name": f.get("invoice_display_name"),
                "properties": f.get("properties", {}),
                "values": f.get("values", {}),
            }
            for f in filters
        ]
        if filters is not None
        else [
            {
                "invoice_display_name": f.invoice_display_name,
                "properties": f.properties,
                "values": f.values,
            }
            for f in charge.filters
        ]
    )
    for source in sources:
        session.add(
            ChargeFilter(
                id=new_id(),
                charge_id=copy.id,
                invoice_display_name=source["invoice_display_name"],
                properties=source["properties"],
                values=source["values"],
                created_at=now,
                updated_at=now,
            )
        )
