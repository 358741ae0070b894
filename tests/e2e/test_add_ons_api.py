"""Add-ons through Lago's API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

SETUP = {
    "name": "Setup fee",
    "code": "setup",
    "invoice_display_name": "Onboarding",
    "amount_cents": 50000,
    "amount_currency": "EUR",
    "description": "One-time setup",
}


def count(api: Any) -> int:
    total: int = api.get("add_ons").json()["meta"]["total_count"]
    return total


def vat(api: Any) -> None:
    assert (
        api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": 20.0}}).status_code == 200
    )


def test_create_answers_lago_shape(api: Any) -> None:
    vat(api)
    response = api.post("add_ons", {"add_on": SETUP | {"tax_codes": ["vat"]}})
    assert response.status_code == 200, response.text
    body = response.json()["add_on"]
    assert body["code"] == "setup" and body["name"] == "Setup fee"
    assert body["invoice_display_name"] == "Onboarding"
    assert body["amount_cents"] == 50000 and body["amount_currency"] == "EUR"
    assert body["description"] == "One-time setup"
    assert body["created_at"] == "2024-01-15T12:00:00Z" and body["lago_id"]
    (tax,) = body["taxes"]
    assert tax["code"] == "vat" and tax["rate"] == 20.0 and tax["lago_id"]


def test_missing_fields_are_listed_and_nothing_is_created(api: Any) -> None:
    response = api.post("add_ons", {"add_on": {"description": "x"}})
    assert response.status_code == 422
    assert response.json()["error_details"] == {
        "name": ["value_is_mandatory"],
        "code": ["value_is_mandatory"],
        "amount_currency": ["value_is_mandatory"],
        "amount_cents": ["value_is_mandatory"],
    }
    assert count(api) == 0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"amount_cents": -1}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_currency": "ZZZ"}, {"amount_currency": ["value_is_invalid"]}),
        ({"amount_cents": "lots"}, {"amount_cents": ["value_is_invalid"]}),
    ],
)
def test_invalid_fields(api: Any, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    response = api.post("add_ons", {"add_on": SETUP | fields})
    assert response.status_code == 422
    assert response.json()["error_details"] == expected
    assert count(api) == 0


def test_duplicate_code_is_refused(api: Any) -> None:
    api.post("add_ons", {"add_on": SETUP})
    response = api.post("add_ons", {"add_on": SETUP})
    assert response.status_code == 422
    assert response.json()["error_details"] == {"code": ["value_already_exist"]}
    assert count(api) == 1


def test_unknown_tax_code_is_not_found(api: Any) -> None:
    response = api.post("add_ons", {"add_on": SETUP | {"tax_codes": ["nope"]}})
    assert response.status_code == 404 and response.json()["code"] == "tax_not_found"
    assert count(api) == 0


def test_get_list_and_unknown(api: Any) -> None:
    api.post("add_ons", {"add_on": SETUP})
    api.post("add_ons", {"add_on": SETUP | {"code": "support"}})
    body = api.get("add_ons", params={"per_page": 1}).json()
    assert body["meta"]["total_count"] == 2 and len(body["add_ons"]) == 1
    assert api.get("add_ons/support").json()["add_on"]["code"] == "support"
    missing = api.get("add_ons/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "add_on_not_found"


def test_update(api: Any) -> None:
    vat(api)
    api.post("add_ons", {"add_on": SETUP})
    response = api.put(
        "add_ons/setup",
        {"add_on": {"name": "Setup", "amount_cents": 100, "tax_codes": ["vat"], "code": "set"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()["add_on"]
    assert body["name"] == "Setup" and body["amount_cents"] == 100 and body["code"] == "set"
    assert [t["code"] for t in body["taxes"]] == ["vat"]
    assert body["invoice_display_name"] == "Onboarding"


def test_invalid_update_changes_nothing(api: Any) -> None:
    api.post("add_ons", {"add_on": SETUP})
    response = api.put("add_ons/setup", {"add_on": {"name": "X", "tax_codes": ["nope"]}})
    assert response.status_code == 404 and response.json()["code"] == "tax_not_found"
    body = api.get("add_ons/setup").json()["add_on"]
    assert body["name"] == "Setup fee" and body["taxes"] == []


def test_delete_frees_the_code(api: Any) -> None:
    api.post("add_ons", {"add_on": SETUP})
    response = api.delete("add_ons/setup")
    assert response.status_code == 200 and response.json()["add_on"]["code"] == "setup"
    assert api.get("add_ons/setup").status_code == 404
    assert count(api) == 0
    assert api.post("add_ons", {"add_on": SETUP}).status_code == 200


def test_delete_unknown_is_not_found(api: Any) -> None:
    response = api.delete("add_ons/nope")
    assert response.status_code == 404 and response.json()["code"] == "add_on_not_found"
