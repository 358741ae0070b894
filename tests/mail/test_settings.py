"""When nothing must be queued, and the settings that decide it, over the API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.mail.conftest import FROM, SmtpServer, billed_invoice, ok, outbox


def test_no_smtp_server_queues_nothing(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METERLY_SMTP_HOST", raising=False)
    monkeypatch.setenv("METERLY_SMTP_FROM", FROM)
    billed_invoice(api)
    assert outbox(api) == []


def test_no_from_address_queues_nothing(
    api: ApiClient, smtp_env: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METERLY_SMTP_FROM")
    billed_invoice(api)
    assert outbox(api) == []


def test_the_organization_from_address_is_enough(
    api: ApiClient, smtp_env: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METERLY_SMTP_FROM")
    delivery = {"from_address": "invoices@acme.test"}
    body = ok(api.put("organizations", {"organization": {"email_delivery": delivery}}))
    assert body["organization"]["email_delivery"]["from_address"] == "invoices@acme.test"
    billed_invoice(api)
    assert [row.kind for row in outbox(api)] == ["invoice"]


def test_an_opted_out_customer_gets_no_email(api: ApiClient, smtp_env: SmtpServer) -> None:
    billed_invoice(api, opt_out=True)
    assert outbox(api) == []
    customer = ok(api.get("customers/cust"))["customer"]
    assert customer["email_opt_out"] is True


def test_opting_back_in(api: ApiClient, smtp_env: SmtpServer) -> None:
    ok(api.post("customers", {"customer": {"external_id": "cust", "email_opt_out": True}}))
    body = ok(api.post("customers", {"customer": {"external_id": "cust", "email_opt_out": False}}))
    assert body["customer"]["email_opt_out"] is False
    billed_invoice(api)
    assert len(outbox(api)) == 1


def test_a_customer_without_email_gets_none(api: ApiClient, smtp_env: SmtpServer) -> None:
    billed_invoice(api, customer_email=None)
    assert outbox(api) == []


def test_several_addresses_in_the_customer_email(api: ApiClient, smtp_env: SmtpServer) -> None:
    billed_invoice(api, customer_email="a@customer.test, b@customer.test")
    [row] = outbox(api)
    assert row.recipients["to"] == ["a@customer.test", "b@customer.test"]


def test_email_settings_without_invoices_queue_no_invoice(
    api: ApiClient, smtp_env: SmtpServer
) -> None:
    body = ok(
        api.put("organizations", {"organization": {"email_settings": ["credit_note.created"]}})
    )
    assert body["organization"]["email_settings"] == ["credit_note.created"]
    billed_invoice(api)
    assert outbox(api) == []


def test_organization_shows_every_document_until_set(api: ApiClient, smtp_env: SmtpServer) -> None:
    org = ok(api.get("organizations"))["organization"]
    assert org["email_settings"] == [
        "invoice.finalized",
        "credit_note.created",
        "payment_receipt.created",
    ]
    assert org["email_delivery"] == {
        "sender_name": None,
        "from_address": FROM,
        "reply_to": None,
        "cc": [],
        "bcc": [],
        "smtp_configured": True,
    }


@pytest.mark.parametrize(
    ("organization", "details"),
    [
        ({"email_delivery": {"reply_to": "nope"}}, {"reply_to": ["invalid_email_format"]}),
        ({"email_delivery": {"cc": ["a@b.test", "x"]}}, {"cc": ["invalid_email_format"]}),
        ({"email_settings": ["invoice.paid"]}, {"email_settings": ["value_is_invalid"]}),
        ({"email_delivery": "loud"}, {"email_delivery": ["value_is_invalid"]}),
    ],
)
def test_bad_sender_settings_are_refused_and_change_nothing(
    api: ApiClient, smtp_env: SmtpServer, organization: dict[str, Any], details: dict[str, Any]
) -> None:
    organization = {**organization, "name": "Renamed"}
    response: Any = api.put("organizations", {"organization": organization})
    assert response.status_code == 422
    assert response.json()["error_details"] == details
    org = ok(api.get("organizations"))["organization"]
    assert org["name"] == "Acme"
    assert org["email_delivery"]["reply_to"] is None and org["email_delivery"]["cc"] == []


def test_a_bad_opt_out_value_is_refused(api: ApiClient, smtp_env: SmtpServer) -> None:
    response: Any = api.post(
        "customers", {"customer": {"external_id": "cust", "email_opt_out": "yes"}}
    )
    assert response.status_code == 422
    assert response.json()["error_details"] == {"email_opt_out": ["value_is_invalid"]}
    assert api.get("customers/cust").status_code == 404  # type: ignore[attr-defined]
