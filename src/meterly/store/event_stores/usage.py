"""Usage aggregations in ClickHouse: the same answers as `store/usage_queries`.

The statements mirror the SQL ones request by request (the same conditions, time bounds,
filters, exclusions and groups, the same aggregate columns `usage_queries.results._result`
assembles), written with ClickHouse's `-If` combinators over one scan:

* a property's text is `properties[key]` (the domain's `property_text`, stored at
  ingestion; a missing or null value is absent from the map), and its number
  `numbers[key]` (the domain's `numeric_value`, stored exactly as `Decimal(76, 30)`);
* the latest value is `argMaxIf(number, (timestamp, created_at, lago_id), ...)`;
* a unique count is the scan's distinct values (`uniqExactIf`) for a subscription whose
  events remove none; where one does (or values of earlier periods count), a statement of
  its own groups each value's operations and keeps those whose last operation adds
  (`argMax` over the same order);
* the weighted sum's event term Σ value × microseconds to the window's end is summed as
  an exact decimal and scaled to seconds in Python;
* ordered rows (prorated sums and unique counts, per-event values) are fetched per
  request, as the SQL path does, and finished with the same domain functions.

A count, sum or max with no filter or group reads its window's whole hours from the hourly
rollup, and only the ragged edges from `events` (`rollup`). Every other statement of
`events` reads `FINAL`, so a row stored twice (by a hand-made insert: the writer never
stores one twice) counts once; a scan of edges alone does not, as the rollup it completes
(fed by inserts) cannot, and `FINAL` over parts not yet merged would double its time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from meterly.domain.aggregation import ADD, OPERATION_TYPE, AggregationResult
from meterly.domain.filters import resolve_values
from meterly.domain.usage import AggregationType
from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.event_stores.rollup import Span, add_edges, rollup_values, whole_hours
from meterly.store.event_stores.sql import decimal_or_none, instant, parse_instant, text, texts
from meterly.store.usage_queries.request import UsageRequest
from meterly.store.usage_queries.results import _result

GroupKey = tuple[str | None, ...]
_ORDER = "(timestamp, created_at, lago_id)"


class _Row(NamedTuple):
    """One ordered row, with the attributes `usage_queries.results._result` reads."""

    ts: datetime
    created_at: datetime
    lago_id: str
    num: Decimal | None
    k: str | None
    a: int | None


# --- property SQL -------------------------------------------------------------------------


def _has(key: str) -> str:
    return f"mapContains(properties, {text(key)})"


def _text(key: str) -> str:
    return f"properties[{text(key)}]"


def _number(key: str) -> str:
    """The numeric value stored at ingestion (the domain's rule), or NULL."""
    return f"if(mapContains(numbers, {text(key)}), numbers[{text(key)}], NULL)"


def _is_add() -> str:
    return f"if({_has(OPERATION_TYPE)}, {_text(OPERATION_TYPE)}, {text(ADD)}) = {text(ADD)}"


def _matches(values: Mapping[str, Sequence[str]], req: UsageRequest) -> str:
    parts = ["1"]
    for key, accepted in resolve_values(values, req.metric.filters).items():
        if accepted is None:
            parts.append(_has(key))
        else:
            parts.append(f"({_has(key)} AND {_text(key)} IN {texts(str(v) for v in accepted)})")
    return "(" + " AND ".join(parts) + ")"


def _conditions(
    req: UsageRequest,
    lower: datetime | None,
    upper: datetime | None,
    *,
    strictly_before: bool = False,
) -> str:
    """`usage_queries.request_conditions` in ClickHouse: code, range, filter, group."""
    parts = [f"code = {text(req.metric.code)}"]
    if lower is not None:
        parts.append(f"timestamp >= {instant(lower)}")
    if upper is not None:
        parts.append(f"timestamp {'<' if strictly_before else '<='} {instant(upper)}")
    if req.filter_values:
        parts.append(_matches(req.filter_values, req))
    for excluded in req.exclude_filters:
        parts.append(f"NOT {_matches(excluded, req)}")
    for key, value in (req.group_values or {}).items():
        if value is None:
            parts.append(f"NOT {_has(key)}")
        else:
            parts.append(f"({_has(key)} AND {_text(key)} = {text(value)})")
    return "(" + " AND ".join(parts) + ")"


def _lower(req: UsageRequest) -> datetime | None:
    return None if req.includes_prior else req.window_from


def _scope(
    store: ClickHouseEvents, organization_id: str, sids: Sequence[str], *, final: bool = True
) -> str:
    return (
        f"FROM {store.table}{' FINAL' if final else ''}"
        f" WHERE organization_id = {text(organization_id)}"
        f" AND external_subscription_id IN {texts(sids)}"
    )


# --- statement 1: aggregate columns --------------------------------------------------------


def _request_columns(
    i: int, req: UsageRequest, hole: Span | None = None
) -> tuple[list[str], list[str]]:
    """(inner columns, aggregate columns) of request `i`, leaving out the `hole` of whole
    hours the rollup answers for."""
    kind = req.metric.aggregation_type
    field = req.metric.field_name or ""
    label = f"r{i}_"
    mask = _conditions(req, _lower(req), req.window_to)
    if hole is not None:
        mask += f" AND NOT (timestamp >= {instant(hole[0])} AND timestamp < {instant(hole[1])})"
    inner = [f"{mask} AS m{i}"]
    in_window = f"(m{i} AND ts >= {instant(req.window_from)})" if req.includes_prior else f"m{i}"
    columns: list[str] = []
    if kind is AggregationType.COUNT:
        counted = in_window
    elif kind is AggregationType.UNIQUE_COUNT:
        inner.append(f"{_has(field)} AS present{i}")
        counted = f"({in_window} AND present{i})"
        if not req.includes_prior:
            # The distinct values, right as they are when no operation removes one: the
            # subscriptions with a remove are asked again (`_unique_counts`).
            inner += [f"{_text(field)} AS k{i}", f"({_is_add()}) AS adds{i}"]
            columns.append(f"uniqExactIf(k{i}, {counted}) AS {label}uniq_n")
            columns.append(f"countIf({counted} AND NOT adds{i}) AS {label}removes_n")
    else:
        inner.append(f"{_number(field)} AS num{i}")
        num = f"num{i}"
        counted = f"({in_window} AND {num} IS NOT NULL)"
        columns.append(f"sumIf({num}, {counted}) AS {label}total0")
        if req.includes_prior:
            prior = f"(m{i} AND ts < {instant(req.window_from)} AND {num} IS NOT NULL)"
            columns.append(f"sumIf({num}, {prior}) AS {label}prior0")
        if kind is AggregationType.MAX:
            columns.append(f"maxIf({num}, {counted}) AS {label}top0")
        if kind is AggregationType.WEIGHTED_SUM:
            micros = f"toDecimal256(dateDiff('microsecond', ts, {instant(req.window_to)}), 0)"
            columns.append(f"sumIf({num} * {micros}, {counted}) AS {label}wsum0")
        if kind is AggregationType.LATEST:
            columns.append(
                f"argMaxIf({num}, (ts, created_at, lago_id), {counted}) AS {label}latest"
            )
    columns += [
        f"countIf({counted}) AS {label}n",
        f"sumIf(precise, {counted} AND precise IS NOT NULL) AS {label}precise",
    ]
    return inner, columns


def aggregate_values(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_ids: Sequence[str],
    requests: Sequence[UsageRequest],
) -> dict[str, dict[str, Any]]:
    """Every request's aggregate columns per subscription (`_result` reads them): the whole
    hours of a rollable request from the rollup, everything else in one scan of `events`
    restricted to the time ranges still needed."""
    sids = sorted(set(external_subscription_ids))
    values: dict[str, dict[str, Any]] = {sid: {} for sid in sids}
    if not sids or not requests:
        return values
    spans = {
        i: (req, span) for i, req in enumerate(requests) if (span := whole_hours(req)) is not None
    }
    inner = [
        "external_subscription_id AS sid",
        "timestamp AS ts",
        "created_at",
        "lago_id",
        "precise_total_amount_cents AS precise",
    ]
    columns: list[str] = []
    ranges: set[str] = set()
    for i, req in enumerate(requests):
        hole = spans[i][1] if i in spans else None
        request_inner, request_columns = _request_columns(i, req, hole)
        inner += request_inner
        columns += request_columns
        ranges |= _ranges(req, hole)
    names = [c.rsplit(" AS ", 1)[1] for c in columns]
    if ranges:  # nothing left to scan when the rollup holds every window whole
        statement = (
            f"SELECT sid, {', '.join(columns)} FROM (SELECT {', '.join(inner)}"
            # Only the rollup's edges: read as the rollup counts, every stored row.
            f" {_scope(store, organization_id, sids, final=len(spans) < len(requests))}"
            f" AND code IN {texts(sorted({r.metric.code for r in requests}))}"
            f" AND ({' OR '.join(sorted(ranges))})) GROUP BY sid"
        )
        for row in store.transport.query(statement):
            target = values[row[0]]
            for name, value in zip(names, row[1:], strict=True):
                target[name] = _value(name, value)
    if spans:
        hours = rollup_values(store, organization_id=organization_id, sids=sids, spans=spans)
        for sid in sids:
            for i in spans:
                add_edges(hours[sid], values[sid], i)
            values[sid].update(hours[sid])
    for i, req in enumerate(requests):
        if req.metric.aggregation_type is AggregationType.UNIQUE_COUNT:
            _unique_counts(store, organization_id, values, i, req)
    return {sid: _Values(v) for sid, v in values.items()}


def _unique_counts(
    store: ClickHouseEvents,
    organization_id: str,
    values: dict[str, dict[str, Any]],
    i: int,
    req: UsageRequest,
) -> None:
    """Request `i`'s unique count per subscription: the scan's distinct values where no
    operation removed one, else the values whose last operation adds (`_present`)."""
    again = []
    for sid, row in values.items():
        distinct, removes = row.pop(f"r{i}_uniq_n", None), row.pop(f"r{i}_removes_n", None)
        row[f"r{i}_present"] = 0
        if req.includes_prior or removes:
            again.append(sid)
        elif distinct:
            row[f"r{i}_present"] = distinct
    if again:
        for sid, present in _present(store, organization_id, again, req):
            values[sid][f"r{i}_present"] = present


def _ranges(req: UsageRequest, hole: Span | None) -> set[str]:
    """The time ranges request `req` reads from `events`: its window (from its lower
    bound), or only the edges around the whole hours the rollup answers for."""
    lower = _lower(req)
    if hole is None:
        upper = f"timestamp <= {instant(req.window_to)}"
        return {f"({upper} AND timestamp >= {instant(lower)})" if lower else f"({upper})"}
    first, last = hole
    edges = set()
    if req.window_from < first:
        edges.add(f"(timestamp >= {instant(req.window_from)} AND timestamp < {instant(first)})")
    if last <= req.window_to:
        edges.add(f"(timestamp >= {instant(last)} AND timestamp <= {instant(req.window_to)})")
    return edges


class _Values(dict[str, Any]):
    """A subscription's aggregate columns; one it has no row for reads as NULL."""

    def __missing__(self, key: str) -> Any:
        return None


def _value(name: str, value: object) -> Any:
    if value is None:
        return None
    if name.endswith("_n"):
        return int(str(value))
    number = decimal_or_none(value)
    if number is not None and name.endswith("wsum0"):
        # Microseconds to seconds by moving the exponent: exact at any length (scaleb
        # would round to the context's 28 digits).
        sign, digits, exponent = number.as_tuple()
        assert isinstance(exponent, int)
        return Decimal((sign, digits, exponent - 6))
    return number


def _present(
    store: ClickHouseEvents, organization_id: str, sids: Sequence[str], req: UsageRequest
) -> list[tuple[str, int]]:
    """Unique count: per subscription, the values whose last operation is an add."""
    field = req.metric.field_name or ""
    rows = store.transport.query(
        f"SELECT sid, countIf(a) FROM (SELECT external_subscription_id AS sid,"
        f" {_text(field)} AS k, argMax({_is_add()}, {_ORDER}) AS a"
        f" {_scope(store, organization_id, sids)}"
        f" AND {_conditions(req, _lower(req), req.window_to)} AND {_has(field)}"
        " GROUP BY sid, k) GROUP BY sid"
    )
    return [(r[0], int(str(r[1]))) for r in rows]


# --- statement 2: ordered rows -------------------------------------------------------------


def fetch_rows(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_ids: Sequence[str],
    requests: Sequence[UsageRequest],
) -> dict[tuple[str, int], list[_Row]]:
    """(subscription, request index) -> its ordered rows, for the requests needing them."""
    sids = sorted(set(external_subscription_ids))
    found: dict[tuple[str, int], list[_Row]] = {}
    scope = _scope(store, organization_id, sids)
    for i, req in enumerate(requests):
        field = req.metric.field_name or ""
        window = _conditions(req, req.window_from, req.window_to)
        if req.needs_numeric_rows:
            number = _number(field)
            rows = store.transport.query(
                f"SELECT external_subscription_id, timestamp, created_at, lago_id, {number} AS n"
                f" {scope} AND {window} AND n IS NOT NULL"
                " ORDER BY external_subscription_id, timestamp, created_at, lago_id"
            )
            for r in rows:
                found.setdefault((r[0], i), []).append(
                    _Row(parse_instant(r[1]), parse_instant(r[2]), r[3], Decimal(r[4]), None, None)
                )
        if req.needs_operation_rows:
            _operation_rows(store, scope, i, req, found)
    for key, rows_of in found.items():
        rows_of.sort(key=lambda row: (row.ts, row.created_at, row.lago_id))
        found[key] = rows_of
    return found


def _operation_rows(
    store: ClickHouseEvents,
    scope: str,
    i: int,
    req: UsageRequest,
    found: dict[tuple[str, int], list[_Row]],
) -> None:
    """Values present before the window (their last prior add), then the window's ops."""
    field = req.metric.field_name or ""
    statements = []
    if req.includes_prior:
        prior = _conditions(req, None, req.window_from, strictly_before=True)
        statements.append(
            f"SELECT sid, argMax(timestamp, {_ORDER}), argMax(created_at, {_ORDER}),"
            f" argMax(lago_id, {_ORDER}), k, argMax({_is_add()}, {_ORDER}) AS a FROM"
            f" (SELECT external_subscription_id AS sid, {_text(field)} AS k, timestamp,"
            f" created_at, lago_id, properties {scope} AND {prior} AND {_has(field)})"
            " GROUP BY sid, k HAVING a"
        )
    window = _conditions(req, req.window_from, req.window_to)
    statements.append(
        f"SELECT external_subscription_id, timestamp, created_at, lago_id, {_text(field)},"
        f" {_is_add()} {scope} AND {window} AND {_has(field)}"
    )
    for statement in statements:
        for r in store.transport.query(statement):
            found.setdefault((r[0], i), []).append(
                _Row(
                    parse_instant(r[1]),
                    parse_instant(r[2]),
                    r[3],
                    None,
                    r[4],
                    1 if int(str(r[5])) else 0,
                )
            )


# --- the entries ---------------------------------------------------------------------------


def aggregate_batch(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_ids: Sequence[str],
    requests: Sequence[UsageRequest],
) -> dict[str, list[AggregationResult]]:
    """Every request for every subscription: one scan, plus the statements rows need."""
    sids = sorted(set(external_subscription_ids))
    values = aggregate_values(
        store,
        organization_id=organization_id,
        external_subscription_ids=sids,
        requests=requests,
    )
    rows = fetch_rows(
        store, organization_id=organization_id, external_subscription_ids=sids, requests=requests
    )
    return {
        sid: [
            _result(i, req, values[sid], rows.get((sid, i), []))  # type: ignore[arg-type]
            for i, req in enumerate(requests)
        ]
        for sid in sids
    }


def aggregate_subscription_usage(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    requests: Sequence[UsageRequest],
) -> list[AggregationResult]:
    if not requests:
        return []
    return aggregate_batch(
        store,
        organization_id=organization_id,
        external_subscription_ids=[external_subscription_id],
        requests=requests,
    )[external_subscription_id]


def usage_groups(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    group_keys: Sequence[str],
) -> list[GroupKey]:
    """The distinct texts of `group_keys` among the request's events (None when missing)."""
    keys = ", ".join(f"if({_has(k)}, {_text(k)}, NULL)" for k in group_keys)
    rows = store.transport.query(
        f"SELECT DISTINCT {keys} {_scope(store, organization_id, [external_subscription_id])}"
        f" AND {_conditions(request, _lower(request), request.window_to)}"
    )
    return [tuple(row) for row in rows]


def aggregate_grouped_usage(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    group_keys: Sequence[str],
) -> dict[GroupKey, AggregationResult]:
    if not group_keys:
        raise ValueError("group_keys is empty: use aggregate_usage")
    groups = usage_groups(
        store,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=request,
        group_keys=group_keys,
    )
    requests = [
        replace(
            request,
            group_values={**(request.group_values or {}), **dict(zip(group_keys, g, strict=True))},
        )
        for g in groups
    ]
    results = aggregate_subscription_usage(
        store,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        requests=requests,
    )
    return dict(zip(groups, results, strict=True))


def hourly_rows(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    code: str,
    field_name: str | None,
    window_from: datetime,
    window_to: datetime,
) -> list[tuple[str, int, Decimal | None]]:
    """('YYYY-MM-DD HH' in UTC, events, sum of the field) per hour, in order."""
    total = f"sum({_number(field_name)})" if field_name else "NULL"
    rows = store.transport.query(
        f"SELECT formatDateTime(timestamp, '%Y-%m-%d %H', 'UTC') AS h, count(), {total}"
        f" {_scope(store, organization_id, [external_subscription_id])}"
        f" AND code = {text(code)} AND timestamp >= {instant(window_from)}"
        f" AND timestamp <= {instant(window_to)} GROUP BY h ORDER BY h"
    )
    return [(r[0], int(str(r[1])), decimal_or_none(r[2])) for r in rows]


def count_scopes(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    scopes: Sequence[tuple[str, datetime | None, datetime]],
) -> tuple[int, ...]:
    """Events per (code, lower or None, upper) scope, both bounds included: one statement."""
    if not scopes:
        return ()
    columns = []
    for code, lower, upper in scopes:
        condition = f"code = {text(code)} AND timestamp <= {instant(upper)}"
        if lower is not None:
            condition += f" AND timestamp >= {instant(lower)}"
        columns.append(f"countIf({condition})")
    rows = store.transport.query(
        f"SELECT {', '.join(columns)} {_scope(store, organization_id, [external_subscription_id])}"
        f" AND code IN {texts(sorted({s[0] for s in scopes}))}"
    )
    return tuple(int(str(v)) for v in rows[0])
