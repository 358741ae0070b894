"""Payment requests through Lago's routes, on SQLite and PostgreSQL.

Invoices are one add-on of 100.00 USD, no tax (10000 cents), issued 2024-01-15 and due
that day; a customer without a payment provider, so a request charges nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from meterly.jobs import webhooks as webhook_job
from meterly.services.billing import invoices as invoice_service
from meterly.services.payments import dunning
from meterly.store.tables import ChargeAttempt, Webhook

TOTAL = 10000


def arrange(api: Any) -> list[dict[str, Any]]:
    endpoint = {"webhook_url": "https://hooks.example.com/meterly", "signature_algo": "hmac"}
    assert api.post("webhook_endpoints", {"webhook_endpoint": endpoint}).status_code == 200
    add_on = {"name": "Setup", "code": "setup", "amount_cents": TOTAL, "amount_currency": "USD"}
    assert api.post("add_ons", {"add_on": add_on}).status_code == 200
    for external_id in ("acme", "other"):
        body = {"external_id": external_id, "currency": "USD", "email": "ap@acme.test"}
        assert api.post("customers", {"customer": body}).status_code == 200
    invoices = []
    for external_id in ("acme", "acme", "other"):
        body = {
            "external_customer_id": external_id,
            "currency": "USD",
            "fees": [{"add_on_code": "setup"}],
        }
        response = api.post("invoices", {"invoice": body})
        assert response.status_code == 200, response.text
        invoices.append(response.json()["invoice"])
    return invoices


def make_overdue(api: Any, clock: Any) -> None:
    clock.advance(timedelta(days=1))
    with api.database.unit_of_work() as session:
        invoice_service.mark_overdue(session, clock=clock)


def request_body(invoice_ids: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "payment_request": {
            "external_customer_id": "acme",
            "email": "billing@acme.test",
            "lago_invoice_ids": invoice_ids,
            **extra,
        }
    }


def test_a_request_groups_overdue_invoices(api: Any, clock: Any) -> None:
    first, second, _ = arrange(api)
    make_overdue(api, clock)
    response = api.post("payment_requests", request_body([second["lago_id"], first["lago_id"]]))
    assert response.status_code == 200, response.text
    made = response.json()["payment_request"]
    # 10000 + 10000 owed on the two invoices.
    assert made["amount_cents"] == 20000 and made["amount_currency"] == "USD"
    assert made["payment_status"] == "pending" and made["email"] == "billing@acme.test"
    assert made["customer"]["external_id"] == "acme"
    assert {i["lago_id"] for i in made["invoices"]} == {first["lago_id"], second["lago_id"]}

    assert api.get(f"payment_requests/{made['lago_id']}").json()["payment_request"] == made
    assert [r["lago_id"] for r in api.get("payment_requests").json()["payment_requests"]] == [
        made["lago_id"]
    ]
    assert api.get("customers/other/payment_requests").json()["payment_requests"] == []
    assert api.get("payment_requests?payment_status=succeeded").json()["payment_requests"] == []
    assert len(api.get("payment_requests?currency=usd").json()["payment_requests"]) == 1
    # No provider: nothing is charged.
    with api.database.unit_of_work() as session:
        assert session.scalars(select(ChargeAttempt)).all() == []

    # The webhook carries Lago's payment request object.
    with api.database.unit_of_work() as session:
        row = session.scalar(
            select(Webhook).where(Webhook.webhook_type == "payment_request.created")
        )
        assert row is not None
        body = json.loads(webhook_job.render(session, row))
    assert body["object_type"] == "payment_request"
    assert body["payment_request"]["lago_id"] == made["lago_id"]
    assert body["payment_request"]["amount_cents"] == 20000


def test_paying_every_invoice_settles_the_request(api: Any, clock: Any) -> None:
    first, second, _ = arrange(api)
    make_overdue(api, clock)
    made = api.post("payment_requests", request_body([first["lago_id"], second["lago_id"]]))
    request_id = made.json()["payment_request"]["lago_id"]
    pay = {"invoice_id": first["lago_id"], "amount_cents": TOTAL, "reference": "wire 1"}
    assert api.post("payments", {"payment": pay}).status_code == 200
    dunning.run_once(api.database, clock=clock)
    # One of two invoices paid: still pending.
    status = api.get(f"payment_requests/{request_id}").json()["payment_request"]
    assert status["payment_status"] == "pending"
    pay = {"invoice_id": second["lago_id"], "amount_cents": TOTAL, "reference": "wire 2"}
    assert api.post("payments", {"payment": pay}).status_code == 200
    dunning.run_once(api.database, clock=clock)
    status = api.get(f"payment_requests/{request_id}").json()["payment_request"]
    assert status["payment_status"] == "succeeded"
    with api.database.unit_of_work() as session:
        updates = session.scalars(
            select(Webhook).where(Webhook.webhook_type == "payment_request.payment_status_updated")
        ).all()
    assert len(updates) == 1


def test_bad_requests_are_refused_and_change_nothing(api: Any, clock: Any) -> None:
    first, _, foreign = arrange(api)
    # Not overdue yet (due today).
    early = api.post("payment_requests", request_body([first["lago_id"]]))
    assert early.status_code == 422
    assert early.json()["error_details"] == {"lago_invoice_ids": ["invoices_not_overdue"]}
    make_overdue(api, clock)
    other = api.post("payment_requests", request_body([foreign["lago_id"]]))
    assert other.status_code == 422
    assert other.json()["error_details"] == {"lago_invoice_ids": ["invoices_not_of_customer"]}
    missing = api.post("payment_requests", request_body(["00000000-0000-0000-0000-000000000000"]))
    assert missing.status_code == 404 and missing.json()["code"] == "invoice_not_found"
    empty = api.post("payment_requests", request_body([]))
    assert empty.status_code == 422
    bad_email = api.post("payment_requests", request_body([first["lago_id"]], email="nope"))
    assert bad_email.status_code == 422
    assert bad_email.json()["error_details"] == {"email": ["invalid_email_format"]}
    nobody = api.post(
        "payment_requests",
        {"payment_request": {"external_customer_id": "ghost", "lago_invoice_ids": ["x"]}},
    )
    assert nobody.status_code == 404 and nobody.json()["code"] == "customer_not_found"
    assert api.get("payment_requests").json()["payment_requests"] == []
    assert api.get("payment_requests/unknown").status_code == 404
    assert api.get("payment_requests?payment_status=lost").status_code == 422
