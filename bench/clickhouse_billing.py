"""`python -m bench.clickhouse_billing [--quick]`: a whole billing run with its events in chdb.

`meterly bill --as-of 2024-02-01` over S subscriptions of the ten-metric plan
(`bench.catalogue`: count, sum, max, unique counts, latest, weighted sum, recurring sum,
a rounded graduated sum), the main database on PostgreSQL and N events of January in a
chdb event store (`METERLY_EVENTS_URL=chdb://...`). Each repetition bills a fresh copy of
the PostgreSQL database (CREATE DATABASE ... TEMPLATE); billing only reads the events.

Raw baseline, measured in the same run: one GROUP BY over the period's events of every
subscription and metric computing what the ten metrics need (count, sum, max, two distinct
counts, the latest value), without FINAL, in a chdb process of its own (chdb holds its
directory for one process at a time). The read-ahead's own aggregation
(`billing_usage.aggregate_batch` of the plan's ten requests for every subscription) is
timed in that process too, for the aggregation ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench import billing_fanout, data, server
from bench.environment import DEFAULT_POSTGRES_URL, Postgres
from bench.stats import Sample, num, pct, ratio
from meterly.domain.periods import BillingPeriod
from meterly.services.billing.fees import billed_charges
from meterly.store.billing_usage import aggregate_batch
from meterly.store.engine import create_engine
from meterly.store.event_stores import ClickHouseEvents
from meterly.store.tables import Subscription
from meterly.store.uow import Database

SIZES = {
    "smoke": {"events": 20_000, "subs": 4, "repeat": 1},
    "quick": {"events": 1_000_000, "subs": 100, "repeat": 3},
    "full": {"events": 10_000_000, "subs": 1_000, "repeat": 3},
}
# January 2024, 00:00 to the 31st 00:00 (data.EVENTS_UNTIL), in whole seconds.
SPAN_SECONDS = int((data.EVENTS_UNTIL - data.PERIOD_START).total_seconds())


def fill_sql(table: str, organization_id: str, events: int, subs: int) -> str:
    """`events` events over the subscriptions `sub_fanout`, `sub_fanout_1` ... (the names
    `billing_fanout.prepare` gives them), the ten metric codes in turn, spread over the
    period; properties as `bench.data` draws them: a value of 3 decimals in 0..1000, one of
    8 regions, one of 1,000 users."""
    value = "(cityHash64(number, 1) % 1000001)"
    sub = f"(intDiv(number, 10) % {subs})"
    return (
        f"INSERT INTO {table} (organization_id, external_subscription_id, code, timestamp,"
        " transaction_id, properties, numbers, properties_json, precise_total_amount_cents,"
        " lago_id, created_at)"
        f" SELECT '{organization_id}',"
        f" if({sub} = 0, 'sub_fanout', concat('sub_fanout_', toString({sub}))),"
        " concat('metric_', toString(number % 10)),"
        " toDateTime64('2024-01-01 00:00:00', 6, 'UTC')"
        f" + toIntervalSecond(cityHash64(number, 2) % {SPAN_SECONDS}),"
        " lower(hex(cityHash64(number, 3))) || lower(hex(number)),"
        f" map('value', toString(toDecimal64({value}, 0) / 1000),"
        " 'region', concat('region-', toString(number % 8)),"
        " 'user', concat('user-', toString(cityHash64(number, 4) % 1000))),"
        f" map('value', toDecimal256({value}, 30) / 1000),"
        f" concat('{{\"value\":', toString(toDecimal64({value}, 0) / 1000), '}}'),"
        " NULL, toString(generateUUIDv4()), now64(6, 'UTC')"
        f" FROM numbers({events})"
    )


def raw_sql(table: str, organization_id: str) -> str:
    return (
        "SELECT external_subscription_id, code, count(), sum(numbers['value']),"
        " max(numbers['value']), uniqExact(properties['region']), uniqExact(properties['user']),"
        " argMax(numbers['value'], timestamp)"
        f" FROM {table} WHERE organization_id = '{organization_id}'"
        " AND timestamp >= toDateTime64('2024-01-01 00:00:00', 6, 'UTC')"
        " AND timestamp < toDateTime64('2024-02-01 00:00:00', 6, 'UTC')"
        " GROUP BY external_subscription_id, code"
    )


def fill_and_time(directory: str, database_url: str, size: dict[str, int]) -> dict[str, Any]:
    """In a process of its own: fill the store, then time the raw GROUP BY and the read-ahead's
    aggregation of every subscription (median seconds each)."""
    store = ClickHouseEvents(f"chdb://{directory}")
    store.create_schema()
    database = Database(create_engine(database_url))
    with database.unit_of_work() as session:
        subs = list(session.scalars(select(Subscription).order_by(Subscription.external_id)))
        organization_id = subs[0].organization_id
        january = BillingPeriod(data.PERIOD_START, data.PERIOD_END - timedelta(microseconds=1))
        billed = billed_charges(session, subs[0], january, 31)
        assert billed is not None
        requests = [request for _, _, request in billed[1]]
        external_ids = [s.external_id for s in subs]
    started = time.perf_counter()
    store.transport.command(fill_sql(store.table, organization_id, size["events"], size["subs"]))
    filled = time.perf_counter() - started
    raw = raw_sql(store.table, organization_id)
    store.transport.query(raw)  # warm
    raws = []
    for _ in range(size["repeat"]):
        began = time.perf_counter()
        store.transport.query(raw)
        raws.append(time.perf_counter() - began)
    ours = []
    for _ in range(size["repeat"]):
        began = time.perf_counter()
        aggregate_batch(
            store,
            organization_id=organization_id,
            external_subscription_ids=external_ids,
            requests=requests,
        )
        ours.append(time.perf_counter() - began)
    return {"filled": filled, "raw": raws, "ours": ours, "requests": len(requests)}


def _child_fill(directory: str, url: str, size: dict[str, int]) -> dict[str, Any]:
    code = (
        "import json, sys; from bench.clickhouse_billing import fill_and_time;"
        " print(json.dumps(fill_and_time(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, directory, url, json.dumps(size)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"filling chdb failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clickhouse_billing", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M events, 100 subscriptions")
    parser.add_argument("--smoke", action="store_true", help="20,000 events, 4 subscriptions")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("METERLY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    args = parser.parse_args(argv)
    size = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    pg = Postgres(args.postgres_url)
    server.STARTUP_TIMEOUT = 600.0
    template = billing_fanout.prepare(pg, size["subs"], Path(tempfile.gettempdir()))
    runs: list[billing_fanout.Billing] = []
    try:
        with tempfile.TemporaryDirectory(prefix="meterly_chdb_bill_") as directory:
            timed = _child_fill(directory, pg.url(template), size)
            print(f"filled {size['events']:,} events in {timed['filled']:.1f} s", file=sys.stderr)
            for _ in range(size["repeat"]):
                name = pg.create(template=template)
                try:
                    result = billing_fanout.bill(pg.url(name), 1, events_url=f"chdb://{directory}")
                finally:
                    pg.drop(name)
                print(f"bill: {result.seconds:.1f} s, {result.invoices} invoices", file=sys.stderr)
                if result.invoices != size["subs"] or result.errors:
                    raise RuntimeError(f"expected {size['subs']} invoices: {result}")
                runs.append(result)
    finally:
        pg.drop(template)
    wall = Sample.of([r.seconds for r in runs])
    raw, ours = statistics.median(timed["raw"]), statistics.median(timed["ours"])
    print(
        f"#### Billing run on chdb: {size['subs']:,} subscriptions x 10 metrics,"
        f" {size['events']:,} events (PostgreSQL main database)\n\n"
        "| figure | median | spread | raw chdb GROUP BY | ratio to raw |\n|---|---|---|---|---|\n"
        f"| `meterly bill`, whole process (s) | {wall.median_and_range(2)} | {pct(wall.spread)}"
        f" | {raw:.2f} | {ratio(wall.median, raw):.1f} |\n"
        f"| read-ahead aggregation, {timed['requests']} requests x {size['subs']:,}"
        f" subscriptions (s) | {num(ours, 2)} | | {raw:.2f} | {ratio(ours, raw):.2f} |\n\n"
        f"Invoices per second {size['subs'] / wall.median:.1f}; peak RSS of `meterly bill`"
        f" {max(r.max_rss_mib for r in runs):.0f} MiB; {size['repeat']} repetitions."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
