"""The dashboard's metric list shows the plans charging each metric and its live subscriptions."""

from __future__ import annotations

import re
from typing import Any

from meterly.web import install_web
from tests.e2e.test_dashboard import sign_in


def create(api: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(path, body)
    assert answer.status_code == 200, answer.text
    payload: dict[str, Any] = answer.json()
    return payload


def plan(api: Any, code: str, name: str, metric_ids: list[str]) -> None:
    charges = [
        {"billable_metric_id": m, "charge_model": "standard", "properties": {"amount": "1"}}
        for m in metric_ids
    ]
    body = {
        "name": name,
        "code": code,
        "interval": "monthly",
        "amount_cents": 0,
        "amount_currency": "EUR",
        "charges": charges,
    }
    create(api, "plans", {"plan": body})


def subscribe(api: Any, customer: str, plan_code: str, sub: str) -> None:
    create(api, "customers", {"customer": {"external_id": customer, "currency": "EUR"}})
    body = {"external_customer_id": customer, "plan_code": plan_code, "external_id": sub}
    create(api, "subscriptions", {"subscription": body})


def row_of(html: str, code: str) -> str:
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.DOTALL)
    (row,) = [r for r in rows if f"<td>{code}</td>" in r]
    return row


def test_each_metric_lists_its_plans_and_active_subscriptions(api: Any) -> None:
    install_web(api.client.app)
    metric = {"aggregation_type": "count_agg"}
    calls = create(
        api, "billable_metrics", {"billable_metric": {**metric, "name": "Calls", "code": "calls"}}
    )
    seats = create(
        api, "billable_metrics", {"billable_metric": {**metric, "name": "Seats", "code": "seats"}}
    )
    idle = create(
        api, "billable_metrics", {"billable_metric": {**metric, "name": "Idle", "code": "idle"}}
    )
    calls_id = calls["billable_metric"]["lago_id"]
    seats_id = seats["billable_metric"]["lago_id"]
    plan(api, "alpha", "Alpha", [calls_id])
    plan(api, "beta", "Beta", [calls_id, seats_id])
    subscribe(api, "c1", "alpha", "s1")
    subscribe(api, "c2", "alpha", "s2")
    subscribe(api, "c3", "beta", "s3")
    subscribe(api, "c4", "beta", "s4")
    # A terminated subscription no longer counts.
    assert api.delete("subscriptions/s4").status_code == 200
    # Plan overrides put c5 on a child plan of Beta: it counts, under Beta.
    overridden = {
        "external_customer_id": "c5",
        "plan_code": "beta",
        "external_id": "s5",
        "plan_overrides": {"amount_cents": 500},
    }
    create(api, "customers", {"customer": {"external_id": "c5", "currency": "EUR"}})
    create(api, "subscriptions", {"subscription": overridden})

    sign_in(api)
    page = api.client.get("/dashboard/metrics")
    assert page.status_code == 200
    calls_row = row_of(page.text, "calls")
    # calls: charged by Alpha (s1, s2) and Beta (s3; s4 terminated; s5 on Beta's child) = 4.
    assert re.findall(r'<a href="/dashboard/plans/(\w+)">', calls_row) == ["alpha", "beta"]
    assert '<td class="num subscriptions">4</td>' in calls_row
    # seats: charged by Beta only: s3 and s5 = 2.
    seats_row = row_of(page.text, "seats")
    assert re.findall(r'<a href="/dashboard/plans/(\w+)">', seats_row) == ["beta"]
    assert '<td class="num subscriptions">2</td>' in seats_row
    # idle: no plan charges it.
    idle_row = row_of(page.text, "idle")
    assert '<span class="muted">none</span>' in idle_row
    assert '<td class="num subscriptions">0</td>' in idle_row
    assert idle["billable_metric"]["code"] == "idle"
