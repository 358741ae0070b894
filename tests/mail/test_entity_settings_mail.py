"""A billing entity's own `email_settings` and `finalize_zero_amount_invoice` (Lago's
billing entity fields): set, they win over the organization's for the entity's customers;
unset, the organization's apply. On SQLite and PostgreSQL, through the API and a real run.
"""

from __future__ import annotations

from typing import Any

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Customer, Invoice
from tests.conftest import ApiClient
from tests.mail.conftest import CUSTOMER_EMAIL, FEB, JAN, SmtpServer, ok, outbox

EVERY_DOCUMENT = ["invoice.finalized", "credit_note.created", "payment_receipt.created"]


def entity(api: ApiClient, code: str, **fields: Any) -> dict[str, Any]:
    body = {"code": code, "name": f"Seller {code}", "country": "FR", **fields}
    found: dict[str, Any] = ok(api.post("billing_entities", {"billing_entity": body}))[
        "billing_entity"
    ]
    return found


def subscribed(api: ApiClient, external_id: str, plan: str, **customer: Any) -> None:
    body = {"external_id": external_id, "name": external_id, "currency": "EUR", **customer}
    ok(api.post("customers", {"customer": {"email": CUSTOMER_EMAIL, **body}}))
    subscription = {
        "external_customer_id": external_id,
        "plan_code": plan,
        "external_id": f"sub-{external_id}",
        "billing_time": "calendar",
        "subscription_at": JAN.isoformat(),
    }
    ok(api.post("subscriptions", {"subscription": subscription}))


def plan(api: ApiClient, code: str, amount_cents: int) -> None:
    body = {
        "name": code,
        "code": code,
        "interval": "monthly",
        "amount_cents": amount_cents,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "charges": [],
    }
    ok(api.post("plans", {"plan": body}))


def external_id(session: Any, invoice: Invoice | None) -> str:
    assert invoice is not None
    customer = session.get(Customer, invoice.customer_id)
    assert customer is not None
    return str(customer.external_id)


def statuses(api: ApiClient) -> dict[str, str]:
    """Each customer's January invoice status, after the 1 February run."""
    report = runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))  # type: ignore[arg-type]
    assert report.errors == []
    found: dict[str, str] = {}
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        for invoice_id in report.invoices:
            invoice = session.get(Invoice, invoice_id)
            assert invoice is not None
            found[external_id(session, invoice)] = invoice.status
    return found


def test_the_entity_shows_its_own_settings_else_the_organizations(api: ApiClient) -> None:
    eu = entity(api, "eu", email_settings=["credit_note.created"])
    assert eu["email_settings"] == ["credit_note.created"]
    assert eu["finalize_zero_amount_invoice"] is True  # the organization's default
    plain = entity(api, "plain")
    assert plain["email_settings"] == EVERY_DOCUMENT  # never set: every document
    ok(api.put("organizations", {"organization": {"email_settings": ["invoice.finalized"]}}))
    assert ok(api.get("billing_entities/plain"))["billing_entity"]["email_settings"] == [
        "invoice.finalized"
    ]
    changed = {"finalize_zero_amount_invoice": False, "email_settings": EVERY_DOCUMENT[::-1]}
    eu = ok(api.put("billing_entities/eu", {"billing_entity": changed}))["billing_entity"]
    assert eu["finalize_zero_amount_invoice"] is False
    assert eu["email_settings"] == EVERY_DOCUMENT  # Lago's order, each once
    # The default entity is the organization: its documents are the organization's.
    default = {"email_settings": ["payment_receipt.created"]}
    ok(api.put("billing_entities/default", {"billing_entity": default}))
    body = ok(api.get("organizations"))["organization"]
    assert body["email_settings"] == ["payment_receipt.created"]


def test_bad_values_are_refused_and_change_nothing(api: ApiClient) -> None:
    entity(api, "eu")
    for bad in (
        {"email_settings": ["invoice.created"]},
        {"email_settings": "invoice.finalized"},
        {"finalize_zero_amount_invoice": "no"},
    ):
        answer = api.put("billing_entities/eu", {"billing_entity": bad})
        assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
        name = next(iter(bad))
        assert name in answer.json()["error_details"]  # type: ignore[attr-defined]
    eu = ok(api.get("billing_entities/eu"))["billing_entity"]
    assert eu["email_settings"] == EVERY_DOCUMENT
    assert eu["finalize_zero_amount_invoice"] is True


def test_the_entitys_email_settings_decide_for_its_customers(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    entity(api, "quiet", email_settings=["credit_note.created"])
    plan(api, "base", 1000)
    subscribed(api, "of_quiet", "base", billing_entity_code="quiet")
    subscribed(api, "of_org", "base")
    assert statuses(api) == {"of_quiet": "finalized", "of_org": "finalized"}
    # Only the organization's customer is mailed its invoice: the entity turned it off.
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        mailed = {external_id(session, session.get(Invoice, row.object_id)) for row in outbox(api)}
    assert mailed == {"of_org"}


def test_zero_amount_invoices_follow_customer_then_entity_then_organization(
    api: ApiClient,
) -> None:
    entity(api, "skips", finalize_zero_amount_invoice=False)
    plan(api, "free", 0)
    subscribed(api, "of_org", "free")  # the organization finalizes zero invoices
    subscribed(api, "of_entity", "free", billing_entity_code="skips")
    subscribed(
        api,
        "own_choice",
        "free",
        billing_entity_code="skips",
        finalize_zero_amount_invoice="finalize",
    )
    assert statuses(api) == {
        "of_org": "finalized",
        "of_entity": "closed",  # the entity's setting: a 0.00 invoice is not issued
        "own_choice": "finalized",  # the customer's own setting wins over its entity's
    }
