"""The unmodified lago-python-client against the real server: the calls no other compat
module makes (docs/lago-client-coverage.md).

Drafts (refresh, finalize, destroy), a lost dispute, void with a credit note, retry, the
invoice preview, the customer portal link, current usage of one charge (by id or by
metric code), the payment status of a fee outside any invoice, and what the client's
`evaluate_expression` (which sends no body, lago-api.md §9.3) gets back. The server's
clock is frozen at 2024-01-15T12:00:00Z; one server per backend for the whole module.

The catalogue, used by every test:

    plan  "Remaining", monthly, 10.00 USD in arrears, calendar billing, no taxes
      calls  count_agg, standard 1.00 USD per call, in arrears
      seats  count_agg, standard 2.50 USD per seat, paid in advance, not invoiceable
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AddOn,
    BillableMetric,
    BillableMetricEvaluateExpression,
    Customer,
    Event,
    Fee,
    InvoicePreview,
    OneOffInvoice,
    Plan,
    Subscription,
)

from tests.compat.conftest import LagoServer

NOW = "2024-01-15T12:00:00Z"
# 2024-01-05T00:00:00Z in epoch seconds: inside January's period, before the frozen now.
JAN_5 = 1704412800


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return NOW


def api_error(call: Any, *args: Any) -> LagoApiError:
    with pytest.raises(LagoApiError) as caught:
        call(*args)
    return caught.value


@dataclass
class Catalogue:
    plan_code: str
    calls_code: str  # metric code, also the charge's code
    seats_code: str
    add_on_code: str  # 50.00 USD, no tax


@pytest.fixture(scope="module")
def catalogue(lago_server: LagoServer) -> Catalogue:
    client = lago_server.client
    unique = lago_server.unique
    metrics = [
        client.billable_metrics.create(
            BillableMetric.parse_obj(
                {"name": name, "code": unique(name), "aggregation_type": "count_agg"}
            )
        )
        for name in ("calls", "seats")
    ]
    calls, seats = metrics
    plan = client.plans.create(
        Plan.parse_obj(
            {
                "name": "Remaining",
                "code": unique("remaining"),
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "USD",
                "pay_in_advance": False,
                "charges": [
                    {
                        "billable_metric_id": calls.lago_id,
                        "code": calls.code,
                        "charge_model": "standard",
                        "properties": {"amount": "1.00"},
                    },
                    {
                        "billable_metric_id": seats.lago_id,
                        "code": seats.code,
                        "charge_model": "standard",
                        "pay_in_advance": True,
                        "invoiceable": False,
                        "properties": {"amount": "2.50"},
                    },
                ],
            }
        )
    )
    add_on = client.add_ons.create(
        AddOn.parse_obj(
            {
                "name": "Setup",
                "code": unique("setup"),
                "amount_cents": 5000,
                "amount_currency": "USD",
            }
        )
    )
    return Catalogue(plan.code, calls.code, seats.code, add_on.code)


def subscribe(lago_server: LagoServer, catalogue: Catalogue, **customer: Any) -> tuple[str, str]:
    """A new USD customer on the plan since 2024-01-01: (customer id, subscription id)."""
    client = lago_server.client
    created = client.customers.create(
        Customer.parse_obj(
            {
                "external_id": lago_server.unique("cust"),
                "name": "Remaining customer",
                "currency": "USD",
                **customer,
            }
        )
    )
    subscription = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": created.external_id,
                "plan_code": catalogue.plan_code,
                "external_id": lago_server.unique("sub"),
                "billing_time": "calendar",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        )
    )
    return str(created.external_id), str(subscription.external_id)


def send(lago_server: LagoServer, subscription_id: str, code: str, count: int) -> None:
    for _ in range(count):
        lago_server.client.events.create(
            Event.parse_obj(
                {
                    "transaction_id": lago_server.unique("tr"),
                    "external_subscription_id": subscription_id,
                    "code": code,
                    "timestamp": JAN_5,
                }
            )
        )


def terminated_draft(lago_server: LagoServer, catalogue: Catalogue) -> Any:
    """A customer with a 3-day grace period, 3 calls, terminated now: its draft invoice.

    Termination invoice, 2024-01-01 .. 2024-01-15 (15 of January's 31 days):
        plan fee  1000 x 15 / 31 = 483.87 -> 484 cents
        calls     3 x 100        =           300 cents
        total                                784 cents (no taxes)
    """
    client = lago_server.client
    customer_id, subscription_id = subscribe(
        lago_server, catalogue, billing_configuration={"invoice_grace_period": 3}
    )
    send(lago_server, subscription_id, catalogue.calls_code, 3)
    client.subscriptions.destroy(subscription_id)
    [draft] = client.invoices.find_all({"external_customer_id": customer_id})["invoices"]
    assert draft.status == "draft"
    return draft


# --- invoices -----------------------------------------------------------------------------


def test_a_draft_is_refreshed_finalized_then_its_dispute_lost(
    lago_server: LagoServer, catalogue: Catalogue
) -> None:
    client = lago_server.client
    draft = terminated_draft(lago_server, catalogue)
    assert draft.total_amount_cents == 784  # see terminated_draft

    refreshed = client.invoices.refresh(draft.lago_id)
    assert (refreshed.lago_id, refreshed.status, refreshed.total_amount_cents) == (
        draft.lago_id,
        "draft",
        784,
    )
    finalized = client.invoices.finalize(draft.lago_id)
    assert (finalized.status, finalized.total_amount_cents) == ("finalized", 784)
    assert finalized.number and finalized.number != draft.number
    # Finalizing twice: Lago answers 404 for an invoice that is no longer a draft.
    assert api_error(client.invoices.finalize, draft.lago_id).status_code == 404

    # The client sends PUT where Lago routes POST (§9.2): the server accepts both.
    lost = client.invoices.lose_dispute(draft.lago_id)
    assert lost.payment_dispute_lost_at == NOW
    assert client.invoices.find(draft.lago_id).payment_dispute_lost_at == NOW

    # Only a failed invoice is retried; a finalized one is refused and left as it is.
    error = api_error(client.invoices.retry, draft.lago_id)
    assert (error.status_code, error.response["code"]) == (405, "invalid_status")
    assert client.invoices.find(draft.lago_id).status == "finalized"


def test_a_draft_is_destroyed(lago_server: LagoServer, catalogue: Catalogue) -> None:
    client = lago_server.client
    draft = terminated_draft(lago_server, catalogue)
    deleted = client.invoices.destroy(draft.lago_id)
    assert (deleted.lago_id, deleted.status) == (draft.lago_id, "deleted")
    assert api_error(client.invoices.find, draft.lago_id).status_code == 404
    customer_id = draft.customer.external_id
    assert client.invoices.find_all({"external_customer_id": customer_id})["invoices"] == []


def test_void_with_a_credit_note(lago_server: LagoServer, catalogue: Catalogue) -> None:
    client = lago_server.client
    customer = client.customers.create(
        Customer.parse_obj({"external_id": lago_server.unique("cust"), "currency": "USD"})
    )
    invoice = client.invoices.create(
        OneOffInvoice.parse_obj(
            {
                "external_customer_id": customer.external_id,
                "currency": "USD",
                "fees": [{"add_on_code": catalogue.add_on_code, "units": 1}],
            }
        )
    )
    # One add-on at 50.00 USD, no taxes: 5000 cents.
    assert (invoice.status, invoice.total_amount_cents) == ("finalized", 5000)

    voided = client.invoices.void_invoice(
        invoice.lago_id, {"generate_credit_note": True, "credit_amount": 5000}
    )
    assert voided.status == "voided"
    notes = client.credit_notes.find_all({"external_customer_id": customer.external_id})
    [note] = notes["credit_notes"]
    # The whole 5000 given back as credit, nothing refunded (the invoice was never paid).
    assert (note.lago_invoice_id, note.total_amount_cents) == (invoice.lago_id, 5000)
    assert (note.credit_amount_cents, note.refund_amount_cents) == (5000, 0)
    assert client.credit_notes.find(note.lago_id).credit_status == "available"


def test_preview_prices_a_supposed_subscription_and_stores_nothing(
    lago_server: LagoServer, catalogue: Catalogue
) -> None:
    client = lago_server.client
    external_id = lago_server.unique("prospect")
    preview = client.invoices.preview(
        InvoicePreview.parse_obj(
            {
                "customer": {"external_id": external_id, "currency": "USD"},
                "plan_code": catalogue.plan_code,
                "billing_time": "calendar",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        )
    )
    # In arrears, calendar, from 2024-01-01: the invoice of January's end for the whole
    # month, 1000 cents of plan fee; no events, no usage; no taxes.
    assert preview.currency == "USD"
    assert preview.fees_amount_cents == 1000
    assert preview.total_amount_cents == 1000
    assert preview.file_url is None
    # Nothing was stored: neither the prospect nor an invoice.
    assert api_error(client.customers.find, external_id).status_code == 404


# --- customers ----------------------------------------------------------------------------


def test_portal_url_opens_the_customers_portal(
    lago_server: LagoServer, catalogue: Catalogue
) -> None:
    client = lago_server.client
    customer_id, _ = subscribe(lago_server, catalogue, name="Portal Pioneer Ltd")
    url = client.customers.portal_url(customer_id)
    assert "/portal/" in url
    # The link names the server's public URL; follow its path on the test server.
    token = url.split("/portal/", 1)[1]
    page = httpx.get(f"{lago_server.base_url}/portal/{token}", timeout=10)
    assert page.status_code == 200
    assert "Portal Pioneer Ltd" in page.text
    assert api_error(client.customers.portal_url, lago_server.unique("nobody")).status_code == 404


def test_current_usage_of_one_charge_by_id_or_by_metric_code(
    lago_server: LagoServer, catalogue: Catalogue
) -> None:
    client = lago_server.client
    customer_id, subscription_id = subscribe(lago_server, catalogue)
    send(lago_server, subscription_id, catalogue.calls_code, 3)
    plan = client.plans.find(catalogue.plan_code)
    calls_charge = next(c for c in plan.charges.__root__ if c.code == catalogue.calls_code)

    usage = client.customers.current_usage(
        customer_id, subscription_id, charge_id=calls_charge.lago_id
    )
    [only] = usage.charges_usage
    # 3 calls x 1.00 USD = 300 cents, no taxes.
    assert (only.charge.lago_id, float(only.units), only.amount_cents) == (
        calls_charge.lago_id,
        3.0,
        300,
    )
    assert usage.amount_cents == 300

    usage = client.customers.current_usage(
        customer_id, subscription_id, billable_metric_code=catalogue.calls_code
    )
    assert [c.billable_metric.code for c in usage.charges_usage] == [catalogue.calls_code]
    assert usage.amount_cents == 300


# --- fees ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standalone_fees(lago_server: LagoServer, catalogue: Catalogue) -> list[Any]:
    """Two subscriptions with one seat each: two pay-in-advance fees of 1 x 2.50 USD =
    250 cents, outside any invoice (not invoiceable). The server runs no worker: the
    billing run prices the events."""
    subscription_ids = [subscribe(lago_server, catalogue)[1] for _ in range(2)]
    for subscription_id in subscription_ids:
        send(lago_server, subscription_id, catalogue.seats_code, 1)
    lago_server.meterly("bill", "--as-of", NOW)
    fees = []
    for subscription_id in subscription_ids:
        [fee] = lago_server.client.fees.find_all({"external_subscription_id": subscription_id})[
            "fees"
        ]
        assert (fee.lago_invoice_id, fee.amount_cents, fee.invoiceable) == (None, 250, False)
        fees.append(fee)
    return fees


def test_fees_update_sets_the_payment_status_of_a_fee_outside_any_invoice(
    lago_server: LagoServer, standalone_fees: list[Any]
) -> None:
    client = lago_server.client
    fee = standalone_fees[0]
    updated = client.fees.update(Fee(payment_status="succeeded"), fee.lago_id)
    assert (updated.lago_id, updated.payment_status, updated.succeeded_at) == (
        fee.lago_id,
        "succeeded",
        NOW,
    )
    error = api_error(client.fees.update, Fee(payment_status="paid"), fee.lago_id)
    assert error.status_code == 422
    assert client.fees.find(fee.lago_id).payment_status == "succeeded"


def test_fees_destroy_removes_a_fee_outside_any_invoice(
    lago_server: LagoServer, standalone_fees: list[Any]
) -> None:
    client = lago_server.client
    fee = standalone_fees[1]
    deleted = client.fees.destroy(fee.lago_id)
    assert deleted.lago_id == fee.lago_id
    assert api_error(client.fees.find, fee.lago_id).status_code == 404


# --- billable metrics ---------------------------------------------------------------------


def test_evaluate_expression_sends_no_body_and_gets_400(lago_server: LagoServer) -> None:
    """Quirk (§9.3): the client drops its input object, so no server can evaluate it; the
    route answers Lago's 400 for a missing parameter. The route itself is tested over
    HTTP in tests/e2e/test_evaluate_expression_api.py."""
    asked = BillableMetricEvaluateExpression.parse_obj(
        {"expression": "round(event.properties.gb * 2)", "event": {"properties": {"gb": 3}}}
    )
    error = api_error(lago_server.client.billable_metrics.evaluate_expression, asked)
    assert error.status_code == 400
    # Lago's shape for a missing parameter (Rails' ParameterMissing): no `code`.
    assert error.response == {
        "status": 400,
        "error": "BadRequest: param is missing or the value is empty or invalid: expression",
    }


# --- customer-scoped lists ----------------------------------------------------------------

CUSTOMER_SCOPED = (
    ("customer_applied_coupons", "applied_coupons"),
    ("customer_credit_notes", "credit_notes"),
    ("customer_invoices", "invoices"),
    ("customer_payment_methods", "payment_methods"),
    ("customer_payment_requests", "payment_requests"),
    ("customer_payments", "payments"),
    ("customer_subscriptions", "subscriptions"),
    ("customer_wallets", "wallets"),
)


def test_customer_scoped_lists_send_no_key_and_get_401(
    lago_server: LagoServer, catalogue: Catalogue
) -> None:
    """Quirk (§9.1): these `find_all` calls omit the Authorization header. Each route
    exists (the same request with the key answers 200), and without the key the server
    answers 401, as Lago does."""
    client = lago_server.client
    customer_id, _ = subscribe(lago_server, catalogue)
    for attribute, path in CUSTOMER_SCOPED:
        error = api_error(getattr(client, attribute).find_all, customer_id)
        assert error.status_code == 401, attribute
        with_key = httpx.get(
            f"{lago_server.base_url}/api/v1/customers/{customer_id}/{path}",
            headers={"Authorization": f"Bearer {lago_server.api_key}"},
            timeout=10,
        )
        assert with_key.status_code == 200, (path, with_key.text)
