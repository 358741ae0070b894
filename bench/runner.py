"""The entry point: parse options, run the benchmarks, print and write the tables."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import billing, entitlements, ingest, usage
from bench.config import Config
from bench.databases import databases
from bench.environment import DEFAULT_POSTGRES_URL, Postgres, machine_lines
from bench.report import Report

RESULTS = Path(__file__).parent / "results"
BENCHMARKS = ("ingest", "usage", "billing", "entitlements")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a run of a few minutes")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (tests)")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="ingest,usage,billing,entitlements"
    )
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("METERLY_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="admin URL of a PostgreSQL server (throwaway databases are created and dropped)",
    )
    parser.add_argument("--repeat", type=int, help="repetitions (default 3)")
    parser.add_argument("--workers", type=int, default=1, help="meterly serve --workers")
    parser.add_argument("--output", type=Path, default=RESULTS, help="directory of the .md")
    parser.add_argument("--work-dir", type=Path, help="where SQLite files go (default: a tmp dir)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = Config.named(mode)
    overrides: dict[str, int] = {"workers": args.workers}
    if args.repeat:
        overrides["repeat"] = args.repeat
    cfg = Config(**{**cfg.__dict__, **overrides})
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    postgres: Postgres | None = None
    if "postgres" in backends:
        postgres = Postgres(args.postgres_url)
        if not postgres.available():
            print(f"PostgreSQL not reachable at {args.postgres_url}: SQLite only")
            backends.remove("postgres")
            postgres = None
    started = time.perf_counter()
    today = datetime.now(UTC).date().isoformat()
    report = Report(f"Meterly benchmarks, {today}, {mode} run")
    report.preamble = machine_lines(postgres)
    report.preamble.append(
        f"* every figure: median (min-max) over {cfg.repeat} repetitions; "
        "spread = (max - min) / median; ratios against the raw operation measured in this run"
    )
    print(report.markdown().split("### ")[0].split("### Summary")[0].rstrip(), flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="meterly_bench_", dir=args.work_dir) as tmp,
        databases(Path(tmp), postgres) as dbs,
    ):
        if "ingest" in only:
            ingest.run(report, dbs, backends, cfg)
        if "usage" in only:
            usage.run(report, dbs, backends, cfg)
        if "billing" in only:
            billing.run(report, dbs, backends, cfg)
        if "entitlements" in only:
            entitlements.run(report, dbs, backends, cfg)
    elapsed = time.perf_counter() - started
    report.preamble.append(f"* the whole run took {elapsed / 60:.1f} minutes")
    summary = report.summary()
    print("\n" + summary.markdown(), flush=True)
    path = args.output / f"{today}-{mode}.md"
    report.write(path)
    print(f"written to {path} ({elapsed / 60:.1f} minutes)")
    return 0
