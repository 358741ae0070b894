"""The event object on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meterly.api.wire import dec, iso, iso_ms


def event(row: Mapping[str, Any], *, created_at: str | None = None) -> dict[str, Any]:
    """`created_at`: the row's, already formatted (a batch shares one reception time)."""
    return {
        "lago_id": row["lago_id"],
        "transaction_id": row["transaction_id"],
        "lago_customer_id": None,
        "code": row["code"],
        "timestamp": iso_ms(row["timestamp"]),
        "precise_total_amount_cents": dec(row.get("precise_total_amount_cents")),
        "properties": row["properties"],
        "lago_subscription_id": None,
        "external_subscription_id": row["external_subscription_id"],
        "created_at": created_at or iso(row["created_at"]),
    }
