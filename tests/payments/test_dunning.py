"""Dunning campaigns against localstripe and a real SMTP server, on SQLite and PostgreSQL.

The invoice is one add-on of 100.00 USD, no tax: 10000 cents, issued 2024-01-15 with no
payment term, so it is due that day and overdue from 2024-01-16.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from meterly.jobs import mail as mail_job
from meterly.services.billing import invoices as invoice_service
from meterly.services.payments import dunning, payment_requests
from meterly.store.tables import ChargeAttempt, Customer, Invoice, PaymentRequest
from meterly.web import install_web
from tests.mail.conftest import SmtpServer, smtp_env, smtp_server  # noqa: F401 - fixtures
from tests.payments.conftest import provider_customer
from tests.payments.test_payments_stripe import TOTAL, collect, connect, invoice_for, webhooks_of

DECLINED = "4000000000000341"  # attaches to the customer, then every charge is declined
CAMPAIGN = {
    "code": "standard",
    "name": "Standard reminders",
    "applied_to_organization": True,
    "days_between_attempts": 3,
    "max_attempts": 2,
    "thresholds": [{"currency": "USD", "amount_cents": 5000}],
}


def customer_with_card(
    api: Any, stripe_client: stripe.StripeClient, external_id: str, card: str | None
) -> None:
    billing: dict[str, Any] = {"payment_provider": "stripe"}
    billing["provider_customer_id"] = provider_customer(stripe_client, card)
    body = {
        "external_id": external_id,
        "currency": "USD",
        "email": f"{external_id}@customer.test",
        "billing_configuration": billing,
    }
    response = api.post("customers", {"customer": body})
    assert response.status_code == 200, response.text


def campaign(api: Any, **changes: Any) -> dict[str, Any]:
    response = api.post("dunning_campaigns", {"dunning_campaign": {**CAMPAIGN, **changes}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["dunning_campaign"]
    return body


def overdue(api: Any, clock: Any) -> None:
    """A day later the invoice is past due (the billing run marks it so)."""
    clock.advance(timedelta(days=1))
    with api.database.unit_of_work() as session:
        invoice_service.mark_overdue(session, clock=clock)


def dun(api: Any, clock: Any) -> int:
    return dunning.run_once(api.database, clock=clock)


def requests_of(api: Any, external_id: str) -> list[dict[str, Any]]:
    response = api.get(f"customers/{external_id}/payment_requests")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["payment_requests"]
    return items


def test_campaign_validation_changes_nothing(api: Any) -> None:
    bad = api.post("dunning_campaigns", {"dunning_campaign": {**CAMPAIGN, "max_attempts": 0}})
    assert bad.status_code == 422 and "max_attempts" in bad.json()["error_details"]
    bad = api.post(
        "dunning_campaigns",
        {"dunning_campaign": {**CAMPAIGN, "thresholds": [{"currency": "US", "amount_cents": 1}]}},
    )
    assert bad.status_code == 422 and bad.json()["error_details"] == {
        "thresholds": ["invalid_currency"]
    }
    assert api.get("dunning_campaigns").json()["dunning_campaigns"] == []
    assert api.get("dunning_campaigns/standard").status_code == 404


def test_one_default_campaign_per_organization(api: Any) -> None:
    campaign(api)
    campaign(api, code="strict", name="Strict")
    listed = {c["code"]: c for c in api.get("dunning_campaigns").json()["dunning_campaigns"]}
    # Creating "strict" as the default took the role from "standard".
    assert listed["strict"]["applied_to_organization"] is True
    assert listed["standard"]["applied_to_organization"] is False
    again = api.post("dunning_campaigns", {"dunning_campaign": CAMPAIGN})
    assert again.status_code == 422 and again.json()["error_details"] == {
        "code": ["value_already_exist"]
    }


def test_declined_customer_is_dunned_twice_then_the_campaign_finishes(
    api: Any,
    clock: Any,
    localstripe: str,
    stripe_client: stripe.StripeClient,
    smtp_env: SmtpServer,  # noqa: F811
) -> None:
    connect(api, localstripe)
    customer_with_card(api, stripe_client, "late", DECLINED)
    campaign(api)
    invoice = invoice_for(api, "late")
    assert collect(api, clock) == 1  # the first charge, declined
    overdue(api, clock)

    # Attempt 1: a payment request of the overdue invoice, a reminder, a new charge.
    assert dun(api, clock) == 1
    [first] = requests_of(api, "late")
    assert first["amount_cents"] == TOTAL and first["amount_currency"] == "USD"
    assert first["payment_status"] == "pending" and first["email"] == "late@customer.test"
    assert [i["lago_id"] for i in first["invoices"]] == [invoice["lago_id"]]
    # Nothing more until the three days between attempts have passed.
    assert dun(api, clock) == 0
    assert collect(api, clock) == 1  # attempt 2 of the invoice's charge: declined again
    dun(api, clock)
    [first] = requests_of(api, "late")
    assert first["payment_status"] == "failed"
    assert webhooks_of(api, "payment_request.created") == 1
    assert webhooks_of(api, "payment_request.payment_failure") == 1
    assert webhooks_of(api, "payment_request.payment_status_updated") == 1

    # Attempt 2, three days later.
    clock.advance(timedelta(days=3))
    assert dun(api, clock) == 1
    assert len(requests_of(api, "late")) == 2
    assert collect(api, clock) == 1
    state = api.get("customers/late/dunning_campaign").json()["customer"]
    assert state["last_dunning_campaign_attempt"] == 2
    assert state["dunning_campaign_completed"] is False

    # No third attempt: once the last delay has passed, the campaign is finished, once.
    clock.advance(timedelta(days=3))
    assert dun(api, clock) == 0
    assert dun(api, clock) == 0
    assert webhooks_of(api, "dunning_campaign.finished") == 1
    assert len(requests_of(api, "late")) == 2
    state = api.get("customers/late/dunning_campaign").json()["customer"]
    assert state["dunning_campaign_completed"] is True

    # The operator sees the same on the customer's dashboard page: the campaign, 2 of 2
    # attempts made, finished, and both requests (attempts 1 and 2, 100.00 USD each).
    install_web(api.client.app)
    signed = api.client.post("/dashboard/login", data={"api_key": api.key}, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    page = api.client.get("/dashboard/customers/late").text
    dunning_line = page.split('id="customer-dunning">')[1].split("</p>")[0]
    assert "Standard reminders" in dunning_line and "2 of 2 attempts made" in dunning_line
    assert "finished without payment" in dunning_line
    rows = page.split('id="customer-payment-requests"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 3  # the header and two requests
    # Both declined: each request's status badge says so.
    assert rows.count(">failed</span>") == 2

    # Each attempt's reminder reached the customer, listing the overdue invoice.
    mail_job.deliver_due(api.database, clock=clock)
    reminders = [
        m.message for m in smtp_env.messages if m.message["Subject"] == "Payment reminder from Acme"
    ]
    assert len(reminders) == 2
    text = reminders[0].get_body(preferencelist=("plain",))
    assert text is not None and invoice["number"] in text.get_content()
    assert reminders[0]["To"] == "late@customer.test"

    # Paid by bank transfer: the last request is settled and the customer starts afresh.
    paid = api.post(
        "payments",
        {"payment": {"invoice_id": invoice["lago_id"], "amount_cents": TOTAL, "reference": "wire"}},
    )
    assert paid.status_code == 200, paid.text
    dun(api, clock)
    statuses = sorted(r["payment_status"] for r in requests_of(api, "late"))
    assert statuses == ["succeeded", "succeeded"]
    state = api.get("customers/late/dunning_campaign").json()["customer"]
    assert state["last_dunning_campaign_attempt"] == 0


def test_below_threshold_or_excluded_customers_are_left_alone(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    customer_with_card(api, stripe_client, "small", DECLINED)
    customer_with_card(api, stripe_client, "excluded", DECLINED)
    # 10000 owed is below a threshold of 10001.
    campaign(api, thresholds=[{"currency": "USD", "amount_cents": 10001}])
    campaign(
        api,
        code="eur_only",
        name="EUR only",
        applied_to_organization=False,
        thresholds=[{"currency": "EUR", "amount_cents": 1}],
    )
    excluded = api.put(
        "customers/excluded/dunning_campaign",
        {"customer": {"exclude_from_dunning_campaign": True}},
    )
    assert (
        excluded.status_code == 200
        and excluded.json()["customer"]["exclude_from_dunning_campaign"] is True
    )
    invoice_for(api, "small")
    invoice_for(api, "excluded")
    overdue(api, clock)
    assert dun(api, clock) == 0
    # Applying a campaign with no USD threshold does not chase a USD balance either.
    applied = api.put(
        "customers/small/dunning_campaign",
        {"customer": {"applied_dunning_campaign_code": "eur_only"}},
    )
    assert applied.json()["customer"]["applied_dunning_campaign_code"] == "eur_only"
    assert dun(api, clock) == 0
    assert requests_of(api, "small") == [] and requests_of(api, "excluded") == []
    unknown = api.put(
        "customers/small/dunning_campaign",
        {"customer": {"applied_dunning_campaign_code": "nope"}},
    )
    assert unknown.status_code == 404


def test_an_attempt_is_made_once_even_by_two_workers(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    customer_with_card(api, stripe_client, "late", DECLINED)
    made = campaign(api)
    invoice = invoice_for(api, "late")
    overdue(api, clock)
    key = payment_requests.DunningAttempt(campaign_id=made["lago_id"], attempt=1)

    def attempt() -> None:
        with api.database.unit_of_work() as session:
            customer = session.scalar(select(Customer).where(Customer.external_id == "late"))
            found = session.get(Invoice, invoice["lago_id"])
            assert customer is not None and found is not None
            payment_requests.issue(
                session, customer=customer, invoices=[found], email=None, dunning=key, clock=clock
            )

    attempt()
    # The second worker's request for the same (campaign, customer, attempt) is refused and
    # its unit of work writes nothing: still one request and one charge queued by it.
    with pytest.raises(payment_requests.AttemptTaken):
        attempt()
    with api.database.unit_of_work() as session:
        assert len(session.scalars(select(PaymentRequest)).all()) == 1
        assert len(session.scalars(select(ChargeAttempt)).all()) == 1
