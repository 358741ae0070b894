"""The benchmark suite's smallest configuration, end to end, so bench/ does not rot.

No timing assertions: only that every benchmark runs against the real server and command
line, and that its own checks (every acknowledged event stored once, the API's event
counts, one invoice per subscription) hold.
"""

from __future__ import annotations

from pathlib import Path

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
