"""The bounds of api/limits.py, against references written out independently."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterly.api import limits
from meterly.domain.errors import ValidationFailed

BOUND = Decimal("1000000000000000")  # 10^15, written out
QUANTUM = Decimal("0.000000000000001")  # 10^-15, written out


def reference_money_ok(value: Decimal) -> bool:
    """Lago's numeric(30,15)-like column: |x| < 10^15 and exact at 15 fractional digits."""
    if not value.is_finite():
        return False
    if abs(value) >= BOUND:
        return False
    # 15 integer and 15 fractional digits need 30 digits of precision (the default is 28).
    with localcontext(prec=40):
        return value.quantize(QUANTUM) == value


@given(
    st.decimals(allow_nan=True, allow_infinity=True, places=None)
    | st.integers(min_value=-(10**20), max_value=10**20).map(Decimal)
    | st.builds(
        lambda digits, places: Decimal(digits).scaleb(-places),
        st.integers(min_value=-(10**32), max_value=10**32),
        st.integers(min_value=0, max_value=30),
    )
)
def test_money_is_accepted_exactly_when_lagos_column_holds_it(value: Decimal) -> None:
    expected = reference_money_ok(value)
    assert (limits.money_problem(value) is None) == expected


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("999999999999999.999999999999999", True),
        ("-999999999999999", True),
        ("1000000000000000", False),
        ("1e15", False),
        ("1E-15", True),
        ("1E-16", False),
        ("1e999999999999", False),  # no arithmetic on it: no overflow raised
        ("0E-50", True),  # zero, whatever its exponent
        ("NaN", False),
        ("sNaN", False),
        ("-Infinity", False),
    ],
)
def test_money_edges(text: str, ok: bool) -> None:
    assert (limits.money_problem(Decimal(text)) is None) is ok


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_day_counts_run_from_0_to_365(days: int) -> None:
    problem = limits.integer_problem("net_payment_term", Decimal(days))
    if 0 <= days <= 365:
        assert problem is None
    else:
        assert problem in ("value_is_out_of_range", "value_is_invalid")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1970-01-01T00:00:00Z", None),
        ("1970-01-01T01:00:00+01:00", None),  # 00:00 UTC
        ("1970-01-01T00:59:59+01:00", "value_is_out_of_range"),  # 1969-12-31T23:59:59Z
        ("9999-12-31T23:59:59Z", None),
        ("9999-12-31T23:59:59-14:00", "value_is_out_of_range"),  # 10000-01-01T13:59:59Z
        ("9999-12-31", None),
        ("1969-12-31", "value_is_out_of_range"),
        ("2024-01-15T10:00:00", None),  # no offset: read as UTC
        ("not a date", None),  # left to the field's own validation
        ("1705312800", None),  # epoch seconds are not ISO text
    ],
)
def test_instants_fall_in_years_1970_to_9999_in_utc(text: str, problem: str | None) -> None:
    assert limits.instant_problem(text) == problem


@given(st.text(max_size=40))
def test_identifiers_refuse_every_control_character(text: str) -> None:
    has_control = any(ord(c) < 32 or ord(c) == 127 for c in text)
    expected = "value_is_invalid" if has_control else None
    assert limits.string_problem(text, limits.IDENTIFIER) == expected


def test_families_come_from_field_names() -> None:
    assert limits.family("amount_cents") == limits.MONEY
    assert limits.family("paid_credits") == limits.MONEY
    assert limits.family("amount_from") == limits.MONEY
    assert limits.family("value", "thresholds") == limits.MONEY
    assert limits.family("value", "metadata") == limits.TEXT
    assert limits.family("subscription_at") == limits.INSTANT
    assert limits.family("external_customer_id") == limits.IDENTIFIER
    assert limits.family("tax_codes") == limits.IDENTIFIER
    assert limits.family("webhook_url") == limits.URL
    assert limits.family("invoice_display_name") == limits.NAME
    assert limits.family("description") == limits.TEXT


def test_event_properties_keep_their_numbers_but_not_their_nul_bytes() -> None:
    event = {"transaction_id": "t", "properties": {"bytes": 10**20, "amount": "1e400"}}
    limits.check_body({"event": event})  # the client's own data: Lago aggregates it
    with pytest.raises(ValidationFailed) as refused:
        limits.check_body({"event": {**event, "properties": {"x": "\x00"}}})
    assert refused.value.details == {"properties.x": ["value_is_invalid"]}


def test_a_hostile_body_gets_a_bounded_list_of_errors() -> None:
    body = {"customer": {f"f{i}": "\x00" for i in range(1000)}}
    with pytest.raises(ValidationFailed) as refused:
        limits.check_body(body)
    assert len(refused.value.details) == 20
