"""POST /invoices/preview over HTTP, on SQLite and PostgreSQL: the preview is what billing
later issues, and the database is left exactly as it was.

One plan, "seats": 10.00 USD a month in arrears plus 0.50 USD per unit of `qty` (sum),
calendar billing. Customer "c" subscribes on 1 April 2024 (30 days); the clock reads
25 April 12:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, select, text

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice

APRIL_1 = datetime(2024, 4, 1, tzinfo=UTC)
APRIL_25 = datetime(2024, 4, 25, 12, tzinfo=UTC)
MAY_1 = datetime(2024, 5, 1, tzinfo=UTC)


def _plan(api: Any, metric_id: str, code: str, amount_cents: int) -> None:
    charge = {
        "billable_metric_id": metric_id,
        "charge_model": "standard",
        "properties": {"amount": "0.5"},
    }
    plan = {
        "name": code,
        "code": code,
        "interval": "monthly",
        "amount_cents": amount_cents,
        "amount_currency": "USD",
        "pay_in_advance": False,
        "charges": [charge],
    }
    response = api.post("plans", {"plan": plan})
    assert response.status_code == 200, response.text


def setup(api: Any) -> None:
    api.client.app.state.clock.set(APRIL_25)
    metric = {"name": "Seats", "code": "seats", "aggregation_type": "sum_agg", "field_name": "qty"}
    bm = api.post("billable_metrics", {"billable_metric": metric})
    assert bm.status_code == 200, bm.text
    metric_id = bm.json()["billable_metric"]["lago_id"]
    _plan(api, metric_id, "seats", 1000)
    _plan(api, metric_id, "big", 3000)
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "USD"}})
    sub = {
        "external_customer_id": "c",
        "plan_code": "seats",
        "external_id": "s",
        "subscription_at": "2024-04-01T00:00:00Z",
    }
    response = api.post("subscriptions", {"subscription": sub})
    assert response.status_code == 200, response.text
    for tx, day, qty in (("e1", 5, 10), ("e2", 20, 4)):
        event = {
            "transaction_id": tx,
            "external_subscription_id": "s",
            "code": "seats",
            "timestamp": str(int(datetime(2024, 4, day, 9, tzinfo=UTC).timestamp())),
            "properties": {"qty": qty},
        }
        assert api.post("events", {"event": event}).status_code == 200


# The audit trail of API requests logs the preview request itself, as it logs any request.
REQUEST_LOGS = {"alembic_version", "api_logs"}


def row_counts(api: Any) -> dict[str, int]:
    """Rows of every table of the database: a preview must not change any."""
    with api.database.unit_of_work() as session:
        names = inspect(session.get_bind()).get_table_names()
        return {
            name: int(session.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one())
            for name in names
            if name not in REQUEST_LOGS
        }


def preview(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("invoices/preview", body)
    assert response.status_code == 200, response.text
    invoice: dict[str, Any] = response.json()["invoice"]
    return invoice


def summary(invoice: dict[str, Any]) -> dict[str, Any]:
    """What must match between the preview and the invoice issued later."""
    return {
        "fees": sorted((fee["item"]["type"], fee["amount_cents"]) for fee in invoice["fees"]),
        "fees_amount_cents": invoice["fees_amount_cents"],
        "taxes_amount_cents": invoice["taxes_amount_cents"],
        "total_amount_cents": invoice["total_amount_cents"],
        "issuing_date": invoice["issuing_date"],
        "currency": invoice["currency"],
    }


def test_next_invoice_is_the_one_billed_later_and_nothing_is_stored(api: Any) -> None:
    setup(api)
    before = row_counts(api)
    shown = preview(api, {"customer": {"external_id": "c"}})
    assert row_counts(api) == before
    # Next boundary 1 May: April's fee in arrears, 1000 cents, plus the usage so far,
    # (10 + 4) units x 0.50 USD = 7.00 USD = 700 cents. Total 1000 + 700 = 1700, no tax.
    assert summary(shown) == {
        "fees": [("charge", 700), ("subscription", 1000)],
        "fees_amount_cents": 1700,
        "taxes_amount_cents": 0,
        "total_amount_cents": 1700,
        "issuing_date": "2024-05-01",
        "currency": "USD",
    }
    # The same question for the subscription by its external id gives the same invoice.
    by_id = preview(
        api, {"customer": {"external_id": "c"}, "subscriptions": {"external_ids": ["s"]}}
    )
    assert summary(by_id) == summary(shown)

    report = runs.run(api.database, as_of=MAY_1, clock=FrozenClock(MAY_1))
    assert report.errors == []
    with api.database.unit_of_work() as session:
        (issued_id,) = session.scalars(select(Invoice.id)).all()
    issued = api.get(f"invoices/{issued_id}")
    assert issued.status_code == 200, issued.text
    assert summary(issued.json()["invoice"]) == summary(shown)


def test_new_subscription_preview_for_an_inline_customer(api: Any) -> None:
    setup(api)
    before = row_counts(api)
    shown = preview(
        api,
        {
            "customer": {"external_id": "newcomer", "name": "New", "currency": "USD"},
            "plan_code": "seats",
            "billing_time": "calendar",
        },
    )
    assert row_counts(api) == before
    # Starts 25 April: its first invoice on 1 May bills 25..30 April, 6 of April's 30
    # days: 1000 x 6 / 30 = 200 cents; no usage yet.
    assert summary(shown) == {
        "fees": [("charge", 0), ("subscription", 200)],
        "fees_amount_cents": 200,
        "taxes_amount_cents": 0,
        "total_amount_cents": 200,
        "issuing_date": "2024-05-01",
        "currency": "USD",
    }
    assert shown["customer"]["external_id"] == "newcomer"
    # The inline customer was supposed, not created.
    assert api.get("customers/newcomer").status_code == 404


def test_plan_change_preview_is_the_upgrade_invoice(api: Any) -> None:
    setup(api)
    before = row_counts(api)
    shown = preview(
        api,
        {
            "customer": {"external_id": "c"},
            "subscriptions": {"external_ids": ["s"], "plan_code": "big"},
        },
    )
    assert row_counts(api) == before
    # Upgrade on 25 April: the old plan's fee for 1..24 April, 24/30 x 1000 = 800 cents
    # (the change day goes to the new plan), and its usage so far, 14 x 0.50 = 700 cents.
    assert summary(shown)["fees"] == [("charge", 700), ("subscription", 800)]
    assert shown["total_amount_cents"] == 1500

    changed = api.post(
        "subscriptions",
        {"subscription": {"external_customer_id": "c", "plan_code": "big", "external_id": "s"}},
    )
    assert changed.status_code == 200, changed.text
    with api.database.unit_of_work() as session:
        (issued_id,) = session.scalars(select(Invoice.id)).all()
    issued = api.get(f"invoices/{issued_id}")
    assert summary(issued.json()["invoice"]) == summary(shown)


def test_bad_previews_answer_lago_errors(api: Any) -> None:
    setup(api)
    assert api.post("invoices/preview", {"plan_code": "seats"}).status_code == 400
    bad_subs = api.post(
        "invoices/preview", {"customer": {"external_id": "c"}, "subscriptions": ["s"]}
    )
    assert bad_subs.status_code == 400
    assert "subscriptions_must_be_an_object" in bad_subs.json()["error"]
    unknown = api.post("invoices/preview", {"customer": {"external_id": "nobody"}})
    assert unknown.status_code == 404
    no_plan = api.post(
        "invoices/preview", {"customer": {"external_id": "c"}, "plan_code": "no_such_plan"}
    )
    assert no_plan.status_code == 404
