"""Explain an invoice line down to its events; finalized invoices explain from what was stored."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from meterly.services.common import FrozenClock
from meterly.web.app import install_web
from tests.conftest import ApiClient
from tests.e2e.test_dashboard import sign_in
from tests.reconciliation.helpers import at, bill, send, setup_world

GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 10, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 11, "to_value": None, "per_unit_amount": "0.5", "flat_amount": "1"},
    ]
}


def billed_january(api: ApiClient, clock: FrozenClock) -> dict[str, Any]:
    setup_world(api, charge_model="graduated", properties=GRADUATED, extra_metric=False)
    res: Any = api.post(
        "taxes",
        {"tax": {"code": "vat", "name": "VAT", "rate": "20", "applied_to_organization": True}},
    )
    assert res.status_code == 200, res.text
    send(api, "a", at(1, 3), value=5)
    send(api, "b", at(1, 9), value=12)
    send(api, "c", at(1, 31, 23), value=8)
    bill(api, clock, at(2, 1, 1))
    invoices: Any = api.get("invoices", params={"external_customer_id": "c"})
    (invoice,) = [i for i in invoices.json()["invoices"] if i["fees_amount_cents"]]
    return dict(invoice)


def test_an_invoice_line_walks_down_to_its_events(api: ApiClient, clock: FrozenClock) -> None:
    invoice = billed_january(api, clock)
    res: Any = api.get(f"invoices/{invoice['lago_id']}/explain")
    assert res.status_code == 200, res.text
    body = res.json()["explanation"]
    assert body["status"] == "finalized"
    (fee,) = [f for f in body["fees"] if f["fee_type"] == "charge"]
    assert fee["source"] == "stored at issue"
    assert fee["metric"]["code"] == "mb" and fee["metric"]["aggregation_type"] == "sum_agg"
    assert fee["charge"]["charge_model"] == "graduated"
    assert fee["window"]["from"].startswith("2024-01-01T00:00:00")
    assert fee["window"]["to"].startswith("2024-01-31T23:59:59")
    # 5 + 12 + 8 = 25 units from 3 events.
    assert fee["usage"] == {"events_count": 3, "aggregated_units": "25", "billed_units": "25"}
    # Tier 0–10: 10 units free; tier 11+: the other 15 units at 0.5 plus a flat 1.
    amounts = [line["amount"] for line in fee["lines"]]
    assert amounts == ["0", "8.5"]
    assert fee["lines"][1]["arithmetic"] == "15 × 0.5 + 1 = 8.5"
    # 0 + 8.5 = 8.5 dollars = 850 cents.
    assert fee["totals"]["lines_sum"] == "8.5"
    assert fee["totals"]["amount_cents"] == 850
    # VAT 20 % of 850 = 170.
    assert fee["taxes"][0]["tax_rate"] == "20" and fee["taxes"][0]["amount_cents"] == 170
    steps = {s["step"]: s for s in body["waterfall"]}
    assert steps["fees"]["amount_cents"] == 850
    assert steps["taxes"]["amount_cents"] == 170
    # 850 + 170 = 1020, no coupon, credit note or wallet.
    assert steps["prepaid credits (wallets)"]["running_total_cents"] == 1020
    assert steps["prepaid credits (wallets)"]["stored"] == {"total_amount_cents": 1020}

    # The fee's link lists exactly the 3 events, oldest first, paged.
    url = fee["events"]["url"].removeprefix("/api/v1/")
    assert fee["events"]["count"] == 3
    first: Any = api.get(url.replace("per_page=100", "per_page=2"))
    assert [e["transaction_id"] for e in first.json()["events"]] == ["a", "b"]
    assert first.json()["meta"]["total_count"] == 3
    second: Any = api.get(url.replace("per_page=100", "per_page=2").replace("page=1", "page=2"))
    assert [e["transaction_id"] for e in second.json()["events"]] == ["c"]


def test_a_finalized_invoice_explains_from_what_was_stored(
    api: ApiClient, clock: FrozenClock
) -> None:
    invoice = billed_january(api, clock)
    (fee_id,) = [f["lago_id"] for f in invoice.get("fees") or []] or _charge_fee_ids(api, invoice)
    before: Any = api.get(f"fees/{fee_id}/explain")
    # A late January event and a new price after the invoice was finalized change nothing.
    clock.advance(timedelta(hours=1))
    send(api, "late", at(1, 15), value=100)
    plan: Any = api.get("plans/metered")
    old = plan.json()["plan"]["charges"][0]
    charge = {
        "id": old["lago_id"],
        "billable_metric_id": old["lago_billable_metric_id"],
        "charge_model": "standard",
        "properties": {"amount": "99"},
    }
    res: Any = api.put("plans/metered", {"plan": {"charges": [charge]}})
    assert res.status_code == 200, res.text
    after: Any = api.get(f"fees/{fee_id}/explain")
    assert after.json()["explanation"]["lines"] == before.json()["explanation"]["lines"]
    assert after.json()["explanation"]["charge"]["properties"] == GRADUATED
    events: Any = api.get(f"fees/{fee_id}/events")
    assert [e["transaction_id"] for e in events.json()["events"]] == ["a", "b", "c"]


def _charge_fee_ids(api: ApiClient, invoice: dict[str, Any]) -> list[str]:
    fees: Any = api.get("fees", params={"external_customer_id": "c", "fee_type": "charge"})
    return [
        f["lago_id"]
        for f in fees.json()["fees"]
        if f["lago_invoice_id"] == invoice["lago_id"] and Decimal(f["amount_cents"]) > 0
    ]


def test_unknown_ids_answer_lago_404(api: ApiClient) -> None:
    res: Any = api.get("fees/00000000-0000-0000-0000-000000000000/explain")
    assert res.status_code == 404 and res.json()["code"] == "fee_not_found"
    res = api.get("invoices/00000000-0000-0000-0000-000000000000/explain")
    assert res.status_code == 404 and res.json()["code"] == "invoice_not_found"


def test_the_dashboard_invoice_page_shows_the_arithmetic(
    api: ApiClient, clock: FrozenClock
) -> None:
    invoice = billed_january(api, clock)
    install_web(api.client.app)
    sign_in(api)
    page = api.client.get(f"/dashboard/invoices/{invoice['lago_id']}").text
    assert 'id="invoice-explain"' in page
    assert "15 × 0.5 + 1 = 8.5" in page
    # 8.5 dollars × 100 = 850 cents, the stored total.
    assert "8.5 × 100 = 850" in page


def test_the_customer_portal_explains_its_invoices_and_lists_their_events(
    api: ApiClient, clock: FrozenClock
) -> None:
    invoice = billed_january(api, clock)
    install_web(api.client.app)
    portal_url: Any = api.get("customers/c/portal_url")
    path = "/" + portal_url.json()["customer"]["portal_url"].split("://", 1)[1].split("/", 1)[1]
    home = api.client.get(path).text
    explain_path = f"{path}/invoices/{invoice['lago_id']}/explain"
    assert explain_path in home  # each invoice links to its explanation
    page = api.client.get(explain_path)
    assert page.status_code == 200
    assert "15 × 0.5 + 1 = 8.5" in page.text  # the same arithmetic as the API's
    assert "850 rounded half up to the cent = 850" in page.text
    (fee_id,) = _charge_fee_ids(api, invoice)
    events: Any = api.client.get(f"{path}/fees/{fee_id}/events", params={"per_page": 2})
    assert [e["transaction_id"] for e in events.json()["events"]] == ["a", "b"]
    assert events.json()["meta"]["total_count"] == 3
    # Another customer's invoice, or a made-up one, is not shown through this link.
    other = "00000000-0000-0000-0000-000000000000"
    assert api.client.get(f"{path}/invoices/{other}/explain").status_code == 404
    assert api.client.get(f"{path}/fees/{other}/events").status_code == 404
    assert (
        api.client.get(f"/portal/forged/invoices/{invoice['lago_id']}/explain").status_code == 404
    )


def test_a_prorated_subscription_fee_shows_exact_arithmetic(
    api: ApiClient, clock: FrozenClock
) -> None:
    plan = {
        "name": "Base",
        "code": "base",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "USD",
        "pay_in_advance": False,
    }
    assert api.post("plans", {"plan": plan}).status_code == 200  # type: ignore[attr-defined]
    customer = {"external_id": "late", "name": "Late", "currency": "USD"}
    assert api.post("customers", {"customer": customer}).status_code == 200  # type: ignore[attr-defined]
    subscription = {
        "external_customer_id": "late",
        "plan_code": "base",
        "external_id": "sub_late",
        "billing_time": "calendar",
        "subscription_at": "2024-01-15T00:00:00Z",
    }
    assert api.post("subscriptions", {"subscription": subscription}).status_code == 200  # type: ignore[attr-defined]
    bill(api, clock, at(2, 1, 1))
    invoices: Any = api.get("invoices", params={"external_customer_id": "late"})
    (invoice,) = invoices.json()["invoices"]
    res: Any = api.get(f"invoices/{invoice['lago_id']}/explain")
    (fee,) = res.json()["explanation"]["fees"]
    (line,) = fee["lines"]
    # 15 to 31 January: 17 of 31 days of 10.00 = 170 / 31 = 5.48387… dollars, 548 cents;
    # the per-day price never ends, so the line says the exact arithmetic instead.
    assert line["label"] == "17 of 31 days"
    assert line["arithmetic"].startswith("10 × 17 / 31 = 5.48387096774193548387")
    assert fee["totals"]["amount_cents"] == 548
