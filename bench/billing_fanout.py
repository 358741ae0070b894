"""Fixed cost per invoice: `meterly bill` over many subscriptions with no events, one and
two worker processes sharing the run, on PostgreSQL.

    python -m bench.billing_fanout --subscriptions 10000 --repeat 3

The catalogue (ten metrics, one plan charging each) and one customer with its subscription
go through the API; the other customers and subscriptions are copies of those rows made in
SQL (100,000 through the API would take longer than the runs measured). Each repetition
bills a fresh copy of that database (CREATE DATABASE ... TEMPLATE).

Raw baseline: copying every row the run wrote (invoices, their period keys, fees, the
webhook outbox) into empty tables of the same shape with one INSERT ... SELECT each, in
one transaction: the floor for writing that output set-based.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import catalogue, data, server
from bench.databases import ORG_NAME, Database, _fields, meterly
from bench.environment import DEFAULT_POSTGRES_URL, Postgres
from bench.report import Table
from bench.server import serve
from bench.stats import Sample, num, pct, ratio

# The tables a run writes, in the order the raw copy inserts them.
WRITTEN = ("invoices", "invoice_subscriptions", "fees", "webhooks")


@dataclass(frozen=True)
class Billing:
    seconds: float
    max_rss_mib: float
    invoices: int
    errors: int


def _bill_process(url: str, events_url: str | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METERLY_")}
    env["METERLY_FROZEN_TIME"] = data.BILL_AS_OF
    if events_url:
        env["METERLY_EVENTS_URL"] = events_url
    args = [sys.executable, "-m", "meterly.cli", "bill", "--as-of", data.BILL_AS_OF]
    return subprocess.Popen(
        [*args, "--database-url", url], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def bill(url: str, workers: int, *, events_url: str | None = None) -> Billing:
    """`workers` `meterly bill` processes started together on one database (and event store,
    when `events_url` is given): wall time until the last exits, the largest peak RSS among
    them, invoices issued by all."""
    started = time.perf_counter()
    processes = [_bill_process(url, events_url) for _ in range(workers)]
    invoices = errors = 0
    rss = 0.0
    for process in processes:
        assert process.stdout is not None
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        fields = dict(line.split("\t", 1) for line in output.splitlines() if line.count("\t") == 1)
        if os.waitstatus_to_exitcode(status) != 0 and not fields.get("errors"):
            raise RuntimeError(f"meterly bill failed:\n{output[-2000:]}")
        invoices += int(fields.get("invoices issued", "0"))
        errors += int(fields.get("errors", "0"))
        rss = max(rss, usage.ru_maxrss / 1024)
    return Billing(time.perf_counter() - started, rss, invoices, errors)


def raw_copy(pg: Postgres, name: str) -> float:
    """Seconds to copy every row the run wrote into empty look-alike tables, set-based."""
    conn: Any = pg.connect(name)
    try:
        conn.autocommit = False
        for table in WRITTEN:
            conn.execute(f"CREATE TEMP TABLE raw_{table} (LIKE {table} INCLUDING DEFAULTS)")
        conn.commit()
        started = time.perf_counter()
        for table in WRITTEN:
            conn.execute(f"INSERT INTO raw_{table} SELECT * FROM {table}")
        conn.commit()
        return time.perf_counter() - started
    finally:
        conn.close()


def _columns(conn: Any, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _clone(conn: Any, table: str, key: str, template_id: str, count: int) -> None:
    """`count` - 1 copies of one row of `table`, each tied to the n-th copied customer."""
    exprs = []
    for column in _columns(conn, table):
        if column == "id":
            expr = f"md5('{table}' || g)::uuid::text"
        elif column == "customer_id":
            expr = "md5('customers' || g)::uuid::text"
        elif column == "subscription_id":
            expr = "md5('subscriptions' || g)::uuid::text"
        elif column == "external_id" or column == "external_customer_id":
            expr = f"{column} || '_' || g"
        elif column == "sequential_id":
            expr = f"{column} + g"
        else:
            expr = column
        exprs.append(expr)
    cols = ", ".join(_columns(conn, table))
    conn.execute(
        f"INSERT INTO {table} ({cols}) SELECT {', '.join(exprs)} FROM {table}, "
        f"generate_series(1, {count - 1}) AS g WHERE {key} = %s",
        (template_id,),
    )


def prepare(pg: Postgres, subscriptions: int, work: Path) -> str:
    """A template database: schema, organization, catalogue, `subscriptions` subscriptions."""
    name = pg.create()
    try:
        _fill(pg, name, subscriptions, work)
    except BaseException:
        pg.drop(name)
        raise
    return name


def _fill(pg: Postgres, name: str, subscriptions: int, work: Path) -> None:
    api_key = f"bench_{uuid.uuid4().hex}"
    db = Database("postgres", pg.url(name), "", api_key, name=name)
    meterly("db", "upgrade", "--database-url", db.url)
    out = meterly("org", "create", ORG_NAME, "--api-key", api_key, "--database-url", db.url)
    db.organization_id = _fields(out)["organization"]
    with (
        serve(db, log_dir=work, frozen_time=data.SERVER_NOW) as running,
        running.client() as client,
    ):
        catalogue.create_catalogue(client)
        catalogue.subscribe(client, ["sub_fanout"])
    conn: Any = pg.connect(name)
    try:
        sub_id, customer_id = conn.execute(
            "SELECT id, customer_id FROM subscriptions WHERE external_id = 'sub_fanout'"
        ).fetchone()
        _clone(conn, "customers", "id", customer_id, subscriptions)
        _clone(conn, "subscriptions", "id", sub_id, subscriptions)
        conn.execute("ANALYZE")
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.billing_fanout")
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("METERLY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    parser.add_argument("--work-dir", default="/tmp")
    args = parser.parse_args(argv)
    pg = Postgres(args.postgres_url)
    work = Path(args.work_dir)
    # On a loaded machine the server's start-up can outlast the default minute.
    server.STARTUP_TIMEOUT = 600.0
    template = prepare(pg, args.subscriptions, work)
    table = Table(
        f"Fixed cost per invoice: `meterly bill --as-of {data.BILL_AS_OF}`, "
        f"{args.subscriptions:,} subscriptions x 10 metrics, no events, PostgreSQL",
        [
            "worker processes",
            "wall s median (min-max)",
            "spread",
            "ms per invoice",
            "x one worker",
            "peak RSS MiB (max)",
            "raw copy ms per invoice",
            "x raw",
        ],
    )
    one_worker: float | None = None
    try:
        for workers in [int(w) for w in args.workers.split(",")]:
            runs, raws = [], []
            for _ in range(args.repeat):
                name = pg.create(template=template)
                try:
                    result = bill(pg.url(name), workers)
                    raws.append(raw_copy(pg, name))
                finally:
                    pg.drop(name)
                print(
                    f"{workers} worker(s): {result.seconds:.1f} s, {result.invoices} invoices, "
                    f"{result.errors} errors, {result.max_rss_mib:.0f} MiB",
                    file=sys.stderr,
                )
                if result.invoices != args.subscriptions or result.errors:
                    raise RuntimeError(f"expected {args.subscriptions} invoices: {result}")
                runs.append(result)
            wall = Sample.of([r.seconds for r in runs])
            raw = Sample.of(raws)
            per_invoice = 1000 * wall.median / args.subscriptions
            one_worker = one_worker or per_invoice
            table.rows.append(
                [
                    str(workers),
                    wall.median_and_range(1),
                    pct(wall.spread),
                    num(per_invoice, 2),
                    f"{one_worker / per_invoice:.2f}",
                    num(max(r.max_rss_mib for r in runs)),
                    num(1000 * raw.median / args.subscriptions, 3),
                    f"{ratio(wall.median, raw.median):.1f}",
                ]
            )
    finally:
        pg.drop(template)
    table.notes += [
        "wall: every `meterly bill` child process started together, until the last exits "
        "(start-up and imports included); ms per invoice: wall / invoices; x one worker: "
        "throughput relative to the one-process row",
        "raw copy: INSERT ... SELECT of every invoice, period key, fee and outbox row the "
        "run wrote into empty tables of the same shape, one transaction",
    ]
    print(table.markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
