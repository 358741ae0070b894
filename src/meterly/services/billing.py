"""Billing: turning closed periods into invoices. Termination lives here because it bills."""

from __future__ import annotations

from sqlalchemy.orm import Session

from meterly.services.clock import Clock
from meterly.store.tables import Subscription


def terminate(session: Session, *, sub: Subscription, clock: Clock, upgrading: bool) -> None:
    """End an active subscription now.

    The open period is billed by the billing clock from `terminated_at` (the termination
    day is billed; on an upgrade that day goes to the new plan).
    """
    now = clock.now()
    sub.status = "terminated"
    sub.terminated_at = now
    sub.updated_at = now
    session.flush()
