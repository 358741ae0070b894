"""Event ingestion through HTTP: validation, idempotency, batches all or nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any


def event(tx: str = "tx_1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "transaction_id": tx,
        "external_subscription_id": "sub_1",
        "code": "api_calls",
        "timestamp": "1705312800",
        "precise_total_amount_cents": None,
        "properties": {"gb": 12.5, "region": "eu"},
    }
    body.update(overrides)
    return body


def test_single_event_is_stored_and_echoed_in_lago_shape(api: Any) -> None:
    response = api.post("events", {"event": event()})
    assert response.status_code == 200, response.text
    body = response.json()["event"]
    assert body["timestamp"] == "2024-01-15T10:00:00.000Z"
    assert body["properties"] == {"gb": 12.5, "region": "eu"}
    assert body["lago_subscription_id"] is None
    found = api.get("events/tx_1").json()["event"]
    assert found["lago_id"] == body["lago_id"]


def test_decimal_timestamp_keeps_milliseconds(api: Any) -> None:
    body = api.post("events", {"event": event(timestamp="1705312800.123")}).json()["event"]
    assert body["timestamp"] == "2024-01-15T10:00:00.123Z"


def test_missing_timestamp_takes_reception_time(api: Any) -> None:
    body = api.post("events", {"event": event(timestamp=None)}).json()["event"]
    assert body["timestamp"] == "2024-01-15T12:00:00.000Z"


def test_iso_timestamp_is_invalid_format(api: Any) -> None:
    response = api.post("events", {"event": event(timestamp="2024-01-15T10:00:00Z")})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"timestamp": ["invalid_format"]}


def test_missing_fields_are_mandatory(api: Any) -> None:
    response = api.post("events", {"event": {"code": None, "transaction_id": ""}})
    assert response.status_code == 422
    details = response.json()["error_details"]
    assert details["transaction_id"] == ["value_is_mandatory"]
    assert details["code"] == ["value_is_mandatory"]


def test_duplicate_transaction_id_is_rejected_and_stored_once(api: Any) -> None:
    assert api.post("events", {"event": event()}).status_code == 200
    again = api.post("events", {"event": event(properties={"gb": 99})})
    assert again.status_code == 422
    assert again.json()["error_details"] == {"transaction_id": ["value_already_exist"]}
    assert api.get("events").json()["meta"]["total_count"] == 1
    assert api.get("events/tx_1").json()["event"]["properties"]["gb"] == 12.5


def test_same_transaction_id_on_another_subscription_is_a_new_event(api: Any) -> None:
    api.post("events", {"event": event()})
    other = api.post("events", {"event": event(external_subscription_id="sub_2")})
    assert other.status_code == 200


def test_batch_is_stored_whole(api: Any) -> None:
    batch = {"events": [event(f"tx_{i}") for i in range(100)]}
    response = api.post("events/batch", batch)
    assert response.status_code == 200, response.text
    assert len(response.json()["events"]) == 100
    assert api.get("events").json()["meta"]["total_count"] == 100


def test_batch_with_one_bad_event_stores_nothing(api: Any) -> None:
    batch = {"events": [event("a"), event("b", timestamp="yesterday"), event("c")]}
    response = api.post("events/batch", batch)
    assert response.status_code == 422
    assert response.json()["error_details"] == {"1": {"timestamp": ["invalid_format"]}}
    assert api.get("events").json()["meta"]["total_count"] == 0


def test_batch_with_an_already_stored_event_stores_nothing(api: Any) -> None:
    api.post("events", {"event": event("b")})
    response = api.post("events/batch", {"events": [event("a"), event("b")]})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"1": {"transaction_id": ["value_already_exist"]}}
    assert api.get("events").json()["meta"]["total_count"] == 1


def test_batch_limits(api: Any) -> None:
    empty = api.post("events/batch", {"events": []})
    assert empty.json()["error_details"] == {"events": ["no_events"]}
    too_many = api.post("events/batch", {"events": [event(f"t{i}") for i in range(101)]})
    assert too_many.json()["error_details"] == {"events": ["too_many_events"]}


def test_expression_fills_the_metric_field(api: Any) -> None:
    api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "Total",
                "code": "api_calls",
                "aggregation_type": "sum_agg",
                "field_name": "total",
                "expression": "round(event.properties.price * event.properties.qty, 2)",
            }
        },
    )
    body = api.post("events", {"event": event(properties={"price": "1.005", "qty": 3})}).json()
    assert body["event"]["properties"]["total"] == "3.02"


def test_unknown_event_is_404(api: Any) -> None:
    response = api.get("events/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "event_not_found"


def test_concurrent_duplicates_store_each_event_once(api: Any) -> None:
    def send(i: int) -> int:
        code: int = api.post("events", {"event": event(f"tx_{i % 5}")}).status_code
        return code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(send, range(40)))
    assert codes.count(200) == 5
    assert codes.count(422) == 35
    assert api.get("events").json()["meta"]["total_count"] == 5
