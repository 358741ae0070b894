"""The whole loop of getting paid, on SQLite and PostgreSQL (issue 13's "done when").

Real components only: the application served over HTTP (uvicorn), localstripe as Stripe
(with its Stripe.js stand-in and its own signed webhook deliveries), aiosmtpd as the mail
server, and Chromium on the hosted payment page.

Both customers subscribe on 2024-01-01 to a monthly plan of 10.00 USD in arrears with a
charge of 2.00 USD per API call, no tax. Each sends 5 calls in January, so February's
first billing run finalizes an invoice of 1000 + 5 x 200 = 2000 cents each.

- "payer" opens the invoice's payment link and pays by card in Chromium;
- "late" has a card on file that is declined: the collection job fails, the invoice is
  overdue the next day, a dunning campaign (every 3 days, 2 attempts, from 10.00 USD)
  makes two attempts with a reminder each, both declined; then the customer pays on the
  hosted page with a good card, and the next dunning pass settles both requests.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from meterly.jobs import mail as mail_job
from meterly.services import runs
from meterly.services.billing import invoices as invoice_service
from meterly.services.payments import collection, dunning
from meterly.store.tables import ProviderEvent
from tests.browser.conftest import browser, page  # noqa: F401 - fixtures
from tests.mail.conftest import FROM, SmtpServer, smtp_env, smtp_server  # noqa: F401
from tests.payments.conftest import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    LiveServer,
    provider_customer,
)

pytestmark = pytest.mark.browser

TOTAL = 2000  # 1000 (plan) + 5 calls x 200
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"
FEB = datetime(2024, 2, 1, 1, tzinfo=UTC)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def arrange(live: LiveServer, localstripe: str, stripe_client: stripe.StripeClient) -> None:
    connection = {
        "code": "stripe_main",
        "secret_key": SECRET_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": localstripe,
        "publishable_key": "pk_test_meterly",
    }
    ok(live.put("payment_providers/stripe", {"payment_provider": connection}))
    endpoint = {"webhook_url": "https://hooks.example.com/meterly", "signature_algo": "hmac"}
    ok(live.post("webhook_endpoints", {"webhook_endpoint": endpoint}))
    metric = {"name": "API calls", "code": "calls", "aggregation_type": "count_agg"}
    ok(live.post("billable_metrics", {"billable_metric": metric}))
    metric_id = ok(live.get("billable_metrics/calls"))["billable_metric"]["lago_id"]
    plan = {
        "name": "Starter",
        "code": "starter",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "USD",
        "pay_in_advance": False,
        "charges": [
            {
                "billable_metric_id": metric_id,
                "charge_model": "standard",
                "properties": {"amount": "2"},
            }
        ],
    }
    ok(live.post("plans", {"plan": plan}))
    ok(
        live.post(
            "dunning_campaigns",
            {
                "dunning_campaign": {
                    "code": "standard",
                    "name": "Standard",
                    "applied_to_organization": True,
                    "days_between_attempts": 3,
                    "max_attempts": 2,
                    "thresholds": [{"currency": "USD", "amount_cents": 1000}],
                }
            },
        )
    )
    # "payer" has no card yet (it pays on the page); "late" has a card that is declined.
    for external_id, card in (("payer", None), ("late", DECLINED_CARD)):
        billing = {
            "payment_provider": "stripe",
            "provider_customer_id": provider_customer(stripe_client, card),
        }
        customer = {
            "external_id": external_id,
            "name": f"{external_id.title()} Ltd",
            "currency": "USD",
            "email": f"ap@{external_id}.test",
            "billing_configuration": billing,
        }
        ok(live.post("customers", {"customer": customer}))
        subscription = {
            "external_customer_id": external_id,
            "plan_code": "starter",
            "external_id": f"sub_{external_id}",
            "billing_time": "calendar",
            "subscription_at": "2024-01-01T00:00:00Z",
        }
        ok(live.post("subscriptions", {"subscription": subscription}))
        events = [
            {
                "transaction_id": f"{external_id}-{n}",
                "external_subscription_id": f"sub_{external_id}",
                "code": "calls",
                "timestamp": int(datetime(2024, 1, 10 + n, tzinfo=UTC).timestamp()),
            }
            for n in range(5)
        ]
        ok(live.post("events/batch", {"events": events}))
    # localstripe delivers its own signed events for succeeded payments to Meterly.
    hook = {
        "url": f"{live.base}/webhooks/stripe/{live.org_id}",
        "secret": WEBHOOK_SECRET,
        "events": ["payment_intent.succeeded"],
    }
    httpx.post(
        f"{localstripe}/_config/webhooks/meterly-{live.org_id}", json=hook
    ).raise_for_status()


def messages_to(smtp: SmtpServer, address: str) -> list[EmailMessage]:
    return [m.message for m in smtp.messages if address in m.rcpt_tos]


def subjects(messages: list[EmailMessage]) -> list[str]:
    return [str(m["Subject"]) for m in messages]


def pdf_attachment(message: EmailMessage) -> bytes:
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    content: bytes = attachment.get_content()
    return content


def pay_on_page(live: LiveServer, page: Any, invoice_id: str, card: str) -> None:  # noqa: F811
    url = ok(live.post(f"invoices/{invoice_id}/payment_url"))["invoice_payment_details"][
        "payment_url"
    ]
    page.goto(url)
    assert "20.00" in page.inner_text("#amount-due")
    page.fill("input[placeholder=number]", card)
    page.fill("input[placeholder=exp_month]", "12")
    page.fill("input[placeholder=exp_year]", "30")
    page.fill("input[placeholder=cvc]", "123")
    page.fill("input[placeholder=postal_code]", "75001")
    page.click("#pay-button")
    page.wait_for_selector("#pay-status[data-kind=done]")
    assert page.inner_text("#pay-status") == "Paid. Thank you."


def wait_for_provider_events(live: LiveServer, count: int) -> list[str]:
    """localstripe's deliveries arrive about a second after the payment."""
    deadline = time.monotonic() + 30
    received: list[str] = []
    while time.monotonic() < deadline:
        with live.database.unit_of_work() as session:
            received = [e.event_type for e in session.scalars(select(ProviderEvent))]
        if len(received) >= count:
            break
        time.sleep(0.2)
    return received


def test_events_to_paid_invoices_and_dunning(
    live_server: LiveServer,
    clock: Any,
    localstripe: str,
    stripe_client: stripe.StripeClient,
    smtp_env: SmtpServer,  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    live = live_server
    database = live.database
    keys = live.keys
    arrange(live, localstripe, stripe_client)

    # February's billing run finalizes both January invoices; each is e-mailed with its PDF.
    clock.set(FEB)
    report = runs.run(database, as_of=FEB, clock=clock)
    assert report.errors == [] and len(report.invoices) == 2
    invoices = {
        i["customer"]["external_id"]: i
        for i in ok(live.get("invoices?status=finalized"))["invoices"]
    }
    assert {k: v["total_amount_cents"] for k, v in invoices.items()} == {
        "payer": TOTAL,
        "late": TOTAL,
    }
    mail_job.deliver_due(database, clock=clock)
    [invoice_mail] = messages_to(smtp_env, "ap@payer.test")
    assert invoice_mail["From"] == f"Acme Billing <{FROM}>"
    assert invoices["payer"]["number"] in str(invoice_mail["Subject"])
    assert pdf_attachment(invoice_mail).startswith(b"%PDF")

    # The collection job: "payer" has no card yet and "late" is declined: both fail.
    collection.run_once(database, keys=keys, clock=clock)
    late = ok(live.get(f"invoices/{invoices['late']['lago_id']}"))["invoice"]
    assert late["payment_status"] == "failed"

    # "payer" pays on the hosted page; the provider's signed webhook follows and verifies.
    pay_on_page(live, page, invoices["payer"]["lago_id"], GOOD_CARD)
    paid = ok(live.get(f"invoices/{invoices['payer']['lago_id']}"))["invoice"]
    assert paid["payment_status"] == "succeeded" and paid["total_paid_amount_cents"] == TOTAL
    assert wait_for_provider_events(live, 1) == ["payment_intent.succeeded"]
    [receipt] = ok(live.get(f"payment_receipts?invoice_id={paid['lago_id']}"))["payment_receipts"]
    mail_job.deliver_due(database, clock=clock)
    receipt_mail = messages_to(smtp_env, "ap@payer.test")[-1]
    assert str(receipt_mail["Subject"]) == f"Receipt {receipt['number']} from Acme Billing"
    assert pdf_attachment(receipt_mail).startswith(b"%PDF")

    # "late": overdue the next day, dunned twice three days apart, declined each time.
    for days in (1, 3):
        clock.advance(timedelta(days=days))
        with database.unit_of_work() as session:
            invoice_service.mark_overdue(session, clock=clock)
        assert dunning.run_once(database, clock=clock) == 1
        assert collection.run_once(database, keys=keys, clock=clock) == 1
        mail_job.deliver_due(database, clock=clock)
    requests = ok(live.get("customers/late/payment_requests"))["payment_requests"]
    assert len(requests) == 2
    assert all(r["amount_cents"] == TOTAL for r in requests)
    dunning.run_once(database, clock=clock)  # the requests follow their declined charges
    statuses = [r["payment_status"] for r in ok(live.get("payment_requests"))["payment_requests"]]
    assert statuses == ["failed", "failed"]
    late_mail = messages_to(smtp_env, "ap@late.test")
    assert subjects(late_mail)[1:] == ["Payment reminder from Acme Billing"] * 2
    reminder = late_mail[-1].get_body(preferencelist=("plain",))
    assert reminder is not None and invoices["late"]["number"] in reminder.get_content()

    # Then "late" pays with a good card on the hosted page: the invoice, both requests
    # and the customer's place in the campaign are settled.
    pay_on_page(live, page, invoices["late"]["lago_id"], GOOD_CARD)
    settled = ok(live.get(f"invoices/{invoices['late']['lago_id']}"))["invoice"]
    assert settled["payment_status"] == "succeeded"
    dunning.run_once(database, clock=clock)
    statuses = [r["payment_status"] for r in ok(live.get("payment_requests"))["payment_requests"]]
    assert statuses == ["succeeded", "succeeded"]
    state = ok(live.get("customers/late/dunning_campaign"))["customer"]
    assert state["last_dunning_campaign_attempt"] == 0
    mail_job.deliver_due(database, clock=clock)
    assert subjects(messages_to(smtp_env, "ap@late.test"))[-1].startswith("Receipt ")
    assert wait_for_provider_events(live, 2) == ["payment_intent.succeeded"] * 2
