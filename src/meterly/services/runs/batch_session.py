"""One session for a batch's invoices, a transaction per few dozen invoices.

The invoices of a chunk commit together (a crash loses at most the chunk being written,
none of which was announced: webhooks and mails are outbox rows of the same transaction);
when any of them fails, the chunk rolls back and its invoices are written again one per
transaction, so a concurrent worker's key or one bad subscription costs only its own
invoice (`billing_run`).

The catalogue the batch's invoices share (the organization, plans, their charges, filters
and fixed charges, metrics, taxes) stays loaded in the session from one invoice to the next
instead of being read again for each. Everything else an invoice touched (subscriptions,
customers, wallets, coupons, invoices, fees) is forgotten after it, so the next invoice
reads it fresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from meterly.services.billing import fixed_charge_fees
from meterly.store.tables import (
    BillableMetricRow,
    BillingEntity,
    Charge,
    ChargeFilter,
    FixedCharge,
    Organization,
    Plan,
    Tax,
)
from meterly.store.uow import Database

# What a billing run reads but never writes: kept across the batch's transactions.
CATALOGUE = (
    BillableMetricRow,
    BillingEntity,
    Charge,
    ChargeFilter,
    FixedCharge,
    Organization,
    Plan,
    Tax,
)
KEPT = "billing_batch_catalogue"


@contextmanager
def batch_session(database: Database) -> Iterator[Session]:
    with database.sessions() as session:
        # The session bills a batch: billing may remember its catalogue reads.
        session.info[fixed_charge_fees.BATCH_MARK] = True
        yield session


@contextmanager
def invoice_transaction(session: Session) -> Iterator[Session]:
    """Commit on success, roll back on any error; then forget all but the catalogue.

    A billing run writes several invoices in one such transaction (`billing_run`): the
    transaction's flush and commit are paid once for them all.
    """
    try:
        with session.begin():
            yield session
    finally:
        forget(session)


def forget(session: Session) -> None:
    """Write what is pending, then let go of every row but the catalogue, so the next
    invoices read their customers, wallets and coupons fresh."""
    if session.in_transaction():
        session.flush()
    # The identity map holds its rows weakly: the catalogue is kept alive here.
    kept: list[object] = session.info.setdefault(KEPT, [])
    kept.clear()
    for instance in list(session.identity_map.values()):
        if isinstance(instance, CATALOGUE):
            kept.append(instance)
        elif instance in session:  # an earlier expunge may have cascaded to it
            session.expunge(instance)
