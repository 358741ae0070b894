"""The reads of reconciliation, audit and explain, from ClickHouse: events, a page at a time.

The trust tools read events two ways: the exact events one fee counted (the usage
statements' own conditions, `usage._conditions`, so the list and the fee cannot drift
apart), and every event of one subscription, streamed in sorting-key order so a caller
can stage them next to the catalog (`store.reconciliation_staged`). Nothing here loads
all events: the lists are paged with LIMIT/OFFSET as the SQL path does, the stream with
a keyset on the table's own sorting key. ClickHouse has no void marker (corrections are
refused there), so `include_voided` has nothing to add.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from meterly.store.event_stores.clickhouse import _EVENT_COLUMNS, ClickHouseEvents, _event
from meterly.store.event_stores.sql import instant, parse_instant, text, texts
from meterly.store.event_stores.usage import _conditions
from meterly.store.usage_queries.request import UsageRequest

# Events fetched per statement when streaming a subscription's events.
STREAM_PAGE = 5_000
# (transaction id, subscription) pairs asked for in one statement.
_KEYS_AT_ONCE = 1_000


def _row(values: list[Any]) -> dict[str, Any]:
    # The main database's shape: ClickHouse keeps no corrections, so none is voided.
    return {**_event(values), "voided_at": None, "amended_at": None}


def _counted_where(
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    received_by: datetime | None,
) -> str:
    # A recurring metric carries every earlier event over: no lower bound, as in billing.
    lower = None if request.includes_prior else request.window_from
    parts = [
        f"organization_id = {text(organization_id)}",
        f"external_subscription_id = {text(external_subscription_id)}",
        _conditions(request, lower, request.window_to),
    ]
    if received_by is not None:
        parts.append(f"created_at <= {instant(received_by)}")
    return " AND ".join(parts)


def counted_events(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    received_by: datetime | None,
    page: int,
    per_page: int,
) -> tuple[list[dict[str, Any]], int]:
    """`store.reconciliation_events.counted_events` on ClickHouse: one page, oldest first."""
    where = _counted_where(organization_id, external_subscription_id, request, received_by)
    total = store.transport.query(f"SELECT count() FROM {store.table} FINAL WHERE {where}")
    rows = store.transport.query(
        f"SELECT {_EVENT_COLUMNS} FROM {store.table} FINAL WHERE {where}"
        " ORDER BY timestamp, created_at, lago_id"
        f" LIMIT {int(per_page)} OFFSET {max(0, (int(page) - 1) * int(per_page))}"
    )
    return [_row(r) for r in rows], int(total[0][0])


def nth_received(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    nth: int,
) -> datetime | None:
    """The reception instant of the `nth` event (reception order) a request reads."""
    where = _counted_where(organization_id, external_subscription_id, request, None)
    rows = store.transport.query(
        f"SELECT created_at FROM {store.table} FINAL WHERE {where}"
        f" ORDER BY created_at, lago_id LIMIT 1 OFFSET {max(0, int(nth) - 1)}"
    )
    return parse_instant(rows[0][0]) if rows else None


def event_of(
    store: ClickHouseEvents,
    organization_id: str,
    external_subscription_id: str,
    transaction_id: str,
) -> dict[str, Any] | None:
    """One event by its idempotency key (organization, transaction, subscription)."""
    rows = store.transport.query(
        f"SELECT {_EVENT_COLUMNS} FROM {store.table} FINAL"
        f" WHERE organization_id = {text(organization_id)}"
        f" AND external_subscription_id = {text(external_subscription_id)}"
        f" AND transaction_id = {text(transaction_id)} LIMIT 1"
    )
    return _row(rows[0]) if rows else None


def subscriptions_with_events(
    store: ClickHouseEvents,
    *,
    organization_id: str | None = None,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
    external_subscription_ids: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """(organization, external subscription id) pairs holding events with a timestamp in
    [from, to), in order, among `external_subscription_ids` when given. One pair per
    subscription: the list grows with subscriptions, never with events."""
    where = ["1"]
    if organization_id is not None:
        where.append(f"organization_id = {text(organization_id)}")
    if external_subscription_ids is not None:
        if not external_subscription_ids:
            return []
        where.append(f"external_subscription_id IN {texts(external_subscription_ids)}")
    if timestamp_from is not None:
        where.append(f"timestamp >= {instant(timestamp_from)}")
    if timestamp_to is not None:
        where.append(f"timestamp < {instant(timestamp_to)}")
    # No FINAL: a duplicate not yet merged names the same pair.
    rows = store.transport.query(
        f"SELECT DISTINCT organization_id, external_subscription_id FROM {store.table}"
        f" WHERE {' AND '.join(where)} ORDER BY organization_id, external_subscription_id"
    )
    return [(str(r[0]), str(r[1])) for r in rows]


def subscription_events(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
    page_size: int = STREAM_PAGE,
) -> Iterator[list[dict[str, Any]]]:
    """One subscription's events with a timestamp in [from, to] (bounds included), a page
    at a time, in the sorting key's order; a keyset on (code, timestamp, transaction id)
    pages without OFFSET, so each statement reads only its own granules."""
    where = [
        f"organization_id = {text(organization_id)}",
        f"external_subscription_id = {text(external_subscription_id)}",
    ]
    if timestamp_from is not None:
        where.append(f"timestamp >= {instant(timestamp_from)}")
    if timestamp_to is not None:
        where.append(f"timestamp <= {instant(timestamp_to)}")
    yield from _pages(
        store,
        source=f"{store.table} FINAL",
        where=" AND ".join(where),
        key=("code", "timestamp", "transaction_id"),
        page_size=page_size,
    )


def events_of_keys(
    store: ClickHouseEvents, organization_id: str, keys: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The stored events of some (transaction id, external subscription id) keys."""
    found: list[dict[str, Any]] = []
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), _KEYS_AT_ONCE):
        pairs = ", ".join(
            f"({text(tx)}, {text(sid)})" for tx, sid in ordered[start : start + _KEYS_AT_ONCE]
        )
        rows = store.transport.query(
            f"SELECT {_EVENT_COLUMNS} FROM {store.table} FINAL"
            f" WHERE organization_id = {text(organization_id)}"
            f" AND (transaction_id, external_subscription_id) IN ({pairs})"
        )
        found += [_row(r) for r in rows]
    return found


def received_events(
    store: ClickHouseEvents,
    *,
    received_from: datetime,
    received_to: datetime,
    page_size: int = STREAM_PAGE,
) -> Iterator[list[dict[str, Any]]]:
    """The events received in [from, to), a page at a time, in (organization, transaction
    id, subscription) order, keyset-paged. A reception range crosses every partition, so
    `LIMIT 1 BY` the key rather than `FINAL` drops a copy not merged yet: it reads only
    the range's rows, where `FINAL` would merge the whole table."""
    yield from _pages(
        store,
        source=store.table,
        where=f"created_at >= {instant(received_from)} AND created_at < {instant(received_to)}",
        key=("organization_id", "transaction_id", "external_subscription_id"),
        page_size=page_size,
        one_per_key=True,
    )


def _pages(
    store: ClickHouseEvents,
    *,
    source: str,
    where: str,
    key: tuple[str, ...],
    page_size: int,
    one_per_key: bool = False,
) -> Iterator[list[dict[str, Any]]]:
    """The events of `source` matching `where`, in `key` order, a page at a time: a keyset
    on `key` pages without OFFSET, so each statement reads only its own granules.
    `one_per_key`: a row stored twice and not merged yet is read once."""
    columns = ", ".join(key)
    once = f" LIMIT 1 BY {columns}" if one_per_key else ""
    after = ""
    while True:
        rows = store.transport.query(
            f"SELECT {_EVENT_COLUMNS} FROM {source} WHERE {where}{after}"
            f" ORDER BY {columns}{once} LIMIT {int(page_size)}"
        )
        if not rows:
            return
        page = [_row(r) for r in rows]
        yield page
        if len(page) < page_size:
            return
        last = ", ".join(_literal(page[-1][column]) for column in key)
        after = f" AND ({columns}) > ({last})"


def _literal(value: Any) -> str:
    return instant(value) if isinstance(value, datetime) else text(str(value))
