"""Invoices over HTTP: list, find, update, void, delete, finalize, download, files.

The billing engine may not exist yet: invoices and fees are built here with the ORM
(`make_invoice`), the way the engine leaves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.services.common import new_id
from meterly.store.tables import (
    BillableMetricRow,
    Charge,
    Customer,
    Fee,
    Invoice,
    InvoiceSubscription,
    Organization,
    Plan,
    Subscription,
)
from tests.conftest import ApiClient

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)

# The fields the Lago client (1.55.0) requires non-null on an invoice.
REQUIRED_INVOICE = (
    "lago_id",
    "number",
    "payment_overdue",
    "net_payment_term",
    "invoice_type",
    "version_number",
    "status",
    "payment_status",
    "currency",
    "fees_amount_cents",
    "coupons_amount_cents",
    "taxes_amount_cents",
    "credit_notes_amount_cents",
    "progressive_billing_credit_amount_cents",
    "sub_total_excluding_taxes_amount_cents",
    "sub_total_including_taxes_amount_cents",
    "total_amount_cents",
    "total_due_amount_cents",
    "prepaid_credit_amount_cents",
)
REQUIRED_PERIOD = (
    "lago_subscription_id",
    "external_subscription_id",
    "lago_plan_id",
    "subscription_from_datetime",
    "subscription_to_datetime",
    "charges_from_datetime",
    "charges_to_datetime",
    "invoicing_reason",
)
REQUIRED_CUSTOMER = ("lago_id", "external_id", "created_at", "updated_at", "applicable_timezone")

TIERS = [
    {
        "label": "0 – 1,000",
        "units": "1000",
        "unit_price": "0",
        "flat_amount": "0",
        "amount": "0",
    },
    {
        "label": "1,001 and above",
        "units": "4000",
        "unit_price": "0.002",
        "flat_amount": "5",
        "amount": "13",
    },
]


@contextmanager
def session_of(api: ApiClient) -> Iterator[Session]:
    database = api.client.app.state.database
    with database.unit_of_work() as session:
        yield session


def make_customer(
    session: Session, org_id: str, external_id: str = "cust_acme", name: str | None = "Acme Inc"
) -> Customer:
    existing = session.scalar(
        select(Customer).where(
            Customer.organization_id == org_id, Customer.external_id == external_id
        )
    )
    if existing is not None:
        return existing
    count = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.organization_id == org_id)
    )
    customer = Customer(
        id=new_id(),
        organization_id=org_id,
        external_id=external_id,
        sequential_id=(count or 0) + 1,
        slug=f"{external_id}-slug",
        name=name,
        email="billing@acme.test",
        currency="USD",
        profile={"address_line1": "1 Main St", "city": "Paris", "country": "FR"},
        created_at=JAN,
        updated_at=JAN,
    )
    session.add(customer)
    session.flush()
    return customer


def make_invoice(
    session: Session,
    org_id: str,
    *,
    external_customer_id: str = "cust_acme",
    customer_name: str | None = "Acme Inc",
    status: str = "draft",
    currency: str = "USD",
    invoice_type: str = "subscription",
    issuing_date: datetime = FEB,
    payment_status: str = "pending",
    subscription_cents: int = 1000,
    with_charge: bool = True,
    vat: bool = True,
    prepaid_cents: int = 0,
    net_payment_term: int = 30,
) -> Invoice:
    """An invoice as the billing engine leaves it: a plan fee, a graduated charge, VAT 20 %."""
    customer = make_customer(session, org_id, external_customer_id, customer_name)
    now = JAN
    plan = Plan(
        id=new_id(),
        organization_id=org_id,
        code=f"startup_{new_id()[:8]}",
        name="Startup",
        interval="monthly",
        amount_cents=subscription_cents,
        amount_currency=currency,
        created_at=now,
        updated_at=now,
    )
    metric = BillableMetricRow(
        id=new_id(),
        organization_id=org_id,
        code=f"api_calls_{new_id()[:8]}",
        name="API calls",
        aggregation_type="count_agg",
        created_at=now,
        updated_at=now,
    )
    session.add_all([plan, metric])
    session.flush()
    charge = Charge(
        id=new_id(),
        organization_id=org_id,
        plan_id=plan.id,
        billable_metric_id=metric.id,
        code=metric.code,
        charge_model="graduated",
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
                {
                    "from_value": 1001,
                    "to_value": None,
                    "per_unit_amount": "0.002",
                    "flat_amount": "5",
                },
            ]
        },
        created_at=now,
        updated_at=now,
    )
    sub = Subscription(
        id=new_id(),
        organization_id=org_id,
        customer_id=customer.id,
        plan_id=plan.id,
        external_id=f"sub_{external_customer_id}_{new_id()[:6]}",
        status="active",
        billing_time="calendar",
        subscription_at=JAN,
        started_at=JAN,
        created_at=now,
        updated_at=now,
    )
    session.add_all([charge, sub])
    session.flush()
    end = issuing_date - timedelta(seconds=1)
    start = (issuing_date - timedelta(days=1)).replace(day=1)
    charge_cents = 1300 if with_charge else 0
    fees_cents = subscription_cents + charge_cents
    taxes = fees_cents * 20 // 100 if vat else 0
    total = fees_cents + taxes - prepaid_cents
    invoice = Invoice(
        id=new_id(),
        organization_id=org_id,
        customer_id=customer.id,
        invoice_type=invoice_type,
        status=status,
        payment_status=payment_status,
        currency=currency,
        issuing_date=issuing_date,
        payment_due_date=issuing_date + timedelta(days=net_payment_term),
        net_payment_term=net_payment_term,
        fees_amount_cents=fees_cents,
        sub_total_excluding_taxes_amount_cents=fees_cents,
        taxes_amount_cents=taxes,
        sub_total_including_taxes_amount_cents=fees_cents + taxes,
        prepaid_credit_amount_cents=prepaid_cents,
        total_amount_cents=total,
        breakdown={
            "applied_taxes": [
                {
                    "tax_code": "vat_20",
                    "tax_name": "VAT 20%",
                    "tax_rate": "20",
                    "amount_cents": taxes,
                    "fees_amount_cents": fees_cents,
                }
            ]
            if vat
            else [],
            "credits": [],
            "wallets": [
                {"wallet_id": new_id(), "name": "Main wallet", "amount_cents": prepaid_cents}
            ]
            if prepaid_cents
            else [],
        },
        invoice_metadata=[],
        created_at=now,
        updated_at=now,
    )
    session.add(invoice)
    session.flush()
    session.add(
        InvoiceSubscription(
            id=new_id(),
            invoice_id=invoice.id,
            subscription_id=sub.id,
            boundary=issuing_date,
            invoicing_reason="subscription_periodic",
            from_datetime=start,
            to_datetime=end,
            charges_from_datetime=start,
            charges_to_datetime=end,
            created_at=now,
        )
    )
    exponent_scale = Decimal(1)
    fees = [
        _fee(
            invoice,
            sub,
            position=0,
            fee_type="subscription",
            item={
                "type": "subscription",
                "code": plan.code,
                "name": "Startup",
                "lago_item_id": sub.id,
                "item_type": "Subscription",
            },
            amount_cents=subscription_cents,
            units=Decimal(1),
            unit=Decimal(subscription_cents) / 100 * exponent_scale,
            vat=vat,
            start=start,
            end=end,
        )
    ]
    if with_charge:
        fees.append(
            _fee(
                invoice,
                sub,
                position=1,
                fee_type="charge",
                item={
                    "type": "charge",
                    "code": metric.code,
                    "name": "API calls",
                    "lago_item_id": metric.id,
                    "item_type": "BillableMetric",
                },
                amount_cents=charge_cents,
                units=Decimal(5000),
                unit=Decimal("0.0026"),
                vat=vat,
                start=start,
                end=end,
                charge_id=charge.id,
                explanation=TIERS,
                events_count=5000,
            )
        )
    session.add_all(fees)
    session.flush()
    session.expire(invoice, ["fees", "periods"])
    return invoice


def _fee(
    invoice: Invoice,
    sub: Subscription,
    *,
    position: int,
    fee_type: str,
    item: dict[str, Any],
    amount_cents: int,
    units: Decimal,
    unit: Decimal,
    vat: bool,
    start: datetime,
    end: datetime,
    charge_id: str | None = None,
    explanation: list[Any] | None = None,
    events_count: int | None = None,
) -> Fee:
    taxes = amount_cents * 20 // 100 if vat else 0
    return Fee(
        id=new_id(),
        organization_id=invoice.organization_id,
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        subscription_id=sub.id,
        charge_id=charge_id,
        position=position,
        fee_type=fee_type,
        item=item,
        currency=invoice.currency,
        amount_cents=amount_cents,
        precise_amount_cents=Decimal(amount_cents),
        unit_amount_cents=int(unit * 100),
        precise_unit_amount=unit,
        units=units,
        total_aggregated_units=units if fee_type == "charge" else None,
        events_count=events_count,
        taxes_amount_cents=taxes,
        taxes_precise_amount_cents=Decimal(taxes),
        taxes_rate=Decimal(20) if vat else Decimal(0),
        applied_taxes=[
            {"tax_code": "vat_20", "tax_name": "VAT 20%", "tax_rate": "20", "amount_cents": taxes}
        ]
        if vat
        else [],
        explanation=explanation or [],
        from_datetime=start,
        to_datetime=end,
        created_at=invoice.created_at,
        updated_at=invoice.created_at,
    )


def seed(api: ApiClient, **kw: Any) -> str:
    with session_of(api) as session:
        return make_invoice(session, api.org_id, **kw).id


def set_org(api: ApiClient, **fields: Any) -> None:
    with session_of(api) as session:
        org = session.get(Organization, api.org_id)
        assert org is not None
        for key, value in fields.items():
            setattr(org, key, value)


def prefix(api: ApiClient) -> str:
    with session_of(api) as session:
        org = session.get(Organization, api.org_id)
        assert org is not None
        return org.document_number_prefix


# --- find ---------------------------------------------------------------------------------


def test_find_answers_every_field_the_lago_client_requires(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.get(f"invoices/{invoice_id}")
    assert res.status_code == 200, res.text
    body = res.json()["invoice"]
    for key in REQUIRED_INVOICE:
        assert body[key] is not None, key
    for key in REQUIRED_CUSTOMER:
        assert body["customer"][key] is not None, key
    assert body["version_number"] == 4
    assert len(body["billing_periods"]) == 1
    for key in REQUIRED_PERIOD:
        assert body["billing_periods"][0][key] is not None, key
    assert body["subscriptions"][0]["lago_id"]
    assert body["fees_amount_cents"] == 2300
    assert body["taxes_amount_cents"] == 460
    assert body["total_amount_cents"] == 2760
    assert body["total_due_amount_cents"] == 2760
    assert body["file_url"] is None
    assert body["applied_taxes"][0]["tax_code"] == "vat_20"
    assert body["applied_taxes"][0]["amount_cents"] == 460
    assert body["applied_taxes"][0]["tax_rate"] == 20.0


def test_find_serializes_fees_in_lago_shape(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    fees = api.get(f"invoices/{invoice_id}").json()["invoice"]["fees"]
    assert [f["item"]["type"] for f in fees] == ["subscription", "charge"]
    plan_fee, charge_fee = fees
    assert plan_fee["precise_amount"] == "10.0"
    assert plan_fee["units"] == "1.0"
    assert plan_fee["total_amount_cents"] == 1200
    assert plan_fee["precise_total_amount"] == "12.0"
    assert "applied_taxes" not in plan_fee
    assert plan_fee["from_date"] == "2024-01-01T00:00:00+00:00"
    assert plan_fee["to_date"] == "2024-01-31T23:59:59+00:00"
    assert charge_fee["units"] == "5000.0"
    assert charge_fee["precise_unit_amount"] == "0.0026"
    assert charge_fee["events_count"] == 5000
    assert charge_fee["item"]["item_type"] == "BillableMetric"
    assert charge_fee["external_customer_id"] == "cust_acme"
    assert charge_fee["external_subscription_id"].startswith("sub_cust_acme")
    assert charge_fee["presentation_breakdowns"] == []


def test_unknown_invoice_is_404(api: ApiClient) -> None:
    res = api.get(f"invoices/{new_id()}")
    assert res.status_code == 404
    assert res.json()["code"] == "invoice_not_found"


def test_another_organizations_key_gets_404(api: ApiClient) -> None:
    from meterly.services.accounts import create_organization
    from meterly.services.common import FrozenClock

    invoice_id = seed(api, status="finalized")
    with session_of(api) as session:
        _, key = create_organization(session, name="Other", clock=FrozenClock(JAN))
    headers = {"Authorization": f"Bearer {key.secret}"}
    res = api.client.get(f"/api/v1/invoices/{invoice_id}", headers=headers)
    assert res.status_code == 404
    res = api.client.post(f"/api/v1/invoices/{invoice_id}/void", headers=headers)
    assert res.status_code == 404


# --- list ---------------------------------------------------------------------------------


def test_list_paginates(api: ApiClient) -> None:
    for day in range(1, 4):
        seed(api, status="finalized", issuing_date=FEB + timedelta(days=day))
    res = api.get("invoices", params={"per_page": 2, "page": 1})
    body = res.json()
    assert len(body["invoices"]) == 2
    assert body["meta"] == {
        "current_page": 1,
        "next_page": 2,
        "prev_page": None,
        "total_pages": 2,
        "total_count": 3,
    }
    assert body["invoices"][0]["issuing_date"] == "2024-02-04"
    assert "fees" not in body["invoices"][0]
    for key in REQUIRED_INVOICE:
        assert body["invoices"][0][key] is not None
    page2 = api.get("invoices", params={"per_page": 2, "page": 2}).json()
    assert len(page2["invoices"]) == 1


def test_list_empty_meta(api: ApiClient) -> None:
    body = api.get("invoices").json()
    assert body["invoices"] == []
    assert body["meta"]["current_page"] == 0


def test_list_filters(api: ApiClient) -> None:
    a = seed(api, status="finalized", external_customer_id="cust_a")
    b = seed(api, status="draft", external_customer_id="cust_b", currency="EUR")
    c = seed(
        api,
        status="finalized",
        external_customer_id="cust_b",
        payment_status="succeeded",
        issuing_date=datetime(2024, 3, 1, tzinfo=UTC),
        invoice_type="one_off",
    )

    def ids(**params: Any) -> set[str]:
        res = api.get("invoices", params=params)
        assert res.status_code == 200, res.text
        return {i["lago_id"] for i in res.json()["invoices"]}

    assert ids() == {a, b, c}
    assert ids(external_customer_id="cust_b") == {b, c}
    assert ids(status="draft") == {b}
    assert ids(**{"status[]": ["draft", "finalized"]}) == {a, b, c}
    assert ids(payment_status="succeeded") == {c}
    assert ids(invoice_type="one_off") == {c}
    assert ids(currency="EUR") == {b}
    assert ids(issuing_date_from="2024-02-15") == {c}
    assert ids(issuing_date_to="2024-02-01") == {a, b}
    assert ids(payment_overdue="false") == {a, b, c}
    assert ids(payment_overdue="true") == set()
    assert ids(search_term="cust_a") == {a}


def test_list_search_term_matches_the_number(api: ApiClient) -> None:
    seed(api)
    draft = seed(api)
    res = api.put(f"invoices/{draft}/finalize")
    number = res.json()["invoice"]["number"]
    body = api.get("invoices", params={"search_term": number}).json()
    assert [i["lago_id"] for i in body["invoices"]] == [draft]


def test_list_rejects_a_bad_date(api: ApiClient) -> None:
    res = api.get("invoices", params={"issuing_date_from": "yesterday"})
    assert res.status_code == 422


# --- update -------------------------------------------------------------------------------


def test_update_payment_status_and_metadata(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.put(
        f"invoices/{invoice_id}",
        json={
            "invoice": {"payment_status": "succeeded", "metadata": [{"key": "po", "value": "42"}]}
        },
    )
    assert res.status_code == 200, res.text
    body = res.json()["invoice"]
    assert body["payment_status"] == "succeeded"
    assert body["total_paid_amount_cents"] == body["total_amount_cents"]
    assert body["total_due_amount_cents"] == 0
    assert [(m["key"], m["value"]) for m in body["metadata"]] == [("po", "42")]
    meta_id = body["metadata"][0]["lago_id"]
    res = api.put(
        f"invoices/{invoice_id}",
        json={"invoice": {"metadata": [{"id": meta_id, "key": "po", "value": "43"}]}},
    )
    assert res.json()["invoice"]["metadata"][0]["lago_id"] == meta_id
    assert res.json()["invoice"]["metadata"][0]["value"] == "43"


def test_update_rejects_an_unknown_payment_status(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.put(f"invoices/{invoice_id}", json={"invoice": {"payment_status": "paid"}})
    assert res.status_code == 422
    assert res.json()["error_details"] == {"payment_status": ["value_is_invalid"]}


def test_update_on_voided_invoice_is_405(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    assert api.post(f"invoices/{invoice_id}/void").status_code == 200
    res = api.put(f"invoices/{invoice_id}", json={"invoice": {"payment_status": "succeeded"}})
    assert res.status_code == 405
    assert res.json()["code"] == "update_on_voided_invoice"


def test_update_without_root_key_is_400(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    assert api.put(f"invoices/{invoice_id}", json={"payment_status": "x"}).status_code == 400


# --- void ---------------------------------------------------------------------------------


def test_void_a_finalized_invoice(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.post(f"invoices/{invoice_id}/void")
    assert res.status_code == 200, res.text
    body = res.json()["invoice"]
    assert body["status"] == "voided"
    assert body["voided_at"] == "2024-01-15T12:00:00Z"
    assert body["total_due_amount_cents"] == 0


@pytest.mark.parametrize("state", ["draft", "voided", "paid"])
def test_void_is_not_allowed(api: ApiClient, state: str) -> None:
    if state == "draft":
        invoice_id = seed(api)
    elif state == "paid":
        invoice_id = seed(api, status="finalized", payment_status="succeeded")
    else:
        invoice_id = seed(api, status="finalized")
        api.post(f"invoices/{invoice_id}/void")
    res = api.post(f"invoices/{invoice_id}/void")
    assert res.status_code == 405
    assert res.json()["code"] == "not_voidable"


def test_void_accepts_lagos_unwrapped_options(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.post(
        f"invoices/{invoice_id}/void",
        json={"generate_credit_note": False, "refund_amount": 0, "credit_amount": 0},
    )
    assert res.status_code == 200


# --- delete -------------------------------------------------------------------------------


def test_delete_a_draft_hides_it(api: ApiClient) -> None:
    invoice_id = seed(api)
    res = api.delete(f"invoices/{invoice_id}")
    assert res.status_code == 200, res.text
    assert api.get(f"invoices/{invoice_id}").status_code == 404
    assert api.get("invoices").json()["invoices"] == []
    assert api.get("fees").json()["fees"] == []


def test_delete_a_finalized_invoice_is_405(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.delete(f"invoices/{invoice_id}")
    assert res.status_code == 405
    assert res.json()["code"] == "not_deletable"


# --- finalize and numbering -----------------------------------------------------------------


def test_finalize_numbers_per_customer(api: ApiClient) -> None:
    first, second = seed(api), seed(api)
    other = seed(api, external_customer_id="cust_other")
    p = prefix(api)
    res = api.put(f"invoices/{first}/finalize")
    assert res.status_code == 200, res.text
    body = res.json()["invoice"]
    assert body["status"] == "finalized"
    assert body["number"] == f"{p}-001-001"
    assert body["sequential_id"] == 1
    assert api.put(f"invoices/{second}/finalize").json()["invoice"]["number"] == f"{p}-001-002"
    assert api.put(f"invoices/{other}/finalize").json()["invoice"]["number"] == f"{p}-002-001"


def test_finalize_numbers_per_organization_by_month(api: ApiClient) -> None:
    set_org(api, document_numbering="per_organization", document_number_prefix="ACME")
    feb_a = seed(api)
    feb_b = seed(api, external_customer_id="cust_other")
    mar = seed(api, issuing_date=datetime(2024, 3, 1, tzinfo=UTC))
    numbers = [
        api.put(f"invoices/{i}/finalize").json()["invoice"]["number"] for i in (feb_a, feb_b, mar)
    ]
    assert numbers == ["ACME-202402-001", "ACME-202402-002", "ACME-202403-001"]


def test_a_draft_shows_a_draft_number(api: ApiClient) -> None:
    invoice_id = seed(api)
    body = api.get(f"invoices/{invoice_id}").json()["invoice"]
    assert body["number"] == f"{prefix(api)}-DRAFT"
    assert body["sequential_id"] is None


def test_finalize_a_finalized_invoice_is_404(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    assert api.put(f"invoices/{invoice_id}/finalize").status_code == 404


def test_finalize_a_zero_invoice_marks_it_paid(api: ApiClient) -> None:
    invoice_id = seed(api, subscription_cents=0, with_charge=False)
    body = api.put(f"invoices/{invoice_id}/finalize").json()["invoice"]
    assert body["total_amount_cents"] == 0
    assert body["payment_status"] == "succeeded"


def test_refresh_recomputes_a_draft_through_the_billing_engine(api: ApiClient) -> None:
    invoice_id = seed(api)
    res = api.put(f"invoices/{invoice_id}/refresh")
    assert res.status_code == 200, res.text
    assert res.json()["invoice"]["status"] == "draft"


def test_refresh_answers_a_finalized_invoice_unchanged(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.put(f"invoices/{invoice_id}/refresh")
    assert res.status_code == 200
    assert res.json()["invoice"]["total_amount_cents"] == 2760


def test_retry_is_only_for_failed_invoices(api: ApiClient) -> None:
    finalized = seed(api, status="finalized")
    assert api.post(f"invoices/{finalized}/retry").status_code == 405
    failed = seed(api, status="failed")
    res = api.post(f"invoices/{failed}/retry")
    assert res.status_code == 200, res.text
    assert res.json()["invoice"]["status"] == "finalized"


# --- other actions --------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["post", "put"])
def test_lose_dispute_accepts_both_verbs(api: ApiClient, verb: str) -> None:
    invoice_id = seed(api, status="finalized")
    res = getattr(api, verb)(f"invoices/{invoice_id}/lose_dispute")
    assert res.status_code == 200, res.text
    assert res.json()["invoice"]["payment_dispute_lost_at"] == "2024-01-15T12:00:00Z"


def test_lose_dispute_on_a_draft_is_405(api: ApiClient) -> None:
    invoice_id = seed(api)
    assert api.post(f"invoices/{invoice_id}/lose_dispute").status_code == 405


def test_retry_payment_is_an_empty_200(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.post(f"invoices/{invoice_id}/retry_payment")
    assert res.status_code == 200
    assert res.content == b""


def test_payment_url_needs_a_payment_provider(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.post(f"invoices/{invoice_id}/payment_url")
    assert res.status_code == 405
    assert res.json()["code"] == "missing_payment_provider"


# --- download and files ----------------------------------------------------------------------


@pytest.fixture
def files_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "files"
    monkeypatch.setenv("METERLY_FILES_DIR", str(path))
    return path


def test_download_gives_a_signed_file_url_serving_the_pdf(api: ApiClient, files_dir: Any) -> None:
    invoice_id = seed(api)
    number = api.put(f"invoices/{invoice_id}/finalize").json()["invoice"]["number"]
    res = api.post(f"invoices/{invoice_id}/download")
    assert res.status_code == 200, res.text
    url = res.json()["invoice"]["file_url"]
    assert url.startswith(f"http://127.0.0.1:3000/api/v1/files/invoices/{invoice_id}.pdf?token=")
    assert api.get(f"invoices/{invoice_id}").json()["invoice"]["file_url"] == url
    assert list(files_dir.rglob("*.pdf"))
    pdf = api.client.get(url.removeprefix("http://127.0.0.1:3000"))  # no API key
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert len(pdf.content) > 1000
    assert number in pdf.headers["content-disposition"]


def test_download_a_draft_is_404(api: ApiClient, files_dir: Any) -> None:
    invoice_id = seed(api)
    assert api.post(f"invoices/{invoice_id}/download").status_code == 404


def test_a_forged_token_is_404(api: ApiClient, files_dir: Any) -> None:
    first, second = seed(api, status="finalized"), seed(api, status="finalized")
    url = api.post(f"invoices/{first}/download").json()["invoice"]["file_url"]
    path, token = url.removeprefix("http://127.0.0.1:3000").split("?token=")
    assert api.client.get(f"{path}?token={'0' * len(token)}").status_code == 404
    assert api.client.get(path).status_code == 404
    other = path.replace(first, second)
    res = api.client.get(f"{other}?token={token}")
    assert res.status_code == 404
    assert res.json()["code"] == "invoice_not_found"


def test_the_html_view_shows_every_line(api: ApiClient, files_dir: Any) -> None:
    invoice_id = seed(api, status="finalized", prepaid_cents=500)
    res = api.client.get(f"/api/v1/invoices/{invoice_id}.html", headers=api.headers)
    assert res.status_code == 200, res.text
    html = res.text
    for text in (
        "Startup",
        "API calls",
        "0 – 1,000",
        "1,001 and above",
        "$0.002",
        "$5.00",
        "$13.00",
        "VAT 20% 20 % on $23.00",
        "$4.60",
        "Main wallet",
        "-$5.00",
        "$22.60",
        "Acme Inc",
        # The customer's local dates, in the document's language (English here).
        "Jan 1, 2024 – Jan 31, 2024",
    ):
        assert text in html, text


def test_the_signed_html_link_works_without_a_key(api: ApiClient, files_dir: Any) -> None:
    invoice_id = seed(api, status="finalized")
    url = api.post(f"invoices/{invoice_id}/download").json()["invoice"]["file_url"]
    html_url = url.removeprefix("http://127.0.0.1:3000").replace(".pdf?", ".html?")
    res = api.client.get(html_url)
    assert res.status_code == 200
    assert "API calls" in res.text


def test_html_view_formats_jpy_and_kwd(api: ApiClient, files_dir: Any) -> None:
    jpy = seed(api, status="finalized", currency="JPY", external_customer_id="cust_jp")
    kwd = seed(api, status="finalized", currency="KWD", external_customer_id="cust_kw")
    jpy_html = api.client.get(f"/api/v1/invoices/{jpy}.html", headers=api.headers).text
    kwd_html = api.client.get(f"/api/v1/invoices/{kwd}.html", headers=api.headers).text
    # 2760 minor units: ¥2,760 (exponent 0), KWD 2.760 (exponent 3)
    assert "¥2,760" in jpy_html
    assert "KWD\xa02.760" in kwd_html
    assert "27.60" not in jpy_html + kwd_html


def test_a_non_latin1_customer_name_renders(api: ApiClient, files_dir: Any) -> None:
    name = "Zoë – Ünïcode ✓ 東京"
    invoice_id = seed(api, status="finalized", customer_name=name)
    res = api.post(f"invoices/{invoice_id}/download")
    assert res.status_code == 200, res.text
    url = res.json()["invoice"]["file_url"].removeprefix("http://127.0.0.1:3000")
    assert api.client.get(url).content.startswith(b"%PDF")
    html = api.client.get(f"/api/v1/invoices/{invoice_id}.html", headers=api.headers).text
    assert name in html


# --- past usage -------------------------------------------------------------------------------


def test_past_usage_lists_finalized_periods(api: ApiClient) -> None:
    with session_of(api) as session:
        inv = make_invoice(session, api.org_id, status="finalized")
        sub_id = inv.periods[0].subscription_id
        sub = session.get(Subscription, sub_id)
        assert sub is not None
        external_sub = sub.external_id
    res = api.get(
        "customers/cust_acme/past_usage",
        params={"external_subscription_id": external_sub, "periods_count": 5},
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["meta"]["total_count"] == 1
    period = body["usage_periods"][0]
    assert period["lago_invoice_id"] == inv.id
    assert period["from_datetime"] == "2024-01-01T00:00:00Z"
    assert period["amount_cents"] == 1300
    assert period["taxes_amount_cents"] == 260
    assert period["total_amount_cents"] == 1560
    usage = period["charges_usage"][0]
    assert usage["units"] == "5000.0"
    assert usage["events_count"] == 5000
    assert usage["charge"]["charge_model"] == "graduated"
    assert usage["billable_metric"]["aggregation_type"] == "count_agg"


def test_past_usage_needs_a_subscription(api: ApiClient) -> None:
    seed(api, status="finalized")
    assert api.get("customers/cust_acme/past_usage").status_code == 422
    res = api.get("customers/cust_acme/past_usage", params={"external_subscription_id": "nope"})
    assert res.status_code == 404
    res = api.get("customers/nobody/past_usage", params={"external_subscription_id": "nope"})
    assert res.json()["code"] == "customer_not_found"


def test_the_lago_client_models_parse_invoices_and_fees(api: ApiClient) -> None:
    models = pytest.importorskip("lago_python_client.models.invoice")
    fee_models = pytest.importorskip("lago_python_client.models.fee")
    invoice_id = seed(api, status="finalized")
    body = api.get(f"invoices/{invoice_id}").json()["invoice"]
    models.InvoiceResponse.parse_obj(body)
    for fee in body["fees"]:
        fee_models.FeeResponse.parse_obj(fee)
    for listed in api.get("invoices").json()["invoices"]:
        models.InvoiceResponse.parse_obj(listed)
