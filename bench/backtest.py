"""Backtest benchmark: `meterly backtest` over a year of monthly billing on PostgreSQL.

    python -m bench.backtest            # 1,000 subscriptions x 12 months, 250k and 1M events
    python -m bench.backtest --quick    # 100 subscriptions x 12 months, 20k and 100k events

For each size a throwaway PostgreSQL database gets the schema, one organization, two
metrics (a sum and a count), plan `pro` (10.00 a month, standard charges) and the
subscriptions, all through the API (in process); the events are COPYed in, spread over
2024; the billing run bills each month end (twelve runs). Then `meterly backtest` re-prices
the year under a candidate plan (graduated charges), as a child process: wall time and its
peak RSS (`ru_maxrss` via `os.wait4`). The raw baseline is one SQL statement reading the
same aggregates the candidate needs, grouped by subscription and month. Every figure is a
median over the repetitions with min-max and spread; nothing asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.stats import Sample, num, pct, ratio

YEAR = datetime(2024, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2025, 1, 1, tzinfo=UTC)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"

_RAW = """
SELECT external_subscription_id, date_trunc('month', timestamp) AS month, code,
       count(*), sum((properties ->> 'value')::numeric)
FROM events WHERE organization_id = %(org)s AND timestamp >= %(start)s AND timestamp < %(end)s
GROUP BY 1, 2, 3
"""


@dataclass(frozen=True)
class Mode:
    subscriptions: int
    sizes: tuple[int, ...]
    repeat: int


MODES = {
    "quick": Mode(100, (20_000, 100_000), 2),
    "full": Mode(1_000, (250_000, 1_000_000), 3),
}


def _month_starts() -> list[datetime]:
    return [datetime(2024, m, 1, tzinfo=UTC) for m in range(1, 13)] + [YEAR_END]


def _create_database(admin_url: str) -> tuple[str, str]:
    name = f"meterly_bench_backtest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rsplit("/", 1)[0] + f"/{name}"


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _catalogue(url: str, subscriptions: int) -> tuple[str, dict[str, Any]]:
    """Schema, organization, metrics, plan and subscriptions through the API, then a
    year of monthly billing is left to `_bill_year`. Returns (organization id, candidate)."""
    from fastapi.testclient import TestClient

    from meterly.api.app import create_app
    from meterly.config import Settings
    from meterly.services.accounts import create_organization
    from meterly.services.common import FrozenClock
    from meterly.store.engine import create_engine
    from meterly.store.schema import upgrade
    from meterly.store.uow import Database

    clock = FrozenClock(YEAR)
    database = Database(create_engine(url))
    upgrade(database.engine)
    with database.unit_of_work() as session:
        org, key = create_organization(session, name="Bench", clock=clock)
        org_id, secret = org.id, key.secret
    app = create_app(Settings(database_url=url), database=database, clock=clock)
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app) as client:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            res = client.post(f"/api/v1/{path}", json=body, headers=headers)
            assert res.status_code == 200, res.text
            answer: dict[str, Any] = res.json()
            return answer

        metrics = [
            post(
                "billable_metrics",
                {"billable_metric": {"name": "Storage", "code": "gb", "aggregation_type":
                                     "sum_agg", "field_name": "value"}},
            )["billable_metric"]["lago_id"],
            post(
                "billable_metrics",
                {"billable_metric": {"name": "Calls", "code": "calls",
                                     "aggregation_type": "count_agg"}},
            )["billable_metric"]["lago_id"],
        ]  # fmt: skip
        post(
            "plans",
            {
                "plan": {
                    "name": "Pro",
                    "code": "pro",
                    "interval": "monthly",
                    "amount_cents": 1000,
                    "amount_currency": "USD",
                    "charges": [
                        {"billable_metric_id": metrics[0], "charge_model": "standard",
                         "properties": {"amount": "0.01"}},
                        {"billable_metric_id": metrics[1], "charge_model": "package",
                         "properties": {"amount": "1", "package_size": 100, "free_units": 0}},
                    ],
                }
            },
        )  # fmt: skip
        for i in range(subscriptions):
            post("customers", {"customer": {"external_id": f"cust_{i:04d}", "currency": "USD"}})
            post(
                "subscriptions",
                {
                    "subscription": {
                        "external_customer_id": f"cust_{i:04d}",
                        "plan_code": "pro",
                        "external_id": f"sub_{i:04d}",
                        "subscription_at": "2024-01-01T00:00:00Z",
                    }
                },
            )
    database.engine.dispose()
    tiers = [
        {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 1001, "to_value": None, "per_unit_amount": "0.02", "flat_amount": "0"},
    ]
    candidate = {
        "plan": {
            "code": "pro",
            "name": "Pro 2025",
            "amount_cents": 1500,
            "charges": [
                {"billable_metric_id": metrics[0], "charge_model": "graduated",
                 "properties": {"graduated_ranges": tiers}},
                {"billable_metric_id": metrics[1], "charge_model": "standard",
                 "properties": {"amount": "0.005"}},
            ],
        }
    }  # fmt: skip
    return org_id, candidate


def _load_events(url: str, org_id: str, count: int, subscriptions: int) -> float:
    """COPY `count` events spread uniformly over 2024 (both metrics, every subscription)."""
    rng = random.Random(18)
    span = int((YEAR_END - YEAR).total_seconds()) - 3600
    started = time.perf_counter()
    columns = "organization_id, transaction_id, external_subscription_id, code, timestamp, "
    columns += "properties, lago_id, created_at"
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
            for i in range(count):
                when = (YEAR + timedelta(seconds=rng.randrange(span))).isoformat()
                copy.write_row(
                    (
                        org_id,
                        f"tx{i:09d}",
                        f"sub_{rng.randrange(subscriptions):04d}",
                        "gb" if i % 2 else "calls",
                        when,
                        json.dumps({"value": round(rng.random() * 100, 2)}),
                        str(uuid.uuid4()),
                        when,
                    )
                )
        conn.execute("ANALYZE events")
    return time.perf_counter() - started


def _bill_year(url: str) -> float:
    from meterly.services import runs
    from meterly.services.common import FrozenClock
    from meterly.store.engine import create_engine
    from meterly.store.uow import Database

    database = Database(create_engine(url))
    started = time.perf_counter()
    for boundary in _month_starts()[1:]:
        as_of = boundary + timedelta(hours=1)
        runs.run(database, as_of=as_of, clock=FrozenClock(as_of))
    database.engine.dispose()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_mib: float
    output: str


def _backtest(url: str, org_id: str, candidate: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERLY_")}
    args = [sys.executable, "-m", "meterly.cli", "backtest", "--plan", str(candidate)]
    args += ["--from", "2024-01-01", "--to", "2025-01-01", "--org", org_id]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*args, "--database-url", url], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"meterly backtest failed:\n{output}")
    return Run(seconds, usage.ru_maxrss / 1024, output)


def _raw(url: str, org_id: str) -> float:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute(_RAW, {"org": org_id, "start": YEAR, "end": YEAR_END}).fetchall()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("METERLY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--sizes", help="Event counts, comma-separated (default: the mode's).")
    parser.add_argument("--repeat", type=int, help="Repetitions (default: the mode's).")
    parser.add_argument("--keep", action="store_true", help="Keep the last database (profiling).")
    options = parser.parse_args()
    mode = MODES["quick" if options.quick else "full"]
    if options.sizes:
        sizes = tuple(int(size.replace("_", "")) for size in options.sizes.split(","))
        mode = Mode(mode.subscriptions, sizes, mode.repeat)
    if options.repeat:
        mode = Mode(mode.subscriptions, mode.sizes, options.repeat)
    rows: list[list[str]] = []
    summary = ""
    for size in mode.sizes:
        name, url = _create_database(options.postgres_url)
        try:
            org_id, candidate = _catalogue(url, mode.subscriptions)
            loaded = _load_events(url, org_id, size, mode.subscriptions)
            billed = _bill_year(url)
            print(
                f"# {size:,} events: loaded in {loaded:.1f} s, 12 months billed in {billed:.1f} s",
                file=sys.stderr,
            )
            with tempfile.TemporaryDirectory() as work:
                path = Path(work) / "candidate.json"
                path.write_text(json.dumps(candidate))
                _raw(url, org_id)  # warm-up
                raws = Sample.of([_raw(url, org_id) for _ in range(mode.repeat)])
                results = [_backtest(url, org_id, path) for _ in range(mode.repeat)]
        finally:
            if options.keep and size == mode.sizes[-1]:
                print(f"# kept {url} (organization {org_id})", file=sys.stderr)
            else:
                _drop_database(options.postgres_url, name)
        wall = Sample.of([r.seconds for r in results])
        periods = mode.subscriptions * 12
        summary = results[-1].output.strip().splitlines()[-1]
        rows.append(
            [
                f"postgres, {mode.subscriptions:,} subs x 12 months, {size:,} events",
                wall.median_and_range(1),
                pct(wall.spread),
                num(periods / wall.median),
                num(max(r.max_rss_mib for r in results)),
                f"{raws.median:.2f}",
                f"{ratio(wall.median, raws.median):.1f}",
            ]
        )
    headers = [
        "backend / size",
        "wall s median (min-max)",
        "spread",
        "periods/s",
        "peak RSS MiB",
        "raw s",
        "x raw",
    ]
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(
        "wall: the whole `meterly backtest` child process (start-up, imports, the candidate, "
        "the re-pricing, the tables); peak RSS: its ru_maxrss (os.wait4). raw: one statement "
        "counting and summing each subscription's events per month over the year. "
        f"Target: <= 60 s for 1,000 subscriptions x 12 months x 1M events. Last run: {summary}"
    )


if __name__ == "__main__":
    main()
