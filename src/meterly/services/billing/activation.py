"""Subscriptions waiting for their first payment (Lago's `activation_rules`).

A subscription created with a `payment` rule on a plan paid in advance starts
`incomplete`: the billing run bills its start (the subscription fee of its first period;
the in-advance fixed charges are billed at creation) and nothing after it. What happens
to those invoices decides its fate:

- all paid (or nothing to pay) once the start is billed: `active`, `subscription.started`;
- a payment failed: `canceled` with `cancellation_reason: payment_failed`;
- the rule's `timeout_hours` passed first: `canceled` with `cancellation_reason: timeout`.

A canceled subscription bills nothing more: its unpaid invoices are voided (its drafts
deleted), so nothing goes on asking the customer for a subscription that never ran.

This lives in billing, below both callers: payments reports a payment's outcome
(`on_payment_status`) and the billing run checks the clock (`settle_incomplete`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from meterly.domain.errors import ValidationFailed
from meterly.services.billing import fixed_charge_fees
from meterly.services.billing import invoices as invoice_service
from meterly.services.common import Clock, new_id
from meterly.services.notifications import enqueue
from meterly.store.clock_scope import in_scope
from meterly.store.tables import (
    Fee,
    Invoice,
    InvoiceSubscription,
    Subscription,
    SubscriptionActivationRule,
)

INCOMPLETE = "incomplete"
PAYMENT_RULE = "payment"
PAYMENT_FAILED = "payment_failed"
TIMEOUT = "timeout"


# --- the rules as asked ----------------------------------------------------------------


def parse_rules(raw: Any) -> list[tuple[str, int | None]]:
    """`activation_rules` from the wire: a list of `{type: "payment", timeout_hours}`.

    Anything else is a 422 on `activation_rules`, before anything is written.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationFailed.field("activation_rules", "value_is_invalid")
    rules: list[tuple[str, int | None]] = []
    for item in raw:
        if not isinstance(item, dict) or item.get("type") != PAYMENT_RULE:
            raise ValidationFailed.field("activation_rules", "invalid_type")
        timeout = item.get("timeout_hours")
        if timeout is not None and (
            not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0
        ):
            raise ValidationFailed.field("activation_rules", "invalid_timeout_hours")
        rules.append((PAYMENT_RULE, timeout))
    if len(rules) > 1:  # one payment is awaited; two rules of the one type say nothing more
        raise ValidationFailed.field("activation_rules", "value_already_exist")
    return rules


def attach_rules(
    session: Session, *, sub: Subscription, rules: list[tuple[str, int | None]], clock: Clock
) -> None:
    """Store the rules, `inactive`: `gate_start` evaluates them when the subscription
    starts (at once, or when the clock starts a future one)."""
    now = clock.now()
    for kind, timeout in rules:
        session.add(
            SubscriptionActivationRule(
                id=new_id(),
                organization_id=sub.organization_id,
                subscription_id=sub.id,
                rule_type=kind,
                timeout_hours=timeout,
                status="inactive",
                expires_at=None,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()


def replace_rules(
    session: Session, *, sub: Subscription, rules: list[tuple[str, int | None]], clock: Clock
) -> None:
    """New rules for a subscription that has not started (Lago allows no other change)."""
    if sub.status != "pending":
        raise ValidationFailed.field("activation_rules", "value_is_invalid")
    for rule in _rules(session, sub):
        session.delete(rule)
    session.flush()
    attach_rules(session, sub=sub, rules=rules, clock=clock)
    session.expire(sub, ["activation_rules"])


def gate_start(session: Session, *, sub: Subscription, clock: Clock) -> bool:
    """A subscription starting now: True when a payment rule holds it `incomplete`.

    Lago gates it when a payment rule was given, the plan is paid in advance (there is a
    first invoice to pay) and no trial defers that invoice; otherwise the rules do not
    apply and the subscription starts as usual. The gated one announces itself
    (`subscription.incomplete`) and its in-advance fixed charges are billed now, to be
    paid with the rest of its start.
    """
    rules = [r for r in _rules(session, sub) if r.status == "inactive"]
    if not rules:
        return False
    now = clock.now()
    plan = sub.plan
    if not plan.pay_in_advance or (plan.trial_period or 0) > 0:
        for rule in rules:
            rule.status, rule.updated_at = "not_applicable", now
        session.flush()
        return False
    for rule in rules:
        rule.status, rule.expires_at = "pending", _deadline(now, rule.timeout_hours)
        rule.updated_at = now
    sub.status, sub.updated_at = INCOMPLETE, now
    session.flush()
    enqueue(session, sub.organization_id, "subscription.incomplete", "subscription", sub.id, clock)
    fixed_charge_fees.bill_start(session, sub=sub, clock=clock)
    return True


def _deadline(start: datetime, timeout_hours: int | None) -> datetime | None:
    # Zero, like no value, sets no deadline: the subscription waits for its payment.
    return start + timedelta(hours=timeout_hours) if timeout_hours else None


# --- what decides ----------------------------------------------------------------------


def on_payment_status(session: Session, *, invoice: Invoice, clock: Clock) -> None:
    """An invoice's payment status changed: settle the incomplete subscriptions it bills."""
    linked = select(InvoiceSubscription.subscription_id).where(
        InvoiceSubscription.invoice_id == invoice.id
    )
    charged = select(Fee.subscription_id).where(
        Fee.invoice_id == invoice.id, Fee.subscription_id.is_not(None)
    )
    subs = session.scalars(
        select(Subscription).where(
            Subscription.status == INCOMPLETE,
            or_(Subscription.id.in_(linked), Subscription.id.in_(charged)),
        )
    )
    for sub in list(subs):
        settle(session, sub=sub, clock=clock)


def settle_incomplete(
    session: Session, *, clock: Clock, organization_id: str | None = None
) -> list[Subscription]:
    """The clock's check: every incomplete subscription whose start is paid (a zero
    invoice is paid at once) is activated, and every one whose rule expired is canceled.
    Returns the subscriptions that changed."""
    # A test clock's customers wait on their clock's time, not the live run's.
    query = select(Subscription).where(
        Subscription.status == INCOMPLETE, in_scope(Subscription.customer_id)
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    changed = []
    for sub in list(session.scalars(query.order_by(Subscription.created_at, Subscription.id))):
        if settle(session, sub=sub, clock=clock) is not None:
            changed.append(sub)
    return changed


def settle(session: Session, *, sub: Subscription, clock: Clock) -> str | None:
    """Activate or cancel `sub` if its invoices or its deadline say so; the new status,
    or None while it still waits."""
    if sub.status != INCOMPLETE:
        return None
    billed = gating_invoices(session, sub)
    if any(i.status == "finalized" and i.payment_status == "failed" for i in billed):
        cancel(session, sub=sub, reason=PAYMENT_FAILED, clock=clock)
        return sub.status
    start_billed = sub.last_billed_boundary is not None
    if start_billed and all(
        i.status == "finalized" and i.payment_status == "succeeded" for i in billed
    ):
        activate(session, sub=sub, clock=clock)
        return sub.status
    expiry = _expiry(session, sub)
    if expiry is not None and expiry <= clock.now():
        cancel(session, sub=sub, reason=TIMEOUT, clock=clock)
        return sub.status
    return None


def gating_invoices(session: Session, sub: Subscription) -> list[Invoice]:
    """The invoices of `sub` that still count: all it was billed while incomplete."""
    linked = select(InvoiceSubscription.invoice_id).where(
        InvoiceSubscription.subscription_id == sub.id
    )
    charged = select(Fee.invoice_id).where(
        Fee.subscription_id == sub.id, Fee.invoice_id.is_not(None), Fee.deleted_at.is_(None)
    )
    return list(
        session.scalars(
            select(Invoice)
            .where(
                or_(Invoice.id.in_(linked), Invoice.id.in_(charged)),
                Invoice.status.in_(("draft", "finalized")),
            )
            .order_by(Invoice.created_at, Invoice.id)
        )
    )


def _rules(session: Session, sub: Subscription) -> list[SubscriptionActivationRule]:
    return list(
        session.scalars(
            select(SubscriptionActivationRule).where(
                SubscriptionActivationRule.subscription_id == sub.id
            )
        )
    )


def _expiry(session: Session, sub: Subscription) -> datetime | None:
    deadlines = [
        r.expires_at
        for r in _rules(session, sub)
        if r.status == "pending" and r.expires_at is not None
    ]
    return min(deadlines) if deadlines else None


def activate(session: Session, *, sub: Subscription, clock: Clock) -> None:
    """The first payment arrived: the subscription runs from now on, as Lago announces
    it (`subscription.started`); its periods stay anchored on its start."""
    now = clock.now()
    sub.status, sub.activated_at, sub.updated_at = "active", now, now
    _mark_rules(session, sub, "satisfied", now)
    session.flush()
    enqueue(session, sub.organization_id, "subscription.started", "subscription", sub.id, clock)


def cancel(session: Session, *, sub: Subscription, reason: str | None, clock: Clock) -> None:
    """Stop `sub` before it ever ran: its unpaid invoices voided, its drafts deleted.

    `reason`: `payment_failed`, `timeout`, or None when the subscription was terminated
    by hand while it waited.
    """
    now = clock.now()
    for invoice in gating_invoices(session, sub):
        if invoice.status == "draft":
            invoice_service.delete_draft(session, invoice=invoice, clock=clock)
        elif invoice.payment_status != "succeeded":
            invoice_service.void(session, invoice=invoice, clock=clock)
    sub.status, sub.canceled_at, sub.updated_at = "canceled", now, now
    sub.cancellation_reason = reason
    rule_status = {PAYMENT_FAILED: "failed", TIMEOUT: "expired"}.get(reason or "", "declined")
    _mark_rules(session, sub, rule_status, now)
    session.flush()
    enqueue(session, sub.organization_id, "subscription.canceled", "subscription", sub.id, clock)


def _mark_rules(session: Session, sub: Subscription, status: str, now: datetime) -> None:
    for rule in _rules(session, sub):
        if rule.status == "pending":
            rule.status, rule.updated_at = status, now
