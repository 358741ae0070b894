"""Lago's JSON conventions: timestamps, decimals as strings, pagination meta."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from meterly.domain.money import decimal_str


def iso(value: datetime | None) -> str | None:
    """`2024-01-15T10:00:00Z`: UTC, whole seconds."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def iso_ms(value: datetime | None) -> str | None:
    """`2024-01-15T10:00:00.000Z`: event timestamps and started_at carry milliseconds."""
    if value is None:
        return None
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def iso_date(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if not isinstance(value, datetime) else value.date().isoformat()


def dec(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


def pagination_meta(*, page: int, per_page: int, total_count: int) -> dict[str, Any]:
    if total_count == 0:
        return {
            "current_page": 0,
            "next_page": None,
            "prev_page": None,
            "total_pages": 0,
            "total_count": 0,
        }
    total_pages = math.ceil(total_count / per_page)
    return {
        "current_page": page,
        "next_page": page + 1 if page < total_pages else None,
        "prev_page": page - 1 if page > 1 else None,
        "total_pages": total_pages,
        "total_count": total_count,
    }
