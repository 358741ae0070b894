"""Delete a test clock and every row that lives under it, in one transaction.

"Under it" is whatever reaches one of its customers through foreign keys (subscriptions,
invoices, fees, wallets, credit notes, payments, ...): the walk follows the schema's own
foreign keys, so a table added later is covered without a change here. A few rows point
at those objects by value instead of by key, and are named below: the events (by
subscription external id), alerts, outbox rows (webhooks and e-mails by object id) and the
clock's billing runs (scoped by the clock's id).

Rows are deleted children first (the reverse of `metadata.sorted_tables`), each table in
one statement whose condition reaches the clock's customers through its parents, which
are still there when it runs.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, delete, false, or_, select
from sqlalchemy.orm import Session

from meterly.store.tables import (
    Alert,
    BillingRun,
    BillingRunBatch,
    Customer,
    Email,
    Subscription,
    TestClock,
    Wallet,
    Webhook,
    events,
    metadata,
)


def _under_clock(clock_id: str) -> dict[str, ColumnElement[bool]]:
    """For each table with rows under the clock, the condition that selects them."""
    customers = metadata.tables[Customer.__tablename__]
    conditions: dict[str, ColumnElement[bool]] = {
        customers.name: customers.c.test_clock_id == clock_id
    }
    for table in metadata.sorted_tables:  # parents before children
        if table.name in conditions:
            continue
        reaches = [
            fk.parent.in_(select(fk.column).where(conditions[fk.column.table.name]))
            for fk in table.foreign_keys
            # A row pointing at its own table (a plan change's predecessor) is under the
            # same customer as that row: the other keys already select it.
            if fk.column.table is not table and fk.column.table.name in conditions
        ]
        if reaches:
            conditions[table.name] = or_(*reaches)
    return conditions


def _by_object_id(table: Table, conditions: dict[str, ColumnElement[bool]]) -> ColumnElement[bool]:
    """Outbox rows (webhooks, e-mails) about an object under the clock."""
    ids = [
        select(metadata.tables[name].c.id).where(condition)
        for name, condition in conditions.items()
        if "id" in metadata.tables[name].c
    ]
    return or_(false(), *(table.c.object_id.in_(subquery) for subquery in ids))


def purge(session: Session, clock: TestClock) -> None:
    """Delete `clock` and everything under it (the caller's unit of work commits)."""
    conditions = _under_clock(clock.id)
    subscriptions = select(Subscription.external_id).where(
        Subscription.customer_id.in_(select(Customer.id).where(Customer.test_clock_id == clock.id))
    )
    wallets = select(Wallet.id).where(
        Wallet.customer_id.in_(select(Customer.id).where(Customer.test_clock_id == clock.id))
    )
    # Rows that name the clock's objects by value, not by key: before the objects go.
    session.execute(
        delete(events).where(
            events.c.organization_id == clock.organization_id,
            events.c.external_subscription_id.in_(subscriptions),
        )
    )
    corrections = metadata.tables.get("event_corrections")
    if corrections is not None and "external_subscription_id" in corrections.c:
        session.execute(
            delete(corrections).where(
                corrections.c.organization_id == clock.organization_id,
                corrections.c.external_subscription_id.in_(subscriptions),
            )
        )
    session.execute(
        delete(Alert)
        .where(
            Alert.organization_id == clock.organization_id,
            or_(Alert.external_subscription_id.in_(subscriptions), Alert.wallet_id.in_(wallets)),
        )
        .execution_options(synchronize_session=False)
    )
    for outbox in (Webhook.__table__, Email.__table__):
        assert isinstance(outbox, Table)
        session.execute(delete(outbox).where(_by_object_id(outbox, conditions)))
    for table in reversed(metadata.sorted_tables):  # children before parents
        condition = conditions.get(table.name)
        if condition is not None:
            session.execute(delete(table).where(condition))
    runs = select(BillingRun.id).where(BillingRun.scope == clock.id)
    quiet = {"synchronize_session": False}  # the caller's session is done with these rows
    session.execute(
        delete(BillingRunBatch).where(BillingRunBatch.run_id.in_(runs)).execution_options(**quiet)
    )
    session.execute(
        delete(BillingRun).where(BillingRun.scope == clock.id).execution_options(**quiet)
    )
    session.execute(delete(TestClock).where(TestClock.id == clock.id).execution_options(**quiet))
