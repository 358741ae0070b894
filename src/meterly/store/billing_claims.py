"""Claims on the batches of a shared billing run: every statement the fan-out needs.

PostgreSQL: the next free batch is picked with `FOR UPDATE SKIP LOCKED`, so two workers
asking at once get different batches without waiting on each other. SQLite: every write
transaction begins IMMEDIATE (store/engine.py), so the pick and the claim that follows it
run alone; `FOR UPDATE` compiles to nothing there. On both, the claim is a compare-and-set
UPDATE that only succeeds on a batch still free, so a claim is never granted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from meterly.store.tables.billing_runs import BillingRun, BillingRunBatch


@dataclass(frozen=True)
class OpenRun:
    id: str
    as_of: datetime
    subscriptions: int


@dataclass(frozen=True)
class ClaimedBatch:
    id: str
    position: int
    subscription_ids: tuple[str, ...]


def open_run(session: Session, scope: str) -> OpenRun | None:
    """The scope's run still being billed, if any."""
    row = session.execute(
        select(BillingRun.id, BillingRun.as_of, BillingRun.subscriptions).where(
            BillingRun.open_scope == scope
        )
    ).first()
    return OpenRun(str(row[0]), row[1], int(row[2])) if row else None


def create_run(
    session: Session,
    *,
    run_id: str,
    scope: str,
    as_of: datetime,
    batches: Sequence[Sequence[str]],
    batch_ids: Sequence[str],
    now: datetime,
) -> None:
    """Open a run and its batches; raises IntegrityError when the scope has one open."""
    session.execute(
        insert(BillingRun).values(
            id=run_id,
            scope=scope,
            open_scope=scope,
            as_of=as_of,
            subscriptions=sum(len(ids) for ids in batches),
            created_at=now,
        )
    )
    if batches:
        session.execute(
            insert(BillingRunBatch),
            [
                {
                    "id": batch_id,
                    "run_id": run_id,
                    "position": position,
                    "subscription_ids": list(ids),
                    "attempts": 0,
                }
                for position, (batch_id, ids) in enumerate(zip(batch_ids, batches, strict=True))
            ],
        )


def _free(now: datetime) -> ColumnElement[bool]:
    return and_(
        BillingRunBatch.done_at.is_(None),
        or_(BillingRunBatch.lease_until.is_(None), BillingRunBatch.lease_until < now),
    )


def expire_dead_holders(
    session: Session, run_id: str, *, now: datetime, is_dead: Callable[[str], bool]
) -> int:
    """End the leases of holders known to be gone (a process of this host that died)."""
    held = session.execute(
        select(BillingRunBatch.id, BillingRunBatch.holder).where(
            BillingRunBatch.run_id == run_id,
            BillingRunBatch.done_at.is_(None),
            BillingRunBatch.lease_until >= now,
        )
    ).all()
    expired = 0
    for batch_id, holder in held:
        if holder and is_dead(str(holder)):
            result = session.execute(
                update(BillingRunBatch)
                .where(BillingRunBatch.id == batch_id, BillingRunBatch.holder == holder)
                .values(lease_until=None)
                .execution_options(synchronize_session=False)
            )
            expired += int(getattr(result, "rowcount", 0) or 0)
    return expired


def claim_next(
    session: Session, run_id: str, *, holder: str, now: datetime, lease_until: datetime
) -> ClaimedBatch | None:
    """Claim the first free batch of the run (never leased, or its lease ran out)."""
    while True:
        row = session.execute(
            select(BillingRunBatch.id, BillingRunBatch.position, BillingRunBatch.subscription_ids)
            .where(BillingRunBatch.run_id == run_id, _free(now))
            .order_by(BillingRunBatch.position)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        result = session.execute(
            update(BillingRunBatch)
            .where(BillingRunBatch.id == row[0], _free(now))
            .values(holder=holder, lease_until=lease_until, attempts=BillingRunBatch.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            return ClaimedBatch(str(row[0]), int(row[1]), tuple(str(i) for i in row[2]))


def renew(session: Session, batch_id: str, *, holder: str, lease_until: datetime) -> bool:
    """Extend a lease still held; False when another worker took the batch over."""
    result = session.execute(
        update(BillingRunBatch)
        .where(
            BillingRunBatch.id == batch_id,
            BillingRunBatch.holder == holder,
            BillingRunBatch.done_at.is_(None),
        )
        .values(lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def finish_batch(session: Session, batch_id: str, *, now: datetime) -> None:
    session.execute(
        update(BillingRunBatch)
        .where(BillingRunBatch.id == batch_id, BillingRunBatch.done_at.is_(None))
        .values(done_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def batches_left(session: Session, run_id: str) -> int:
    count = session.scalar(
        select(func.count()).where(
            BillingRunBatch.run_id == run_id, BillingRunBatch.done_at.is_(None)
        )
    )
    return int(count or 0)


def close_if_done(session: Session, run_id: str, *, now: datetime) -> bool:
    """Close the run once every batch is done; True when it is closed (by us or before)."""
    if batches_left(session, run_id):
        return False
    session.execute(
        update(BillingRun)
        .where(BillingRun.id == run_id, BillingRun.open_scope.is_not(None))
        .values(open_scope=None, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return True
