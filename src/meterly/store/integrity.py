"""Which unique key a failed INSERT or UPDATE ran into, on every backend.

Callers that rely on a unique key for exactly-once work (the billing run's
(subscription, boundary) key) must tell that key apart from any other integrity error: a
number that collides is a failure to report, not work already done.
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlalchemy.exc import IntegrityError

from meterly.store.tables import metadata


def violates(error: IntegrityError, index_name: str) -> bool:
    """Whether `error` is a duplicate on the unique index (or constraint) `index_name`."""
    diag = getattr(error.orig, "diag", None)  # psycopg names the constraint it checked
    if diag is not None:
        return bool(getattr(diag, "constraint_name", None) == index_name)
    # SQLite names the columns instead: "UNIQUE constraint failed: table.a, table.b".
    message = str(error.orig)
    prefix = "UNIQUE constraint failed: "
    if not message.startswith(prefix):
        return False
    return message[len(prefix) :].strip() == _sqlite_columns(index_name)


def _sqlite_columns(index_name: str) -> str | None:
    for table in metadata.tables.values():
        for index in table.indexes:
            if isinstance(index, Index) and index.name == index_name:
                return ", ".join(f"{table.name}.{column.name}" for column in index.columns)
        for constraint in table.constraints:
            if constraint.name == index_name:
                return ", ".join(f"{table.name}.{c.name}" for c in constraint.columns)  # type: ignore[attr-defined]
    return None
