"""A backtest's answer: revenue per customer as billed and under the candidate, totals,
the biggest increases and decreases, and the same as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from meterly.services.backtest.repricing import Revenue

# How many customers the biggest increases and decreases list.
TOP = 5


@dataclass(frozen=True, slots=True)
class BacktestReport:
    plan_code: str
    currency: str
    window_from: datetime
    window_to: datetime
    customers: tuple[Revenue, ...]  # by external customer id

    @property
    def current_cents(self) -> int:
        return sum(r.current_cents for r in self.customers)

    @property
    def candidate_cents(self) -> int:
        return sum(r.candidate_cents for r in self.customers)

    @property
    def difference_cents(self) -> int:
        return self.candidate_cents - self.current_cents

    @property
    def periods(self) -> int:
        return sum(r.periods for r in self.customers)

    def biggest_increases(self, top: int = TOP) -> list[Revenue]:
        """Customers the candidate would bill most more (largest positive difference)."""
        rising = [r for r in self.customers if r.difference_cents > 0]
        return sorted(rising, key=lambda r: (-r.difference_cents, r.external_customer_id))[:top]

    def biggest_decreases(self, top: int = TOP) -> list[Revenue]:
        """Customers the candidate would bill most less (largest negative difference)."""
        falling = [r for r in self.customers if r.difference_cents < 0]
        return sorted(falling, key=lambda r: (r.difference_cents, r.external_customer_id))[:top]

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan_code": self.plan_code,
            "currency": self.currency,
            "from": self.window_from.isoformat().replace("+00:00", "Z"),
            "to": self.window_to.isoformat().replace("+00:00", "Z"),
            "totals": {
                "customers": len(self.customers),
                "periods": self.periods,
                "current_amount_cents": self.current_cents,
                "candidate_amount_cents": self.candidate_cents,
                "difference_amount_cents": self.difference_cents,
                "difference_percent": percent(self.difference_cents, self.current_cents),
            },
            "customers": [customer_dict(r) for r in self.customers],
            "biggest_increases": [r.external_customer_id for r in self.biggest_increases()],
            "biggest_decreases": [r.external_customer_id for r in self.biggest_decreases()],
        }

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for r in self.customers:
            writer.writerow(
                [
                    r.external_customer_id,
                    r.name or "",
                    len(r.subscriptions),
                    r.periods,
                    r.current_cents,
                    r.candidate_cents,
                    r.difference_cents,
                    percent(r.difference_cents, r.current_cents) or "",
                ]
            )
        writer.writerow(
            [
                "TOTAL",
                "",
                sum(len(r.subscriptions) for r in self.customers),
                self.periods,
                self.current_cents,
                self.candidate_cents,
                self.difference_cents,
                percent(self.difference_cents, self.current_cents) or "",
            ]
        )
        return out.getvalue()


CSV_COLUMNS = (
    "external_customer_id",
    "name",
    "subscriptions",
    "periods",
    "current_amount_cents",
    "candidate_amount_cents",
    "difference_amount_cents",
    "difference_percent",
)


def customer_dict(r: Revenue) -> dict[str, Any]:
    return {
        "external_customer_id": r.external_customer_id,
        "name": r.name,
        "subscriptions": len(r.subscriptions),
        "periods": r.periods,
        "current_amount_cents": r.current_cents,
        "candidate_amount_cents": r.candidate_cents,
        "difference_amount_cents": r.difference_cents,
        "difference_percent": percent(r.difference_cents, r.current_cents),
    }


def percent(part: int, whole: int) -> str | None:
    """`part` as a percentage of `whole`, two decimals; None when there is no base."""
    if whole == 0:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01")))
