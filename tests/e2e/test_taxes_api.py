"""Taxes through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any


def tax_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "VAT 20%", "code": "vat_20", "rate": 20.0}
    body.update(overrides)
    return {"tax": body}


def test_create_returns_lago_tax_object(api: Any) -> None:
    created = api.post("taxes", tax_body(description="French VAT"))
    assert created.status_code == 200, created.text
    tax = created.json()["tax"]
    assert tax["code"] == "vat_20"
    assert tax["rate"] == 20.0
    assert tax["description"] == "French VAT"
    assert tax["applied_to_organization"] is False
    assert tax["applied_to_billing_entities_codes"] == []
    for counter in ("add_ons_count", "customers_count", "plans_count", "charges_count"):
        assert tax[counter] == 0
    assert tax["created_at"] == "2024-01-15T12:00:00Z"
    assert api.get("taxes/vat_20").json()["tax"]["lago_id"] == tax["lago_id"]


def test_rate_as_numeric_string_is_read_exactly(api: Any) -> None:
    created = api.post("taxes", tax_body(code="gst", rate="8.875"))
    assert created.status_code == 200, created.text
    assert created.json()["tax"]["rate"] == 8.875


def test_duplicate_code_is_rejected(api: Any) -> None:
    api.post("taxes", tax_body())
    again = api.post("taxes", tax_body(name="Other"))
    assert again.status_code == 422
    assert again.json()["error_details"] == {"code": ["value_already_exist"]}
    assert api.get("taxes").json()["meta"]["total_count"] == 1


def test_negative_rate_is_invalid_and_changes_nothing(api: Any) -> None:
    response = api.post("taxes", tax_body(rate=-1))
    assert response.status_code == 422
    assert response.json()["error_details"] == {"rate": ["value_is_invalid"]}
    assert api.get("taxes").json()["meta"]["total_count"] == 0


def test_rate_above_100_and_garbage_are_invalid(api: Any) -> None:
    assert api.post("taxes", tax_body(rate=100.5)).json()["error_details"] == {
        "rate": ["value_is_invalid"]
    }
    assert api.post("taxes", tax_body(rate="abc")).json()["error_details"] == {
        "rate": ["value_is_invalid"]
    }


def test_missing_fields_are_mandatory(api: Any) -> None:
    response = api.post("taxes", {"tax": {"name": "x"}})
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "code": ["value_is_mandatory"],
        "rate": ["value_is_mandatory"],
    }


def test_update_changes_fields(api: Any) -> None:
    api.post("taxes", tax_body())
    updated = api.put(
        "taxes/vat_20",
        {"tax": {"rate": 5.5, "code": "vat_5", "applied_to_organization": True}},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()["tax"]
    assert (body["rate"], body["code"], body["applied_to_organization"]) == (5.5, "vat_5", True)
    assert api.get("taxes/vat_20").status_code == 404
    assert api.get("taxes/vat_5").json()["tax"]["rate"] == 5.5


def test_invalid_update_changes_nothing(api: Any) -> None:
    api.post("taxes", tax_body())
    response = api.put("taxes/vat_20", {"tax": {"name": "Renamed", "rate": 101}})
    assert response.status_code == 422
    found = api.get("taxes/vat_20").json()["tax"]
    assert (found["name"], found["rate"]) == ("VAT 20%", 20.0)


def test_list_is_paginated(api: Any) -> None:
    for code in ("a", "b", "c"):
        api.post("taxes", tax_body(code=code))
    listed = api.get("taxes", params={"per_page": 2}).json()
    assert len(listed["taxes"]) == 2
    assert listed["meta"]["total_count"] == 3
    assert listed["meta"]["total_pages"] == 2


def test_delete_removes_the_tax_and_returns_it(api: Any) -> None:
    api.post("taxes", tax_body())
    deleted = api.delete("taxes/vat_20")
    assert deleted.status_code == 200
    assert deleted.json()["tax"]["code"] == "vat_20"
    assert api.get("taxes/vat_20").status_code == 404
    assert api.get("taxes").json()["meta"]["total_count"] == 0


def test_unknown_tax_is_404(api: Any) -> None:
    for response in (
        api.get("taxes/nope"),
        api.put("taxes/nope", tax_body()),
        api.delete("taxes/nope"),
    ):
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "tax_not_found"}


def test_missing_root_key_is_400(api: Any) -> None:
    assert api.post("taxes", {"rate": 1}).status_code == 400
