"""A small metered world for the reconciliation tests, built through the public API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from meterly.services import runs
from meterly.services.common import FrozenClock
from tests.conftest import ApiClient


def at(month: int, day: int, hour: int = 12, year: int = 2024) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def setup_world(
    api: ApiClient,
    *,
    charge_model: str = "standard",
    properties: dict[str, Any] | None = None,
    aggregation: str = "sum_agg",
    extra_metric: bool = True,
) -> None:
    """Metric `mb` (sum of "mb"), plan `metered` charging it, customer `c`, subscription `s`
    from 2024-01-01; metric `calls` (count) exists but no plan charges it."""
    metric: dict[str, Any] = {"name": "Data", "code": "mb", "aggregation_type": aggregation}
    if aggregation != "count_agg":
        metric["field_name"] = "mb"
    res = api.post("billable_metrics", {"billable_metric": metric})
    assert res.status_code == 200, res.text  # type: ignore[attr-defined]
    bm = res.json()["billable_metric"]  # type: ignore[attr-defined]
    if extra_metric:
        res = api.post(
            "billable_metrics",
            {
                "billable_metric": {
                    "name": "Calls",
                    "code": "calls",
                    "aggregation_type": "count_agg",
                }
            },
        )
        assert res.status_code == 200, res.text  # type: ignore[attr-defined]
    res = api.post(
        "plans",
        {
            "plan": {
                "name": "Metered",
                "code": "metered",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "USD",
                "pay_in_advance": False,
                "charges": [
                    {
                        "billable_metric_id": bm["lago_id"],
                        "charge_model": charge_model,
                        "properties": properties or {"amount": "2"},
                    }
                ],
            }
        },
    )
    assert res.status_code == 200, res.text  # type: ignore[attr-defined]
    subscribe(api, "c", "s", at(1, 1, 0))


def subscribe(api: ApiClient, customer: str, sub: str, start: datetime) -> None:
    """A customer and its subscription to plan `metered` from `start`."""
    res = api.post(
        "customers", {"customer": {"external_id": customer, "name": customer, "currency": "USD"}}
    )
    assert res.status_code == 200, res.text  # type: ignore[attr-defined]
    res = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": customer,
                "plan_code": "metered",
                "external_id": sub,
                "subscription_at": start.isoformat().replace("+00:00", "Z"),
            }
        },
    )
    assert res.status_code == 200, res.text  # type: ignore[attr-defined]


def send(
    api: ApiClient,
    tx: str,
    when: datetime,
    *,
    value: Any = None,
    code: str = "mb",
    sub: str = "s",
    duplicate: bool = False,
) -> None:
    """POST one event; a `duplicate` (same transaction id and subscription) gets Lago's 422."""
    body: dict[str, Any] = {
        "transaction_id": tx,
        "external_subscription_id": sub,
        "code": code,
        "timestamp": str(int(when.timestamp())),
    }
    if value is not None:
        body["properties"] = {"mb": value}
    res = api.post("events", {"event": body})
    if duplicate:
        assert res.status_code == 422, res.text  # type: ignore[attr-defined]
        assert "value_already_exist" in res.text  # type: ignore[attr-defined]
        return
    assert res.status_code == 200, res.text  # type: ignore[attr-defined]


def bill(api: ApiClient, clock: FrozenClock, as_of: datetime) -> None:
    """Run the billing clock at `as_of` (the clock moves there, as in production)."""
    clock.set(as_of)
    runs.run(api.database, as_of=as_of, clock=FrozenClock(as_of))  # type: ignore[arg-type]
