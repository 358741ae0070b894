"""One billing run shared by several workers: batches claimed under a lease, each claimed
by one worker at a time, and a dead worker's batch claimed again."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.services.runs import fanout
from meterly.store.tables import BillingRun, BillingRunBatch, Invoice, InvoiceSubscription
from tests.integration.test_billing_crash_and_concurrency import catalogue, counts

AS_OF = datetime(2020, 2, 1, tzinfo=UTC)  # one closed month for subscriptions of 2020-01-01


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two subscriptions (customers) a batch: 6 customers make 3 batches.
    monkeypatch.setattr(fanout, "BATCH_SIZE", 2)


def open_run(api: Any, lease_clock: FrozenClock) -> fanout.SharedRun:
    shared = fanout.open_or_join(
        api.database, scope="*", organization_id=None, as_of=AS_OF, now=lease_clock.now()
    )
    assert shared is not None
    return shared


def dead_holder() -> str:
    """The holder name of a process of this host that has exited."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from meterly.services.runs import fanout; print(fanout.holder_name())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_two_workers_never_claim_the_same_batch(api: Any, small_batches: None) -> None:
    catalogue(api, subscriptions=6)
    lease_clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    shared = open_run(api, lease_clock)
    first = fanout.claims(api.database, shared, holder="host-a:1:a", lease_clock=lease_clock)
    second = fanout.claims(api.database, shared, holder="host-b:1:b", lease_clock=lease_clock)
    # a, b, a take the three batches in order; then nothing is free for either.
    claimed = [next(first), next(second), next(first)]
    assert [lease.batch.position for lease in claimed] == [0, 1, 2]
    assert next(second, None) is None
    assert next(first, None) is None
    subscriptions = [sub for lease in claimed for sub in lease.batch.subscription_ids]
    assert len(subscriptions) == len(set(subscriptions)) == 6


def test_a_batch_whose_lease_ran_out_is_claimed_again(api: Any, small_batches: None) -> None:
    catalogue(api, subscriptions=6)
    lease_clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    shared = open_run(api, lease_clock)
    stalled = fanout.claims(api.database, shared, holder="elsewhere:1:a", lease_clock=lease_clock)
    held = next(stalled)
    lease_clock.advance(fanout.LEASE - timedelta(seconds=1))
    # Still within the lease: another worker gets the other two batches only.
    others = fanout.claims(api.database, shared, holder="here:2:b", lease_clock=lease_clock)
    assert [lease.batch.position for lease in others] == [1, 2]
    lease_clock.advance(timedelta(seconds=2))
    again = list(fanout.claims(api.database, shared, holder="here:2:b", lease_clock=lease_clock))
    assert [lease.batch.id for lease in again] == [held.batch.id]
    with api.database.unit_of_work() as session:
        claimed_again = session.get(BillingRunBatch, held.batch.id)
        assert claimed_again is not None and claimed_again.attempts == 2
    # The first holder lost it: it cannot renew a lease that is now someone else's.
    assert held.renew() is False


def test_the_batch_of_a_dead_process_on_this_host_is_claimed_at_once(
    api: Any, small_batches: None
) -> None:
    catalogue(api, subscriptions=6)
    lease_clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    shared = open_run(api, lease_clock)
    held = next(fanout.claims(api.database, shared, holder=dead_holder(), lease_clock=lease_clock))
    # No time passes: the lease still runs, but its holder's process is gone.
    mine = list(fanout.claims(api.database, shared, holder="here:2:b", lease_clock=lease_clock))
    assert held.batch.id in {lease.batch.id for lease in mine}
    assert len(mine) == 3


def test_a_run_left_by_a_dead_worker_is_finished_by_the_next_run(
    api: Any, small_batches: None
) -> None:
    catalogue(api, subscriptions=6)
    lease_clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    shared = open_run(api, lease_clock)
    next(fanout.claims(api.database, shared, holder=dead_holder(), lease_clock=lease_clock))
    report = runs.run(api.database, as_of=AS_OF, clock=FrozenClock(AS_OF), lease_clock=lease_clock)
    assert report.errors == []
    # 6 subscriptions x January 2020: 6 invoices, each key once.
    assert counts(api) == (6, 6, 6)
    with api.database.unit_of_work() as session:
        run_row = session.get(BillingRun, shared.id)
        assert run_row is not None and run_row.open_scope is None
        left = session.scalar(
            select(func.count()).where(
                BillingRunBatch.run_id == shared.id, BillingRunBatch.done_at.is_(None)
            )
        )
        assert left == 0


def test_a_worker_joining_a_run_bills_only_the_batches_left(api: Any, small_batches: None) -> None:
    catalogue(api, subscriptions=6)
    lease_clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    shared = open_run(api, lease_clock)
    held = next(
        fanout.claims(api.database, shared, holder="elsewhere:1:a", lease_clock=lease_clock)
    )
    report = runs.run(api.database, as_of=AS_OF, clock=FrozenClock(AS_OF), lease_clock=lease_clock)
    # The other worker still holds batch 0 (2 subscriptions): 4 invoices here, none of its.
    assert len(report.invoices) == 4
    with api.database.unit_of_work() as session:
        billed = set(session.scalars(select(InvoiceSubscription.subscription_id)))
        assert billed.isdisjoint(held.batch.subscription_ids)
        run_row = session.get(BillingRun, shared.id)
        assert run_row is not None and run_row.open_scope == "*"  # batch 0 is not done


def test_nothing_due_opens_no_run(api: Any) -> None:
    report = runs.run(api.database, as_of=AS_OF, clock=FrozenClock(AS_OF))
    assert report.invoices == []
    with api.database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(BillingRun)) == 0


@pytest.mark.postgres
def test_two_worker_threads_share_the_batches_of_one_run_and_bill_each_once(
    migrated_postgres_url: str, clock: FrozenClock, small_batches: None
) -> None:
    from tests.conftest import ApiClient, build_api

    built: Any = build_api(migrated_postgres_url, clock, migrate=False)
    client, (secret, org_id, database) = built
    with client:
        api = ApiClient(client, secret, org_id, database)
        catalogue(api, subscriptions=12)
        barrier = threading.Barrier(2)
        reports: list[runs.RunReport] = []

        def worker() -> None:
            barrier.wait()
            reports.append(runs.run(database, as_of=AS_OF, clock=FrozenClock(AS_OF)))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # 12 subscriptions x January 2020: 12 invoices between the two, each key once.
        assert counts(api) == (12, 12, 12)
        assert sum(len(r.invoices) for r in reports) == 12
        assert all(r.errors == [] for r in reports)
        with database.unit_of_work() as session:
            assert session.scalar(select(func.count()).select_from(Invoice)) == 12
            assert (
                session.scalar(select(func.count()).where(BillingRun.open_scope.is_not(None))) == 0
            )
    database.engine.dispose()
