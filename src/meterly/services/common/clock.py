"""The only place Meterly reads the wall clock. Everything else is handed a Clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FrozenClock:
    """A clock that shows a fixed instant until told to move (tests, demos, METERLY_FROZEN_TIME)."""

    instant: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.instant

    def advance(self, delta: timedelta) -> None:
        self.instant += delta

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("a clock needs a timezone-aware instant")
        self.instant = instant


def clock_for(frozen_time: datetime | None) -> Clock:
    return FrozenClock(frozen_time) if frozen_time is not None else SystemClock()
