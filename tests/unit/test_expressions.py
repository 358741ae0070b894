"""Lago's metric expressions: exact arithmetic, functions, variables and every error."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meterly.domain.expressions import EventContext, ExpressionError, parse_expression


def evaluate(source: str, **properties: object) -> object:
    ctx = EventContext(code="api_calls", timestamp=Decimal("1705312800"), properties=properties)
    return parse_expression(source).evaluate(ctx)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", Decimal(7)),
        ("(1 + 2) * 3", Decimal(9)),
        ("10 / 4", Decimal("2.5")),
        ("-3 + 1", Decimal(-2)),
        ("--3", Decimal(3)),
        ("0.1 + 0.2", Decimal("0.3")),
        ("7 - 2 - 1", Decimal(4)),
    ],
)
def test_arithmetic_is_exact_decimal(source: str, expected: Decimal) -> None:
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("round(2.5)", Decimal(3)),
        ("round(1.005, 2)", Decimal("1.01")),
        ("ceil(1.001, 2)", Decimal("1.01")),
        ("floor(1.999, 1)", Decimal("1.9")),
        ("ceil(-1.5)", Decimal(-1)),
        ("floor(-1.5)", Decimal(-2)),
        ("round(1234, -2)", Decimal("1.2E+3")),
    ],
)
def test_rounding_functions(source: str, expected: Decimal) -> None:
    assert evaluate(source) == expected


def test_properties_code_and_timestamp() -> None:
    assert evaluate("event.properties.price * event.properties.qty", price="1.5", qty=4) == Decimal(
        6
    )
    assert evaluate("event.properties.ratio * 2", ratio=0.25) == Decimal("0.50")
    assert evaluate("event.timestamp + 0") == Decimal(1705312800)
    assert (
        evaluate("concat(event.code, '-', event.properties.region)", region="eu") == "api_calls-eu"
    )
    assert evaluate("concat('n=', 1.50)") == "n=1.50"
    assert evaluate("event.properties.flag", flag=True) == "true"


@pytest.mark.parametrize(
    "source",
    [
        "",
        "1 +",
        "(1 + 2",
        "1 + 2)",
        "foo(1)",
        "round(1, 2, 3)",
        "event.unknown",
        "event.properties.",
        "1 $ 2",
        "round()",
    ],
)
def test_malformed_expressions_are_rejected_at_parse(source: str) -> None:
    with pytest.raises(ExpressionError):
        parse_expression(source)


@pytest.mark.parametrize(
    ("source", "properties"),
    [
        ("event.properties.missing + 1", {}),
        ("event.properties.price + 1", {"price": None}),
        ("event.properties.name * 2", {"name": "abc"}),
        ("1 / 0", {}),
    ],
)
def test_evaluation_errors_are_expression_errors(
    source: str, properties: dict[str, object]
) -> None:
    with pytest.raises(ExpressionError) as raised:
        evaluate(source, **properties)
    assert raised.value.code == "invalid_expression"
