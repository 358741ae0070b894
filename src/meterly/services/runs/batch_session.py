"""One session for a batch's invoices, one transaction per invoice.

Each invoice still commits alone (a crash loses at most the invoice being written, and a
concurrent worker's key rolls back only that invoice), but the catalogue the batch's
invoices share (the organization, plans, their charges, filters and fixed charges, metrics,
taxes) stays loaded in the session from one invoice to the next instead of being read again
for each. Everything else an invoice touched (subscriptions, customers, wallets, coupons,
invoices, fees) is forgotten after its transaction, so the next invoice reads it fresh.
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
    """Commit on success, roll back on any error; then forget all but the catalogue."""
    try:
        with session.begin():
            yield session
    finally:
        # The identity map holds its rows weakly: the catalogue is kept alive here.
        kept: list[object] = session.info.setdefault(KEPT, [])
        kept.clear()
        for instance in list(session.identity_map.values()):
            if isinstance(instance, CATALOGUE):
                kept.append(instance)
            elif instance in session:  # an earlier expunge may have cascaded to it
                session.expunge(instance)
