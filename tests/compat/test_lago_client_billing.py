"""The unmodified lago-python-client against the real server: invoices, fees, webhooks.

Two customers on the same plan (monthly, 10.00 USD in arrears + 0.10 USD per API call),
both subscribed on 2024-01-01 with calendar billing; the server's clock is frozen at
2024-01-15T12:00:00Z. One subscription is terminated through the client (termination
invoice); the other is billed for January by `meterly bill --as-of 2024-02-01T01:00:00Z`
(periodic invoice). Then download, payment status update, void, fees, webhook endpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    BatchEvent,
    BillableMetric,
    Customer,
    Invoice,
    Plan,
    Subscription,
    Tax,
    WebhookEndpoint,
)

from tests.compat.conftest import LagoServer


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return "2024-01-15T12:00:00Z"


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp())


@dataclass
class Billing:
    plan_code: str
    calls_code: str
    charge_id: str
    terminated_customer: str
    terminated_subscription: str
    billed_customer: str
    billed_subscription: str


def send_calls(lago_server: LagoServer, subscription_id: str, code: str, count: int) -> None:
    prefix = lago_server.unique("tx")
    lago_server.client.events.batch_create(
        BatchEvent.parse_obj(
            {
                "events": [
                    {
                        "transaction_id": f"{prefix}_{n}",
                        "external_subscription_id": subscription_id,
                        "code": code,
                        "timestamp": epoch("2024-01-05T10:00:00Z") + n,
                    }
                    for n in range(count)
                ]
            }
        )
    )


@pytest.fixture(scope="module")
def billing(lago_server: LagoServer) -> Billing:
    client = lago_server.client
    unique = lago_server.unique
    calls = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {"name": "API calls", "code": unique("calls"), "aggregation_type": "count_agg"}
        )
    )
    tax = client.taxes.create(Tax.parse_obj({"name": "VAT", "code": unique("vat"), "rate": 20.0}))
    plan = client.plans.create(
        Plan.parse_obj(
            {
                "name": "Metered",
                "code": unique("metered"),
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "USD",
                "pay_in_advance": False,
                "charges": [
                    {
                        "billable_metric_id": calls.lago_id,
                        "code": "calls",
                        "charge_model": "standard",
                        "properties": {"amount": "0.10"},
                    }
                ],
            }
        )
    )
    ids: dict[str, str] = {}
    for role, tax_codes in (("terminated", []), ("billed", [tax.code])):
        customer = client.customers.create(
            Customer.parse_obj(
                {
                    "external_id": unique(role),
                    "name": f"{role} customer",
                    "currency": "USD",
                    "tax_codes": tax_codes,
                }
            )
        )
        subscription = client.subscriptions.create(
            Subscription.parse_obj(
                {
                    "external_customer_id": customer.external_id,
                    "plan_code": plan.code,
                    "external_id": unique(f"sub_{role}"),
                    "billing_time": "calendar",
                    "subscription_at": "2024-01-01T00:00:00Z",
                }
            )
        )
        assert subscription.status == "active"
        ids[f"{role}_customer"] = customer.external_id
        ids[f"{role}_subscription"] = subscription.external_id
    send_calls(lago_server, ids["terminated_subscription"], calls.code, 10)
    send_calls(lago_server, ids["billed_subscription"], calls.code, 25)
    [charge] = plan.charges.__root__
    return Billing(plan_code=plan.code, calls_code=calls.code, charge_id=charge.lago_id, **ids)


def only_invoice(lago_server: LagoServer, external_customer_id: str) -> Any:
    listed = lago_server.client.invoices.find_all({"external_customer_id": external_customer_id})
    assert listed["meta"]["total_count"] == len(listed["invoices"]) == 1, listed
    return listed["invoices"][0]


def fees_by_type(invoice: Any) -> dict[str, Any]:
    fees = invoice.fees.__root__
    by_type = {fee.item.type: fee for fee in fees}
    assert len(by_type) == len(fees), [fee.item for fee in fees]
    return by_type


# --- termination --------------------------------------------------------------------


@pytest.fixture(scope="module")
def termination(lago_server: LagoServer, billing: Billing) -> Any:
    """The termination, once per module: later tests rely on it whichever runs first."""
    return lago_server.client.subscriptions.destroy(billing.terminated_subscription)


def test_terminating_a_subscription_issues_its_invoice(
    lago_server: LagoServer, billing: Billing, termination: Any
) -> None:
    client = lago_server.client
    terminated = termination
    assert terminated.external_id == billing.terminated_subscription
    assert terminated.status == "terminated"
    assert terminated.terminated_at == "2024-01-15T12:00:00Z"

    listed = only_invoice(lago_server, billing.terminated_customer)
    invoice = client.invoices.find(listed.lago_id)
    assert invoice.lago_id == listed.lago_id
    assert (invoice.invoice_type, invoice.status, invoice.payment_status) == (
        "subscription",
        "finalized",
        "pending",
    )
    assert invoice.currency == "USD"
    assert invoice.issuing_date == "2024-01-15"
    assert invoice.number
    [period] = invoice.billing_periods.__root__
    assert period.external_subscription_id == billing.terminated_subscription
    assert period.invoicing_reason == "subscription_terminating"
    assert period.subscription_from_datetime == "2024-01-01T00:00:00Z"
    assert period.charges_from_datetime == "2024-01-01T00:00:00Z"
    assert period.charges_to_datetime == "2024-01-15T12:00:00Z"

    fees = fees_by_type(invoice)
    # Subscription fee in arrears, prorated to the 15 days Jan 1..Jan 15 of 31:
    # 1000 x 15 / 31 = 483.87 -> 484 cents.
    assert fees["subscription"].amount_cents == 484
    # 10 calls x 0.10 USD = 1.00 USD = 100 cents.
    charge = fees["charge"]
    assert (charge.amount_cents, charge.units, charge.events_count) == (100, "10.0", 10)
    assert charge.lago_charge_id == billing.charge_id
    assert charge.item.code == billing.calls_code
    # No tax on this customer: 484 + 100 = 584.
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents) == (584, 0)
    assert (invoice.sub_total_including_taxes_amount_cents, invoice.total_amount_cents) == (
        584,
        584,
    )
    assert invoice.total_due_amount_cents == 584

    # A terminated subscription leaves the default (active) list and has no current usage.
    active = client.subscriptions.find_all({"external_customer_id": billing.terminated_customer})
    assert active["subscriptions"] == []
    ended = client.subscriptions.find_all(
        {"external_customer_id": billing.terminated_customer, "status[]": ["terminated"]}
    )
    assert [s.lago_id for s in ended["subscriptions"]] == [terminated.lago_id]
    with pytest.raises(LagoApiError) as raised:
        client.customers.current_usage(billing.terminated_customer, billing.terminated_subscription)
    assert raised.value.status_code == 405
    assert raised.value.response["code"] == "no_active_subscription"


# --- periodic billing ---------------------------------------------------------------


@pytest.fixture(scope="module")
def periodic_invoice(lago_server: LagoServer, billing: Billing, termination: Any) -> Any:
    lago_server.meterly("bill", "--as-of", "2024-02-01T01:00:00Z")
    listed = only_invoice(lago_server, billing.billed_customer)
    return lago_server.client.invoices.find(listed.lago_id)


def test_month_end_run_issues_the_periodic_invoice(
    lago_server: LagoServer, billing: Billing, periodic_invoice: Any
) -> None:
    invoice = periodic_invoice
    assert (invoice.invoice_type, invoice.status, invoice.payment_status) == (
        "subscription",
        "finalized",
        "pending",
    )
    assert invoice.issuing_date == "2024-02-01"
    # net_payment_term 0 (customer and organization defaults): due on the issuing date.
    assert (invoice.net_payment_term, invoice.payment_due_date) == (0, "2024-02-01")
    assert invoice.payment_overdue is False
    assert invoice.customer.external_id == billing.billed_customer
    [period] = invoice.billing_periods.__root__
    assert (period.subscription_from_datetime, period.subscription_to_datetime) == (
        "2024-01-01T00:00:00Z",
        "2024-01-31T23:59:59Z",
    )
    assert (period.charges_from_datetime, period.charges_to_datetime) == (
        "2024-01-01T00:00:00Z",
        "2024-01-31T23:59:59Z",
    )
    assert period.invoicing_reason == "subscription_periodic"
    fees = fees_by_type(invoice)
    # Full month in arrears: 1000 cents.
    subscription = fees["subscription"]
    assert (subscription.amount_cents, subscription.units) == (1000, "1.0")
    # 25 calls x 0.10 = 2.50 USD = 250 cents.
    charge = fees["charge"]
    assert (charge.amount_cents, charge.units, charge.events_count) == (250, "25.0", 25)
    assert charge.precise_unit_amount == "0.1"
    # VAT 20 % on 1250 = 250; total 1500.
    assert (invoice.fees_amount_cents, invoice.taxes_amount_cents) == (1250, 250)
    assert invoice.sub_total_excluding_taxes_amount_cents == 1250
    assert invoice.sub_total_including_taxes_amount_cents == 1500
    assert (invoice.total_amount_cents, invoice.total_due_amount_cents) == (1500, 1500)
    assert (invoice.coupons_amount_cents, invoice.prepaid_credit_amount_cents) == (0, 0)
    [applied] = invoice.applied_taxes.__root__
    assert (applied.tax_rate, applied.amount_cents) == (20.0, 250)


def test_a_second_run_issues_nothing_more(
    lago_server: LagoServer, billing: Billing, periodic_invoice: Any
) -> None:
    lago_server.meterly("bill", "--as-of", "2024-02-01T02:00:00Z")
    assert only_invoice(lago_server, billing.billed_customer).lago_id == periodic_invoice.lago_id
    # The terminated subscription was billed at termination, not again at month end.
    assert only_invoice(lago_server, billing.terminated_customer).fees_amount_cents == 584


def test_past_usage_lists_the_billed_period(
    lago_server: LagoServer, billing: Billing, periodic_invoice: Any
) -> None:
    past = lago_server.client.customers.past_usage(
        billing.billed_customer, billing.billed_subscription
    )
    [period] = past["usage_periods"]
    assert past["meta"]["total_count"] == 1
    assert period.lago_invoice_id == periodic_invoice.lago_id
    assert (period.from_datetime, period.to_datetime) == (
        "2024-01-01T00:00:00Z",
        "2024-01-31T23:59:59Z",
    )
    [row] = period.charges_usage
    assert row.charge.lago_id == billing.charge_id
    # Usage only (the subscription fee is not usage): 25 calls x 0.10 = 250 cents.
    assert (row.units, row.events_count, row.amount_cents) == ("25.0", 25, 250)
    assert period.amount_cents == 250


def test_download_gives_a_pdf(lago_server: LagoServer, periodic_invoice: Any) -> None:
    client = lago_server.client
    # Lago may answer 200 with an empty body while the file is generated (client -> None).
    downloaded = None
    for _attempt in range(20):
        downloaded = client.invoices.download(periodic_invoice.lago_id)
        if downloaded is not None and downloaded.file_url:
            break
        time.sleep(0.25)
    assert downloaded is not None
    assert downloaded.lago_id == periodic_invoice.lago_id
    assert downloaded.file_url
    pdf = httpx.get(downloaded.file_url, follow_redirects=True)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert client.invoices.find(periodic_invoice.lago_id).file_url == downloaded.file_url


def test_update_payment_status(lago_server: LagoServer, periodic_invoice: Any) -> None:
    client = lago_server.client
    updated = client.invoices.update(
        Invoice.parse_obj({"payment_status": "succeeded"}), periodic_invoice.lago_id
    )
    assert (updated.lago_id, updated.payment_status) == (periodic_invoice.lago_id, "succeeded")
    assert client.invoices.find(periodic_invoice.lago_id).payment_status == "succeeded"
    customer_id = periodic_invoice.customer.external_id
    succeeded = client.invoices.find_all(
        {"external_customer_id": customer_id, "payment_status": "succeeded"}
    )
    assert [i.lago_id for i in succeeded["invoices"]] == [periodic_invoice.lago_id]
    pending = client.invoices.find_all(
        {"external_customer_id": customer_id, "payment_status": "pending"}
    )
    assert pending["invoices"] == []


def test_void_the_termination_invoice(
    lago_server: LagoServer, billing: Billing, termination: Any
) -> None:
    client = lago_server.client
    invoice = only_invoice(lago_server, billing.terminated_customer)
    voided = client.invoices.void(invoice.lago_id)
    assert (voided.lago_id, voided.status) == (invoice.lago_id, "voided")
    assert voided.voided_at
    assert client.invoices.find(invoice.lago_id).status == "voided"
    with pytest.raises(LagoApiError) as raised:
        client.invoices.update(Invoice.parse_obj({"payment_status": "succeeded"}), invoice.lago_id)
    assert raised.value.status_code == 405
    assert raised.value.response["code"] == "update_on_voided_invoice"


def test_unknown_invoice_is_404(lago_server: LagoServer) -> None:
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.invoices.find("00000000-0000-4000-8000-000000000000")
    assert raised.value.status_code == 404
    assert raised.value.response["code"] == "invoice_not_found"


def test_fees_find_all_and_find(
    lago_server: LagoServer, billing: Billing, periodic_invoice: Any
) -> None:
    client = lago_server.client
    listed = client.fees.find_all({"external_customer_id": billing.billed_customer})
    fees = {fee.lago_id: fee for fee in listed["fees"]}
    assert set(fees) == {fee.lago_id for fee in periodic_invoice.fees.__root__}
    assert listed["meta"]["total_count"] == 2
    amounts = sorted(
        (f.amount_cents, f.taxes_amount_cents, f.total_amount_cents) for f in fees.values()
    )
    # 20 % VAT per fee: 1000 -> 200, 250 -> 50.
    assert amounts == [(250, 50, 300), (1000, 200, 1200)]
    charge_fee = next(f for f in fees.values() if f.lago_charge_id == billing.charge_id)
    assert charge_fee.lago_invoice_id == periodic_invoice.lago_id
    assert charge_fee.external_subscription_id == billing.billed_subscription
    [applied] = charge_fee.applied_taxes.__root__
    assert (applied.tax_rate, applied.amount_cents) == (20.0, 50)
    found = client.fees.find(charge_fee.lago_id)
    assert (found.lago_id, found.amount_cents, found.units) == (charge_fee.lago_id, 250, "25.0")


# --- webhook endpoints --------------------------------------------------------------


def test_webhook_endpoint_lifecycle(lago_server: LagoServer) -> None:
    client = lago_server.client
    url = f"https://hooks.example/{lago_server.unique('lago')}"
    created = client.webhook_endpoints.create(
        WebhookEndpoint.parse_obj({"webhook_url": url, "signature_algo": "hmac", "name": "Ops"})
    )
    assert created.lago_id
    assert (created.webhook_url, created.signature_algo, created.name) == (url, "hmac", "Ops")
    assert created.lago_organization_id == lago_server.organization_id
    assert created.created_at.endswith("Z")

    found = client.webhook_endpoints.find(created.lago_id)
    assert (found.lago_id, found.webhook_url) == (created.lago_id, url)

    url = f"{url}/v2"
    updated = client.webhook_endpoints.update(
        WebhookEndpoint.parse_obj({"webhook_url": url, "name": "Ops v2"}), created.lago_id
    )
    assert (updated.lago_id, updated.webhook_url, updated.name) == (created.lago_id, url, "Ops v2")
    assert updated.signature_algo == "hmac"

    listed = client.webhook_endpoints.find_all()
    assert url in {endpoint.webhook_url for endpoint in listed["webhook_endpoints"]}

    destroyed = client.webhook_endpoints.destroy(created.lago_id)
    assert destroyed.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as raised:
        client.webhook_endpoints.find(created.lago_id)
    assert raised.value.status_code == 404
    assert raised.value.response["code"] == "webhook_endpoint_not_found"
    remaining = client.webhook_endpoints.find_all()["webhook_endpoints"]
    assert url not in {endpoint.webhook_url for endpoint in remaining}


def test_webhook_endpoint_with_jwt_signature(lago_server: LagoServer) -> None:
    client = lago_server.client
    url = f"https://hooks.example/{lago_server.unique('jwt')}"
    created = client.webhook_endpoints.create(
        WebhookEndpoint.parse_obj({"webhook_url": url, "signature_algo": "jwt"})
    )
    assert (created.webhook_url, created.signature_algo) == (url, "jwt")
    # The client fetches the key that verifies JWT signatures (Base64 PEM, decoded for us).
    public_key = client.webhooks.public_key()
    assert public_key.startswith(b"-----BEGIN PUBLIC KEY-----")
