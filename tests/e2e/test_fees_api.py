"""Fees over HTTP: list with filters, find, update the payment status, delete from drafts."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from meterly.services.common import new_id
from meterly.store.tables import Fee, Invoice
from tests.conftest import ApiClient
from tests.e2e.test_invoices_api import JAN, make_invoice, seed, session_of


def fee_ids(api: ApiClient, invoice_id: str) -> list[str]:
    with session_of(api) as session:
        return list(
            session.scalars(
                select(Fee.id).where(Fee.invoice_id == invoice_id).order_by(Fee.position)
            )
        )


def standalone_fee(api: ApiClient, *, invoiceable: bool = False) -> str:
    """A pay-in-advance charge fee outside any invoice (not invoiceable)."""
    with session_of(api) as session:
        invoice = make_invoice(session, api.org_id, status="finalized")
        template = invoice.fees[1]
        row = Fee(
            id=new_id(),
            organization_id=api.org_id,
            invoice_id=None,
            customer_id=invoice.customer_id,
            subscription_id=template.subscription_id,
            charge_id=template.charge_id,
            fee_type="charge",
            item=dict(template.item),
            pay_in_advance=True,
            invoiceable=invoiceable,
            currency="USD",
            amount_cents=250,
            precise_amount_cents=Decimal(250),
            precise_unit_amount=Decimal("2.5"),
            units=Decimal(1),
            event_transaction_id="tr_123",
            created_at=JAN,
            updated_at=JAN,
        )
        session.add(row)
        return row.id


def test_find_a_fee_with_its_taxes(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    charge_fee = fee_ids(api, invoice_id)[1]
    res = api.get(f"fees/{charge_fee}")
    assert res.status_code == 200, res.text
    body = res.json()["fee"]
    assert body["lago_id"] == charge_fee
    assert body["lago_invoice_id"] == invoice_id
    assert body["amount_cents"] == 1300
    assert body["precise_amount"] == "13.0"
    assert body["taxes_amount_cents"] == 260
    assert body["applied_taxes"][0]["tax_code"] == "vat_20"
    assert body["applied_taxes"][0]["lago_fee_id"] == charge_fee
    assert body["applied_taxes"][0]["amount_currency"] == "USD"
    assert body["item"]["type"] == "charge"
    assert "event_transaction_id" not in body


def test_unknown_fee_is_404(api: ApiClient) -> None:
    res = api.get(f"fees/{new_id()}")
    assert res.status_code == 404
    assert res.json()["code"] == "fee_not_found"


def test_list_fees_with_filters(api: ApiClient) -> None:
    a = seed(api, status="finalized", external_customer_id="cust_a")
    b = seed(api, status="finalized", external_customer_id="cust_b", currency="EUR")
    extra = standalone_fee(api)

    def ids(**params: object) -> set[str]:
        res = api.get("fees", params=params)
        assert res.status_code == 200, res.text
        return {f["lago_id"] for f in res.json()["fees"]}

    a_fees, b_fees = set(fee_ids(api, a)), set(fee_ids(api, b))
    everything = ids()
    assert a_fees | b_fees | {extra} <= everything
    assert ids(external_customer_id="cust_a") == a_fees
    assert ids(currency="EUR") == b_fees
    assert ids(fee_type="subscription", external_customer_id="cust_b") == {fee_ids(api, b)[0]}
    assert ids(event_transaction_id="tr_123") == {extra}
    body = api.get("fees", params={"per_page": 2}).json()
    assert len(body["fees"]) == 2
    assert body["meta"]["total_count"] == len(everything)


def test_list_fees_by_billable_metric_code(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    charge_fee = fee_ids(api, invoice_id)[1]
    code = api.get(f"fees/{charge_fee}").json()["fee"]["item"]["code"]
    res = api.get("fees", params={"billable_metric_code": code})
    assert [f["lago_id"] for f in res.json()["fees"]] == [charge_fee]


def test_update_the_payment_status_of_a_standalone_fee(api: ApiClient) -> None:
    fee_id = standalone_fee(api)
    res = api.put(f"fees/{fee_id}", json={"fee": {"payment_status": "succeeded"}})
    assert res.status_code == 200, res.text
    body = res.json()["fee"]
    assert body["payment_status"] == "succeeded"
    assert body["succeeded_at"] == "2024-01-15T12:00:00Z"
    assert body["event_transaction_id"] == "tr_123"


def test_update_an_invoiced_fee_is_405(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    fee_id = fee_ids(api, invoice_id)[0]
    res = api.put(f"fees/{fee_id}", json={"fee": {"payment_status": "succeeded"}})
    assert res.status_code == 405


def test_update_rejects_an_unknown_status(api: ApiClient) -> None:
    fee_id = standalone_fee(api)
    res = api.put(f"fees/{fee_id}", json={"fee": {"payment_status": "paid"}})
    assert res.status_code == 422


def test_delete_a_fee_of_a_draft_recomputes_the_totals(api: ApiClient) -> None:
    invoice_id = seed(api)
    plan_fee, charge_fee = fee_ids(api, invoice_id)
    res = api.delete(f"fees/{charge_fee}")
    assert res.status_code == 200, res.text
    assert api.get(f"fees/{charge_fee}").status_code == 404
    body = api.get(f"invoices/{invoice_id}").json()["invoice"]
    assert [f["lago_id"] for f in body["fees"]] == [plan_fee]
    # The totals are recomputed without the deleted fee: the plan fee alone, 1,000 cents.
    assert body["fees_amount_cents"] == 1000
    with session_of(api) as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None and invoice.status == "draft"


def test_delete_a_fee_not_yet_invoiced(api: ApiClient) -> None:
    fee_id = standalone_fee(api)
    res = api.delete(f"fees/{fee_id}")
    assert res.status_code == 200, res.text
    assert res.json()["fee"]["lago_id"] == fee_id
    assert api.get(f"fees/{fee_id}").status_code == 404


def test_delete_a_fee_of_a_finalized_invoice_is_405(api: ApiClient) -> None:
    invoice_id = seed(api, status="finalized")
    res = api.delete(f"fees/{fee_ids(api, invoice_id)[0]}")
    assert res.status_code == 405
    assert res.json()["code"] == "invoiced_fee"
