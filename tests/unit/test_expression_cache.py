"""The ingestion path's expression cache: one reload per expiry, not one per request."""

from __future__ import annotations

import time

from meterly.services.metering.ingest import _ExpressionCache


def test_a_stale_table_is_reloaded_by_one_caller_while_the_others_keep_it() -> None:
    cache = _ExpressionCache()
    table: dict[str, tuple[str, object]] = {"api_calls": ("total", object())}
    assert cache.cached("org") is None  # never loaded: load it
    cache._by_org["org"] = (time.monotonic() + 60, table)
    assert cache.cached("org") is table  # fresh
    cache._by_org["org"] = (time.monotonic() - 1, table)
    assert cache.cached("org") is None  # stale: this caller reloads
    assert cache.cached("org") is table  # the others keep the stale table meanwhile
    assert cache.cached("org") is table
    cache._loading.discard("org")  # what for_org does once loaded
    assert cache.cached("org") is None
