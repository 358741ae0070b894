"""Repetitions and how they are summarised: median, min-max, spread = (max - min) / median."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """The values of one figure over the repetitions of a measurement."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Sample:
        if not values:
            raise ValueError("a sample needs at least one value")
        return cls(tuple(values))

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def spread(self) -> float:
        median = self.median
        return (self.high - self.low) / median if median else 0.0

    def median_and_range(self, digits: int = 0) -> str:
        return f"{num(self.median, digits)} ({num(self.low, digits)}-{num(self.high, digits)})"


def num(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, min(len(ordered), -(-int(fraction * 1000) * len(ordered) // 1000)))
    return ordered[rank - 1]
