"""Metrics, plan, customers and subscriptions, created through the API like a user would."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from bench import data

PLAN_CODE = "bench_plan"
# (code, aggregation, field, extra): ten metrics of mixed aggregations over data.CODES.
METRICS: tuple[tuple[str, str, str | None, dict[str, Any]], ...] = (
    ("metric_0", "count_agg", None, {}),
    ("metric_1", "sum_agg", "value", {}),
    ("metric_2", "max_agg", "value", {}),
    ("metric_3", "unique_count_agg", "region", {}),
    ("metric_4", "latest_agg", "value", {}),
    ("metric_5", "weighted_sum_agg", "value", {"weighted_interval": "seconds"}),
    ("metric_6", "sum_agg", "value", {"recurring": True}),
    ("metric_7", "unique_count_agg", "user", {}),
    ("metric_8", "count_agg", None, {}),
    ("metric_9", "sum_agg", "value", {"rounding_function": "round", "rounding_precision": 2}),
)
assert tuple(m[0] for m in METRICS) == data.CODES


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} "
            f"{response.text[:500]}"
        )
    body: dict[str, Any] = response.json()
    return body


def create_catalogue(client: httpx.Client) -> None:
    """Ten billable metrics and one monthly plan charging each of them."""
    charges = []
    for code, aggregation, field_name, extra in METRICS:
        metric: dict[str, Any] = {"name": code, "code": code, "aggregation_type": aggregation}
        if field_name:
            metric["field_name"] = field_name
        metric.update(extra)
        created = _ok(client.post("/billable_metrics", json={"billable_metric": metric}))
        metric_id = created["billable_metric"]["lago_id"]
        if code == "metric_9":
            charge: dict[str, Any] = {
                "charge_model": "graduated",
                "properties": {
                    "graduated_ranges": [
                        {"from_value": 0, "to_value": 1000, "per_unit_amount": "0",
                         "flat_amount": "0"},
                        {"from_value": 1000, "to_value": None, "per_unit_amount": "0.0001",
                         "flat_amount": "1"},
                    ]
                },
            }  # fmt: skip
        else:
            charge = {"charge_model": "standard", "properties": {"amount": "0.0002"}}
        charges.append({"billable_metric_id": metric_id, "code": f"charge_{code}", **charge})
    plan = {
        "name": "Bench",
        "code": PLAN_CODE,
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "USD",
        "pay_in_advance": False,
        "charges": charges,
    }
    _ok(client.post("/plans", json={"plan": plan}))


def customer_of(subscription: str) -> str:
    return f"cust_{subscription}"


def subscribe(client: httpx.Client, subscriptions: Sequence[str]) -> None:
    """One customer and one subscription (calendar, started 2024-01-01) per id."""
    for external_id in subscriptions:
        customer = {"external_id": customer_of(external_id), "name": external_id, "currency": "USD"}
        _ok(client.post("/customers", json={"customer": customer}))
        subscription = {
            "external_customer_id": customer_of(external_id),
            "plan_code": PLAN_CODE,
            "external_id": external_id,
            "billing_time": "calendar",
            "subscription_at": data.PERIOD_START.isoformat().replace("+00:00", "Z"),
        }
        _ok(client.post("/subscriptions", json={"subscription": subscription}))
