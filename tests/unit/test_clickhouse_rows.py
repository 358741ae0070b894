"""The row the ClickHouse event store inserts: what `Decimal(76, 30)` holds and the UTC
text of an instant, whatever offset it was sent with (pure functions, no engine)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from meterly.domain.aggregation import numeric_value, property_text
from meterly.store.event_stores.clickhouse import _ch_row
from meterly.store.event_stores.sql import instant_text

MOMENT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _row(value: Any, moment: datetime = MOMENT) -> dict[str, Any]:
    return {
        "organization_id": "org",
        "transaction_id": "t",
        "external_subscription_id": "s",
        "code": "c",
        "timestamp": moment,
        "properties": {"v": value},
        "precise_total_amount_cents": None,
        "lago_id": "l",
        "created_at": moment,
    }


# JSON bodies are parsed by orjson: an integer is 64-bit (a larger one arrives as a float).
integers = st.integers(min_value=-(2**63), max_value=2**64 - 1)


@given(integers | st.booleans())
def test_an_integers_text_and_number_are_the_domains(value: int) -> None:
    converted = _ch_row(_row(value))
    assert converted["properties"] == {"v": property_text(value)}
    number = numeric_value(value)
    # Every 64-bit integer has at most 20 digits: Decimal(76, 30) holds it (46 digits).
    assert converted["numbers"] == ({} if number is None else {"v": str(number)})


def test_a_boolean_is_text_never_a_number() -> None:
    # True is an int in Python but never a number in Lago.
    assert _ch_row(_row(True))["numbers"] == {}
    assert _ch_row(_row(True))["properties"] == {"v": "true"}


def test_an_instant_is_written_in_utc_with_microseconds() -> None:
    # 13:30 at +01:30 is 12:00 UTC; a naive text would be wrong by the offset.
    east = datetime(2024, 3, 1, 13, 30, 0, 5, tzinfo=timezone(timedelta(hours=1, minutes=30)))
    assert instant_text(east) == "2024-03-01 12:00:00.000005"
    assert instant_text(MOMENT) == "2024-03-01 12:00:00.000000"
    # A fixed zero offset that is not the `UTC` object itself.
    assert (
        instant_text(MOMENT.replace(tzinfo=timezone(timedelta(0)))) == "2024-03-01 12:00:00.000000"
    )
    assert Decimal(_ch_row(_row(1))["numbers"]["v"]) == 1
