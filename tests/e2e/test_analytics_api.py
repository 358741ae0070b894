"""Lago's analytics endpoints against invoices computed independently here, on both backends.

Two customers on a monthly plan (10.00 + 0.50 per API call above 10 free, 1.00 flat) and
one on a yearly plan paid in advance (120.00). Events in January and February; billed on
February 1 and March 1; the clock then stands at 2024-03-20.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from meterly.services import runs
from meterly.services.common import FrozenClock
from tests.e2e.test_portal import seed_customer, seed_usage, ts

MARCH_20 = datetime(2024, 3, 20, 12, tzinfo=UTC)


def _bill(api: Any, *moments: datetime) -> None:
    for moment in moments:
        runs.run(api.database, as_of=moment, clock=FrozenClock(moment))


@pytest.fixture
def billed(api: Any) -> Any:
    seed_usage(api)  # cust_acme: 25 calls and 400 GB in January
    seed_customer(api, customer="cust_beta", name="Beta", events=False)
    calls = [
        {
            "transaction_id": f"beta-{i}",
            "external_subscription_id": "sub_cust_beta",
            "code": "api_calls",
            "timestamp": ts(1 + i % 20, month=2),
        }
        for i in range(40)
    ]
    assert api.post("events/batch", {"events": calls}).status_code == 200
    yearly = api.post(
        "plans",
        {
            "plan": {
                "name": "Yearly",
                "code": "yearly",
                "interval": "yearly",
                "amount_cents": 12000,
                "amount_currency": "USD",
                "pay_in_advance": True,
            }
        },
    )
    assert yearly.status_code == 200, yearly.text
    api.post("customers", {"customer": {"external_id": "cust_year", "name": "Annual"}})
    sub = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust_year",
                "plan_code": "yearly",
                "external_id": "sub_year",
                "subscription_at": "2024-01-01T00:00:00Z",
                "billing_time": "anniversary",
            }
        },
    )
    assert sub.status_code == 200, sub.text
    _bill(api, datetime(2024, 2, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, 1, tzinfo=UTC))
    api.client.app.state.clock.set(MARCH_20)
    return api


def _invoices(api: Any) -> list[dict[str, Any]]:
    body = api.get("invoices?per_page=100").json()
    return [i for i in body["invoices"] if i["status"] == "finalized"]


def _month(iso: str) -> str:
    return iso[:7]


def _by_month(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["month"][:7]: r for r in rows}


def test_gross_revenue_is_the_sum_of_finalized_invoices_by_issuing_month(billed: Any) -> None:
    expected: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for inv in _invoices(billed):
        expected[_month(inv["issuing_date"])][0] += inv["total_amount_cents"]
        expected[_month(inv["issuing_date"])][1] += 1
    body = billed.get("analytics/gross_revenue?months=3").json()
    rows = body["gross_revenues"]
    assert [r["month"] for r in rows] == [
        "2024-01-01T00:00:00.000Z",
        "2024-02-01T00:00:00.000Z",
        "2024-03-01T00:00:00.000Z",
    ]
    for month, row in _by_month(rows).items():
        amount, count = expected.get(month, [0, 0])
        assert (row["amount_cents"], row["invoices_count"], row["currency"]) == (
            amount,
            count,
            "USD",
        )
    # January: the yearly plan in advance; February 1: January's arrears of acme and beta.
    assert _by_month(rows)["2024-02"]["amount_cents"] == (1000 + 850 + 1700) + 1000
    assert _by_month(rows)["2024-01"]["amount_cents"] == 12000


def test_gross_revenue_of_one_customer(billed: Any) -> None:
    rows = billed.get("analytics/gross_revenue?months=3&external_customer_id=cust_acme").json()
    acme = [i for i in _invoices(billed) if i["customer"]["external_id"] == "cust_acme"]
    assert sum(r["amount_cents"] for r in rows["gross_revenues"]) == sum(
        i["total_amount_cents"] for i in acme
    )


def test_mrr_spreads_yearly_fees_and_counts_monthly_ones(billed: Any) -> None:
    rows = _by_month(billed.get("analytics/mrr?months=3").json()["mrrs"])
    expected: dict[str, float] = defaultdict(float)
    for inv in _invoices(billed):
        detail = billed.get(f"invoices/{inv['lago_id']}").json()["invoice"]
        for fee in detail["fees"]:
            if fee["item"]["type"] != "subscription":
                continue
            start = fee["from_date"] or detail["issuing_date"]
            yearly = fee["item"]["code"] == "yearly"
            months = 12 if yearly else 1
            first = int(start[5:7])
            for k in range(months):
                month = first + k
                if month <= 3:
                    expected[f"2024-{month:02d}"] += fee["amount_cents"] / months
    for month in ("2024-01", "2024-02", "2024-03"):
        assert rows[month]["amount_cents"] == round(expected[month]), month
    # Two monthly subscriptions (10.00 each, January and February) plus 120.00 / 12.
    assert rows["2024-01"]["amount_cents"] == 2000 + 1000
    assert rows["2024-02"]["amount_cents"] == 2000 + 1000
    assert rows["2024-03"]["amount_cents"] == 1000


def test_invoiced_usage_by_metric_matches_the_charge_fees(billed: Any) -> None:
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for inv in _invoices(billed):
        detail = billed.get(f"invoices/{inv['lago_id']}").json()["invoice"]
        for fee in detail["fees"]:
            if fee["item"]["type"] == "charge":
                expected[(_month(detail["issuing_date"]), fee["item"]["code"])] += fee[
                    "amount_cents"
                ]
    rows = billed.get("analytics/invoiced_usage?months=3").json()["invoiced_usages"]
    got = {(_month(r["month"]), r["code"]): r["amount_cents"] for r in rows}
    assert got == dict(expected)
    assert got[("2024-02", "api_calls")] == 850  # acme's January calls
    assert got[("2024-03", "api_calls")] == 1600  # beta's 40 calls: 30 x 0.50 + 1.00
    assert set(rows[0]) == {"month", "code", "currency", "amount_cents"}


def test_invoice_collection_and_overdue_balance(billed: Any) -> None:
    invoices = _invoices(billed)
    paid = invoices[0]
    assert (
        billed.put(
            f"invoices/{paid['lago_id']}", {"invoice": {"payment_status": "succeeded"}}
        ).status_code
        == 200
    )
    rows = billed.get("analytics/invoice_collection?months=3").json()["invoice_collections"]
    counted: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for inv in invoices:
        status = "succeeded" if inv["lago_id"] == paid["lago_id"] else inv["payment_status"]
        counted[(_month(inv["issuing_date"]), status)][0] += 1
        counted[(_month(inv["issuing_date"]), status)][1] += inv["total_amount_cents"]
    got = {
        (_month(r["month"]), r["payment_status"]): [r["invoices_count"], r["amount_cents"]]
        for r in rows
    }
    assert got == dict(counted)
    # Net payment term 0: every unpaid invoice due before March 20 is overdue.
    overdue = billed.get("analytics/overdue_balance").json()["overdue_balances"]
    unpaid = [i for i in invoices if i["lago_id"] != paid["lago_id"] and i["total_amount_cents"]]
    assert sum(r["amount_cents"] for r in overdue) == sum(i["total_amount_cents"] for i in unpaid)
    assert sorted(i for r in overdue for i in r["lago_invoice_ids"]) == sorted(
        i["lago_id"] for i in unpaid
    )
    assert paid["lago_id"] not in {i for r in overdue for i in r["lago_invoice_ids"]}


def test_analytics_need_the_api_key_and_validate_params(billed: Any) -> None:
    assert billed.client.get("/api/v1/analytics/mrr").status_code == 401
    assert billed.get("analytics/mrr?currency=XXX").status_code == 422
    assert billed.get("analytics/gross_revenue?months=abc").status_code == 422
    eur = billed.get("analytics/gross_revenue?currency=EUR&months=2").json()["gross_revenues"]
    assert [r["amount_cents"] for r in eur] == [0, 0]
    assert all(r["currency"] == "EUR" for r in eur)


def test_analytics_never_show_another_organizations_invoices(billed: Any) -> None:
    from meterly.services.accounts import create_organization
    from tests.conftest import ApiClient

    with billed.database.unit_of_work() as session:
        org, key = create_organization(session, name="Other", clock=FrozenClock(MARCH_20))
    other = ApiClient(billed.client, key.secret, org.id, billed.database)
    for path, plural in (
        ("gross_revenue", "gross_revenues"),
        ("mrr", "mrrs"),
        ("invoice_collection", "invoice_collections"),
        ("invoiced_usage", "invoiced_usages"),
        ("overdue_balance", "overdue_balances"),
    ):
        rows = other.get(f"analytics/{path}").json()[plural]
        assert all(r["amount_cents"] == 0 for r in rows), path


def _usage(api: Any, **params: str) -> dict[tuple[str, str], tuple[int, str]]:
    answer = api.get("analytics/usage", params=params)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["usages"]
    assert all(r["organization_id"] == api.org_id for r in rows)
    return {
        (r["start_of_period_dt"], r["billable_metric_code"]): (r["amount_cents"], r["units"])
        for r in rows
        if r["billable_metric_code"] == "api_calls"
    }


def test_usage_analytics_per_metric_and_period(billed: Any) -> None:
    # acme: 25 calls in January = 850 cents; beta: 40 calls in February = 1600 cents
    # (acme's February has no calls: 0). Counted where the fee's window starts.
    assert _usage(billed) == {
        ("2024-01-01", "api_calls"): (850, "25.0"),
        ("2024-02-01", "api_calls"): (1600, "40.0"),
    }
    # One year: 850 + 1600 = 2450 cents for 25 + 40 = 65 calls.
    assert _usage(billed, time_granularity="yearly") == {
        ("2024-01-01", "api_calls"): (2450, "65.0")
    }
    # ISO weeks: 1 Jan 2024 is a Monday; 1 Feb 2024 (a Thursday) is in the week of Mon 29 Jan.
    assert set(_usage(billed, time_granularity="weekly")) == {
        ("2024-01-01", "api_calls"),
        ("2024-01-29", "api_calls"),
    }
    # beta's January: subscribed, no calls.
    assert _usage(billed, external_customer_id="cust_beta") == {
        ("2024-01-01", "api_calls"): (0, "0.0"),
        ("2024-02-01", "api_calls"): (1600, "40.0"),
    }
    assert _usage(billed, from_date="2024-02-01", to_date="2024-02-29") == {
        ("2024-02-01", "api_calls"): (1600, "40.0")
    }
    assert _usage(billed, billable_metric_code="storage_gb") == {}
    assert _usage(billed, is_billable_metric_recurring="true") == {}
    assert _usage(billed, plan_code="yearly") == {}


def test_usage_analytics_validates_its_parameters(billed: Any) -> None:
    for params in (
        {"time_granularity": "hourly"},
        {"currency": "XXX1"},
        {"from_date": "yesterday"},
        {"is_billable_metric_recurring": "maybe"},
    ):
        answer = billed.get("analytics/usage", params=params)
        assert answer.status_code == 422, (params, answer.text)
