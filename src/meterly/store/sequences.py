"""Counters behind sequential numbers (customers, invoice and credit-note numbers).

One row per (organization, scope) in `document_sequences`, bumped in the caller's
transaction by one atomic statement. Nothing computes "max + 1": two transactions reading
the same maximum would hand out the same number (issue 20).
"""

from __future__ import annotations

from collections.abc import Mapping

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


def next_values(
    session: Session, wanted: Mapping[tuple[str, str], int]
) -> dict[tuple[str, str], int]:
    """Bump several counters at once, each (organization, scope) by its count; returns each
    one's new last value (its numbers are the `count` values up to it).

    One multi-row upsert on the session's connection, without flushing the session (the
    numbers are for rows still pending in it). Counters are bumped in (organization,
    scope) order, so two transactions bumping the same ones queue instead of deadlocking.
    """
    if not wanted:
        return {}
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - other backends
        return {
            key: max(next_value(session, organization_id=key[0], scope=key[1]) for _ in range(n))
            for key, n in wanted.items()
        }
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(DocumentSequence)
    statement = (
        insert.values(
            [
                {"organization_id": org, "scope": scope, "last_value": n}
                for (org, scope), n in sorted(wanted.items())
            ]
        )
        .on_conflict_do_update(
            index_elements=[DocumentSequence.organization_id, DocumentSequence.scope],
            set_={"last_value": DocumentSequence.last_value + insert.excluded.last_value},
        )
        .returning(
            DocumentSequence.organization_id, DocumentSequence.scope, DocumentSequence.last_value
        )
    )
    rows = session.connection().execute(statement)
    return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}
