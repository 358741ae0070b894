"""Benchmark 2: GET /customers/{id}/current_usage latency."""

from __future__ import annotations

from collections.abc import Sequence

from bench.config import Config
from bench.databases import Databases
from bench.report import Report


def run(report: Report, dbs: Databases, backends: Sequence[str], cfg: Config) -> None:
    pass
