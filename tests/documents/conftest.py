"""Invoices for the document tests, billed by the real engine through the HTTP API.

`Scenario` posts taxes, a metric, a plan (a flat fee plus a graduated charge), a
customer in a timezone and a language, subscriptions, coupons, wallets and events,
then runs billing at the period's end and returns the finalized invoice. Figures are
worked by hand in each test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from meterly.services import runs
from meterly.services.common import FrozenClock
from tests.conftest import ApiClient


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class Scenario:
    api: ApiClient
    currency: str = "EUR"
    timezone: str | None = None
    locale: str | None = None
    tax_rate: str | None = "20"
    plan_cents: int = 1000
    # (from, to, per_unit, flat) of a graduated charge on the sum of `qty`, or None.
    ladder: list[tuple[int, int | None, str, str]] | None = None
    customer: dict[str, Any] = field(default_factory=dict)
    _plans: int = 0

    def setup(self) -> None:
        if self.tax_rate is not None:
            tax = {"name": "VAT", "code": "vat", "rate": self.tax_rate}
            ok(self.api.post("taxes", {"tax": tax}))
        charges: list[dict[str, Any]] = []
        if self.ladder is not None:
            metric = {
                "name": "API calls",
                "code": "calls",
                "aggregation_type": "sum_agg",
                "field_name": "qty",
            }
            bm = ok(self.api.post("billable_metrics", {"billable_metric": metric}))
            ranges = [
                {"from_value": a, "to_value": b, "per_unit_amount": p, "flat_amount": f}
                for a, b, p, f in self.ladder
            ]
            charges.append(
                {
                    "billable_metric_id": bm["billable_metric"]["lago_id"],
                    "charge_model": "graduated",
                    "properties": {"graduated_ranges": ranges},
                }
            )
        plan: dict[str, Any] = {
            "name": "Growth",
            "code": "growth",
            "interval": "monthly",
            "amount_cents": self.plan_cents,
            "amount_currency": self.currency,
            "pay_in_advance": False,
            "charges": charges,
        }
        if self.tax_rate is not None:
            plan["tax_codes"] = ["vat"]
        ok(self.api.post("plans", {"plan": plan}))
        body: dict[str, Any] = {
            "external_id": "cust",
            "name": "Client SA",
            "currency": self.currency,
            **self.customer,
        }
        if self.timezone:
            body["timezone"] = self.timezone
        if self.locale:
            body["billing_configuration"] = {"document_locale": self.locale}
        ok(self.api.post("customers", {"customer": body}))

    def subscribe(self, external_id: str, at: datetime, name: str | None = None) -> None:
        sub: dict[str, Any] = {
            "external_customer_id": "cust",
            "plan_code": "growth",
            "external_id": external_id,
            "billing_time": "calendar",
            "subscription_at": at.isoformat(),
        }
        if name:
            sub["name"] = name
        ok(self.api.post("subscriptions", {"subscription": sub}))

    def usage(self, subscription: str, at: datetime, qty: int, tx: str) -> None:
        event = {
            "transaction_id": tx,
            "external_subscription_id": subscription,
            "code": "calls",
            "timestamp": str(int(at.timestamp())),
            "properties": {"qty": qty},
        }
        ok(self.api.post("events", {"event": event}))

    def bill(self, at: datetime) -> list[str]:
        report = runs.run(self.api.database, as_of=at, clock=FrozenClock(at))  # type: ignore[arg-type]
        assert report.errors == [], report.errors
        return list(report.invoices)


def plain(text: str) -> str:
    """Babel's no-break and narrow no-break spaces (1 234,50 €) as plain spaces."""
    return text.replace("\u202f", " ").replace("\xa0", " ")
