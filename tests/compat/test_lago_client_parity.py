"""The unmodified lago-python-client against the real server: billing entities and usage
analytics (issue 17), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer
from lago_python_client.models.billing_entity import BillingEntity, BillingEntityUpdate

from tests.compat.conftest import LagoServer


def test_billing_entities_create_find_update_and_list(lago_server: LagoServer) -> None:
    client = lago_server.client
    code = lago_server.unique("entity")
    created = client.billing_entities.create(
        BillingEntity.parse_obj(
            {
                "code": code,
                "name": "Acme Europe",
                "country": "FR",
                "document_numbering": "per_billing_entity",
                "document_number_prefix": "ACEU",
                "eu_tax_management": True,
            }
        )
    )
    assert (created.code, created.name, created.country) == (code, "Acme Europe", "FR")
    assert created.eu_tax_management is True
    assert client.billing_entities.find(code).lago_id == created.lago_id
    updated = client.billing_entities.update(
        BillingEntityUpdate.parse_obj({"name": "Acme EU", "city": "Lyon"}), code
    )
    assert (updated.name, updated.city) == ("Acme EU", "Lyon")
    listed = client.billing_entities.find_all()
    codes = [e.code for e in listed["billing_entities"]]
    assert codes[0] == "default" and code in codes
    with pytest.raises(LagoApiError) as missing:
        client.billing_entities.find(lago_server.unique("nope"))
    assert missing.value.status_code == 404
    # A customer of the entity gets its EU VAT: a German consumer pays 19 %.
    customer = client.customers.create(
        Customer.parse_obj(
            {
                "external_id": lago_server.unique("cust"),
                "billing_entity_code": code,
                "country": "DE",
            }
        )
    )
    assert customer.billing_entity_code == code
    assert [(t.code, t.rate) for t in customer.taxes.__root__] == [("lago_eu_de_standard", 19.0)]


def test_usage_analytics_answer_through_the_client(lago_server: LagoServer) -> None:
    answer = lago_server.client.usages.find_all({"time_granularity": "monthly"})
    assert isinstance(answer["usages"], list)
