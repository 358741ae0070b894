"""Billable metrics through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any


def metric_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Storage",
        "code": "storage_gb",
        "aggregation_type": "sum_agg",
        "field_name": "gb",
        "filters": [{"key": "region", "values": ["us", "eu"]}],
    }
    body.update(overrides)
    return {"billable_metric": body}


def test_create_then_find_returns_lago_shape(api: Any) -> None:
    created = api.post("billable_metrics", metric_body())
    assert created.status_code == 200, created.text
    metric = created.json()["billable_metric"]
    assert metric["code"] == "storage_gb"
    assert metric["filters"] == [{"key": "region", "values": ["eu", "us"]}]
    assert metric["created_at"].endswith("Z")
    found = api.get("billable_metrics/storage_gb").json()["billable_metric"]
    assert found["lago_id"] == metric["lago_id"]


def test_duplicate_code_is_rejected_with_lago_error(api: Any) -> None:
    api.post("billable_metrics", metric_body())
    again = api.post("billable_metrics", metric_body())
    assert again.status_code == 422
    assert again.json() == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"code": ["value_already_exist"]},
    }


def test_missing_root_key_is_400(api: Any) -> None:
    response = api.post("billable_metrics", {"metric": {}})
    assert response.status_code == 400
    assert response.json()["error"].startswith("BadRequest: param is missing")


def test_wrong_key_is_401_and_unknown_metric_is_404(api: Any) -> None:
    bad = api.client.get("/api/v1/billable_metrics", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json() == {"status": 401, "error": "Unauthorized"}
    missing = api.get("billable_metrics/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "billable_metric_not_found"


def test_recurring_count_is_invalid_and_changes_nothing(api: Any) -> None:
    response = api.post(
        "billable_metrics", metric_body(aggregation_type="count_agg", recurring=True)
    )
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "recurring": ["not_compatible_with_aggregation_type"]
    }
    assert api.get("billable_metrics").json()["meta"]["total_count"] == 0


def test_list_update_delete(api: Any) -> None:
    api.post("billable_metrics", metric_body())
    api.post("billable_metrics", metric_body(code="calls", aggregation_type="count_agg"))
    listed = api.get("billable_metrics", params={"per_page": 1}).json()
    assert listed["meta"]["total_count"] == 2 and listed["meta"]["total_pages"] == 2
    updated = api.put("billable_metrics/calls", {"billable_metric": {"name": "API calls"}})
    assert updated.json()["billable_metric"]["name"] == "API calls"
    deleted = api.delete("billable_metrics/calls")
    assert deleted.status_code == 200
    assert api.get("billable_metrics/calls").status_code == 404


def test_invalid_expression_is_rejected(api: Any) -> None:
    response = api.post("billable_metrics", metric_body(expression="round(event.properties.x"))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"expression": ["invalid_expression"]}


def test_unknown_route_is_resource_not_found(api: Any) -> None:
    response = api.get("does_not_exist")
    assert response.status_code == 404
    assert response.json()["code"] == "resource_not_found"
