"""Benchmark 4: the access check, GET /subscriptions/{id}/entitlements/{feature}/check.

"May this customer use feature X now?" is asked by an application on its own request
path, so it must answer in a few milliseconds. The feature's limit counts metric_0's
events in the period: the check reads them through the usage cache. The raw baseline is
one count(*) of those events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench import data
from bench.config import Config
from bench.databases import Database, Databases, bulk_load
from bench.loadgen import run_async
from bench.report import Report, Table, Verdict
from bench.server import serve
from bench.stats import num, ratio
from bench.usage import _http_latencies, _latencies, _rounds, catalogue

SUBSCRIPTION = "sub_entitlement"
TARGET_MS = 5.0
_RAW_SQLITE = (
    "SELECT count(*) FROM events WHERE organization_id = :org AND external_subscription_id = :sub"
    " AND code = 'metric_0' AND timestamp >= :start AND timestamp < :end"
)
_RAW_POSTGRES = (
    "SELECT count(*) FROM events WHERE organization_id = %(org)s"
    " AND external_subscription_id = %(sub)s AND code = 'metric_0'"
    " AND timestamp >= %(start)s AND timestamp < %(end)s"
)


def _raw(db: Database) -> Callable[[], Any]:
    conn = db.raw()
    if db.postgres:
        params: dict[str, Any] = {
            "org": db.organization_id,
            "sub": SUBSCRIPTION,
            "start": data.PERIOD_START,
            "end": data.PERIOD_END,
        }
        return lambda: conn.execute(_RAW_POSTGRES, params).fetchall()
    sqlite_params = {
        "org": db.organization_id,
        "sub": SUBSCRIPTION,
        "start": "2024-01-01 00:00:00.000000",
        "end": "2024-02-01 00:00:00.000000",
    }
    return lambda: conn.execute(_RAW_SQLITE, sqlite_params).fetchall()


def _entitle(client: Any) -> None:
    feature = {
        "code": "api",
        "privileges": [
            {
                "code": "calls",
                "value_type": "integer",
                "config": {"billable_metric_code": "metric_0"},
            }
        ],
    }
    for path, body in (
        ("/features", {"feature": feature}),
        (
            f"/plans/{catalogue.PLAN_CODE}/entitlements",
            {"entitlements": {"api": {"calls": 10**9}}},
        ),
    ):
        answer = client.post(path, json=body)
        if answer.status_code != 200:
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text[:300]}")


def run(report: Report, dbs: Databases, backends: Sequence[str], cfg: Config) -> None:
    table = Table(
        "4. Access check: GET /subscriptions/{id}/entitlements/{feature}/check "
        "(a usage limit on a count metric)",
        [
            "backend / events in period",
            "p50 ms",
            "p95 ms median (min-max)",
            "raw p95 ms",
            "p95 x raw",
        ],
    )
    for backend in backends:
        db = dbs.clone(backend)
        try:
            _run_backend(report, table, dbs, db, cfg)
        finally:
            dbs.discard(db)
    table.notes.append(
        "the events do not change between checks, so the usage comes from the cache "
        "(validated by an index-only count of the window's events); sequential requests on "
        "one keep-alive connection; raw: one count(*) of the limited metric's events"
    )
    report.add(table)


def _run_backend(report: Report, table: Table, dbs: Databases, db: Database, cfg: Config) -> None:
    size = max(cfg.usage_sizes)
    loaded, seconds = bulk_load(db, data.generate(size, seed=4242, subscriptions=[SUBSCRIPTION]))
    report.log(f"{db.backend}: loaded {loaded:,} events in {seconds:.1f} s")
    path = f"/api/v1/subscriptions/{SUBSCRIPTION}/entitlements/api/check"
    with serve(db, log_dir=dbs.work, workers=cfg.workers, frozen_time=data.SERVER_NOW) as server:
        with server.client() as client:
            catalogue.create_catalogue(client)
            catalogue.subscribe(client, [SUBSCRIPTION])
            _entitle(client)
        run_async(_http_latencies(server, path, 3))  # fills the usage cache

        def http(count: int) -> list[float]:
            values: list[float] = run_async(_http_latencies(server, path, count))
            return values

        p50, p95, _ = _rounds(http, cfg, 0.0)
    query = _raw(db)
    _, raw95, _ = _rounds(lambda count: _latencies(query, count), cfg, 0.0)
    table.rows.append(
        [
            f"{db.backend}, {size:,} events",
            num(p50.median, 2),
            p95.median_and_range(2),
            num(raw95.median, 2),
            f"{ratio(p95.median, raw95.median):.2f}",
        ]
    )
    report.verdicts.append(
        Verdict(
            f"access check p95, {size:,} events, {db.backend} (events unchanged)",
            f"{p95.median:.2f} ms",
            f"< {TARGET_MS:.0f} ms",
            p95.median < TARGET_MS,
        )
    )
