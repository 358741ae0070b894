"""Deterministic events (the shape of reference/baselines.md) and fast loading into `events`.

Event: random 32-hex `transaction_id`, a subscription, a metric code, a timestamp uniform
in the period (January 2024, UTC, microseconds), `properties` {"value": <3 decimals,
0..1000>, "region": <one of 8>, "user": <one of 1,000>}.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

PERIOD_START = datetime(2024, 1, 1, tzinfo=UTC)
PERIOD_END = datetime(2024, 2, 1, tzinfo=UTC)
# Events stay before the server's frozen "now" so current usage sees all of them.
EVENTS_UNTIL = datetime(2024, 1, 31, tzinfo=UTC)
SERVER_NOW = "2024-01-31T12:00:00Z"
BILL_AS_OF = "2024-02-01T00:00:00Z"
REGIONS = ("eu-west", "eu-east", "us-east", "us-west", "ap-south", "ap-north", "sa-east", "af")
CODES = tuple(f"metric_{i}" for i in range(10))
EVENT_COLUMNS = (
    "organization_id",
    "transaction_id",
    "external_subscription_id",
    "code",
    "timestamp",
    "properties",
    "precise_total_amount_cents",
    "lago_id",
    "created_at",
)
_SPAN_US = int((EVENTS_UNTIL - PERIOD_START).total_seconds() * 1_000_000)
_CREATED = "2024-01-31 00:00:00.000000"


@dataclass(frozen=True, slots=True)
class Event:
    transaction_id: str
    subscription: str
    code: str
    micros: int  # since PERIOD_START
    value: float
    region: str
    user: str

    @property
    def timestamp(self) -> datetime:
        return PERIOD_START + timedelta(microseconds=self.micros)

    @property
    def properties(self) -> dict[str, Any]:
        return {"value": self.value, "region": self.region, "user": self.user}

    def api_body(self) -> dict[str, Any]:
        """The event as the Lago client sends it (timestamp: unix seconds, a numeric string)."""
        seconds, micros = divmod(self.micros, 1_000_000)
        unix = int(PERIOD_START.timestamp()) + seconds
        return {
            "transaction_id": self.transaction_id,
            "external_subscription_id": self.subscription,
            "code": self.code,
            "timestamp": f"{unix}.{micros:06d}",
            "properties": self.properties,
        }


def generate(
    count: int, *, seed: int, subscriptions: Sequence[str], codes: Sequence[str] = CODES
) -> Iterator[Event]:
    rng = random.Random(seed)
    for _ in range(count):
        yield Event(
            transaction_id=f"{rng.getrandbits(128):032x}",
            subscription=subscriptions[rng.randrange(len(subscriptions))],
            code=codes[rng.randrange(len(codes))],
            micros=rng.randrange(_SPAN_US),
            value=round(rng.random() * 1000, 3),
            region=REGIONS[rng.randrange(len(REGIONS))],
            user=f"u{rng.randrange(1000):04d}",
        )


def row(organization_id: str, event: Event, *, postgres: bool) -> tuple[Any, ...]:
    """A row of `events` as the store writes it (SQLite: text; PostgreSQL: COPY text)."""
    stamp = event.timestamp
    if postgres:
        when: Any = stamp.isoformat()
        created: Any = "2024-01-31T00:00:00+00:00"
    else:
        when = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
        created = _CREATED
    return (
        organization_id,
        event.transaction_id,
        event.subscription,
        event.code,
        when,
        orjson.dumps(event.properties).decode(),
        None,
        str(uuid.UUID(int=hash((event.transaction_id, 7)) & ((1 << 128) - 1), version=4)),
        created,
    )


def chunks(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
