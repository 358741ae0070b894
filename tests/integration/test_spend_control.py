"""Progressive billing, lifetime usage and usage alerts, with a fixed clock, both backends.

Plan: 3000 cents a month in arrears, calls at 1.00 each (100 cents), thresholds at 1000 cents
and every 500 cents above it (recurring).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice, Organization, Webhook
from meterly.store.tables_spend import TriggeredAlert


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC)


def setup(api: Any, *, thresholds: bool = True) -> None:
    bm = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    plan: dict[str, Any] = {
        "name": "Usage",
        "code": "usage",
        "interval": "monthly",
        "amount_cents": 3000,
        "amount_currency": "USD",
        "pay_in_advance": False,
        "charges": [
            {
                "billable_metric_id": bm["lago_id"],
                "charge_model": "standard",
                "properties": {"amount": "1"},
            }
        ],
    }
    if thresholds:
        plan["usage_thresholds"] = [
            {"amount_cents": 1000, "threshold_display_name": "First 10"},
            {"amount_cents": 500, "recurring": True},
        ]
    assert api.post("plans", {"plan": plan}).status_code == 200
    with api.database.unit_of_work() as session:  # a loopback receiver: allowed explicitly
        session.get(Organization, api.org_id).allow_private_webhook_urls = True
    api.post("webhook_endpoints", {"webhook_endpoint": {"webhook_url": "http://127.0.0.1:9/hook"}})
    sub = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "usage",
                "external_id": "s",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        },
    )
    assert sub.status_code == 200, sub.text


def calls(api: Any, count: int, when: datetime, prefix: str) -> None:
    events = [
        {
            "transaction_id": f"{prefix}{i}",
            "external_subscription_id": "s",
            "code": "calls",
            "timestamp": str(int(when.timestamp())),
        }
        for i in range(count)
    ]
    assert api.post("events/batch", {"events": events}).status_code == 200


def run(api: Any, when: datetime) -> runs.RunReport:
    api.client.app.state.clock.set(when)
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []
    return report


def invoice_totals(api: Any) -> list[tuple[str, int, int, int]]:
    with api.database.unit_of_work() as session:
        rows = session.scalars(select(Invoice).order_by(Invoice.created_at))
        return [
            (
                r.invoice_type,
                r.fees_amount_cents,
                r.progressive_billing_credit_amount_cents,
                r.total_amount_cents,
            )
            for r in rows
        ]


def test_threshold_crossed_twice_in_a_period_bills_early_and_deducts_at_period_end(
    api: Any,
) -> None:
    setup(api)
    calls(api, 12, at(1, 5), "a")
    run(api, at(1, 5, 13))
    # 1200 cents crossed the 1000 threshold: usage so far is billed early.
    assert invoice_totals(api) == [("progressive_billing", 1200, 0, 1200)]
    calls(api, 6, at(1, 10), "b")
    run(api, at(1, 10, 13))
    # 1800 crosses 1000 + 500 (recurring): 1800 billed, minus the 1200 billed before.
    assert invoice_totals(api)[1] == ("progressive_billing", 1800, 1200, 600)
    run(api, at(1, 10, 14))  # nothing new crossed: nothing billed
    assert len(invoice_totals(api)) == 2
    run(api, at(2, 1, 1))
    # Period end: subscription fee 3000 + usage 1800, minus the 1800 billed early.
    assert invoice_totals(api)[2] == ("subscription", 4800, 1800, 3000)


def test_lifetime_usage_endpoint_and_historical_usage(api: Any) -> None:
    setup(api)
    calls(api, 3, at(1, 5), "a")
    api.client.app.state.clock.set(at(1, 6))
    body = api.get("subscriptions/s/lifetime_usage").json()["lifetime_usage"]
    assert body["current_usage_amount_cents"] == 300
    assert body["invoiced_usage_amount_cents"] == 0
    assert body["usage_thresholds"][1] == {
        "amount_cents": 1000,
        "completion_ratio": 0.3,
        "reached_at": None,
    }
    updated = api.put(
        "subscriptions/s/lifetime_usage",
        {"lifetime_usage": {"external_historical_usage_amount_cents": 800}},
    )
    assert updated.json()["lifetime_usage"]["external_historical_usage_amount_cents"] == 800
    # 800 historical + 300 current crosses 1000: usage of this period is billed early.
    run(api, at(1, 6, 1))
    assert invoice_totals(api) == [("progressive_billing", 300, 0, 300)]
    bad = api.put(
        "subscriptions/s/lifetime_usage",
        {"lifetime_usage": {"external_historical_usage_amount_cents": -1}},
    )
    assert bad.status_code == 422


def test_current_usage_alert_fires_each_threshold_once_per_period(api: Any) -> None:
    setup(api, thresholds=False)
    created = api.post(
        "subscriptions/s/alerts",
        {
            "alert": {
                "alert_type": "current_usage_amount",
                "code": "spend",
                "name": "Spend",
                "thresholds": [{"code": "warn", "value": "500"}, {"code": "stop", "value": "1500"}],
            }
        },
    )
    assert created.status_code == 200, created.text
    assert created.json()["alert"]["thresholds"][0] == {
        "code": "warn",
        "value": "500",
        "recurring": False,
    }
    calls(api, 12, at(1, 5), "a")
    run(api, at(1, 5, 13))
    calls(api, 6, at(1, 6), "b")
    run(api, at(1, 6, 13))
    run(api, at(1, 7))  # nothing new
    with api.database.unit_of_work() as session:
        hooks = list(
            session.scalars(select(Webhook).where(Webhook.webhook_type == "alert.triggered"))
        )
        crossed = [
            h.payload["crossed_thresholds"][0]["code"]
            for h in sorted(hooks, key=lambda h: h.created_at)
        ]
        assert crossed == ["warn", "stop"]
        assert hooks[0].payload["current_value"] == "1200"
    # A new period starts from zero: the same thresholds may fire again.
    calls(api, 6, at(2, 2), "c")
    run(api, at(2, 2, 13))
    with api.database.unit_of_work() as session:
        summaries = session.scalars(
            select(TriggeredAlert).where(TriggeredAlert.threshold_key.like("summary:%"))
        )
        assert len(list(summaries)) == 3


def test_metric_units_alert_and_errors(api: Any) -> None:
    setup(api, thresholds=False)
    ok = api.post(
        "subscriptions/s/alerts",
        {
            "alerts": [
                {
                    "alert_type": "billable_metric_current_usage_units",
                    "code": "units",
                    "billable_metric_code": "calls",
                    "thresholds": [{"value": "10", "recurring": True}],
                }
            ]
        },
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["alerts"][0]["billable_metric"]["code"] == "calls"
    duplicate = api.post(
        "subscriptions/s/alerts",
        {
            "alert": {
                "alert_type": "current_usage_amount",
                "code": "units",
                "thresholds": [{"value": "1"}],
            }
        },
    )
    assert duplicate.status_code == 422 and duplicate.json()["error_details"] == {
        "code": ["value_already_exist"]
    }
    unknown_metric = api.post(
        "subscriptions/s/alerts",
        {
            "alert": {
                "alert_type": "billable_metric_current_usage_units",
                "code": "x",
                "billable_metric_code": "nope",
                "thresholds": [{"value": "1"}],
            }
        },
    )
    assert unknown_metric.status_code == 404
    bad_type = api.post(
        "subscriptions/s/alerts",
        {"alert": {"alert_type": "weather", "code": "y", "thresholds": [{"value": "1"}]}},
    )
    assert bad_type.status_code == 422
    assert len(api.get("subscriptions/s/alerts").json()["alerts"]) == 1
    calls(api, 25, at(1, 5), "a")
    run(api, at(1, 5, 13))
    with api.database.unit_of_work() as session:
        hooks = list(
            session.scalars(select(Webhook).where(Webhook.webhook_type == "alert.triggered"))
        )
        assert len(hooks) == 1  # one report listing both crossings (10 and 20)
        assert len(hooks[0].payload["crossed_thresholds"]) == 2
    assert api.delete("subscriptions/s/alerts/units").status_code == 200
    assert api.get("subscriptions/s/alerts/units").status_code == 404
