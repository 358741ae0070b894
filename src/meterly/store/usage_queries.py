"""Usage aggregations pushed into SQL, on SQLite and PostgreSQL.

Each function returns the same `AggregationResult` as the reference
`meterly.domain.aggregation.aggregate` over the same events (a property test holds them
equal). Counts, exact decimal sums, maxima, weighted sums (their order-free form:
Σ value × seconds to the window's end), the latest value and unique counts are computed
by the database; only prorated aggregations and per-event values fetch ordered rows
(numeric events of the window only; for a prorated unique count, the values still present
before the window plus the window's operations) and finish with the domain's functions.

Property values (see the domain module for the rules):

* PostgreSQL: text `properties->>'key'`; numeric when it matches `^-?[0-9]+(\\.[0-9]+)?$`
  (jsonb prints numbers plainly, so every JSON number matches), then `::numeric`.
* SQLite: `properties -> '$."key"'` is the JSON text of the value; the engine's exact
  `decimal_sum`/`decimal_max`/`decimal_text` functions read it (a JSON number always
  counts, a quoted string only in Lago's plain form). The text of a value is the string
  itself for strings, `decimal_text` of numbers (plain notation, as jsonb prints them) and
  `true`/`false` for booleans, so texts compare alike on both backends.

Ordering for latest values and add/remove sequences: `timestamp, created_at, lago_id`.

`aggregate_values` answers many requests for one subscription, or for a billing run's
batch of them, with one scan of their events (grouped by subscription), plus a probe for
latest values and a statement when some request needs rows; see its docstring.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, localcontext
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection, FromClause
from sqlalchemy.engine import Row

from meterly.domain.aggregation import (
    ADD,
    OPERATION_TYPE,
    AggregationResult,
    apply_metric_rounding,
    prorated_sum_units,
    prorated_unique_count_units,
    weighted_sum_of,
)
from meterly.domain.filters import resolve_values
from meterly.domain.usage import AggregationType, BillableMetric
from meterly.store.tables import events
from meterly.store.types import AwareDateTime

GroupKey = tuple[str | None, ...]

_PG_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"
_ZERO = Decimal(0)
_ONE = Decimal(1)
_NUMERIC_TYPES = frozenset(
    {
        AggregationType.SUM,
        AggregationType.MAX,
        AggregationType.LATEST,
        AggregationType.WEIGHTED_SUM,
    }
)
_RECURRING_TYPES = frozenset(
    {AggregationType.SUM, AggregationType.UNIQUE_COUNT, AggregationType.WEIGHTED_SUM}
)


@dataclass(frozen=True, slots=True)
class UsageRequest:
    """One aggregation of one metric for the subscription of a batch.

    `recurring_from`: lower bound of the events before the window that a recurring metric
    carries over (the subscription's start; None: every earlier event).
    `filter_values`: the charge filter's key -> values (ALL_FILTER_VALUES allowed).
    `exclude_filters`: filters whose events are left out (the default bucket leaves out
    every filter of the charge; see `meterly.domain.filters.exclusions_for`).
    `group_values`: only the events whose property texts equal these (None: missing/null).
    """

    metric: BillableMetric
    window_from: datetime
    window_to: datetime
    recurring_from: datetime | None = None
    filter_values: Mapping[str, Sequence[str]] | None = None
    exclude_filters: Sequence[Mapping[str, Sequence[str]]] = ()
    group_values: Mapping[str, str | None] | None = None
    prorated: bool = False
    timezone: str = "UTC"
    period_days: int | None = None
    with_event_values: bool = False

    @property
    def includes_prior(self) -> bool:
        return self.metric.recurring and self.metric.aggregation_type in _RECURRING_TYPES

    @property
    def needs_numeric_rows(self) -> bool:
        kind = self.metric.aggregation_type
        if kind not in _NUMERIC_TYPES:
            return False
        return self.with_event_values or (kind is AggregationType.SUM and self.prorated)

    @property
    def needs_operation_rows(self) -> bool:
        return self.metric.aggregation_type is AggregationType.UNIQUE_COUNT and self.prorated


# --- property expressions per backend -----------------------------------------------------


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


def _parts(values: Mapping[str, Any], name: str) -> list[Decimal]:
    """The non-null values of `name0`, `name1`... (SQLite splits native and decimal parts)."""
    found = (_dec(values.get(f"{name}{n}")) for n in range(2))
    return [v for v in found if v is not None]


def _exact_sum(*values: Decimal) -> Decimal:
    with localcontext(prec=60):
        return sum(values, _ZERO)


def _dec(value: object) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


# --- conditions ---------------------------------------------------------------------------


def _matches(
    props: _Properties, values: Mapping[str, Sequence[str]], request: UsageRequest
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    for key, accepted in resolve_values(values, request.metric.filters).items():
        text = props.text(key)
        if accepted is None:
            conditions.append(text.is_not(None))
        else:
            conditions.append(sa.and_(text.is_not(None), text.in_(accepted)))
    return sa.and_(sa.true(), *conditions)


def _selection(
    props: _Properties,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    lower: datetime | None,
    upper: datetime | None,
    strictly_before: bool = False,
) -> ColumnElement[bool]:
    """The events of the subscription, metric, time range, filter and group."""
    t = props.table
    return sa.and_(
        t.c.organization_id == organization_id,
        t.c.external_subscription_id == external_subscription_id,
        *request_conditions(props, request, lower, upper, strictly_before=strictly_before),
    )


def request_conditions(
    props: _Properties,
    request: UsageRequest,
    lower: datetime | None,
    upper: datetime | None,
    *,
    strictly_before: bool = False,
) -> list[ColumnElement[bool]]:
    """A request's code, time range, filter and group, whatever the subscription."""
    t = props.table
    conditions: list[ColumnElement[bool]] = [t.c.code == request.metric.code]
    if lower is not None:
        conditions.append(t.c.timestamp >= lower)
    if upper is not None:
        conditions.append(t.c.timestamp < upper if strictly_before else t.c.timestamp <= upper)
    if request.filter_values:
        conditions.append(_matches(props, request.filter_values, request))
    for excluded in request.exclude_filters:
        conditions.append(sa.not_(_matches(props, excluded, request)))
    for key, value in (request.group_values or {}).items():
        text = props.text(key)
        conditions.append(text.is_(None) if value is None else text == value)
    return conditions


def _scope(
    props: _Properties, organization_id: str, external_subscription_id: str, req: UsageRequest
) -> ColumnElement[bool]:
    lower = req.recurring_from if req.includes_prior else req.window_from
    return _selection(
        props,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=req,
        lower=lower,
        upper=req.window_to,
    )


def _order(t: FromClause, *, descending: bool = False) -> list[ColumnElement[Any]]:
    columns = [t.c.timestamp, t.c.created_at, t.c.lago_id]
    return [c.desc() for c in columns] if descending else list(columns)


# --- statement 1: every request's aggregates, grouped by subscription ----------------------


def _ranked_present(props: _Properties, where: ColumnElement[bool], field_name: str) -> Any:
    """Per value, its last operation (rn = 1) and whether it adds (a = 1)."""
    t = props.table
    key = props.text(field_name)
    return (
        sa.select(
            t.c.timestamp.label("ts"),
            t.c.created_at.label("created_at"),
            t.c.lago_id.label("lago_id"),
            key.label("k"),
            sa.case((props.is_add(), 1), else_=0).label("a"),
            sa.func.row_number()
            .over(partition_by=key, order_by=_order(t, descending=True))
            .label("rn"),
        )
        .where(where, key.is_not(None))
        .subquery()
    )


# SQLite: JSON integers this short are summed natively (exact int64, no Python call);
# 100k of them stay far below the int64 range. Longer ones go through decimal_text.
_NATIVE_INTEGER_DIGITS = 12


def _number_columns(
    props: _Properties,
    field_name: str,
    *,
    when: ColumnElement[bool],
    suffix: str,
) -> list[ColumnElement[Any]]:
    """Per-row numeric value(s) of one request, computed once in the inner query.

    PostgreSQL: `num` (numeric). SQLite: `num_int` (short JSON integers, native) and `num`
    (every other numeric value as text the engine's exact aggregates read).
    Computed only on the rows `when` picks (NULL elsewhere); `suffix` ends their names.
    """
    if props.postgres:
        values: dict[str, ColumnElement[Any]] = {"num": props.number(field_name)}
    else:
        kind = sa.func.json_type(props.column, props._path(field_name))
        raw = props._json(field_name)
        native = sa.and_(kind == "integer", sa.func.length(raw) <= _NATIVE_INTEGER_DIGITS)
        values = {
            "num_int": sa.case((native, props.text_raw(field_name)), else_=sa.null()),
            # A JSON number as its JSON text (the exact aggregates read it; no Python call
            # per row), a string only when decimal_text finds Lago's plain number in it.
            "num": sa.case(
                (native, sa.null()),
                (kind.in_(("integer", "real")), sa.type_coerce(raw, sa.String())),
                (kind == "text", sa.func.decimal_text(raw)),
                else_=sa.null(),
            ),
        }
    return [
        sa.case((when, value), else_=sa.null()).label(name + suffix)
        for name, value in values.items()
    ]


def _unmerged(select: Any, postgres: bool) -> Any:
    """Keep the per-row values computed once: stop the planner from inlining the subquery."""
    return select.offset(0) if postgres else select.limit(-1)


def aggregate_columns(
    props: _Properties,
    req: UsageRequest,
    inner: Any,
    label: str,
    mine: ColumnElement[bool],
) -> tuple[ColumnElement[bool], list[ColumnElement[Any]]]:
    """Which of a request's events count, and its sums (in and before the window),
    maximum and weighted sum, over `inner` (rows with `ts`, numbers and `present`
    columns), of which `mine` picks the request's."""
    kind = req.metric.aggregation_type
    in_window: ColumnElement[bool] = (
        sa.and_(mine, inner.c.ts >= req.window_from) if req.includes_prior else mine
    )
    before_window = sa.and_(mine, inner.c.ts < req.window_from)
    columns: list[ColumnElement[Any]] = []
    if kind is AggregationType.COUNT:
        return in_window, columns
    if kind is AggregationType.UNIQUE_COUNT:
        return sa.and_(in_window, inner.c.present == 1), columns
    numbers = [inner.c.num] if props.postgres else [inner.c.num_int, inner.c.num]
    counted = sa.and_(in_window, sa.or_(*[n.is_not(None) for n in numbers]))
    for n, number in enumerate(numbers):
        native = n == 0 and not props.postgres
        add_up = sa.func.sum if native else props.sum
        present = sa.and_(number.is_not(None), in_window)
        columns.append(add_up(number).filter(present).label(f"{label}total{n}"))
        if req.includes_prior:
            columns.append(
                add_up(number)
                .filter(sa.and_(number.is_not(None), before_window))
                .label(f"{label}prior{n}")
            )
        if kind is AggregationType.MAX:
            top = sa.func.max if native else props.max
            columns.append(top(number).filter(present).label(f"{label}top{n}"))
        if kind is AggregationType.WEIGHTED_SUM:
            weighted = props.weighted_sum(number, inner.c.ts, req.window_to)
            columns.append(weighted.filter(present).label(f"{label}wsum{n}"))
    return counted, columns


def count_columns(
    props: _Properties, inner: Any, counted: ColumnElement[bool], label: str
) -> list[ColumnElement[Any]]:
    """How many events count, and the sum of their precise amounts."""
    return [
        sa.func.count().filter(counted).label(label + "n"),
        props.sum(inner.c.precise)
        .filter(sa.and_(inner.c.precise.is_not(None), counted))
        .label(label + "precise"),
    ]


class _Values(dict[str, Any]):
    """One subscription's aggregate columns; a column it has no row for reads as NULL."""

    def __missing__(self, key: str) -> Any:
        return None


def aggregate_values(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_ids: Sequence[str],
    requests: Sequence[UsageRequest],
) -> dict[str, Mapping[str, Any]]:
    """The aggregate columns of every request for each subscription (`_result` reads them).

    One statement reads the subscriptions' events once (every request's code) and computes
    every request's aggregates side by side, each over the rows its own conditions pick
    (an `m<i>` flag and per-request value columns in the inner query). Then:

    * a unique count is `count(DISTINCT value)` unless the subscription's events hold a
      remove: then its values are ranked by their last operation (one more statement, for
      those subscriptions only);
    * the latest value is one index probe per subscription (newest event first, LIMIT 1),
      a scalar subquery of the same statement.
    """
    sids = sorted(set(external_subscription_ids))
    values: dict[str, _Values] = {sid: _Values() for sid in sids}
    if not sids or not requests:
        return dict(values)
    dialect = conn.dialect.name

    def merge(statement: Any) -> None:
        for row in conn.execute(statement):
            mapping = row._mapping
            target = values.get(mapping["sid"])
            if target is not None:
                target.update((k, v) for k, v in mapping.items() if k != "sid")

    merge(_aggregates(requests, dialect, organization_id, sids))
    for i, req in enumerate(requests):
        kind = req.metric.aggregation_type
        if kind is AggregationType.UNIQUE_COUNT:
            removing = [sid for sid in sids if values[sid][f"r{i}_removes"]]
            for sid in removing:  # none present unless the ranked statement says so
                values[sid][f"r{i}_present"] = 0
            if removing:
                merge(_present_values(i, req, dialect, organization_id, removing))
    return dict(values)


def _lower(req: UsageRequest) -> datetime | None:
    return req.recurring_from if req.includes_prior else req.window_from


def _aggregates(
    requests: Sequence[UsageRequest], dialect: str, organization_id: str, sids: Sequence[str]
) -> Any:
    """Every request's aggregate columns, grouped by subscription, from one scan."""
    t = events
    props = _Properties(t, dialect)
    inner_columns: list[ColumnElement[Any]] = [
        t.c.external_subscription_id.label("sid"),
        t.c.timestamp.label("ts"),
        t.c.precise_total_amount_cents.label("precise"),
    ]
    for i, req in enumerate(requests):
        mine = sa.and_(*request_conditions(props, req, _lower(req), req.window_to))
        field_name = req.metric.field_name or ""
        kind = req.metric.aggregation_type
        inner_columns.append(sa.case((mine, 1), else_=0).label(f"m{i}"))
        if kind in _NUMERIC_TYPES:
            inner_columns += _number_columns(props, field_name, when=mine, suffix=f"_{i}")
        elif kind is AggregationType.UNIQUE_COUNT:
            key = props.text(field_name)
            inner_columns += [
                sa.case((mine, props.present(field_name)), else_=0).label(f"present_{i}"),
                sa.case((mine, key), else_=sa.null()).label(f"key_{i}"),
                sa.case((sa.and_(mine, key.is_not(None), sa.not_(props.is_add())), 1), else_=0)
                .label(f"removes_{i}"),
            ]  # fmt: skip
    lowers = [_lower(req) for req in requests]
    bounds: list[ColumnElement[bool]] = [
        t.c.organization_id == organization_id,
        t.c.external_subscription_id.in_(sids),
        t.c.code.in_(sorted({req.metric.code for req in requests})),
        t.c.timestamp <= max(req.window_to for req in requests),
    ]
    if all(lower is not None for lower in lowers):
        bounds.append(t.c.timestamp >= min(lower for lower in lowers if lower is not None))
    inner = _unmerged(sa.select(*inner_columns).where(*bounds), props.postgres).subquery("e")

    sid = sa.literal(sids[0], sa.String()) if len(sids) == 1 else inner.c.sid
    columns: list[ColumnElement[Any]] = []
    for i, req in enumerate(requests):
        label = f"r{i}_"
        view = SimpleNamespace(
            c=SimpleNamespace(
                ts=inner.c.ts,
                precise=inner.c.precise,
                **{
                    name: inner.c[f"{name}_{i}"]
                    for name in ("num", "num_int", "present")
                    if f"{name}_{i}" in inner.c
                },
            )
        )
        counted, request_columns = aggregate_columns(
            props, req, view, label, mine=inner.c[f"m{i}"] == 1
        )
        columns += request_columns
        columns += count_columns(props, view, counted, label)
        if req.metric.aggregation_type is AggregationType.UNIQUE_COUNT:
            columns += [
                sa.func.count(sa.distinct(inner.c[f"key_{i}"])).label(f"{label}present"),
                sa.func.sum(inner.c[f"removes_{i}"]).label(f"{label}removes"),
            ]
        if req.metric.aggregation_type is AggregationType.LATEST:
            columns.append(_latest_value(i, req, dialect, organization_id, sid))
    if len(sids) == 1:
        # One subscription (current usage): a plain aggregate, nothing to sort or group.
        return sa.select(sid.label("sid"), *columns).select_from(inner)
    return sa.select(inner.c.sid, *columns).group_by(inner.c.sid)


def _present_values(
    i: int, req: UsageRequest, dialect: str, organization_id: str, sids: Sequence[str]
) -> Any:
    """Unique count: per subscription, how many values have an add as their last operation."""
    t = events
    props = _Properties(t, dialect)
    key = props.text(req.metric.field_name or "")
    sid = t.c.external_subscription_id
    ranked = (
        sa.select(
            sid.label("sid"),
            sa.case((props.is_add(), 1), else_=0).label("a"),
            sa.func.row_number()
            .over(partition_by=[sid, key], order_by=_order(t, descending=True))
            .label("rn"),
        )
        .where(
            t.c.organization_id == organization_id,
            t.c.external_subscription_id.in_(sids),
            *request_conditions(props, req, _lower(req), req.window_to),
            key.is_not(None),
        )
        .subquery(f"u{i}")
    )
    return (
        sa.select(ranked.c.sid, sa.func.count().label(f"r{i}_present"))
        .where(ranked.c.rn == 1, ranked.c.a == 1)
        .group_by(ranked.c.sid)
    )


def _latest_value(
    i: int, req: UsageRequest, dialect: str, organization_id: str, sid: ColumnElement[Any]
) -> ColumnElement[Any]:
    """Latest: the numeric value of subscription `sid`'s newest event that has one."""
    t = events.alias(f"l{i}")
    props = _Properties(t, dialect)
    number = props.number(req.metric.field_name or "")
    newest = (
        sa.select(number)
        .where(
            t.c.organization_id == organization_id,
            t.c.external_subscription_id == sid,
            *request_conditions(props, req, _lower(req), req.window_to),
            number.is_not(None),
        )
        .order_by(*_order(t, descending=True))
        .limit(1)
        .scalar_subquery()
    )
    return newest.label(f"r{i}_latest")


# --- statement 2: ordered rows for the requests that need them -----------------------------


_ROW_COLUMNS = ("idx", "ts", "created_at", "lago_id", "num", "k", "a")


def _numeric_rows(
    i: int, req: UsageRequest, dialect: str, organization_id: str, external_subscription_id: str
) -> Any:
    t = events
    props = _Properties(t, dialect)
    number = props.number(req.metric.field_name or "")
    where = _selection(
        props,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=req,
        lower=req.window_from,
        upper=req.window_to,
    )
    return sa.select(
        sa.literal_column(str(i), sa.Integer()).label("idx"),
        t.c.timestamp.label("ts"),
        t.c.created_at.label("created_at"),
        t.c.lago_id.label("lago_id"),
        number.label("num"),
        sa.cast(sa.null(), sa.String()).label("k"),
        sa.cast(sa.null(), sa.Integer()).label("a"),
    ).where(where, number.is_not(None))


def _operation_rows(
    i: int, req: UsageRequest, dialect: str, organization_id: str, external_subscription_id: str
) -> list[Any]:
    """Values present before the window (their last prior add), then the window's ops."""
    field_name = req.metric.field_name or ""
    selects: list[Any] = []
    if req.includes_prior:
        alias = events.alias(f"p{i}")
        alias_props = _Properties(alias, dialect)
        prior = _selection(
            alias_props,
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            request=req,
            lower=req.recurring_from,
            upper=req.window_from,
            strictly_before=True,
        )
        ranked = _ranked_present(alias_props, prior, field_name)
        selects.append(
            sa.select(
                sa.literal_column(str(i), sa.Integer()).label("idx"),
                ranked.c.ts,
                ranked.c.created_at,
                ranked.c.lago_id,
                _Properties(events, dialect).typed_null_number().label("num"),
                sa.type_coerce(ranked.c.k, sa.String()).label("k"),
                ranked.c.a.label("a"),
            ).where(ranked.c.rn == 1, ranked.c.a == 1)
        )
    t = events
    props = _Properties(t, dialect)
    key = props.text(field_name)
    where = _selection(
        props,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=req,
        lower=req.window_from,
        upper=req.window_to,
    )
    selects.append(
        sa.select(
            sa.literal_column(str(i), sa.Integer()).label("idx"),
            t.c.timestamp.label("ts"),
            t.c.created_at.label("created_at"),
            t.c.lago_id.label("lago_id"),
            props.typed_null_number().label("num"),
            sa.type_coerce(key, sa.String()).label("k"),
            sa.case((props.is_add(), 1), else_=0).label("a"),
        ).where(where, key.is_not(None))
    )
    return selects


def _union(selects: list[Any]) -> Any:
    if len(selects) == 1:
        return selects[0]
    return sa.union_all(*selects)


def _fetch_rows(
    conn: Connection,
    requests: Sequence[UsageRequest],
    organization_id: str,
    external_subscription_id: str,
) -> dict[int, list[Row[Any]]]:
    dialect = conn.dialect.name
    selects: list[Any] = []
    for i, req in enumerate(requests):
        if req.needs_numeric_rows:
            selects.append(
                _numeric_rows(i, req, dialect, organization_id, external_subscription_id)
            )
        if req.needs_operation_rows:
            selects.extend(
                _operation_rows(i, req, dialect, organization_id, external_subscription_id)
            )
    rows: dict[int, list[Row[Any]]] = {}
    if not selects:
        return rows
    subquery = _union(selects).subquery("usage_rows")
    ordered = sa.select(*[subquery.c[name] for name in _ROW_COLUMNS]).order_by(
        subquery.c.idx, subquery.c.ts, subquery.c.created_at, subquery.c.lago_id
    )
    for row in conn.execute(ordered):
        rows.setdefault(row.idx, []).append(row)
    return rows


# --- assembling results -------------------------------------------------------------------


def _result(
    i: int, req: UsageRequest, values: Mapping[str, Any], rows: Sequence[Row[Any]]
) -> AggregationResult:
    metric = req.metric
    kind = metric.aggregation_type
    window = (req.window_from, req.window_to)
    label = f"r{i}_"
    count = int(values[label + "n"] or 0)
    precise = _dec(values[label + "precise"]) or _ZERO

    if kind is AggregationType.COUNT:
        return AggregationResult(
            units=apply_metric_rounding(metric, Decimal(count)),
            events_count=count,
            event_values=(_ONE,) * count if req.with_event_values else (),
            precise_total_amount_cents=precise,
        )

    if kind is AggregationType.UNIQUE_COUNT:
        full = Decimal(int(values[label + "present"] or 0))
        if not req.prorated:
            return AggregationResult(
                units=apply_metric_rounding(metric, full),
                events_count=count,
                precise_total_amount_cents=precise,
            )
        operations = [(row.ts, str(row.k), bool(row.a)) for row in rows if row.k is not None]
        units = prorated_unique_count_units(
            operations, window=window, timezone=req.timezone, period_days=req.period_days
        )
        return AggregationResult(
            units=apply_metric_rounding(metric, units),
            events_count=count,
            full_units=apply_metric_rounding(metric, full),
            precise_total_amount_cents=precise,
        )

    numeric = [(row.ts, _dec(row.num) or _ZERO) for row in rows if row.num is not None]
    event_values = tuple(v for _, v in numeric) if req.with_event_values else ()
    total = _exact_sum(*_parts(values, label + "total"))
    prior = _exact_sum(*_parts(values, label + "prior"))

    if kind is AggregationType.SUM:
        full = _exact_sum(prior, total)
        if req.prorated:
            units = prorated_sum_units(
                [(req.window_from, prior), *numeric],
                window=window,
                timezone=req.timezone,
                period_days=req.period_days,
            )
            return AggregationResult(
                units=apply_metric_rounding(metric, units),
                events_count=count,
                full_units=apply_metric_rounding(metric, full),
                event_values=event_values,
                precise_total_amount_cents=precise,
            )
        return AggregationResult(
            units=apply_metric_rounding(metric, full),
            events_count=count,
            event_values=event_values,
            precise_total_amount_cents=precise,
        )

    if kind is AggregationType.WEIGHTED_SUM:
        weighted = _exact_sum(*_parts(values, label + "wsum"))
        units = weighted_sum_of(prior, weighted, window=window, period_days=req.period_days)
        return AggregationResult(
            units=apply_metric_rounding(metric, units),
            events_count=count,
            event_values=event_values,
            precise_total_amount_cents=precise,
            current_value=_exact_sum(prior, total),
        )

    if kind is AggregationType.MAX:
        units = max(_parts(values, label + "top"), default=_ZERO)
    else:
        units = _dec(values[label + "latest"]) or _ZERO
    return AggregationResult(
        units=apply_metric_rounding(metric, units),
        events_count=count,
        event_values=event_values,
        precise_total_amount_cents=precise,
    )


# --- public entries -----------------------------------------------------------------------


def aggregate_subscription_usage(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_id: str,
    requests: Sequence[UsageRequest],
) -> list[AggregationResult]:
    """Aggregate many metrics/filters/groups of one subscription (see `aggregate_values`)."""
    if not requests:
        return []
    values = aggregate_values(
        conn,
        organization_id=organization_id,
        external_subscription_ids=[external_subscription_id],
        requests=requests,
    )[external_subscription_id]
    rows = _fetch_rows(conn, requests, organization_id, external_subscription_id)
    return [_result(i, req, values, rows.get(i, [])) for i, req in enumerate(requests)]


def aggregate_usage(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_id: str,
    metric: BillableMetric,
    window_from: datetime,
    window_to: datetime,
    recurring_from: datetime | None = None,
    filter_values: Mapping[str, Sequence[str]] | None = None,
    exclude_filters: Sequence[Mapping[str, Sequence[str]]] = (),
    prorated: bool = False,
    timezone: str = "UTC",
    period_days: int | None = None,
    with_event_values: bool = False,
) -> AggregationResult:
    """One metric's usage for one subscription, window, charge filter or default bucket."""
    request = UsageRequest(
        metric=metric,
        window_from=window_from,
        window_to=window_to,
        recurring_from=recurring_from,
        filter_values=filter_values,
        exclude_filters=exclude_filters,
        prorated=prorated,
        timezone=timezone,
        period_days=period_days,
        with_event_values=with_event_values,
    )
    return aggregate_subscription_usage(
        conn,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        requests=[request],
    )[0]


def usage_groups(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    group_keys: Sequence[str],
) -> list[GroupKey]:
    """The distinct texts of `group_keys` among the request's events (None when missing)."""
    props = _Properties(events, conn.dialect.name)
    texts = [props.text(key).label(f"g{n}") for n, key in enumerate(group_keys)]
    statement = (
        sa.select(*texts)
        .distinct()
        .where(_scope(props, organization_id, external_subscription_id, request))
    )
    return [tuple(row) for row in conn.execute(statement)]


def aggregate_grouped_usage(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    group_keys: Sequence[str],
) -> dict[GroupKey, AggregationResult]:
    """`pricing_group_keys`: one result per distinct group among the request's events.

    Groups come from the events the request aggregates (for a recurring metric, the
    carried-over earlier events too). Two statements plus one when rows are needed.
    """
    if not group_keys:
        raise ValueError("group_keys is empty: use aggregate_usage")
    groups = usage_groups(
        conn,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=request,
        group_keys=group_keys,
    )
    requests = [_with_group(request, dict(zip(group_keys, group, strict=True))) for group in groups]
    results = aggregate_subscription_usage(
        conn,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        requests=requests,
    )
    return dict(zip(groups, results, strict=True))


def _with_group(request: UsageRequest, group_values: Mapping[str, str | None]) -> UsageRequest:
    return replace(request, group_values={**(request.group_values or {}), **group_values})
