"""Billing entities through HTTP, on SQLite and PostgreSQL: the organization is the default
seller; another entity numbers its customers' invoices its own way and manages EU VAT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from meterly.services import runs
from meterly.services.common import FrozenClock

EU = {
    "code": "eu",
    "name": "Acme Europe SAS",
    "document_numbering": "per_billing_entity",
    "document_number_prefix": "ACEU",
    "eu_tax_management": True,
    "country": "FR",
    "legal_name": "Acme Europe SAS",
    "tax_identification_number": "FR40303265045",
    "city": "Paris",
}


def create_entity(api: Any, body: dict[str, Any] = EU) -> dict[str, Any]:
    answer = api.post("billing_entities", {"billing_entity": body})
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["billing_entity"])


def customer(api: Any, external_id: str, **fields: Any) -> dict[str, Any]:
    answer = api.post(
        "customers", {"customer": {"external_id": external_id, "name": external_id, **fields}}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["customer"])


def test_the_organization_is_the_default_entity(api: Any) -> None:
    listed = api.get("billing_entities").json()["billing_entities"]
    assert [(e["code"], e["is_default"], e["name"]) for e in listed] == [("default", True, "Acme")]
    created = create_entity(api)
    assert (created["code"], created["is_default"], created["country"]) == ("eu", False, "FR")
    listed = api.get("billing_entities").json()["billing_entities"]
    assert [e["code"] for e in listed] == ["default", "eu"]
    renamed = api.put("billing_entities/eu", {"billing_entity": {"name": "Acme EU"}})
    assert renamed.json()["billing_entity"]["name"] == "Acme EU"
    # The default entity's changes are the organization's.
    api.put("billing_entities/default", {"billing_entity": {"name": "Acme Inc", "city": "Boston"}})
    assert api.get("billing_entities/default").json()["billing_entity"]["city"] == "Boston"


@pytest.mark.parametrize(
    ("body", "status", "details"),
    [
        ({"code": "default", "name": "X"}, 422, {"code": ["value_already_exist"]}),
        ({"name": "No code"}, 422, {"code": ["value_is_mandatory"]}),
        (
            {"code": "x", "name": "X", "document_numbering": "per_planet"},
            422,
            {"document_numbering": ["value_is_invalid"]},
        ),
        (
            {"code": "x", "name": "X", "eu_tax_management": True, "country": "US"},
            422,
            {"eu_tax_management": ["billing_entity_must_be_in_eu"]},
        ),
        (
            {"code": "x", "name": "X", "document_number_prefix": "WAY-TOO-LONG-PREFIX"},
            422,
            {"document_number_prefix": ["value_is_invalid"]},
        ),
    ],
)
def test_bad_entities_are_refused_and_change_nothing(
    api: Any, body: dict[str, Any], status: int, details: dict[str, Any]
) -> None:
    answer = api.post("billing_entities", {"billing_entity": body})
    assert answer.status_code == status, answer.text
    assert answer.json()["error_details"] == details
    assert len(api.get("billing_entities").json()["billing_entities"]) == 1


def test_unknown_entities_are_404(api: Any) -> None:
    assert api.get("billing_entities/nope").json()["code"] == "billing_entity_not_found"
    answer = api.post(
        "customers", {"customer": {"external_id": "c", "billing_entity_code": "nope"}}
    )
    assert answer.status_code == 404 and answer.json()["code"] == "billing_entity_not_found"


def test_eu_tax_management_gives_each_customer_its_vat(api: Any) -> None:
    create_entity(api)
    cases = {
        "paris": ({"country": "FR"}, "lago_eu_fr_standard", 20.0),
        "berlin_consumer": ({"country": "DE"}, "lago_eu_de_standard", 19.0),
        "berlin_business": (
            {"country": "DE", "tax_identification_number": "DE811907980"},
            "lago_eu_reverse_charge",
            0.0,
        ),
        "boston": ({"country": "US"}, "lago_eu_tax_exempt", 0.0),
    }
    for external_id, (fields, code, rate) in cases.items():
        shown = customer(api, external_id, billing_entity_code="eu", **fields)
        assert [t["code"] for t in shown["taxes"]] == [code], external_id
        assert shown["taxes"][0]["rate"] == rate
    # Moving to Italy: the customer's VAT follows (22 %).
    moved = customer(api, "paris", billing_entity_code="eu", country="IT")
    assert [(t["code"], t["rate"]) for t in moved["taxes"]] == [("lago_eu_it_standard", 22.0)]
    # A customer of the organization (no EU tax management) gets no tax.
    assert customer(api, "plain", country="DE")["taxes"] == []


def test_an_entity_numbers_and_signs_its_customers_invoices(api: Any) -> None:
    create_entity(api)
    api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 10000,
                "amount_currency": "EUR",
            }
        },
    )
    customer(api, "eu_customer", billing_entity_code="eu", country="FR", currency="EUR")
    customer(api, "org_customer", currency="EUR")
    for external_id in ("eu_customer", "org_customer"):
        answer = api.post(
            "subscriptions",
            {
                "subscription": {
                    "external_customer_id": external_id,
                    "plan_code": "p",
                    "external_id": f"s_{external_id}",
                    "subscription_at": "2024-01-01T00:00:00Z",
                }
            },
        )
        assert answer.status_code == 200, answer.text
    feb = datetime(2024, 2, 1, 1, tzinfo=UTC)
    assert runs.run(api.database, as_of=feb, clock=FrozenClock(feb)).errors == []
    invoices = {i["customer"]["external_id"]: i for i in api.get("invoices").json()["invoices"]}
    eu = invoices["eu_customer"]
    # per_billing_entity: prefix, issuing month, the entity's own counter.
    assert (eu["billing_entity_code"], eu["number"]) == ("eu", "ACEU-202402-001")
    # 100.00 EUR + 20 % French VAT = 120.00 EUR.
    assert (eu["fees_amount_cents"], eu["taxes_amount_cents"], eu["total_amount_cents"]) == (
        10000,
        2000,
        12000,
    )
    assert invoices["org_customer"]["billing_entity_code"] is None
    assert not invoices["org_customer"]["number"].startswith("ACEU")
