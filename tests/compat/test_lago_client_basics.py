"""The unmodified lago-python-client against the real server: billable metrics, organization."""

from __future__ import annotations

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import BillableMetric, Organization

from tests.compat.conftest import LagoServer

# The client's models are pydantic v1 classes; parse_obj builds them from the wire shape
# (and keeps mypy from reading every Optional field as a required argument).


def storage_metric(code: str, **overrides: object) -> BillableMetric:
    values: dict[str, object] = {
        "name": "Storage",
        "code": code,
        "description": "GB stored",
        "aggregation_type": "sum_agg",
        "field_name": "gb",
        "recurring": False,
        "filters": [{"key": "region", "values": ["eu", "us"]}],
    }
    values.update(overrides)
    return BillableMetric.parse_obj(values)


def test_health_answers_over_http(lago_server: LagoServer) -> None:
    assert httpx.get(f"{lago_server.base_url}/health").json()["message"] == "Success"


def test_create_returns_the_metric_with_its_filters(lago_server: LagoServer) -> None:
    code = lago_server.unique("storage")
    created = lago_server.client.billable_metrics.create(storage_metric(code))
    assert created.code == code
    assert created.name == "Storage"
    assert created.aggregation_type == "sum_agg"
    assert created.field_name == "gb"
    assert created.lago_id
    assert created.created_at.endswith("Z")
    filters = created.filters.__root__
    assert [(f.key, sorted(f.values)) for f in filters] == [("region", ["eu", "us"])]


def test_find_returns_the_created_metric(lago_server: LagoServer) -> None:
    code = lago_server.unique("storage")
    created = lago_server.client.billable_metrics.create(storage_metric(code))
    found = lago_server.client.billable_metrics.find(code)
    assert found.lago_id == created.lago_id
    assert found.description == "GB stored"


def test_update_changes_name_and_keeps_the_code(lago_server: LagoServer) -> None:
    code = lago_server.unique("storage")
    lago_server.client.billable_metrics.create(storage_metric(code))
    updated = lago_server.client.billable_metrics.update(
        BillableMetric.parse_obj({"name": "Storage (GB)", "description": "renamed"}), code
    )
    assert (updated.code, updated.name, updated.description) == (code, "Storage (GB)", "renamed")
    assert lago_server.client.billable_metrics.find(code).name == "Storage (GB)"


def test_find_all_paginates_with_meta(lago_server: LagoServer) -> None:
    client = lago_server.client
    for _ in range(3):
        client.billable_metrics.create(storage_metric(lago_server.unique("paged")))
    total = client.billable_metrics.find_all()["meta"]["total_count"]
    assert total >= 3
    first = client.billable_metrics.find_all({"per_page": 2, "page": 1})
    assert len(first["billable_metrics"]) == 2
    assert first["meta"]["current_page"] == 1
    assert first["meta"]["next_page"] == 2
    assert first["meta"]["prev_page"] is None
    assert first["meta"]["total_count"] == total
    assert first["meta"]["total_pages"] == (total + 1) // 2
    second = client.billable_metrics.find_all({"per_page": 2, "page": 2})
    assert second["meta"]["prev_page"] == 1
    first_codes = {m.code for m in first["billable_metrics"]}
    assert first_codes.isdisjoint(m.code for m in second["billable_metrics"])


def test_destroy_returns_the_metric_then_find_is_404(lago_server: LagoServer) -> None:
    code = lago_server.unique("gone")
    lago_server.client.billable_metrics.create(storage_metric(code))
    destroyed = lago_server.client.billable_metrics.destroy(code)
    assert destroyed.code == code
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.billable_metrics.find(code)
    assert raised.value.status_code == 404
    assert raised.value.response == {
        "status": 404,
        "error": "Not Found",
        "code": "billable_metric_not_found",
    }


def test_duplicate_code_is_422_with_error_details(lago_server: LagoServer) -> None:
    code = lago_server.unique("dup")
    lago_server.client.billable_metrics.create(storage_metric(code))
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.billable_metrics.create(storage_metric(code))
    assert raised.value.status_code == 422
    assert raised.value.response["code"] == "validation_errors"
    assert raised.value.response["error_details"] == {"code": ["value_already_exist"]}


def test_invalid_metric_is_422_and_is_not_created(lago_server: LagoServer) -> None:
    code = lago_server.unique("bad")
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.billable_metrics.create(
            storage_metric(code, aggregation_type="count_agg", recurring=True)
        )
    assert raised.value.status_code == 422
    assert raised.value.response["status"] == 422
    assert raised.value.response["error_details"]
    with pytest.raises(LagoApiError) as missing:
        lago_server.client.billable_metrics.find(code)
    assert missing.value.status_code == 404


def test_unknown_key_is_401(lago_server: LagoServer) -> None:
    stranger = lago_server.new_client(api_key="not-a-key-of-this-server")
    with pytest.raises(LagoApiError) as raised:
        stranger.billable_metrics.find_all()
    assert raised.value.status_code == 401
    assert raised.value.response == {"status": 401, "error": "Unauthorized"}


def test_organization_update_applies_settings(lago_server: LagoServer) -> None:
    updated = lago_server.client.organizations.update(
        Organization.parse_obj(
            {
                "default_currency": "EUR",
                "timezone": "Europe/Paris",
                "net_payment_term": 30,
                "city": "Lyon",
                "email": "billing@compat.example",
            }
        )
    )
    assert updated.name == "Compat Inc"
    assert updated.timezone == "Europe/Paris"
    assert updated.net_payment_term == 30
    assert updated.city == "Lyon"
    assert updated.email == "billing@compat.example"
    assert updated.created_at


def test_organization_update_rejects_an_unknown_timezone(lago_server: LagoServer) -> None:
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.organizations.update(
            Organization.parse_obj({"default_currency": "USD", "timezone": "Mars/Olympus"})
        )
    assert raised.value.status_code == 422
    assert raised.value.response["error_details"] == {"timezone": ["invalid_timezone"]}
