"""Sizes of a run: --quick (a few minutes), full (long), smoke (seconds, for the test)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    mode: str
    repeat: int
    concurrency: int
    batch_requests: int  # 100-event requests per ingestion repetition
    single_requests: int  # one-event requests per ingestion repetition
    usage_sizes: tuple[int, ...]  # events in the period of one subscription
    usage_requests: int  # GET current_usage per round (3 rounds... see usage.py)
    billing_subscriptions: int
    billing_sizes: tuple[int, ...]  # events in the billed period
    workers: int = 1

    @classmethod
    def named(cls, mode: str) -> Config:
        if mode == "full":
            return cls(
                mode, 3, 64, 2_000, 20_000, (10_000, 100_000, 1_000_000), 30, 1_000,
                (1_000_000, 10_000_000),
            )  # fmt: skip
        if mode == "quick":
            return cls(mode, 3, 64, 400, 4_000, (10_000, 100_000), 10, 100, (100_000, 300_000))
        if mode == "smoke":
            return cls(mode, 1, 8, 5, 50, (500,), 3, 3, (600,))
        raise ValueError(f"unknown mode {mode!r}")
