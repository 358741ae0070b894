"""SQL for an event property's text and numeric value, on SQLite and PostgreSQL.

Property values (see the domain module for the rules):

* PostgreSQL: text `properties->>'key'`; numeric when it matches `^-?[0-9]+(\\.[0-9]+)?$`
  (jsonb prints numbers plainly, so every JSON number matches), then `::numeric`.
* SQLite: `properties -> '$."key"'` is the JSON text of the value; the engine's exact
  `decimal_sum`/`decimal_max`/`decimal_text` functions read it (a JSON number always
  counts, a quoted string only in Lago's plain form). The text of a value is the string
  itself for strings, `decimal_text` of numbers (plain notation, as jsonb prints them) and
  `true`/`false` for booleans, so texts compare alike on both backends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, FromClause

from meterly.domain.aggregation import ADD, OPERATION_TYPE
from meterly.store.types import AwareDateTime

_PG_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


class _Properties:
    """SQL for a property's text and numeric value, on one table (or alias) and backend."""

    def __init__(self, table: FromClause, dialect: str) -> None:
        self.table = table
        self.postgres = dialect == "postgresql"
        self.column: ColumnElement[Any] = table.c.properties

    def _path(self, key: str) -> ColumnElement[str]:
        return sa.literal('$."' + key + '"', sa.String())

    def _json(self, key: str) -> ColumnElement[str]:
        """SQLite: the JSON text of the value (exact), NULL when the key is missing."""
        return self.column.op("->", return_type=sa.String())(self._path(key))

    def text(self, key: str) -> ColumnElement[str]:
        if self.postgres:
            return self.column.op("->>", return_type=sa.Text())(sa.literal(key, sa.Text()))
        kind = sa.func.json_type(self.column, self._path(key))
        return sa.case(
            (kind.in_(("integer", "real")), sa.func.decimal_text(self._json(key))),
            (kind == "true", sa.literal("true", sa.String())),
            (kind == "false", sa.literal("false", sa.String())),
            (kind == "null", sa.null()),
            else_=sa.type_coerce(
                self.column.op("->>", return_type=sa.String())(self._path(key)), sa.String()
            ),
        )

    def number(self, key: str) -> ColumnElement[Any]:
        """The numeric value (PostgreSQL numeric, SQLite exact decimal text) or NULL."""
        if self.postgres:
            text = self.text(key)
            return sa.case(
                (
                    text.op("~")(sa.literal(_PG_PLAIN_NUMBER, sa.Text())),
                    sa.cast(text, sa.Numeric()),
                ),
                else_=sa.null(),
            )
        return sa.type_coerce(sa.func.decimal_text(self._json(key)), sa.String())

    def aggregable(self, key: str) -> ColumnElement[Any]:
        """What the sum and max aggregates take: the number, or SQLite's raw JSON text."""
        return self.number(key) if self.postgres else self._json(key)

    def sum(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.sum(value) if self.postgres else sa.func.decimal_sum(value)

    def max(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.max(value) if self.postgres else sa.func.decimal_max(value)

    def weighted_sum(
        self, value: ColumnElement[Any], moment: ColumnElement[Any], end: datetime
    ) -> ColumnElement[Any]:
        """Σ value × exact seconds from `moment` to `end` (the weighted sum's event term)."""
        until = sa.literal(end, AwareDateTime())
        if self.postgres:
            # EXTRACT gives numeric (microseconds kept) from PostgreSQL 14 on.
            return sa.func.sum(value * sa.extract("epoch", until - moment))
        return sa.func.decimal_weighted_sum(value, moment, until)

    def is_add(self) -> ColumnElement[bool]:
        return sa.func.coalesce(self.text_raw(OPERATION_TYPE), ADD) == ADD

    def text_raw(self, key: str) -> ColumnElement[Any]:
        """`->>` as is (SQLite gives SQL values: numbers stay numbers)."""
        if self.postgres:
            return self.text(key)
        return self.column.op("->>", return_type=sa.String())(self._path(key))

    def present(self, key: str) -> ColumnElement[int]:
        """1 when the key holds a non-null value (C only on SQLite), else 0."""
        if self.postgres:
            return sa.case((self.text(key).is_not(None), 1), else_=0)
        kind = sa.func.json_type(self.column, self._path(key))
        return sa.case((sa.and_(kind.is_not(None), kind != "null"), 1), else_=0)

    def typed_null_number(self) -> ColumnElement[Any]:
        return sa.cast(sa.null(), sa.Numeric()) if self.postgres else sa.null()
