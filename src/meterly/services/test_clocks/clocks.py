"""Test clocks: create, read, delete with everything under them (Stripe's model, self-hosted).

A clock is a frozen instant of its own. Customers created with its id live at its time;
`advancing.advance` moves it. Deleting it deletes its customers and all their objects
(store/test_clock_purge.py) in the caller's unit of work.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services.common import Clock, new_id
from meterly.services.metering import clock_times
from meterly.store.tables import Customer, TestClock
from meterly.store.test_clock_purge import purge

READY = "ready"
ADVANCING = "advancing"
NAME_MAX = 255


def create(
    session: Session,
    *,
    organization_id: str,
    name: str | None,
    frozen_time: datetime | None,
    clock: Clock,
) -> TestClock:
    """A new clock frozen at `frozen_time` (mandatory, timezone-aware)."""
    if frozen_time is None:
        raise ValidationFailed.field("frozen_time", "value_is_mandatory")
    if frozen_time.tzinfo is None:
        raise ValidationFailed.field("frozen_time", "invalid_date")
    if name is not None and len(name) > NAME_MAX:
        raise ValidationFailed.field("name", "value_is_too_long")
    now = clock.now()
    row = TestClock(
        id=new_id(),
        organization_id=organization_id,
        name=name,
        frozen_time=frozen_time,
        status=READY,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    clock_times.forget(organization_id)  # its customers' undated events take its time
    return row


def find(session: Session, *, organization_id: str, clock_id: str) -> TestClock:
    row = session.get(TestClock, clock_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("test_clock")
    return row


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int
) -> tuple[list[TestClock], int]:
    where = TestClock.organization_id == organization_id
    total = session.scalar(select(func.count()).select_from(TestClock).where(where)) or 0
    rows = session.scalars(
        select(TestClock)
        .where(where)
        .order_by(TestClock.created_at.desc(), TestClock.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def customers_count(session: Session, clock_ids: list[str]) -> dict[str, int]:
    """How many customers live under each clock (deleted ones included: they are under it)."""
    if not clock_ids:
        return {}
    counts = session.execute(
        select(Customer.test_clock_id, func.count())
        .where(Customer.test_clock_id.in_(clock_ids))
        .group_by(Customer.test_clock_id)
    )
    found = {str(clock_id): int(count) for clock_id, count in counts}
    return {clock_id: found.get(clock_id, 0) for clock_id in clock_ids}


def delete(session: Session, *, row: TestClock) -> None:
    """Delete the clock and everything under it. Not while it advances: the advance would
    go on billing customers that are gone."""
    if row.status == ADVANCING:
        raise NotAllowed("test_clock_advancing")
    purge(session, row)
