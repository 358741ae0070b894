"""Lago's presentation group keys: a charge's units broken down by an event property, with
no effect on the price, in current usage and on the invoice's fee. SQLite and PostgreSQL.

One sum metric `gb`, 1.00 EUR per GB, presented by `team`. January: team a sends 2 + 3 GB,
team b 4 GB, and 1 GB comes with no team.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from meterly.services import runs
from meterly.services.common import FrozenClock

FEB = datetime(2024, 2, 1, 1, tzinfo=UTC)


def setup(api: Any) -> None:
    api.client.app.state.clock.set(datetime(2024, 1, 20, tzinfo=UTC))
    metric = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "GB",
                "code": "gb",
                "aggregation_type": "sum_agg",
                "field_name": "gb",
            }
        },
    ).json()["billable_metric"]
    plan = api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "EUR",
                "charges": [
                    {
                        "billable_metric_id": metric["lago_id"],
                        "charge_model": "standard",
                        "properties": {
                            "amount": "1",
                            "presentation_group_keys": [
                                {"value": "team", "options": {"display_in_invoice": True}}
                            ],
                        },
                    }
                ],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "EUR"}})
    api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "p",
                "external_id": "s",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        },
    )
    events = [("a", 2), ("a", 3), ("b", 4), (None, 1)]
    batch = [
        {
            "transaction_id": f"e{n}",
            "external_subscription_id": "s",
            "code": "gb",
            "timestamp": str(int(datetime(2024, 1, 5 + n, tzinfo=UTC).timestamp())),
            "properties": {"gb": gb, **({"team": team} if team else {})},
        }
        for n, (team, gb) in enumerate(events)
    ]
    assert api.post("events/batch", {"events": batch}).status_code == 200


def by_team(breakdowns: list[dict[str, Any]]) -> dict[str | None, str]:
    return {b["presentation_by"]["team"]: b["units"] for b in breakdowns}


def test_current_usage_shows_units_per_team_at_the_same_price(api: Any) -> None:
    setup(api)
    usage = api.get("customers/c/current_usage", params={"external_subscription_id": "s"})
    assert usage.status_code == 200, usage.text
    (charge,) = usage.json()["customer_usage"]["charges_usage"]
    # 2 + 3 + 4 + 1 = 10 GB x 1.00 EUR = 1000 cents, whatever the teams.
    assert (charge["units"], charge["amount_cents"]) == ("10.0", 1000)
    # team a: 2 + 3 = 5; team b: 4; no team: 1.
    assert by_team(charge["presentation_breakdowns"]) == {"a": "5.0", "b": "4.0", None: "1.0"}


def test_the_invoice_fee_keeps_the_breakdown(api: Any) -> None:
    setup(api)
    assert runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB)).errors == []
    (invoice,) = api.get("invoices").json()["invoices"]
    fees = api.get(f"invoices/{invoice['lago_id']}").json()["invoice"]["fees"]
    (fee,) = [f for f in fees if f["item"]["type"] == "charge"]
    assert fee["amount_cents"] == 1000
    assert by_team(fee["presentation_breakdowns"]) == {"a": "5.0", "b": "4.0", None: "1.0"}


def test_filter_by_presentation_keeps_the_named_values(api: Any) -> None:
    setup(api)

    def breakdown(value: str) -> dict[str | None, str]:
        params = {"external_subscription_id": "s", "filter_by_presentation": value}
        usage = api.get("customers/c/current_usage", params=params)
        assert usage.status_code == 200, usage.text
        (charge,) = usage.json()["customer_usage"]["charges_usage"]
        # The filter only trims the breakdowns: the charge is still 10 GB, 1000 cents.
        assert (charge["units"], charge["amount_cents"]) == ("10.0", 1000)
        return by_team(charge["presentation_breakdowns"])

    assert breakdown('["a"]') == {"a": "5.0"}
    assert breakdown('["a", "b"]') == {"a": "5.0", "b": "4.0"}
    assert breakdown("b") == {"b": "4.0"}  # a bare value, as the client may send
    assert breakdown("[]") == {}  # an empty list drops every breakdown
    refused = api.get(
        "customers/c/current_usage",
        params={"external_subscription_id": "s", "filter_by_presentation": "[1, 2]"},
    )
    assert refused.status_code == 422
    assert refused.json()["error_details"] == {"filter_by_presentation": ["invalid_format"]}
