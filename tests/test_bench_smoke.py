"""The benchmark suite's smallest configuration, end to end, so bench/ does not rot.

No timing assertions: only that every benchmark runs against the real server and command
line, and that its own checks (every acknowledged event stored once, the API's event
counts, one invoice per subscription) hold.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import clickhouse_billing
from bench.runner import main


def test_smallest_bench_configuration_runs_end_to_end(tmp_path: Path) -> None:
    status = main(
        ["--smoke", "--backends", "sqlite", "--output", str(tmp_path), "--work-dir", str(tmp_path)]
    )

    assert status == 0
    [written] = tmp_path.glob("*-smoke.md")
    text = written.read_text()
    titles = ("1. Ingestion through HTTP", "2. Current usage", "3. Billing run", "4. Access check")
    for title in (*titles, "Summary"):
        assert title in text
    assert "CHECK FAILED" not in text
    assert "MISMATCH" not in text


@pytest.mark.chdb
def test_the_billing_run_on_chdb_bench_runs_end_to_end(
    chdb_path: Path, postgres_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its own check: `meterly bill` issues one invoice per subscription, events in chdb."""
    url = postgres_server.replace("postgresql+psycopg", "postgresql")
    status = clickhouse_billing.main(["--smoke", "--postgres-url", url])

    assert status == 0
    assert "| `meterly bill`, whole process (s) |" in capsys.readouterr().out
