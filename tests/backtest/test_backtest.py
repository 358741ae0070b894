"""Backtests (API and CLI) on both backends: the current plan as candidate gives back what
was billed to the cent; a candidate plan and coupons re-price the same usage; nothing is
stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from meterly.cli.main import app
from meterly.services.common import FrozenClock
from tests.conftest import ApiClient
from tests.reconciliation.helpers import at, bill, send, subscribe

runner = CliRunner()
WINDOW = {"from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}

# Candidate: 5.00 a month (500 cents), the first 5 MB of a month free, then 3.00 each.
GRADUATED = {
    "graduated_ranges": [
        {"from_value": 0, "to_value": 5, "per_unit_amount": "0", "flat_amount": "0"},
        {"from_value": 6, "to_value": None, "per_unit_amount": "3", "flat_amount": "0"},
    ]
}


def world(api: ApiClient, clock: FrozenClock) -> str:
    """Plan `metered`: 10.00 a month in arrears, 2.00 per MB. Customers c1 and c2 from Jan 1.
    January: c1 3 MB, c2 10 MB. February: c1 1 MB. Billed on Feb 1 and Mar 1.

    Billed: c1 Jan 1000 + 3 x 200 = 1600, Feb 1000 + 1 x 200 = 1200 -> 2800;
            c2 Jan 1000 + 10 x 200 = 3000, Feb 1000 -> 4000; total 6800.
    """
    res: Any = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "Data",
                "code": "mb",
                "aggregation_type": "sum_agg",
                "field_name": "mb",
            }
        },
    )
    assert res.status_code == 200, res.text
    metric_id = res.json()["billable_metric"]["lago_id"]
    res = api.post(
        "plans",
        {
            "plan": {
                "name": "Metered",
                "code": "metered",
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "USD",
                "pay_in_advance": False,
                "charges": [
                    {
                        "billable_metric_id": metric_id,
                        "charge_model": "standard",
                        "properties": {"amount": "2"},
                    }
                ],
            }
        },
    )
    assert res.status_code == 200, res.text
    subscribe(api, "c1", "s1", at(1, 1, 0))
    subscribe(api, "c2", "s2", at(1, 1, 0))
    send(api, "a", at(1, 10), value=1, sub="s1")
    send(api, "b", at(1, 11), value=2, sub="s1")
    send(api, "c", at(1, 12), value=10, sub="s2")
    bill(api, clock, at(2, 1, 1))
    send(api, "d", at(2, 5), value=1, sub="s1")
    bill(api, clock, at(3, 1, 1))
    return str(metric_id)


def candidate(metric_id: str, amount_cents: int = 500) -> dict[str, Any]:
    return {
        "name": "Metered v2",
        "code": "metered",
        "interval": "monthly",
        "amount_cents": amount_cents,
        "amount_currency": "USD",
        "charges": [
            {"billable_metric_id": metric_id, "charge_model": "graduated", "properties": GRADUATED}
        ],
    }


def run(api: ApiClient, body: dict[str, Any], **params: str) -> Any:
    return api.post("plans/metered/backtest", {**WINDOW, **body}, params=params)


def by_customer(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["external_customer_id"]: r for r in report["customers"]}


def test_the_current_plan_as_candidate_gives_back_what_was_billed(
    api: ApiClient, clock: FrozenClock
) -> None:
    world(api, clock)
    current: Any = api.get("plans/metered")
    res = run(api, {"plan": current.json()["plan"]})
    assert res.status_code == 200, res.text
    report = res.json()["backtest"]
    rows = by_customer(report)
    assert (rows["c1"]["current_amount_cents"], rows["c1"]["candidate_amount_cents"]) == (
        2800,
        2800,
    )
    assert (rows["c2"]["current_amount_cents"], rows["c2"]["candidate_amount_cents"]) == (
        4000,
        4000,
    )
    assert report["totals"]["difference_amount_cents"] == 0
    # What was billed, as the invoices say it: the sum of their fees.
    invoices: Any = api.get("invoices", params={"per_page": 100})
    billed = sum(i["fees_amount_cents"] for i in invoices.json()["invoices"])
    assert report["totals"]["current_amount_cents"] == billed == 6800
    assert report["totals"]["periods"] == 4


def test_a_candidate_plan_reprices_the_same_usage(api: ApiClient, clock: FrozenClock) -> None:
    metric_id = world(api, clock)
    plans_before: Any = api.get("plans")
    res = run(api, {"plan": candidate(metric_id)})
    assert res.status_code == 200, res.text
    report = res.json()["backtest"]
    rows = by_customer(report)
    # c1: 500 + 0 (3 MB free) + 500 + 0 (1 MB free) = 1000; 1000 - 2800 = -1800.
    assert rows["c1"]["candidate_amount_cents"] == 1000
    assert rows["c1"]["difference_amount_cents"] == -1800
    # c2: 500 + (10 - 5) x 300 = 2000 in January, 500 in February: 2500; -1500.
    assert rows["c2"]["candidate_amount_cents"] == 2500
    assert rows["c2"]["difference_amount_cents"] == -1500
    # -1800 / 2800 = -64.2857...%
    assert rows["c1"]["difference_percent"] == "-64.29"
    assert report["totals"]["candidate_amount_cents"] == 3500
    assert report["biggest_decreases"] == ["c1", "c2"]
    assert report["biggest_increases"] == []
    # Nothing was stored: the candidate plan is not in the catalogue.
    plans_after: Any = api.get("plans")
    assert plans_after.json()["meta"]["total_count"] == plans_before.json()["meta"]["total_count"]
    assert [p["code"] for p in plans_after.json()["plans"]] == ["metered"]


def test_the_window_picks_the_periods_starting_in_it(api: ApiClient, clock: FrozenClock) -> None:
    metric_id = world(api, clock)
    res: Any = api.post(
        "plans/metered/backtest",
        {
            "plan": candidate(metric_id),
            "from": "2024-02-01T00:00:00Z",
            "to": "2024-03-01T00:00:00Z",
        },
    )
    assert res.status_code == 200, res.text
    rows = by_customer(res.json()["backtest"])
    # February only: c1 billed 1200, candidate 500 + 0; c2 billed 1000, candidate 500.
    assert (rows["c1"]["current_amount_cents"], rows["c1"]["candidate_amount_cents"]) == (1200, 500)
    assert (rows["c2"]["current_amount_cents"], rows["c2"]["candidate_amount_cents"]) == (1000, 500)


def test_candidate_coupons(api: ApiClient, clock: FrozenClock) -> None:
    world(api, clock)
    current = api.get("plans/metered").json()["plan"]  # type: ignore[attr-defined]
    percent = {"coupon_type": "percentage", "percentage_rate": "10", "frequency": "forever"}
    rows = by_customer(run(api, {"plan": current, "coupons": [percent]}).json()["backtest"])
    # 10% off each period: c1 1600 - 160 + 1200 - 120 = 2520; c2 3000 - 300 + 1000 - 100.
    assert rows["c1"]["candidate_amount_cents"] == 2520
    assert rows["c2"]["candidate_amount_cents"] == 3600
    once = {"coupon_type": "fixed_amount", "amount_cents": 2000, "frequency": "once"}
    rows = by_customer(run(api, {"plan": current, "coupons": [once]}).json()["backtest"])
    # 20.00 once, spent over the periods: c1 1600 then 400 of 1200 -> 2800 - 2000 = 800;
    # c2 2000 of January's 3000 -> 4000 - 2000 = 2000.
    assert rows["c1"]["candidate_amount_cents"] == 800
    assert rows["c2"]["candidate_amount_cents"] == 2000


def test_the_csv(api: ApiClient, clock: FrozenClock) -> None:
    metric_id = world(api, clock)
    res = run(api, {"plan": candidate(metric_id)}, format="csv")
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/csv")
    lines = res.text.splitlines()
    assert lines[0].startswith("external_customer_id,name,subscriptions,periods,current_amount")
    # -1500 / 4000 = -37.5%
    assert lines[1:] == [
        "c1,c1,1,2,2800,1000,-1800,-64.29",
        "c2,c2,1,2,4000,2500,-1500,-37.50",
        "TOTAL,,2,4,6800,3500,-3300,-48.53",
    ]  # -3300 / 6800 = -48.529...%


def test_bad_input_is_refused_and_changes_nothing(api: ApiClient, clock: FrozenClock) -> None:
    metric_id = world(api, clock)
    missing: Any = api.post("plans/nope/backtest", {**WINDOW, "plan": candidate(metric_id)})
    assert missing.status_code == 404
    assert missing.json()["code"] == "plan_not_found"
    yearly = {**candidate(metric_id), "interval": "yearly"}
    res = run(api, {"plan": yearly})
    assert res.status_code == 422
    assert res.json()["error_details"] == {"interval": ["must_match_current_plan"]}
    broken = {**candidate(metric_id), "charges": [{"billable_metric_id": metric_id}]}
    res = run(api, {"plan": broken})
    assert res.status_code == 422
    assert res.json()["error_details"] == {"charge_model": ["value_is_mandatory"]}
    short: Any = api.post("plans/metered/backtest", {"plan": candidate(metric_id), "from": "2024"})
    assert short.status_code == 422
    res = run(api, {"plan": candidate(metric_id), "coupons": [{"coupon_type": "gift"}]})
    assert res.status_code == 422
    assert res.json()["error_details"] == {"coupons[0].coupon_type": ["value_is_invalid"]}
    plans: Any = api.get("plans")
    assert [p["code"] for p in plans.json()["plans"]] == ["metered"]


def test_the_command(api: ApiClient, clock: FrozenClock, tmp_path: Path) -> None:
    metric_id = world(api, clock)
    path = tmp_path / "candidate.json"
    path.write_text(json.dumps({"plan": candidate(metric_id)}))
    out = tmp_path / "backtest.csv"
    url = api.database.engine.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
    result = runner.invoke(
        app,
        [
            "backtest",
            "--plan", str(path),
            "--from", "2024-01-01",
            "--to", "2024-03-01",
            "--org", api.org_id,
            "--csv", str(out),
            "--database-url", url,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "c1\tc1\t2\t28.00\t10.00\t-18.00" in result.output
    assert "2 customers, 4 billed periods: 68.00 billed, 35.00 under the candidate" in (
        result.output
    )
    assert out.read_text().splitlines()[-1] == "TOTAL,,2,4,6800,3500,-3300,-48.53"


def test_the_property_holds_with_proration_filters_minimums_and_a_termination(
    api: ApiClient, clock: FrozenClock
) -> None:
    """A plan of 31.00 a month with a filtered graduated charge and a spending minimum;
    c3 subscribes on Jan 10 and is terminated on Feb 15. Sent back as its own candidate,
    the backtest gives what the invoices billed, to the cent."""
    res: Any = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "Data",
                "code": "mb",
                "aggregation_type": "sum_agg",
                "field_name": "mb",
                "filters": [{"key": "region", "values": ["eu", "us"]}],
            }
        },
    )
    assert res.status_code == 200, res.text
    metric_id = res.json()["billable_metric"]["lago_id"]
    charge = {
        "billable_metric_id": metric_id,
        "charge_model": "graduated",
        "min_amount_cents": 5000,
        "properties": GRADUATED,
        "filters": [{"values": {"region": ["eu"]}, "properties": {"graduated_ranges": [
            {"from_value": 0, "to_value": None, "per_unit_amount": "1.5", "flat_amount": "1"}
        ]}}],
    }  # fmt: skip
    plan = {
        "name": "Metered",
        "code": "metered",
        "interval": "monthly",
        "amount_cents": 3100,
        "amount_currency": "USD",
        "charges": [charge],
    }
    res = api.post("plans", {"plan": plan})
    assert res.status_code == 200, res.text
    subscribe(api, "c3", "s3", at(1, 10, 0))
    for i, (day, value, region) in enumerate(
        [(12, 4, "eu"), (13, 9, "us"), (20, 2, None), (25, 3, "eu")]
    ):
        body = {
            "transaction_id": f"e{i}",
            "external_subscription_id": "s3",
            "code": "mb",
            "timestamp": str(int(at(1, day).timestamp())),
            "properties": {"mb": value, **({"region": region} if region else {})},
        }
        assert api.post("events", {"event": body}).status_code == 200  # type: ignore[attr-defined]
    bill(api, clock, at(2, 1, 1))
    send(api, "f1", at(2, 3), value=7, sub="s3")
    clock.set(at(2, 15))
    res = api.delete("subscriptions/s3")
    assert res.status_code == 200, res.text
    bill(api, clock, at(2, 15, 13))
    current = api.get("plans/metered").json()["plan"]  # type: ignore[attr-defined]
    report = run(api, {"plan": current}).json()["backtest"]
    invoices: Any = api.get("invoices", params={"per_page": 100})
    billed = sum(i["fees_amount_cents"] for i in invoices.json()["invoices"])
    # January's subscription fee alone: 22 days (Jan 10-31) of 31 at 31.00 = 22.00.
    subscription_fees: Any = api.get("fees", params={"fee_type": "subscription"})
    assert 2200 in [f["amount_cents"] for f in subscription_fees.json()["fees"]]
    assert report["totals"]["periods"] == 2
    assert billed > 2200  # January's fees and the termination invoice's
    assert report["totals"]["current_amount_cents"] == billed
    assert report["totals"]["candidate_amount_cents"] == billed
