"""Sharing one billing run between workers: batches claimed under a lease.

The first worker of a pass opens the run: the subscriptions due (`due_subscriptions`), cut
in batches that never split a customer (`customer_batches`), one row each. Every worker,
on this machine or another, then claims batches one at a time until none is free, and
bills each. A worker that dies leaves its batch leased: once the lease runs out, or at once
when the holder was a process of this host that no longer exists, the next worker to ask
claims it and bills what is still due (the (subscription, boundary) key and
`last_billed_boundary` skip what the dead worker committed).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from meterly.services.billing import BATCH_SIZE, customer_batches, due_subscriptions
from meterly.services.common import Clock, new_id
from meterly.store import billing_claims
from meterly.store.uow import Database

# How long a claimed batch stays its worker's without news: renewed after the batch's
# read-ahead and every RENEW_EVERY invoices, so only a dead (or stalled) worker loses it.
LEASE = timedelta(minutes=10)
RENEW_EVERY = 200
# While another live worker finishes the last batches of an older run, how long to wait
# before looking again (the next run may only open once that one is closed).
POLL_SECONDS = 0.5


def holder_name() -> str:
    """Who holds a lease: host and process (to see it died), and a token per call."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def holder_is_dead(holder: str) -> bool:
    """True when `holder` was a process of this host that has exited (killed, crashed).

    Another host's holder is never judged from here: its lease has to run out.
    """
    parts = holder.rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid_text, _ = parts
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


@dataclass
class Lease:
    """A claimed batch and the means to keep it: `renew()` says False once it was lost."""

    database: Database
    batch: billing_claims.ClaimedBatch
    holder: str
    lease_clock: Clock
    length: timedelta

    def renew(self) -> bool:
        with self.database.unit_of_work() as session:
            return billing_claims.renew(
                session,
                self.batch.id,
                holder=self.holder,
                lease_until=self.lease_clock.now() + self.length,
            )

    def finish(self) -> None:
        with self.database.unit_of_work() as session:
            billing_claims.finish_batch(session, self.batch.id, now=self.lease_clock.now())


@dataclass(frozen=True)
class SharedRun:
    id: str
    as_of: datetime
    subscriptions: int


def open_or_join(
    database: Database, *, scope: str, organization_id: str | None, as_of: datetime, now: datetime
) -> SharedRun | None:
    """The scope's open run, else a new one as of `as_of`; None when nothing is due."""
    while True:
        with database.unit_of_work() as session:
            current = billing_claims.open_run(session, scope)
        if current is not None:
            return SharedRun(current.id, current.as_of, current.subscriptions)
        run_id = new_id()
        try:
            with database.unit_of_work() as session:
                due = due_subscriptions(session, organization_id)
                if not due:
                    return None
                batches = customer_batches(due, BATCH_SIZE)
                billing_claims.create_run(
                    session,
                    run_id=run_id,
                    scope=scope,
                    as_of=as_of,
                    batches=batches,
                    batch_ids=[new_id() for _ in batches],
                    now=now,
                )
            return SharedRun(run_id, as_of, len(due))
        except IntegrityError:
            continue  # another worker opened the scope's run first: join it


def claims(
    database: Database,
    run: SharedRun,
    *,
    holder: str,
    lease_clock: Clock,
    length: timedelta = LEASE,
) -> Iterator[Lease]:
    """The run's batches this worker claims, one at a time, until none is free."""
    while True:
        now = lease_clock.now()
        with database.unit_of_work() as session:
            billing_claims.expire_dead_holders(session, run.id, now=now, is_dead=holder_is_dead)
        with database.unit_of_work() as session:
            batch = billing_claims.claim_next(
                session, run.id, holder=holder, now=now, lease_until=now + length
            )
        if batch is None:
            return
        yield Lease(database, batch, holder, lease_clock, length)


def close_if_done(database: Database, run: SharedRun, *, lease_clock: Clock) -> bool:
    with database.unit_of_work() as session:
        return billing_claims.close_if_done(session, run.id, now=lease_clock.now())


def wait_for_others(sleep: Callable[[float], None] = time.sleep) -> None:
    """Another live worker holds the open run's last batches: look again shortly."""
    sleep(POLL_SECONDS)
