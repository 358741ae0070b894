"""Benchmark 1: ingestion through HTTP, against executemany insert-or-ignore in the same run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from bench import data
from bench.config import Config
from bench.databases import Database, Databases
from bench.loadgen import Job, compare_clients, run_load
from bench.report import Report, Table, Verdict
from bench.server import serve
from bench.stats import Sample, num, pct, ratio

SUBSCRIPTIONS = tuple(f"sub_{i:04d}" for i in range(1000))


@dataclass(frozen=True)
class IngestFigures:
    backend: str
    batch: Sample | None
    single: Sample | None
    raw_batch: Sample | None
    raw_single: Sample | None
    failed: int
    exactly_once: bool


def _events(count: int, seed: int) -> list[data.Event]:
    return list(data.generate(count, seed=seed, subscriptions=SUBSCRIPTIONS))


def _jobs(events: Sequence[data.Event], per_request: int) -> list[Job]:
    jobs = []
    for start in range(0, len(events), per_request):
        chunk = events[start : start + per_request]
        if per_request == 1:
            body = orjson.dumps({"event": chunk[0].api_body()})
        else:
            body = orjson.dumps({"events": [e.api_body() for e in chunk]})
        jobs.append(Job(body, len(chunk), tuple(e.transaction_id for e in chunk)))
    return jobs


# --- raw baseline --------------------------------------------------------------------------


def raw_insert(db: Database, events: Sequence[data.Event], batch: int) -> float:
    """Events/s of executemany insert-or-ignore, one transaction per batch (rows made first)."""
    rows = [data.row("org_raw", e, postgres=db.postgres) for e in events]
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    columns = ", ".join(data.EVENT_COLUMNS)
    conflict = " ON CONFLICT (organization_id, transaction_id, external_subscription_id) DO NOTHING"
    conn = db.raw()
    try:
        if db.postgres:
            statement = f"INSERT INTO events ({columns}) VALUES ({', '.join(['%s'] * 9)})"
            conn.execute("CHECKPOINT")
            started = time.perf_counter()
            for chunk in batches:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(statement + conflict, chunk)
        else:
            statement = f"INSERT INTO events ({columns}) VALUES ({', '.join(['?'] * 9)})"
            started = time.perf_counter()
            for chunk in batches:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(statement + conflict, chunk)
                conn.execute("COMMIT")
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    return len(rows) / seconds


def _raw_sample(
    dbs: Databases, backend: str, count: int, batch: int, cfg: Config, seed: int
) -> Sample:
    values = []
    for rep in range(cfg.repeat):
        db = dbs.empty_events_table(backend)
        try:
            values.append(raw_insert(db, _events(count, seed + rep), batch))
        finally:
            dbs.discard(db)
    return Sample.of(values)


# --- through HTTP --------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRun:
    events_per_s: float
    failed: int
    acknowledged: int
    stored: int
    distinct: int
    missing: int
    server_cpu_share: float
    client_cpu_share: float
    p50_ms: float
    error: str


def http_run(
    dbs: Databases, backend: str, jobs: list[Job], cfg: Config, report: Report, *, check: bool
) -> HttpRun:
    db = dbs.clone(backend)
    try:
        with serve(db, log_dir=dbs.work, workers=cfg.workers) as server:
            warm = _jobs(_events(cfg.concurrency, seed=99_000 + len(jobs)), 1)
            warm_result = run_load(
                server.host, server.port, db.api_key, "/api/v1/events", warm, cfg.concurrency
            )
            if check and not _CLIENT_COST:
                raw, via_httpx = compare_clients(server.host, server.port, 640, cfg.concurrency)
                report.log(
                    f"client CPU per GET /health: raw {raw * 1e6:.0f} us, "
                    f"httpx {via_httpx * 1e6:.0f} us"
                )
                _CLIENT_COST[backend] = (raw, via_httpx)
            path = "/api/v1/events/batch" if jobs[0].events > 1 else "/api/v1/events"
            cpu = server.cpu_seconds()
            result = run_load(server.host, server.port, db.api_key, path, jobs, cfg.concurrency)
            server_cpu = server.cpu_seconds() - cpu
        acknowledged = set(result.acknowledged) | set(warm_result.acknowledged)
        stored, distinct = db.count_events()
        missing = len(acknowledged - db.stored_keys())
        latencies = sorted(result.latencies)
        return HttpRun(
            events_per_s=result.events_ok / result.seconds,
            failed=result.failed + warm_result.failed,
            acknowledged=len(result.acknowledged) + len(warm_result.acknowledged),
            stored=stored,
            distinct=distinct,
            missing=missing,
            server_cpu_share=server_cpu / result.seconds,
            client_cpu_share=result.client_cpu / result.seconds,
            p50_ms=latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
            error=result.first_error or warm_result.first_error,
        )
    finally:
        dbs.discard(db)


_CLIENT_COST: dict[str, tuple[float, float]] = {}


def _http_sample(
    dbs: Databases, backend: str, per_request: int, requests: int, cfg: Config, report: Report
) -> list[HttpRun]:
    runs = []
    for rep in range(cfg.repeat):
        jobs = _jobs(_events(requests * per_request, seed=1_000 * per_request + rep), per_request)
        run = http_run(dbs, backend, jobs, cfg, report, check=(rep == 0 and per_request == 1))
        report.log(
            f"{backend} {per_request}/request rep {rep + 1}: {run.events_per_s:,.0f} events/s, "
            f"{run.failed} failed, stored {run.stored}/{run.acknowledged}"
        )
        runs.append(run)
    return runs


def _exact(runs: list[HttpRun]) -> tuple[bool, str]:
    ok = all(r.stored == r.acknowledged == r.distinct and r.missing == 0 for r in runs)
    stored = sum(r.stored for r in runs)
    acked = sum(r.acknowledged for r in runs)
    text = f"{'yes' if ok else 'NO'}: {stored:,} stored / {acked:,} acknowledged"
    if any(r.missing for r in runs):
        text += f", {sum(r.missing for r in runs)} acknowledged but missing"
    return ok, text


def run(report: Report, dbs: Databases, backends: Sequence[str], cfg: Config) -> None:
    table = Table(
        f"1. Ingestion through HTTP ({cfg.concurrency} concurrent clients, "
        f"{cfg.workers} server worker(s), loopback)",
        [
            "backend / variant",
            "events/s median (min-max)",
            "spread",
            "x raw (same run)",
            "failed requests",
            "stored exactly once",
            "p50 latency ms",
            "CPU server / client",
        ],
    )
    figures: list[IngestFigures] = []
    for backend in backends:
        batch_events = cfg.batch_requests * 100
        raw100 = _raw_sample(dbs, backend, batch_events, 100, cfg, seed=10)
        raw10k = _raw_sample(dbs, backend, max(batch_events, 10_000), 10_000, cfg, seed=20)
        raw1 = _raw_sample(dbs, backend, cfg.single_requests, 1, cfg, seed=30)
        batch = _http_sample(dbs, backend, 100, cfg.batch_requests, cfg, report)
        single = _http_sample(dbs, backend, 1, cfg.single_requests, cfg, report)
        batch_s = Sample.of([r.events_per_s for r in batch])
        single_s = Sample.of([r.events_per_s for r in single])
        for label, raw_sample in (
            ("raw executemany insert-or-ignore, 100/commit", raw100),
            ("raw executemany insert-or-ignore, 10k/commit", raw10k),
            ("raw insert-or-ignore, 1/commit", raw1),
        ):
            table.rows.append(
                [
                    f"{backend}: {label}",
                    raw_sample.median_and_range(),
                    pct(raw_sample.spread),
                    "1.00",
                    "-",
                    "-",
                    "-",
                    "1 core",
                ]
            )
        for label, runs, sample, anchor, anchor_name in (
            ("HTTP batches of 100", batch, batch_s, raw100, "100/commit"),
            ("HTTP single events", single, single_s, raw1, "1/commit"),
        ):
            _, exact_text = _exact(runs)
            extra = ""
            if anchor is raw100:
                extra = f"; {ratio(sample.median, raw10k.median):.2f} x 10k/commit"
            failed = sum(r.failed for r in runs)
            table.rows.append(
                [
                    f"**{backend}: {label}**",
                    sample.median_and_range(),
                    pct(sample.spread),
                    f"{ratio(sample.median, anchor.median):.2f} x {anchor_name}{extra}",
                    str(failed),
                    exact_text,
                    num(Sample.of([r.p50_ms for r in runs]).median, 1),
                    f"{Sample.of([r.server_cpu_share for r in runs]).median:.2f} / "
                    f"{Sample.of([r.client_cpu_share for r in runs]).median:.2f}",
                ]
            )
            errors = [r.error for r in runs if r.error]
            if errors:
                table.notes.append(f"{backend} {label}: first failure {errors[0]}")
        ok_b, _ = _exact(batch)
        ok_s, _ = _exact(single)
        figures.append(
            IngestFigures(
                backend,
                batch_s,
                single_s,
                raw100,
                raw1,
                sum(r.failed for r in batch + single),
                ok_b and ok_s,
            )
        )
    for backend, (raw_cost, httpx_cost) in _CLIENT_COST.items():
        table.notes.append(
            f"load generator: a raw asyncio HTTP/1.1 client; client CPU per request measured on "
            f"GET /health ({backend} server): raw {raw_cost * 1e6:.0f} us vs httpx.AsyncClient "
            f"{httpx_cost * 1e6:.0f} us, so httpx would spend the second core on itself"
        )
    table.notes += [
        "x raw: HTTP batches against raw executemany in batches of 100 with one commit each "
        "(the unit of work of one request), also against 10k/commit as in "
        "reference/baselines.md; single events against raw 1 event per commit",
        "raw rows are materialised before the timer; every figure starts from a fresh database "
        "(HTTP: schema + organization; raw: `events` with its two indexes from "
        "meterly.store.tables.metadata); the events of the HTTP warm-up count in the stored check",
        "stored exactly once: after each repetition count(*) = count(distinct idempotency key) "
        "= events acknowledged with 200, and every acknowledged transaction_id is in the table",
        "CPU: cores used by the server process(es) and by the load generator during the run "
        "(1.00 = one core busy); the machine has 2",
    ]
    report.add(table)
    _verdicts(report, figures)


def _verdicts(report: Report, figures: list[IngestFigures]) -> None:
    for f in figures:
        if f.batch is None or f.raw_batch is None:
            continue
        r = ratio(f.batch.median, f.raw_batch.median)
        if f.backend == "postgres":
            report.verdicts.append(
                Verdict(
                    "batch ingestion, PostgreSQL",
                    f"{num(f.batch.median)} events/s, {r:.2f} x raw",
                    ">= 35,000 events/s and >= 0.7 x raw",
                    f.batch.median >= 35_000 and r >= 0.7,
                )
            )
            if f.single is not None:
                report.verdicts.append(
                    Verdict(
                        "single-event ingestion, 64 clients, PostgreSQL",
                        f"{num(f.single.median)} events/s",
                        ">= 5,000 events/s",
                        f.single.median >= 5_000,
                    )
                )
        else:
            report.verdicts.append(
                Verdict(
                    "batch ingestion, SQLite",
                    f"{num(f.batch.median)} events/s, {r:.2f} x raw",
                    ">= 0.7 x raw",
                    r >= 0.7,
                )
            )
        report.verdicts.append(
            Verdict(
                f"ingestion {f.backend}: failed requests, exactly once",
                f"{f.failed} failed, {'exactly once' if f.exactly_once else 'MISMATCH'}",
                "0 failed, every acknowledged event stored once",
                f.failed == 0 and f.exactly_once,
            )
        )
