"""`python -m bench.clickhouse [--quick]`: the ClickHouse event store on chdb.

Three tables, each against raw chdb measured in the same run (never a timed test):

* current usage: `aggregate_subscription_usage` (a count, a sum and a max metric of one
  subscription) over N events in the period, for a window on the hour (every hour from
  the rollup) and a ragged one (two edges scanned from `events`, FINAL), against one raw
  `SELECT count(), sum(numbers['v']), max(numbers['v'])` over the subscription's events
  without FINAL, p50 and p95;
* aggregation: the billing read-ahead's `billing_usage.aggregate_batch` for S
  subscriptions against one raw GROUP BY over the same events;
* batch ingestion, into the store holding the aggregation table's N events: 64 client
  threads each sending batches of 100 events through the group-commit writer
  (`EventWriter`, duplicate check included), against raw INSERTs of the same rows in
  blocks of 5,000; every acknowledged event is then counted once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from meterly.domain.usage import AggregationType, BillableMetric
from meterly.services.metering.event_writer import EventWriter
from meterly.store import event_stores
from meterly.store.billing_usage import aggregate_batch
from meterly.store.engine import create_engine
from meterly.store.event_stores import ClickHouseEvents
from meterly.store.uow import Database
from meterly.store.usage_queries import UsageRequest, aggregate_subscription_usage

ORG = "org-bench"
START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
SIZES = {
    "quick": {"events": 1_000_000, "subs": 100, "ingest": 64 * 100 * 5, "repeat": 7},
    "full": {"events": 10_000_000, "subs": 1_000, "ingest": 64 * 100 * 40, "repeat": 21},
}


def _metrics(start: datetime = START, end: datetime = END) -> list[UsageRequest]:
    kinds = [AggregationType.COUNT, AggregationType.SUM, AggregationType.MAX]
    return [
        UsageRequest(
            metric=BillableMetric(code="calls", aggregation_type=k, field_name="v"),
            window_from=start,
            window_to=end,
        )
        for k in kinds
    ]


def _fill(store: ClickHouseEvents, events: int, subs: int) -> None:
    """`events` events of metric `calls` spread over March, over `subs` subscriptions."""
    seconds = int((END - START).total_seconds())
    store.transport.command(
        f"INSERT INTO {store.table} (organization_id, external_subscription_id, code,"
        " timestamp, transaction_id, properties, numbers, properties_json,"
        " precise_total_amount_cents,"
        " lago_id, created_at)"
        f" SELECT '{ORG}', concat('sub-', toString(number % {subs})), 'calls',"
        f" toDateTime64('2024-03-01 00:00:00', 6, 'UTC') + toIntervalSecond(number % {seconds}),"
        " concat('tx-', toString(number)), map('v', toString(number % 100)),"
        " map('v', toDecimal256(number % 100, 30)),"
        " concat('{\"v\":', toString(number % 100), '}'), NULL, toString(generateUUIDv4()),"
        " now64(6, 'UTC')"
        f" FROM numbers({events})"
    )


def _settled(store: ClickHouseEvents, limit: float = 300.0) -> float:
    """Seconds waited until the background merges of the fill are over (at most `limit`):
    the figures are of the queries, not of a bulk load's merges running beside them."""
    began = time.perf_counter()
    while time.perf_counter() - began < limit:
        running = store.transport.query("SELECT count() FROM system.merges")
        if int(str(running[0][0])) == 0:
            break
        time.sleep(0.5)
    return time.perf_counter() - began


def _timed(action: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return times


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _line(name: str, ours: list[float], raw: list[float]) -> str:
    med, raw_med = statistics.median(ours), statistics.median(raw)
    spread = (max(ours) - min(ours)) / med if med else 0.0
    return (
        f"| {name} | {med * 1000:.1f} | {_p95(ours) * 1000:.1f} | {spread:.2f}"
        f" | {raw_med * 1000:.1f} | {med / raw_med:.2f} |"
    )


def usage_tables(store: ClickHouseEvents, size: dict[str, int]) -> list[str]:
    requests = _metrics()
    one = f"sub-{0}"
    store.truncate()
    _fill(store, size["events"], 1)  # current usage: every event in one subscription
    settled = _settled(store)

    def ours() -> None:
        aggregate_subscription_usage(
            store, organization_id=ORG, external_subscription_id=one, requests=requests
        )

    # A window off the hour at both ends: whole hours from the rollup, two edges scanned.
    ragged = _metrics(
        START + timedelta(minutes=17, seconds=23), END - timedelta(hours=2, minutes=17)
    )

    def ours_ragged() -> None:
        aggregate_subscription_usage(
            store, organization_id=ORG, external_subscription_id=one, requests=ragged
        )

    raw_sql = (
        f"SELECT count(), sum(numbers['v']), max(numbers['v']) FROM {store.table}"
        f" WHERE organization_id = '{ORG}' AND external_subscription_id = '{one}'"
        " AND code = 'calls'"
    )
    ours()  # warm
    ours_ragged()
    lines = [
        f"#### Current usage, {size['events']:,} events in one subscription's period (ms)",
        "",
        "| figure | median | p95 | spread | raw chdb median | ratio to raw |",
        "|---|---|---|---|---|---|",
        _line(
            "current usage (count, sum, max), window on the hour",
            _timed(ours, size["repeat"]),
            _timed(lambda: store.transport.query(raw_sql), size["repeat"]),
        ),
        _line(
            "the same, window 00:17:23 to 21:42:59.999999",
            _timed(ours_ragged, size["repeat"]),
            _timed(lambda: store.transport.query(raw_sql), size["repeat"]),
        ),
    ]
    lines += ["", f"Timed once the fill's background merges were over ({settled:.0f} s after it)."]
    store.truncate()
    _fill(store, size["events"], size["subs"])
    sids = [f"sub-{i}" for i in range(size["subs"])]

    def batch() -> None:
        aggregate_batch(
            store, organization_id=ORG, external_subscription_ids=sids, requests=requests
        )

    raw_batch = (
        raw_sql.replace(f"external_subscription_id = '{one}'", "1").replace(
            "SELECT count()", "SELECT external_subscription_id, count()"
        )
        + " GROUP BY external_subscription_id"
    )
    batch()
    lines += [
        "",
        f"#### Billing aggregation, {size['subs']:,} subscriptions, {size['events']:,} events (ms)",
        "",
        "| figure | median | p95 | spread | raw chdb median | ratio to raw |",
        "|---|---|---|---|---|---|",
        _line(
            "read-ahead aggregate_batch (3 metrics)",
            _timed(batch, max(3, size["repeat"] // 3)),
            _timed(lambda: store.transport.query(raw_batch), max(3, size["repeat"] // 3)),
        ),
    ]
    return lines


def _rows(n: int, prefix: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "organization_id": ORG,
            "transaction_id": f"{prefix}-{i}",
            "external_subscription_id": f"sub-{i % 1000}",
            "code": "calls",
            "timestamp": START + timedelta(seconds=i % 86400),
            "properties": {"v": i % 100},
            "precise_total_amount_cents": None,
            "lago_id": str(uuid.uuid4()),
            "created_at": now,
        }
        for i in range(n)
    ]


def ingest_table(store: ClickHouseEvents, size: dict[str, int]) -> list[str]:
    total = size["ingest"]
    # Into the store the usage tables filled: the duplicate check reads what is stored.
    held = int(store.transport.query(f"SELECT count() FROM {store.table}")[0][0])
    raw_rows = _rows(total, "raw")
    began = time.perf_counter()
    for start in range(0, total, 5_000):
        store.insert_rows(raw_rows[start : start + 5_000])
    raw_rate = total / (time.perf_counter() - began)

    rows = _rows(total, "api")
    batches = [rows[i : i + 100] for i in range(0, total, 100)]
    writer = EventWriter(Database(create_engine("sqlite://")), timeout=60)
    event_stores.configure(store.url)
    acknowledged = [0]
    lock = threading.Lock()

    def client(k: int) -> None:
        for batch in batches[k::64]:
            result = writer.store(batch)
            with lock:
                acknowledged[0] += len(result.new_keys)

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = total / (time.perf_counter() - began)
    writer.close()
    event_stores.configure(None)
    counted = store.transport.query(
        f"SELECT count(), uniqExact(transaction_id) FROM {store.table} FINAL"
        " WHERE startsWith(transaction_id, 'api-')"
    )[0]
    stored = f"{int(counted[1]):,} of {int(counted[0]):,}"
    return [
        "",
        f"#### Batch ingestion into chdb holding {held:,} events, {total:,} more,"
        " 64 clients x 100/request (events/s)",
        "",
        "| figure | events/s | raw chdb events/s | ratio to raw | acknowledged | stored once |",
        "|---|---|---|---|---|---|",
        f"| group-commit writer, duplicate check | {rate:,.0f} | {raw_rate:,.0f}"
        f" | {rate / raw_rate:.2f} | {acknowledged[0]:,} | {stored} |",
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clickhouse", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M events instead of 10M")
    args = parser.parse_args(argv)
    size = SIZES["quick" if args.quick else "full"]
    # chdb keeps the directory open (background merges) until the process ends.
    with tempfile.TemporaryDirectory(prefix="meterly_chdb_", ignore_cleanup_errors=True) as tmp:
        store = ClickHouseEvents(f"chdb://{tmp}")
        store.create_schema()
        lines = [
            f"### ClickHouse event store (chdb), {datetime.now(UTC).date()},"
            f" {'quick' if args.quick else 'full'} run",
            "",
        ]
        print("\n".join(lines), flush=True)
        for table in (usage_tables, ingest_table):
            print("\n".join(table(store, size)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
