"""Benchmark 2: GET /customers/{id}/current_usage latency, against one raw SQL statement."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from bench import catalogue, data
from bench.config import Config
from bench.databases import Database, Databases, bulk_load
from bench.loadgen import HttpConnection, run_async
from bench.report import Report, Table, Verdict
from bench.server import Server, serve
from bench.stats import Sample, num, percentile, ratio

TARGET_SIZE = 100_000


def subscription_for(size: int) -> str:
    return f"sub_usage_{size}"


# --- the raw baseline: the same aggregates in one statement ----------------------------------

_SQLITE = """
WITH e AS (
  SELECT code, timestamp AS ts, json_extract(properties, '$.value') AS v,
         json_extract(properties, '$.region') AS region, json_extract(properties, '$.user') AS usr
  FROM events
  WHERE organization_id = :org AND external_subscription_id = :sub
    AND code IN ({codes}) AND timestamp >= :start AND timestamp <= :end
)
SELECT code, count(*), sum(v), max(v), count(DISTINCT region), count(DISTINCT usr)
FROM e GROUP BY code
UNION ALL
SELECT 'latest', (SELECT v FROM e WHERE code = 'metric_4' ORDER BY ts DESC LIMIT 1), 0, 0, 0, 0
UNION ALL
SELECT 'weighted', sum(v * (julianday(coalesce(nts, :end)) - julianday(ts)) * 86400), 0, 0, 0, 0
FROM (SELECT v, ts, lead(ts) OVER (ORDER BY ts) AS nts FROM e WHERE code = 'metric_5')
"""

_POSTGRES = """
WITH e AS (
  SELECT code, timestamp AS ts, (properties ->> 'value')::numeric AS v,
         properties ->> 'region' AS region, properties ->> 'user' AS usr
  FROM events
  WHERE organization_id = %(org)s AND external_subscription_id = %(sub)s
    AND code = ANY(%(codes)s) AND timestamp >= %(start)s AND timestamp <= %(end)s
)
SELECT code, count(*), sum(v), max(v), count(DISTINCT region), count(DISTINCT usr)
FROM e GROUP BY code
UNION ALL
SELECT 'latest', (SELECT v FROM e WHERE code = 'metric_4' ORDER BY ts DESC LIMIT 1), 0, 0, 0, 0
UNION ALL
SELECT 'weighted',
       sum(v * extract(epoch FROM coalesce(nts, %(end)s::timestamptz) - ts)), 0, 0, 0, 0
FROM (SELECT v, ts, lead(ts) OVER (ORDER BY ts) AS nts FROM e WHERE code = 'metric_5') w
"""

RAW_NOTE = (
    "raw: one statement per request over the same events (index on organization, "
    "subscription, code, timestamp): count, sum, max, count(DISTINCT region), "
    "count(DISTINCT user) per code, the latest value of metric_4 and a time-weighted sum of "
    "metric_5 (lead() window); engine-native arithmetic (SQLite sums JSON floats, PostgreSQL "
    "casts to numeric), rows fetched into Python"
)


def raw_query(db: Database, subscription: str) -> Callable[[], list[Any]]:
    conn = db.raw()
    end = data.PERIOD_END
    if db.postgres:
        params: dict[str, Any] = {
            "org": db.organization_id,
            "sub": subscription,
            "codes": list(data.CODES),
            "start": data.PERIOD_START,
            "end": end,
        }
        return lambda: conn.execute(_POSTGRES, params).fetchall()
    codes = ", ".join(f"'{c}'" for c in data.CODES)
    sql = _SQLITE.format(codes=codes)
    sqlite_params = {
        "org": db.organization_id,
        "sub": subscription,
        "start": "2024-01-01 00:00:00.000000",
        "end": "2024-01-31 23:59:59.999999",
    }
    return lambda: conn.execute(sql, sqlite_params).fetchall()


# --- measurement ---------------------------------------------------------------------------


def _latencies(call: Callable[[], Any], count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


async def _http_latencies(server: Server, path: str, count: int) -> list[float]:
    conn = HttpConnection(server.host, server.port, {"Authorization": f"Bearer {server.api_key}"})
    out = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            status, body = await conn.request("GET", path)
            out.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
    finally:
        await conn.close()
    return out


async def _cold_latencies(
    server: Server,
    path: str,
    subscription: str,
    count: int,
    first_events: int,
    codes: Sequence[str],
) -> tuple[list[float], str]:
    """Each GET right after one new event of each of `codes` in the period (the cache misses
    for them): its time, and a problem when the answer does not count those events."""
    conn = HttpConnection(server.host, server.port, {"Authorization": f"Bearer {server.api_key}"})
    out = []
    problem = ""
    moment = int((data.PERIOD_START + timedelta(days=3)).timestamp())
    try:
        for n in range(count):
            events = [
                {
                    "transaction_id": f"cold_{uuid.uuid4().hex}",
                    "external_subscription_id": subscription,
                    "code": code,
                    "timestamp": str(moment + n),
                    "properties": {"value": "1.5", "region": "cold", "user": f"cold_{n}"},
                }
                for code in codes
            ]
            payload = json.dumps({"events": events}).encode()
            status, body = await conn.request("POST", "/api/v1/events/batch", payload)
            if status != 200:
                raise RuntimeError(f"POST /api/v1/events/batch: {status} {body[:300]!r}")
            started = time.perf_counter()
            status, body = await conn.request("GET", path)
            out.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
            charges = json.loads(body)["customer_usage"]["charges_usage"]
            counted = sum(int(c["events_count"]) for c in charges)
            expected = first_events + (n + 1) * len(codes)
            if counted != expected and not problem:
                problem = (
                    f"{subscription}: after new events the API counted {counted} of {expected}"
                )
    finally:
        await conn.close()
    return out, problem


def _usage_path(subscription: str) -> str:
    customer = catalogue.customer_of(subscription)
    return f"/api/v1/customers/{customer}/current_usage?external_subscription_id={subscription}"


def _rounds(
    measure: Callable[[int], list[float]], cfg: Config, warmup_seconds: float
) -> tuple[Sample, Sample, int]:
    """p50 and p95 of each round (median over rounds), and requests per round."""
    per_round = cfg.usage_requests
    if warmup_seconds * per_round > 10.0:  # slow cells: keep a round near 10 s, >= 5 requests
        per_round = max(5, int(10 / warmup_seconds))
    p50s, p95s = [], []
    for _ in range(cfg.repeat):
        values = measure(per_round)
        p50s.append(percentile(values, 0.50) * 1000)
        p95s.append(percentile(values, 0.95) * 1000)
    return Sample.of(p50s), Sample.of(p95s), per_round


def _check_units(server: Server, subscription: str, expected: int) -> str:
    """Events counted by the API (events_count over the charges) against what was loaded."""
    with server.client() as client:
        body = client.get(_usage_path(subscription).removeprefix("/api/v1")).json()
    charges = body["customer_usage"]["charges_usage"]
    counted = sum(int(c["events_count"]) for c in charges)
    return "" if counted == expected else f"{subscription}: API counted {counted} of {expected}"


def run(report: Report, dbs: Databases, backends: Sequence[str], cfg: Config) -> None:
    table = Table(
        "2. Current usage: GET /customers/{id}/current_usage "
        "(10 metrics: count, sum, max, unique count, latest, weighted sum, recurring sum, ...)",
        [
            "backend / events in period",
            "warm p50 ms",
            "warm p95 ms median (min-max)",
            "cold, 1 metric: p50 ms",
            "p95 ms median (min-max)",
            "cold, 10 metrics: p50 ms",
            "p95 ms median (min-max)",
            "raw p50 ms",
            "raw p95 ms",
            "p95 x raw: warm",
            "cold 1",
            "cold 10",
            "requests/round",
        ],
    )
    for backend in backends:
        db = dbs.clone(backend)
        try:
            _run_backend(report, table, dbs, db, cfg)
        finally:
            dbs.discard(db)
    table.notes += [
        RAW_NOTE,
        "warm: the events did not change since the previous request, so the server answers "
        "from its usage cache (aggregation results per subscription window, validated on "
        "every request by an index-only count of the window's events, then priced and "
        "rendered); sequential requests on one keep-alive connection after 2 warm-up "
        f"requests; {cfg.repeat} rounds, p50/p95 per round (nearest rank), median (min-max) "
        "over rounds",
        "cold: each request follows new events in the period (POST /events/batch, awaited, "
        "not timed), so the cache misses. 1 metric: one event of metric_0, only that "
        "metric's charge is aggregated again (a miss re-reads the codes whose count "
        "changed). 10 metrics: one event of each metric, every charge is aggregated again "
        "(the uncached cost plus the count). Each answer is checked to count the new "
        "events; measured after raw, so raw reads exactly the loaded events",
        "events loaded straight into `events` (executemany on SQLite, COPY on PostgreSQL, "
        "indexes rebuilt, ANALYZE; PostgreSQL: VACUUM ANALYZE, which sets the visibility map "
        "the index-only count relies on, as autovacuum does after inserts); metrics, plan, "
        "customer and subscription through the API; "
        f"the server's clock frozen at {data.SERVER_NOW}",
    ]
    report.add(table)


def _run_backend(report: Report, table: Table, dbs: Databases, db: Database, cfg: Config) -> None:
    subs = [subscription_for(size) for size in cfg.usage_sizes]
    streams = [
        data.generate(size, seed=500 + size % 997, subscriptions=[subscription_for(size)])
        for size in cfg.usage_sizes
    ]
    loaded, seconds = bulk_load(db, itertools.chain(*streams))
    report.log(f"{db.backend}: loaded {loaded:,} usage events in {seconds:.1f} s")
    with serve(db, log_dir=dbs.work, workers=cfg.workers, frozen_time=data.SERVER_NOW) as server:
        with server.client() as client:
            catalogue.create_catalogue(client)
            catalogue.subscribe(client, subs)
        for size, sub in zip(cfg.usage_sizes, subs, strict=True):
            problem = _check_units(server, sub, size)
            path = _usage_path(sub)
            started = time.perf_counter()
            run_async(_http_latencies(server, path, 2))
            warm = (time.perf_counter() - started) / 2

            def http(count: int, path: str = path) -> list[float]:
                result: list[float] = run_async(_http_latencies(server, path, count))
                return result

            p50, p95, per_round = _rounds(http, cfg, warm)
            query = raw_query(db, sub)
            started = time.perf_counter()
            query()
            raw_seconds = time.perf_counter() - started

            def sql(count: int, query: Callable[[], list[Any]] = query) -> list[float]:
                return _latencies(query, count)

            raw50, raw95, _ = _rounds(sql, cfg, 0.0)
            counted = [size]
            problems = [problem] if problem else []

            def cold(
                count: int,
                codes: Sequence[str],
                path: str = path,
                sub: str = sub,
                counted: list[int] = counted,
                problems: list[str] = problems,
            ) -> list[float]:
                values, issue = run_async(
                    _cold_latencies(server, path, sub, count, counted[0], codes)
                )
                counted[0] += count * len(codes)
                if issue and not problems:
                    problems.append(issue)
                return values

            # A full miss costs about what the raw statement does (the same aggregation).
            one50, one95, one_per_round = _rounds(
                lambda count: cold(count, data.CODES[:1]), cfg, raw_seconds / 5
            )
            all50, all95, all_per_round = _rounds(
                lambda count: cold(count, data.CODES), cfg, max(raw_seconds, warm)
            )
            report.log(
                f"{db.backend} {size:,}: warm p95 {p95.median:.1f} ms, cold p95 "
                f"{one95.median:.1f} ms (1 metric), {all95.median:.1f} ms (10 metrics), "
                f"raw p95 {raw95.median:.1f} ms"
            )
            table.rows.append(
                [
                    f"{db.backend}, {size:,} events",
                    num(p50.median, 1),
                    p95.median_and_range(1),
                    num(one50.median, 1),
                    one95.median_and_range(1),
                    num(all50.median, 1),
                    all95.median_and_range(1),
                    num(raw50.median, 1),
                    num(raw95.median, 1),
                    f"{ratio(p95.median, raw95.median):.2f}",
                    f"{ratio(one95.median, raw95.median):.2f}",
                    f"{ratio(all95.median, raw95.median):.2f}",
                    f"{per_round}, {one_per_round}, {all_per_round}",
                ]
            )
            for issue in problems:
                table.notes.append(f"CHECK FAILED: {issue}")
            if size == TARGET_SIZE:
                r = ratio(p95.median, raw95.median)
                report.verdicts.append(
                    Verdict(
                        f"current usage p95, 100k events, {db.backend} (warm: events unchanged)",
                        f"{p95.median:.1f} ms, {r:.2f} x raw",
                        "<= 1.5 x raw and < 50 ms",
                        r <= 1.5 and p95.median < 50,
                    )
                )
                for label, sample in (("1 metric", one95), ("10 metrics", all95)):
                    r = ratio(sample.median, raw95.median)
                    report.verdicts.append(
                        Verdict(
                            f"current usage p95, 100k events, {db.backend} "
                            f"(cold: new events in {label})",
                            f"{sample.median:.1f} ms, {r:.2f} x raw",
                            "<= 1.5 x raw and < 50 ms",
                            r <= 1.5 and sample.median < 50,
                        )
                    )
