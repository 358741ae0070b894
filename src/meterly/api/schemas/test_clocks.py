"""The test clock object on the wire (a Meterly extension; Lago has none)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.store.tables import TestClock


class TestClockIn(Payload):
    __test__ = False  # a request model, not a pytest class

    name: str | None = None
    frozen_time: datetime | None = None


class TestClockAdvanceIn(Payload):
    __test__ = False

    frozen_time: datetime | None = None


def clock_body(row: TestClock, customers_count: int) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "name": row.name,
        "frozen_time": iso(row.frozen_time),
        "status": row.status,
        "customers_count": customers_count,
        "created_at": iso(row.created_at),
    }
