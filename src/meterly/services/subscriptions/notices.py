"""What the clock tells about subscriptions: their trial has ended, their termination is
coming (Lago's `subscription.trial_ended` and `subscription.termination_alert`).

Each is sent once: the subscription keeps when it was sent (`trial_ended_at`,
`termination_alerted_at`), in the unit of work that queues the webhook.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.services.accounts import terms_of
from meterly.services.common import Clock
from meterly.services.notifications import enqueue
from meterly.store.clock_scope import in_scope
from meterly.store.tables import Plan, Subscription

# Lago warns 45 days, then 15 days, before a subscription's `ending_at`.
TERMINATION_ALERT_DAYS = (45, 15)


def end_trials(session: Session, *, organization_id: str | None, clock: Clock) -> int:
    """Active subscriptions whose free trial is over get `trial_ended_at` and a webhook."""
    now = clock.now()
    query = (
        select(Subscription)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(
            Subscription.status == "active",
            Subscription.trial_ended_at.is_(None),
            Plan.trial_period > 0,
            in_scope(Subscription.customer_id),
        )
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    ended = 0
    for sub in session.scalars(query):
        trial_end = terms_of(session, sub).trial_ends_at
        if trial_end is None or trial_end > now:
            continue
        sub.trial_ended_at = trial_end
        enqueue(
            session, sub.organization_id, "subscription.trial_ended", "subscription", sub.id, clock
        )
        ended += 1
    session.flush()
    return ended


def alert_terminations(session: Session, *, organization_id: str | None, clock: Clock) -> int:
    """Active subscriptions ending within 45 (then 15) days are warned once per threshold;
    one created or changed closer to its end than both gets one warning."""
    now = clock.now()
    horizon = now + timedelta(days=max(TERMINATION_ALERT_DAYS))
    query = select(Subscription).where(
        Subscription.status == "active",
        Subscription.ending_at.is_not(None),
        Subscription.ending_at > now,
        Subscription.ending_at <= horizon,
        in_scope(Subscription.customer_id),
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    alerted = 0
    for sub in session.scalars(query):
        assert sub.ending_at is not None
        passed = [
            sub.ending_at - timedelta(days=days)
            for days in TERMINATION_ALERT_DAYS
            if sub.ending_at - timedelta(days=days) <= now
        ]
        threshold = max(passed)  # the latest threshold crossed
        if sub.termination_alerted_at is not None and sub.termination_alerted_at >= threshold:
            continue
        sub.termination_alerted_at = now
        enqueue(
            session,
            sub.organization_id,
            "subscription.termination_alert",
            "subscription",
            sub.id,
            clock,
        )
        alerted += 1
    session.flush()
    return alerted
