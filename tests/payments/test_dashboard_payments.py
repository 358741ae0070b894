"""The dashboard's payments page and its "record a manual payment" form, on both backends."""

from __future__ import annotations

import re
from typing import Any

import pytest

from meterly.web import install_web
from tests.payments.test_manual_payments import pay, unpaid_invoice


@pytest.fixture
def signed_in(api: Any) -> Any:
    install_web(api.client.app)
    response = api.client.post(
        "/dashboard/login", data={"api_key": api.key}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return api


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_record_a_manual_payment_from_the_invoice_page(signed_in: Any) -> None:
    invoice = unpaid_invoice(signed_in)  # owes 10000 cents (100.00 EUR)
    page = signed_in.client.get(f"/dashboard/invoices/{invoice['lago_id']}").text
    assert 'id="record-payment"' in page
    token = csrf(page)

    # "abc" is not an amount; 100.001 EUR has a third decimal: both refused, nothing recorded.
    for typed in ("abc", "100.001"):
        done = signed_in.client.post(
            "/dashboard/payments",
            data={
                "csrf": token,
                "invoice_id": invoice["lago_id"],
                "amount": typed,
                "reference": "x",
            },
        )
        assert "Not done" in done.text
    assert (
        signed_in.client.post(
            "/dashboard/payments", data={"csrf": "forged", "invoice_id": invoice["lago_id"]}
        ).status_code
        == 400
    )
    assert signed_in.get("payments").json()["payments"] == []

    # 30.50 EUR = 3050 cents.
    done = signed_in.client.post(
        "/dashboard/payments",
        data={
            "csrf": token,
            "invoice_id": invoice["lago_id"],
            "amount": "30.50",
            "reference": "wire 9",
        },
    )
    assert "Payment recorded." in done.text
    [recorded] = signed_in.get("payments").json()["payments"]
    assert recorded["amount_cents"] == 3050 and recorded["reference"] == "wire 9"
    # 10000 - 3050 = 6950 left; 70.00 EUR is too much.
    too_much = signed_in.client.post(
        "/dashboard/payments",
        data={
            "csrf": token,
            "invoice_id": invoice["lago_id"],
            "amount": "70",
            "reference": "wire 10",
        },
    )
    assert "Not done" in too_much.text
    assert pay(signed_in, invoice["lago_id"], 6950, "wire 10").status_code == 200

    listing = signed_in.client.get(f"/dashboard/payments?invoice_id={invoice['lago_id']}").text
    assert "30.50 EUR" in listing and "69.50 EUR" in listing
    assert "RCPT-000001" in listing and "RCPT-000002" in listing
    # Paid in full: the form is gone.
    page = signed_in.client.get(f"/dashboard/invoices/{invoice['lago_id']}").text
    assert 'id="record-payment"' not in page
