"""Advancing a test clock: everything that would have happened in between, in order.

The advance steps from one due instant to the next (`due_instants`: billing boundaries,
trial ends, `ending_at` and its notices, pending starts, drafts' finalization, due dates,
wallet expiries) up to the new frozen time. Each step is the billing run as of that
instant, with a FrozenClock set to it and scoped to the clock's customers
(`store.clock_scope`), then a dunning pass: the same code the live clock runs, never a
copy. Each step commits on its own and moves the clock's frozen time, so an advance that
stops midway (an error, a crash) is resumed by the next one.

Two advances of one clock at once: the first sets `status` to advancing with a
compare-and-set, the second is refused (405 test_clock_advancing). The billing run's
(subscription, boundary) key would refuse a double invoice anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, ValidationFailed
from meterly.domain.schedule import closed_boundaries
from meterly.services import runs
from meterly.services.accounts import terms_of
from meterly.services.common import Clock, FrozenClock
from meterly.services.payments import dunning
from meterly.services.subscriptions import TERMINATION_ALERT_DAYS
from meterly.services.test_clocks.clocks import ADVANCING, READY, find
from meterly.store.clock_scope import clock_scope
from meterly.store.tables import Customer, Invoice, Subscription, TestClock, Wallet
from meterly.store.uow import Database

# An advance whose process died leaves the clock advancing: after this long without a
# step, the next advance takes it over.
STALE_ADVANCE = timedelta(minutes=10)


@dataclass
class AdvanceReport:
    """What an advance did: the instants it stepped through and what they issued."""

    steps: list[datetime] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def advance(
    database: Database,
    *,
    organization_id: str,
    clock_id: str,
    frozen_time: datetime | None,
    wall_clock: Clock,
) -> AdvanceReport:
    """Move the clock to `frozen_time` (later than its own), running each step in order."""
    if frozen_time is None:
        raise ValidationFailed.field("frozen_time", "value_is_mandatory")
    if frozen_time.tzinfo is None:
        raise ValidationFailed.field("frozen_time", "invalid_date")
    start = _claim(database, organization_id, clock_id, frozen_time, wall_clock)
    report = AdvanceReport()
    try:
        for step in _steps(database, clock_id, start=start, until=frozen_time):
            _run_step(database, organization_id, clock_id, step, report, wall_clock)
    finally:
        with database.unit_of_work() as session:
            session.execute(
                update(TestClock)
                .where(TestClock.id == clock_id)
                .values(status=READY, updated_at=wall_clock.now())
            )
    return report


def _claim(
    database: Database, organization_id: str, clock_id: str, target: datetime, wall: Clock
) -> datetime:
    """Mark the clock advancing (compare-and-set); its frozen time, where the advance starts."""
    now = wall.now()
    with database.unit_of_work() as session:
        find(session, organization_id=organization_id, clock_id=clock_id)
        claimed = session.execute(
            update(TestClock)
            .where(
                TestClock.id == clock_id,
                or_(
                    TestClock.status == READY,
                    and_(
                        TestClock.status == ADVANCING,
                        TestClock.updated_at < now - STALE_ADVANCE,
                    ),
                ),
            )
            .values(status=ADVANCING, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            raise NotAllowed("test_clock_advancing")
        # Read after the claim: a concurrent advance may have moved it before we got it.
        start = session.scalar(select(TestClock.frozen_time).where(TestClock.id == clock_id))
        assert start is not None
        if target <= start:  # raising rolls the claim back
            raise ValidationFailed.field("frozen_time", "must_be_later_than_current_time")
    return start


def _steps(
    database: Database, clock_id: str, *, start: datetime, until: datetime
) -> Iterator[datetime]:
    """Each next due instant, read again after every step (a step creates new dues: an
    invoice's due date, a downgrade's start)."""
    current = start
    while current < until:
        with database.unit_of_work() as session:
            current = due_instants(session, clock_id, after=current, until=until)
        yield current


def _run_step(
    database: Database,
    organization_id: str,
    clock_id: str,
    step: datetime,
    report: AdvanceReport,
    wall: Clock,
) -> None:
    at = FrozenClock(step)
    with clock_scope(clock_id):
        done = runs.run(
            database, as_of=step, clock=at, organization_id=organization_id, lease_clock=wall
        )
        dunning.run_once(database, clock=at)
    report.steps.append(step)
    report.invoices.extend(done.invoices)
    report.errors.extend(done.errors)
    with database.unit_of_work() as session:
        session.execute(
            update(TestClock)
            .where(TestClock.id == clock_id)
            .values(frozen_time=step, updated_at=wall.now())
            .execution_options(synchronize_session=False)
        )


def due_instants(session: Session, clock_id: str, *, after: datetime, until: datetime) -> datetime:
    """The earliest instant in (after, until] when something falls due for the clock's
    customers; `until` when nothing does before it."""
    customers = select(Customer.id).where(Customer.test_clock_id == clock_id)
    candidates = [until]
    for sub in session.scalars(
        select(Subscription).where(
            Subscription.customer_id.in_(customers),
            Subscription.status.in_(("active", "pending")),
        )
    ):
        candidates.extend(_subscription_dues(session, sub, after=after, until=until))
    candidates.extend(
        session.scalars(
            select(Invoice.finalize_at).where(
                Invoice.customer_id.in_(customers),
                Invoice.status == "draft",
                Invoice.finalize_at.is_not(None),
            )
        )
    )
    # `mark_overdue` flags an invoice the day after its due date.
    for due_date in session.scalars(
        select(Invoice.payment_due_date).where(
            Invoice.customer_id.in_(customers),
            Invoice.status == "finalized",
            Invoice.payment_status != "succeeded",
            Invoice.payment_overdue.is_(False),
        )
    ):
        candidates.append(due_date + timedelta(days=1))
    candidates.extend(
        session.scalars(
            select(Wallet.expiration_at).where(
                Wallet.customer_id.in_(customers),
                Wallet.status == "active",
                Wallet.expiration_at.is_not(None),
            )
        )
    )
    return min(c for c in candidates if c is not None and after < c <= until)


def _subscription_dues(
    session: Session, sub: Subscription, *, after: datetime, until: datetime
) -> list[datetime]:
    if sub.status == "pending":
        return [sub.started_at or sub.subscription_at]
    terms = terms_of(session, sub)
    dues: list[datetime] = []
    for boundary in closed_boundaries(terms, after=sub.last_billed_boundary, as_of=until):
        if boundary.at > after:
            dues.append(boundary.at)
            break
    if terms.trial_ends_at is not None and sub.trial_ended_at is None:
        dues.append(terms.trial_ends_at)
    if sub.ending_at is not None:
        dues.append(sub.ending_at)
        dues.extend(sub.ending_at - timedelta(days=days) for days in TERMINATION_ALERT_DAYS)
    return dues
