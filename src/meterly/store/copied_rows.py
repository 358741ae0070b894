"""New rows of one table written by COPY instead of the unit of work's INSERTs (PostgreSQL).

A billing run writes eleven fees an invoice. Through the unit of work each is its own
INSERT: the ORM gathers its parameters, psycopg dumps them, and the server binds, plans and
executes it alone. `copied(session, Fee)` takes, at each flush, the session's new rows of
that class out of the unit of work, lets the flush write everything else (so the rows
they reference, the invoices, exist), then writes them with one COPY and makes them
persistent in the session as if inserted: later reads, changes and deletes in the same
session see ordinary rows. The values go through each column's own type (JSON, exact
decimals, aware datetimes) and Python default, as an INSERT's would.

Elsewhere (SQLite, whose inserts cost little) the block changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, Table, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, UOWTransaction, make_transient_to_detached

from meterly.store.tables.base import Base

_TAKEN = "meterly.copied_rows"


@contextmanager
def copied(session: Session, row_class: type[Base]) -> Iterator[None]:
    """Inside the block, the new `row_class` rows each flush writes go by COPY."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        yield
        return
    table = row_class.__table__
    assert isinstance(table, Table)
    writer = _Writer(table, bind.dialect)

    def take(flushing: Session, _context: UOWTransaction, _instances: Any) -> None:
        new = [row for row in flushing.new if type(row) is row_class]
        if not new:
            return
        for row in new:
            flushing.expunge(row)
        if flushing.new:
            # Written after the flush's inserts, the rows they may reference.
            flushing.info.setdefault(_TAKEN, []).extend(new)
        else:
            # Nothing else to insert: now, for the flush ends here when nothing is left.
            _write(flushing, new)

    def write(flushing: Session, _context: UOWTransaction) -> None:
        _write(flushing, flushing.info.pop(_TAKEN, []))

    def _write(flushing: Session, rows: list[Any]) -> None:
        if not rows:
            return
        writer.copy(flushing, rows)
        for row in rows:
            # Written: persistent from here on, its values as loaded (no history to keep).
            make_transient_to_detached(row)
            flushing.add(row)

    def forget(rolled_back: Session, _previous: Any) -> None:
        # A flush that failed after taking its rows never wrote them: they went with it.
        rolled_back.info.pop(_TAKEN, None)

    hooks = (
        ("before_flush", take),
        ("after_flush_postexec", write),
        ("after_soft_rollback", forget),
    )
    for name, hook in hooks:
        event.listen(session, name, hook)
    try:
        yield
    finally:
        for name, hook in hooks:
            event.remove(session, name, hook)
        session.info.pop(_TAKEN, None)


class _Writer:
    """One table's COPY: its columns, each one's bind conversion and Python default."""

    def __init__(self, table: Table, dialect: Any) -> None:
        # Per column: its key, its bind conversion, whether None is a value to bind (JSON
        # writes it as JSON's null, like the ORM; other columns as NULL or their default),
        # and its Python default.
        self.plan: list[tuple[str, Callable[[Any], Any] | None, bool, Callable[[], Any] | None]]
        self.plan = [
            (
                column.key,
                column.type.dialect_impl(dialect).bind_processor(dialect),
                bool(column.type.should_evaluate_none),
                _default(column) if column.default is not None else None,
            )
            for column in table.columns
        ]
        names = ", ".join(f'"{column.name}"' for column in table.columns)
        self.statement = f'COPY "{table.name}" ({names}) FROM STDIN'

    def copy(self, session: Session, rows: list[Any]) -> None:
        connection = session.connection()
        driver: Any = connection.connection.driver_connection
        dbapi: Any = connection.dialect.loaded_dbapi
        try:
            with driver.cursor() as cursor, cursor.copy(self.statement) as copy:
                for row in rows:
                    copy.write_row(self._written(row.__dict__))
        except dbapi.Error as exc:
            # As an INSERT's failure reads: an IntegrityError names the key it broke.
            raise DBAPIError.instance(
                self.statement, None, exc, dbapi.Error, dialect=connection.dialect
            ) from exc

    def _written(self, values: dict[str, Any]) -> list[Any]:
        """The row's values as its INSERT would bind them; `values` is left holding what
        was written, as after an INSERT, so reading it back costs no query."""
        out: list[Any] = []
        for key, convert, keeps_none, default in self.plan:
            value = values.get(key)
            if value is None and (key not in values or not keeps_none):
                if default is None:
                    values[key] = None
                    out.append(None)  # NULL: what an INSERT leaving the column out writes
                    continue
                value = values[key] = default()
            out.append(value if convert is None else convert(value))
        return out


def _default(column: Column[Any]) -> Callable[[], Any]:
    default: Any = column.default
    if default.is_callable:
        make = default.arg
        return lambda: make(None)
    value = default.arg
    return lambda: value
