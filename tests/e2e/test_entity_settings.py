"""A billing entity's net payment term, invoice grace period, timezone and document
language apply to its customers' invoices: the customer's own setting wins, then the
entity's, then the organization's (Lago's `applicable_*`). On SQLite and PostgreSQL.

Every figure is a date worked by hand from the calendar; the plan is a monthly calendar
plan of 10.00 EUR in arrears, subscribed on 1 January 2024.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.services.documents import invoice_document
from tests.conftest import ApiClient

# Tokyo is UTC+9 all year: its 1 February 2024 starts at 31 January 15:00 UTC.
TOKYO_FEB_1 = datetime(2024, 1, 31, 15, 30, tzinfo=UTC)
UTC_FEB_1 = datetime(2024, 2, 1, 0, 30, tzinfo=UTC)


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bill(api: ApiClient, at: datetime) -> None:
    report = runs.run(api.database, as_of=at, clock=FrozenClock(at))  # type: ignore[attr-defined]
    assert report.errors == []


def invoices_of(api: ApiClient, customer: str) -> list[dict[str, Any]]:
    found = ok(api.get("invoices", params={"external_customer_id": customer}))["invoices"]
    return list(found)


def setup(api: ApiClient) -> None:
    api.client.app.state.clock.set(datetime(2024, 1, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    org = {"timezone": "UTC", "net_payment_term": 15}
    ok(api.put("organizations", {"organization": org}))
    entity = {
        "code": "jp",
        "name": "Meterly KK",
        "country": "JP",
        "net_payment_term": 30,
        "timezone": "Asia/Tokyo",
        "billing_configuration": {"invoice_grace_period": 3, "document_locale": "fr"},
    }
    ok(api.post("billing_entities", {"billing_entity": entity}))
    plan = {
        "name": "Base",
        "code": "base",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "pay_in_advance": False,
    }
    ok(api.post("plans", {"plan": plan}))


def customer(api: ApiClient, external_id: str, **extra: Any) -> None:
    body = {"external_id": external_id, "name": external_id, "currency": "EUR", **extra}
    ok(api.post("customers", {"customer": body}))
    sub = {
        "external_customer_id": external_id,
        "plan_code": "base",
        "external_id": f"sub-{external_id}",
        "billing_time": "calendar",
        "subscription_at": "2024-01-01T00:00:00Z",
    }
    ok(api.post("subscriptions", {"subscription": sub}))


def test_entity_settings_are_shown_and_checked(api: ApiClient) -> None:
    setup(api)
    jp = ok(api.get("billing_entities/jp"))["billing_entity"]
    assert (jp["net_payment_term"], jp["invoice_grace_period"], jp["timezone"]) == (
        30,
        3,
        "Asia/Tokyo",
    )
    # An entity without settings of its own shows the organization's: 15 days, 0, UTC.
    plain = {"code": "plain", "name": "Plain"}
    shown = ok(api.post("billing_entities", {"billing_entity": plain}))["billing_entity"]
    assert (shown["net_payment_term"], shown["invoice_grace_period"], shown["timezone"]) == (
        15,
        0,
        "UTC",
    )
    bad = api.put("billing_entities/jp", {"billing_entity": {"timezone": "Mars/Olympus"}})
    assert bad.status_code == 422
    assert bad.json()["error_details"]["timezone"] == ["invalid_timezone"]
    negative = api.put("billing_entities/jp", {"billing_entity": {"net_payment_term": -1}})
    assert negative.status_code == 422
    # Bad input changed nothing.
    again = ok(api.get("billing_entities/jp"))["billing_entity"]
    assert (again["net_payment_term"], again["timezone"]) == (30, "Asia/Tokyo")


def test_entity_timezone_term_and_grace_apply_to_its_customers(api: ApiClient) -> None:
    setup(api)
    customer(api, "tokyo", billing_entity_code="jp")  # everything from the entity
    customer(api, "own-term", billing_entity_code="jp", net_payment_term=10)
    customer(api, "home")  # the organization's customer

    # 31 January 15:30 UTC is 1 February 00:30 in Tokyo: the entity's customers' January
    # has closed, the organization's UTC customer's has not.
    bill(api, TOKYO_FEB_1)
    assert invoices_of(api, "home") == []
    (tokyo,) = invoices_of(api, "tokyo")
    (own,) = invoices_of(api, "own-term")
    # Issued on the local date 2024-02-01; due 30 days later: February 2024 has 29 days,
    # so 1 Feb + 30 = 2 March. The customer's own 10 days: 11 February.
    assert tokyo["issuing_date"] == "2024-02-01"
    assert tokyo["payment_due_date"] == "2024-03-02"
    assert tokyo["net_payment_term"] == 30
    assert own["payment_due_date"] == "2024-02-11"
    # The entity's 3-day grace period: a draft until its boundary (31 Jan 15:00 UTC) + 3
    # days = 3 February 15:00 UTC.
    assert tokyo["status"] == "draft" and own["status"] == "draft"

    bill(api, UTC_FEB_1)
    (home,) = invoices_of(api, "home")
    # The organization's: issued 1 February UTC, 15 days = 16 February, no grace period.
    assert (home["issuing_date"], home["payment_due_date"]) == ("2024-02-01", "2024-02-16")
    assert home["status"] == "finalized"

    bill(api, datetime(2024, 2, 3, 14, 59, tzinfo=UTC))
    assert invoices_of(api, "tokyo")[0]["status"] == "draft"
    bill(api, datetime(2024, 2, 3, 15, 0, tzinfo=UTC))
    assert invoices_of(api, "tokyo")[0]["status"] == "finalized"


def test_lowering_the_entity_grace_period_finalizes_its_drafts(api: ApiClient) -> None:
    setup(api)
    customer(api, "tokyo", billing_entity_code="jp")
    customer(
        api, "patient", billing_entity_code="jp", billing_configuration={"invoice_grace_period": 5}
    )
    bill(api, TOKYO_FEB_1)
    assert [i["status"] for i in invoices_of(api, "tokyo")] == ["draft"]
    # 2 February 00:00 UTC: the boundary (31 Jan 15:00 UTC) + 1 day has passed.
    api.client.app.state.clock.set(datetime(2024, 2, 2, tzinfo=UTC))  # type: ignore[attr-defined]
    lowered = {"billing_configuration": {"invoice_grace_period": 1}}
    ok(api.put("billing_entities/jp", {"billing_entity": lowered}))
    assert [i["status"] for i in invoices_of(api, "tokyo")] == ["finalized"]
    # Its own 5 days still hold: 31 Jan 15:00 + 5 days = 5 February.
    assert [i["status"] for i in invoices_of(api, "patient")] == ["draft"]


def test_entity_document_locale_and_timezone_reach_the_document(api: ApiClient) -> None:
    """The entity's French and Tokyo time are the document's, unless the customer has its
    own language."""
    setup(api)
    customer(api, "tokyo", billing_entity_code="jp")
    customer(
        api, "english", billing_entity_code="jp", billing_configuration={"document_locale": "en"}
    )
    bill(api, datetime(2024, 2, 10, tzinfo=UTC))  # past every grace period: finalized
    (tokyo,) = invoices_of(api, "tokyo")
    (english,) = invoices_of(api, "english")
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, tokyo["lago_id"])
        other = invoice_document(session, english["lago_id"])
    assert (doc.locale, doc.timezone) == ("fr", "Asia/Tokyo")
    assert (other.locale, other.timezone) == ("en", "Asia/Tokyo")
    # The period printed is January in Tokyo: 1 to 31 January.
    (group,) = doc.groups
    assert (str(group.period_from), str(group.period_to)) == (
        "2024-01-01",
        "2024-01-31",
    )
