"""POST /billable_metrics/evaluate_expression: the value ingestion would store, nothing saved."""

from __future__ import annotations

from typing import Any

import pytest


def evaluate(api: Any, expression: str, event: dict[str, Any]) -> Any:
    return api.post(
        "billable_metrics/evaluate_expression", {"expression": expression, "event": event}
    )


def test_arithmetic_is_exact_and_rounds_half_up(api: Any) -> None:
    answer = evaluate(
        api,
        "round(event.properties.price * event.properties.qty, 2)",
        {"code": "storage", "properties": {"price": "0.125", "qty": 3}},
    )
    assert answer.status_code == 200, answer.text
    # 0.125 x 3 = 0.375, rounded half up to 2 places = 0.38
    assert answer.json() == {"expression_result": {"value": "0.38"}}


def test_the_timestamp_is_in_epoch_seconds(api: Any) -> None:
    answer = evaluate(
        api,
        "(event.properties.ended_at - event.timestamp) / 60",
        {"code": "compute", "timestamp": 1_700_000_000, "properties": {"ended_at": 1_700_000_300}},
    )
    # (1,700,000,300 - 1,700,000,000) / 60 = 300 / 60 = 5
    assert answer.status_code == 200, answer.text
    assert answer.json()["expression_result"]["value"] in ("5", "5.0")


def test_concat_gives_text(api: Any) -> None:
    answer = evaluate(
        api,
        "concat(event.code, '-', event.properties.region)",
        {"code": "gb", "properties": {"region": "eu"}},
    )
    assert answer.json() == {"expression_result": {"value": "gb-eu"}}


@pytest.mark.parametrize(
    ("expression", "event", "field", "code"),
    [
        ("round(", {"code": "x", "properties": {}}, "expression", "invalid_expression"),
        (
            "event.properties.missing * 2",
            {"code": "x", "properties": {}},
            "event.properties",
            "invalid_expression_evaluation",
        ),
        ("", {"code": "x", "properties": {}}, "expression", "value_is_mandatory"),
        (
            "1",
            {"code": "x", "timestamp": "soon", "properties": {}},
            "event.timestamp",
            "invalid_format",
        ),
    ],
)
def test_bad_input_is_422(
    api: Any, expression: str, event: dict[str, Any], field: str, code: str
) -> None:
    answer = evaluate(api, expression, event)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error_details"] == {field: [code]}


def test_without_an_event_is_400(api: Any) -> None:
    assert api.post("billable_metrics/evaluate_expression", {"expression": "1"}).status_code == 400
