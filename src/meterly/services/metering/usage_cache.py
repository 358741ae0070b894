"""A cache of usage aggregations, checked against the database on every use.

Aggregating a period's events is the whole cost of a current usage request (100k events:
seconds), and the answer changes only when an event arrives. Like Lago, keep the
aggregation results of each (subscription, window, charges and filters) and reuse them
until then; pricing, taxes and rendering still run on every request.

Validity is exact and costs ingestion nothing. Events are appended and never updated or
deleted, so the number of events a request can read (per code and time range, counted
from the `ix_events_usage` index alone: `store.usage_counts`) identifies them: an entry
is used only when that count equals the count it was computed with. Each process keeps
its own entries (a bounded, thread-safe LRU per engine); since every use is checked
against the database, several processes on one database never serve stale figures.
A correction (void, amend: services/corrections) is the one change to stored events; it
appends an `event_corrections` row, which `store.usage_counts` adds to its code's count,
so a corrected subscription's entries miss everywhere.

Counts are kept per metric code; on a miss, only the requests of the codes whose count
changed are aggregated again (each request reads the events of its own code only).

What the aggregation depends on is in the key: the database (one cache per engine), the
organization, the external subscription, and every field of every request (metric,
window bounds, `recurring_from`, filters, groups, proration, timezone, period days,
per-event values). No aggregation reads the clock: time enters only through the window
and period days, so moving the clock to another period changes the key.

Use it only where the transaction has written no events (a read such as current usage):
an entry computed from uncommitted events that are then rolled back could later match a
count again with other events.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from meterly.domain.aggregation import AggregationResult
from meterly.store.usage_counts import count_events, scopes_of
from meterly.store.usage_queries import (
    GroupKey,
    UsageRequest,
    aggregate_grouped_usage,
    aggregate_subscription_usage,
)

GroupedRequest = tuple[UsageRequest, tuple[str, ...]]
GroupedResults = dict[GroupKey, AggregationResult]


@dataclass(frozen=True, slots=True)
class CachedUsage:
    counts: tuple[int, ...]
    plain: tuple[AggregationResult, ...]
    grouped: tuple[tuple[tuple[GroupKey, AggregationResult], ...], ...]

    @property
    def weight(self) -> int:
        """Roughly how many objects the entry holds (per-event values dominate)."""
        results = [*self.plain, *(r for g in self.grouped for _k, r in g)]
        return 1 + len(results) + sum(len(r.event_values) for r in results)


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    entries: int


class UsageCache:
    """A bounded LRU of aggregation results (entries and held values), thread-safe."""

    def __init__(self, *, max_entries: int = 512, max_weight: int = 2_000_000) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._entries: OrderedDict[tuple[str, ...], CachedUsage] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, ...]) -> CachedUsage | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[str, ...], entry: CachedUsage) -> None:
        weight = entry.weight
        if weight > self.max_weight:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._weight -= old.weight
            self._entries[key] = entry
            self._weight += weight
            while len(self._entries) > self.max_entries or self._weight > self.max_weight:
                _key, evicted = self._entries.popitem(last=False)
                self._weight -= evicted.weight

    def record(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(hits=self.hits, misses=self.misses, entries=len(self._entries))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weight = 0


_caches: weakref.WeakKeyDictionary[Engine, UsageCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> UsageCache:
    """The cache of one engine (one database), created on first use."""
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = UsageCache()
        return cache


def fingerprint(plain: Sequence[UsageRequest], grouped: Sequence[GroupedRequest]) -> str:
    """A digest of every input of the aggregation (frozen dataclasses: exact reprs)."""
    text = repr((tuple(plain), tuple(grouped)))
    return hashlib.sha256(text.encode()).hexdigest()


def aggregate(
    conn: Connection,
    cache: UsageCache | None,
    *,
    organization_id: str,
    external_subscription_id: str,
    plain: Sequence[UsageRequest],
    grouped: Sequence[GroupedRequest],
) -> tuple[list[AggregationResult], list[GroupedResults]]:
    """The results of `plain` (one each) and `grouped` (one per group), cached or fresh.

    On a miss only the requests of the codes whose count changed are aggregated again:
    a request reads the events of its own code only, so the others' results still hold.
    """
    if cache is None:
        return _compute(conn, organization_id, external_subscription_id, plain, grouped)
    scopes = scopes_of([*plain, *(r for r, _keys in grouped)])
    # The count comes first. PostgreSQL (read committed) gives the aggregation a later
    # snapshot, SQLite the same one: either way it reads a superset of the counted events,
    # because events are only ever appended. An entry whose results include an event the
    # count missed then holds a count lower than any later one: a later miss, never a
    # stale hit. Equal counts later mean the same events as at the count, hence as
    # aggregated.
    counts = count_events(
        conn,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        scopes=scopes,
    )
    key = (organization_id, external_subscription_id, fingerprint(plain, grouped))
    entry = cache.get(key)
    if entry is not None and entry.counts == counts:
        cache.record(hit=True)
        return list(entry.plain), [dict(g) for g in entry.grouped]
    cache.record(hit=False)
    if entry is None:
        plain_results, grouped_results = _compute(
            conn, organization_id, external_subscription_id, plain, grouped
        )
    else:
        changed = {
            scope.code
            for scope, old, new in zip(scopes, entry.counts, counts, strict=True)
            if old != new
        }
        plain_results, grouped_results = _recompute(
            conn, organization_id, external_subscription_id, plain, grouped, entry, changed
        )
    cache.put(
        key,
        CachedUsage(
            counts=counts,
            plain=tuple(plain_results),
            grouped=tuple(tuple(g.items()) for g in grouped_results),
        ),
    )
    return plain_results, grouped_results


def _recompute(
    conn: Connection,
    organization_id: str,
    external_subscription_id: str,
    plain: Sequence[UsageRequest],
    grouped: Sequence[GroupedRequest],
    entry: CachedUsage,
    changed: set[str],
) -> tuple[list[AggregationResult], list[GroupedResults]]:
    """The entry's results, with the requests of the `changed` codes aggregated again.

    Same key, so the same requests in the same order (the scopes too: one per code)."""
    stale_plain = [i for i, r in enumerate(plain) if r.metric.code in changed]
    stale_grouped = [i for i, (r, _k) in enumerate(grouped) if r.metric.code in changed]
    fresh_plain, fresh_grouped = _compute(
        conn,
        organization_id,
        external_subscription_id,
        [plain[i] for i in stale_plain],
        [grouped[i] for i in stale_grouped],
    )
    plain_results = list(entry.plain)
    for i, result in zip(stale_plain, fresh_plain, strict=True):
        plain_results[i] = result
    grouped_results = [dict(g) for g in entry.grouped]
    for i, results in zip(stale_grouped, fresh_grouped, strict=True):
        grouped_results[i] = results
    return plain_results, grouped_results


def _compute(
    conn: Connection,
    organization_id: str,
    external_subscription_id: str,
    plain: Sequence[UsageRequest],
    grouped: Sequence[GroupedRequest],
) -> tuple[list[AggregationResult], list[GroupedResults]]:
    plain_results = aggregate_subscription_usage(
        conn,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        requests=plain,
    )
    grouped_results = [
        aggregate_grouped_usage(
            conn,
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            request=request,
            group_keys=keys,
        )
        for request, keys in grouped
    ]
    return plain_results, grouped_results
