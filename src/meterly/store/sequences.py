"""Counters behind sequential numbers (customers, invoice and credit-note numbers).

One row per (organization, scope) in `document_sequences`, bumped in the caller's
transaction by one atomic statement. Nothing computes "max + 1": two transactions reading
the same maximum would hand out the same number (issue 20).
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meterly.store.tables import DocumentSequence

# The scope of the customers' sequential ids (`customers.sequential_id`, their slug).
CUSTOMERS_SCOPE = "customers"


def next_value(session: Session, *, organization_id: str, scope: str) -> int:
    """Bump one counter and return its new value, safe under concurrency.

    PostgreSQL and SQLite: one upsert, `INSERT ... ON CONFLICT DO UPDATE SET last_value =
    last_value + 1 RETURNING last_value`. On PostgreSQL the conflicting row is locked and
    updated in its latest committed version, so concurrent transactions queue on it until
    the holder commits or rolls back, and each sees the value its predecessor committed (a
    rolled-back transaction gives its value back). SQLite serialises writers (Meterly
    begins every transaction IMMEDIATE).
    """
    dialect = session.get_bind().dialect.name
    values = {"organization_id": organization_id, "scope": scope, "last_value": 1}
    if dialect in ("postgresql", "sqlite"):
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(DocumentSequence)
        statement = (
            insert.values(values)
            .on_conflict_do_update(
                index_elements=[DocumentSequence.organization_id, DocumentSequence.scope],
                set_={"last_value": DocumentSequence.last_value + 1},
            )
            .returning(DocumentSequence.last_value)
        )
        return int(session.execute(statement).scalar_one())
    exists = session.get(  # pragma: no cover - other backends
        DocumentSequence, (organization_id, scope), with_for_update=True
    )
    if exists is None:  # pragma: no cover
        session.add(DocumentSequence(**{**values, "last_value": 0}))
        session.flush()
    value = session.execute(  # pragma: no cover
        update(DocumentSequence)
        .where(
            DocumentSequence.organization_id == organization_id,
            DocumentSequence.scope == scope,
        )
        .values(last_value=DocumentSequence.last_value + 1)
        .returning(DocumentSequence.last_value)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(value)
