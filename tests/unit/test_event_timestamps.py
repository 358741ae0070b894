"""Event timestamps: the quick path for common shapes agrees with exact decimal arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from meterly.api.wire import iso, iso_ms
from meterly.services.metering.ingest import parse_timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def exact(text: str) -> datetime:
    """The reference: Decimal seconds, microseconds rounded half-even."""
    number = Decimal(text)
    seconds = int(number)
    micros = int(((number - seconds) * 1_000_000).to_integral_value())
    return EPOCH + timedelta(seconds=seconds, microseconds=micros)


@given(
    seconds=st.integers(min_value=0, max_value=253_402_300_799),  # to 9999-12-31
    fraction=st.text(alphabet="0123456789", min_size=0, max_size=9),
)
def test_numeric_strings_parse_exactly(seconds: int, fraction: str) -> None:
    text = f"{seconds}.{fraction}" if fraction else str(seconds)
    assert parse_timestamp(text) == exact(text)


@given(st.integers(min_value=0, max_value=253_402_300_799))
def test_integers_parse_exactly(seconds: int) -> None:
    assert parse_timestamp(seconds) == EPOCH + timedelta(seconds=seconds)


def test_other_shapes_still_parse_or_fail_as_before() -> None:
    assert parse_timestamp("-5") == EPOCH - timedelta(seconds=5)
    assert parse_timestamp(" 12 ") == EPOCH + timedelta(seconds=12)
    assert parse_timestamp(1705312800.25) == datetime(2024, 1, 15, 10, 0, 0, 250000, tzinfo=UTC)
    for bad in ("", "abc", "2024-01-15T10:00:00Z", "²", "1.2.3", True, None, "nan"):
        assert parse_timestamp(bad) is None, bad
    assert parse_timestamp("99999999999999999999") is None


@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)))
def test_wire_instants_truncate_like_lago(moment: datetime) -> None:
    assert iso(moment) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert iso_ms(moment) == expected
