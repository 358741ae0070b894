"""Benchmark 3: `meterly bill --as-of` over many subscriptions, against the raw group-by."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import catalogue, data
from bench.config import Config
from bench.databases import Database, Databases, bulk_load
from bench.report import Report, Table, Verdict
from bench.server import serve
from bench.stats import Sample, num, pct, ratio


@dataclass(frozen=True)
class BillRun:
    seconds: float
    max_rss_mib: float
    invoices: int
    errors: int
    output: str


def bill(db: Database) -> BillRun:
    """`meterly bill --as-of` in a child process: wall time and the child's own peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERLY_")}
    env["METERLY_FROZEN_TIME"] = data.BILL_AS_OF
    args = [sys.executable, "-m", "meterly.cli", "bill", "--as-of", data.BILL_AS_OF]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*args, "--database-url", db.url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    fields = dict(line.split("\t", 1) for line in output.splitlines() if line.count("\t") == 1)
    invoices = int(fields.get("invoices issued", "0"))
    errors = int(fields.get("errors", "0"))
    if process.returncode != 0 and not errors:
        raise RuntimeError(f"meterly bill failed ({process.returncode}):\n{output}")
    return BillRun(seconds, usage.ru_maxrss / 1024, invoices, errors, output)


# --- raw baseline ------------------------------------------------------------------------------

_B1_SQLITE = """
SELECT external_subscription_id, code, count(*), sum(json_extract(properties, '$.value')),
       max(json_extract(properties, '$.value')),
       count(DISTINCT json_extract(properties, '$.region')),
       count(DISTINCT json_extract(properties, '$.user'))
FROM events WHERE organization_id = :org AND timestamp >= :start AND timestamp < :end
GROUP BY external_subscription_id, code
"""
_B2_SQLITE = """
SELECT external_subscription_id, code, json_extract(properties, '$.value'), max(timestamp)
FROM events WHERE organization_id = :org AND timestamp >= :start AND timestamp < :end
GROUP BY external_subscription_id, code
"""
_B1_POSTGRES = """
SELECT external_subscription_id, code, count(*), sum((properties ->> 'value')::numeric),
       max((properties ->> 'value')::numeric), count(DISTINCT properties ->> 'region'),
       count(DISTINCT properties ->> 'user')
FROM events WHERE organization_id = %(org)s AND timestamp >= %(start)s AND timestamp < %(end)s
GROUP BY external_subscription_id, code
"""
_B2_POSTGRES = """
SELECT DISTINCT ON (external_subscription_id, code) external_subscription_id, code,
       (properties ->> 'value')::numeric
FROM events WHERE organization_id = %(org)s AND timestamp >= %(start)s AND timestamp < %(end)s
ORDER BY external_subscription_id, code, timestamp DESC
"""


def raw_group_by(db: Database) -> tuple[float, float, int]:
    """Seconds of B1 (every aggregate grouped by subscription and code) and B2 (latest)."""
    conn = db.raw()
    params: dict[str, Any]
    if db.postgres:
        params = {"org": db.organization_id, "start": data.PERIOD_START, "end": data.PERIOD_END}
        statements = (_B1_POSTGRES, _B2_POSTGRES)
    else:
        params = {
            "org": db.organization_id,
            "start": "2024-01-01 00:00:00.000000",
            "end": "2024-02-01 00:00:00.000000",
        }
        statements = (_B1_SQLITE, _B2_SQLITE)
    try:
        timings = []
        groups = 0
        for sql in statements:
            started = time.perf_counter()
            groups = len(conn.execute(sql, params).fetchall())
            timings.append(time.perf_counter() - started)
        return timings[0], timings[1], groups
    finally:
        conn.close()


# --- the benchmark ---------------------------------------------------------------------------


def _subscriptions(count: int) -> list[str]:
    return [f"sub_bill_{i:04d}" for i in range(count)]


def _prepared(dbs: Databases, backend: str, cfg: Config, report: Report) -> Database:
    """Schema, organization, metrics, plan and the subscriptions (through the API), no events."""
    db = dbs.clone(backend)
    with serve(db, log_dir=dbs.work, workers=cfg.workers, frozen_time=data.SERVER_NOW) as server:
        started = time.perf_counter()
        with server.client() as client:
            catalogue.create_catalogue(client)
            catalogue.subscribe(client, _subscriptions(cfg.billing_subscriptions))
        report.log(
            f"{backend}: {cfg.billing_subscriptions} customers + subscriptions through the API "
            f"in {time.perf_counter() - started:.1f} s"
        )
    return db


def run(report: Report, dbs: Databases, backends: Sequence[str], cfg: Config) -> None:
    table = Table(
        f"3. Billing run: `meterly bill --as-of {data.BILL_AS_OF}`, "
        f"{cfg.billing_subscriptions:,} subscriptions x 10 metrics",
        [
            "backend / events in period",
            "wall s median (min-max)",
            "spread",
            "invoices/s",
            "peak RSS MiB (max)",
            "raw B1 + B2 s",
            "x raw",
        ],
    )
    startup: dict[str, float] = {}
    for backend in backends:
        base = _prepared(dbs, backend, cfg, report)
        try:
            empty = dbs.copy(base)
            try:
                startup[backend] = bill(empty).seconds
            finally:
                dbs.discard(empty)
            _sizes(report, table, dbs, base, cfg)
        finally:
            dbs.discard(base)
    table.notes += [
        "wall: the whole `meterly bill` child process (start-up, imports, the run, exit); "
        "peak RSS: ru_maxrss of that child (os.wait4); each repetition bills a fresh copy of "
        "the loaded database (SQLite file copy, PostgreSQL CREATE DATABASE ... TEMPLATE)",
        "raw B1: count, sum, max, count(DISTINCT region), count(DISTINCT user) grouped by "
        "(subscription, code) over the period; B2: the latest value per (subscription, code) "
        "(SQLite bare column with max(timestamp), PostgreSQL DISTINCT ON); each timed "
        "including the fetch, median over the repetitions",
        "the same run with the subscriptions but no events (fixed cost per subscription): "
        + ", ".join(f"{b} {s:.2f} s" for b, s in startup.items()),
    ]
    report.add(table)


def _sizes(report: Report, table: Table, dbs: Databases, base: Database, cfg: Config) -> None:
    rss_by_size: list[tuple[int, float]] = []
    for size in cfg.billing_sizes:
        loaded = dbs.copy(base)
        try:
            subs = _subscriptions(cfg.billing_subscriptions)
            count, seconds = bulk_load(loaded, data.generate(size, seed=77, subscriptions=subs))
            report.log(f"{base.backend}: loaded {count:,} billing events in {seconds:.1f} s")
            raw_group_by(loaded)  # warm-up
            raws = [raw_group_by(loaded) for _ in range(cfg.repeat)]
            runs = []
            for rep in range(cfg.repeat):
                copy = dbs.copy(loaded)
                try:
                    result = bill(copy)
                finally:
                    dbs.discard(copy)
                report.log(
                    f"{base.backend} {size:,} rep {rep + 1}: {result.seconds:.1f} s, "
                    f"{result.invoices} invoices, {result.max_rss_mib:.0f} MiB"
                )
                runs.append(result)
        finally:
            dbs.discard(loaded)
        wall = Sample.of([r.seconds for r in runs])
        raw = Sample.of([b1 + b2 for b1, b2, _ in raws])
        invoices = runs[0].invoices
        rss = max(r.max_rss_mib for r in runs)
        rss_by_size.append((size, rss))
        table.rows.append(
            [
                f"{base.backend}, {size:,} events",
                wall.median_and_range(1),
                pct(wall.spread),
                num(invoices / wall.median, 1),
                num(rss),
                f"{raw.median:.2f} (B1 {Sample.of([r[0] for r in raws]).median:.2f})",
                f"{ratio(wall.median, raw.median):.2f}",
            ]
        )
        bad = [r for r in runs if r.errors or r.invoices != cfg.billing_subscriptions]
        if bad:
            table.notes.append(
                f"CHECK FAILED {base.backend} {size:,}: {bad[0].invoices} invoices, "
                f"{bad[0].errors} errors (expected {cfg.billing_subscriptions}):\n"
                f"{bad[0].output[-800:]}"
            )
        if size == cfg.billing_sizes[-1]:
            smallest, small_rss = rss_by_size[0]
            growth = rss / small_rss if small_rss else 1.0
            report.verdicts.append(
                Verdict(
                    f"billing run, {size:,} events, {base.backend}",
                    f"{wall.median:.1f} s = {ratio(wall.median, raw.median):.2f} x raw; "
                    f"peak RSS {rss:.0f} MiB ({growth:.2f} x the {smallest:,}-event run)",
                    "<= 1.3 x raw; peak memory flat in the number of events",
                    ratio(wall.median, raw.median) <= 1.3 and growth <= 1.25,
                )
            )
