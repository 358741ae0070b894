"""The portal speaks the customer's document language, as its invoices do: labels, amounts,
numbers and dates in French (the customer's own locale) and German (its billing entity's),
in the page and in the polled usage.json. On SQLite and PostgreSQL.

The usage is tests/e2e/test_portal.py's: 25 calls (15 above the free 10 at 0.50 plus 1.00
flat = 8.50 USD) and storage 300 GB x 0.04 + 100 GB x 0.05 = 17.00 USD: 25.50 USD, 2550
cents. French writes it `25,50 $US` (a no-break space before the symbol), German
`25,50 $`; the January period is `1 janv. 2024` - `31 janv. 2024`, `01.01.2024` -
`31.01.2024`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.web import install_web
from tests.e2e.test_portal import link, path_of, seed_usage

NBSP = "\xa0"


@pytest.fixture
def portal(api: Any) -> Any:
    install_web(api.client.app)
    seed_usage(api)
    return api


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def amount_cents(api: Any) -> int:
    usage = ok(
        api.get("customers/cust_acme/projected_usage?external_subscription_id=sub_cust_acme")
    )["customer_projected_usage"]
    cents: int = usage["amount_cents"]
    return cents


def test_portal_in_french_from_the_customer_locale(portal: Any) -> None:
    customer = {"external_id": "cust_acme", "billing_configuration": {"document_locale": "fr"}}
    ok(portal.post("customers", {"customer": customer}))
    assert amount_cents(portal) == 2550
    html = portal.client.get(path_of(link(portal))).text
    assert '<main lang="fr"' in html
    for text in ("Portail de consommation", "Consommation à date", "Période en cours", "Client"):
        assert text in html, text
    assert f">25,50{NBSP}$US<" in html  # the usage so far
    assert f">12,00{NBSP}$US<" in html  # storage EU: 300 x 0.04
    assert "1 janv. 2024" in html and "31 janv. 2024" in html
    assert "Usage so far" not in html and "Current period" not in html

    body = ok(portal.client.get(path_of(link(portal)) + "/usage.json"))
    texts = body["subscriptions"][0]["texts"]
    assert texts["sub-0-amount"] == f"25,50{NBSP}$US"
    assert body["subscriptions"][0]["period"]["from"] == "1 janv. 2024"

    # After January is billed, the invoice list is French too.
    feb = datetime(2024, 2, 1, 1, tzinfo=UTC)
    runs.run(portal.database, as_of=feb, clock=FrozenClock(feb))
    portal.client.app.state.clock.set(datetime(2024, 2, 3, 12, tzinfo=UTC))
    html = portal.client.get(path_of(link(portal))).text
    assert "Télécharger le PDF" in html and "émise" in html
    assert "Download PDF" not in html


def test_portal_in_german_from_the_billing_entity(portal: Any) -> None:
    entity = {
        "code": "de",
        "name": "Meterly GmbH",
        "country": "DE",
        "billing_configuration": {"document_locale": "de"},
    }
    ok(portal.post("billing_entities", {"billing_entity": entity}))
    customer = {"external_id": "cust_acme", "billing_entity_code": "de"}
    ok(portal.post("customers", {"customer": customer}))
    html = portal.client.get(path_of(link(portal))).text
    assert '<main lang="de"' in html
    for text in ("Nutzungsportal", "Bisherige Nutzung", "Aktueller Zeitraum", "Kunde"):
        assert text in html, text
    assert f">25,50{NBSP}${NBSP}<" not in html  # no stray space after the symbol
    assert f">25,50{NBSP}$<" in html
    assert "01.01.2024" in html and "31.01.2024" in html
    body = ok(portal.client.get(path_of(link(portal)) + "/usage.json"))
    assert body["subscriptions"][0]["texts"]["sub-0-amount"] == f"25,50{NBSP}$"
