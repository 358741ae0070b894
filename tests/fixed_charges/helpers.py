"""Builders for the fixed-charge tests: add-ons, a plan with fixed charges, a subscription,
the billing clock, and the fixed-charge fees billed so far."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee, Invoice

JAN_1 = "2024-01-01T00:00:00Z"
JAN_15 = "2024-01-15T00:00:00Z"


def add_on(api: Any, code: str, name: str) -> dict[str, Any]:
    body = {"add_on": {"name": name, "code": code, "amount_cents": 0, "amount_currency": "USD"}}
    response = api.post("add_ons", body)
    assert response.status_code == 200, response.text
    return dict(response.json()["add_on"])


def plan(api: Any, fixed_charges: list[dict[str, Any]], code: str = "hybrid") -> dict[str, Any]:
    body = {
        "plan": {
            "name": "Hybrid",
            "code": code,
            "interval": "monthly",
            "amount_cents": 0,
            "amount_currency": "USD",
            "pay_in_advance": False,
            "fixed_charges": fixed_charges,
        }
    }
    response = api.post("plans", body)
    assert response.status_code == 200, response.text
    return dict(response.json()["plan"])


def subscribe(api: Any, start: str, plan_code: str = "hybrid", external_id: str = "s") -> Any:
    response = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": plan_code,
                "external_id": external_id,
                "subscription_at": start,
            }
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["subscription"]


def run(api: Any, when: datetime) -> None:
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


def fixed_fees(api: Any) -> list[tuple[str, str, int]]:
    """(code, service start date, amount_cents) of every fixed-charge fee, in billing order."""
    with api.database.unit_of_work() as session:
        rows = session.scalars(
            select(Fee)
            .where(Fee.fee_type == "fixed_charge", Fee.deleted_at.is_(None))
            .order_by(Fee.from_datetime, Fee.created_at)
        )
        return [
            (
                str(f.item["code"]),
                f.from_datetime.date().isoformat() if f.from_datetime else "",
                f.amount_cents,
            )
            for f in rows
        ]


def invoices_with_fixed_fees(api: Any) -> list[tuple[int, int, int]]:
    """(fees, taxes, total) amounts in cents of each invoice holding a fixed-charge fee."""
    with api.database.unit_of_work() as session:
        ids = set(session.scalars(select(Fee.invoice_id).where(Fee.fee_type == "fixed_charge")))
        rows = session.scalars(
            select(Invoice).where(Invoice.id.in_(ids)).order_by(Invoice.created_at)
        )
        return [(i.fees_amount_cents, i.taxes_amount_cents, i.total_amount_cents) for i in rows]
