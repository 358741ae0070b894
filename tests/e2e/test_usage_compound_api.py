"""Issue 19 (usage and filters half), through HTTP and billing runs, on SQLite and PostgreSQL.

Each test builds a metric, a plan and a subscription started on 2024-04-01 (April: 30
days; on a prorated charge an event on day d weighs (30 - d + 1) / 30), sends events,
and reads `current_usage` (the clock is at April 25) or the fees a billing run creates.
Every figure is worked by hand from lago-semantics.md item 13 ("Compound rules").
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee

CLOUDS = [{"key": "cloud", "values": ["aws", "gcp"]}]


def april(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 4, day, hour, tzinfo=UTC)


def setup(
    api: Any,
    charges: list[dict[str, Any]],
    *,
    aggregation: str = "sum_agg",
    field_name: str = "gb",
    recurring: bool = False,
    filters: list[dict[str, Any]] | None = None,
) -> None:
    """A metric `m`, a monthly plan with `charges` on it, customer `c`, subscription `s`."""
    api.client.app.state.clock.set(april(25))
    metric = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "M",
                "code": "m",
                "aggregation_type": aggregation,
                "field_name": field_name,
                "recurring": recurring,
                "filters": filters or [],
            }
        },
    )
    assert metric.status_code == 200, metric.text
    metric_id = metric.json()["billable_metric"]["lago_id"]
    plan = api.post(
        "plans",
        {
            "plan": {
                "name": "P",
                "code": "p",
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "USD",
                "charges": [{"billable_metric_id": metric_id, **c} for c in charges],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "USD"}})
    sub = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": "p",
                "external_id": "s",
                "subscription_at": "2024-04-01T00:00:00Z",
            }
        },
    )
    assert sub.status_code == 200, sub.text


def send(api: Any, when: datetime, *properties: dict[str, Any]) -> None:
    for n, props in enumerate(properties):
        body = {
            "transaction_id": f"{when.isoformat()}-{n}-{json.dumps(props, sort_keys=True)}",
            "external_subscription_id": "s",
            "code": "m",
            "timestamp": str(int(when.timestamp())),
            "properties": props,
        }
        response = api.post("events", {"event": body})
        assert response.status_code == 200, response.text


def usage(api: Any, **params: str) -> dict[str, Any]:
    response = api.get(
        "customers/c/current_usage", params={"external_subscription_id": "s", **params}
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["customer_usage"])


def only_charge(api: Any, **params: str) -> dict[str, Any]:
    (charge,) = usage(api, **params)["charges_usage"]
    return dict(charge)


def bill(api: Any, when: datetime) -> None:
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []


def filter_rows(rows: list[dict[str, Any]]) -> dict[str | None, tuple[str, int, int]]:
    """invoice_display_name -> (units, events_count, amount_cents)."""
    return {
        r["invoice_display_name"]: (r["units"], r["events_count"], r["amount_cents"]) for r in rows
    }


# --- point 2: prorated charges show full units ------------------------------------------


def test_prorated_sum_shows_full_units_and_a_prorated_amount(api: Any) -> None:
    setup(
        api,
        [{"charge_model": "standard", "prorated": True, "properties": {"amount": "10"}}],
        field_name="qty",
        recurring=True,
    )
    send(api, april(16), {"qty": 3})
    charge = only_charge(api)
    # 3 seats from April 16 weigh (30 - 16 + 1) / 30 = 0.5: 1.5 x 10 = 15.00 USD. The
    # units shown are the 3 seats, not the prorated 1.5.
    assert charge["amount_cents"] == 1500
    assert charge["units"] == "3.0"
    assert charge["total_aggregated_units"] == "3.0"


def test_prorated_unique_count_filter_rows_show_full_units(api: Any) -> None:
    setup(
        api,
        [
            {
                "charge_model": "standard",
                "prorated": True,
                "properties": {"amount": "20"},
                "filters": [
                    {
                        "invoice_display_name": "AWS",
                        "properties": {"amount": "10"},
                        "values": {"cloud": ["aws"]},
                    }
                ],
            }
        ],
        aggregation="unique_count_agg",
        field_name="seat",
        recurring=True,
        filters=CLOUDS,
    )
    send(api, april(16), {"seat": "s1", "cloud": "aws"})
    send(api, april(21), {"seat": "s2", "cloud": "gcp"})
    charge = only_charge(api)
    # AWS: seat s1 from April 16 weighs 15/30 = 0.5: 0.5 x 10 = 5.00 USD.
    # Default bucket: s2 from April 21 weighs (30 - 21 + 1)/30 = 1/3, ceil(., 5) = 0.33334:
    # 0.33334 x 20 = 6.6668 -> 6.67 USD. Each row shows 1 whole seat, the charge 2.
    assert filter_rows(charge["filters"]) == {"AWS": ("1.0", 1, 500), None: ("1.0", 1, 667)}
    assert charge["units"] == "2.0"
    assert charge["amount_cents"] == 500 + 667


# --- point 3: pay in advance never falls below what was billed ---------------------------


def test_a_seat_billed_in_advance_then_removed_still_costs_its_fee(api: Any) -> None:
    setup(
        api,
        [{"charge_model": "standard", "pay_in_advance": True, "properties": {"amount": "10"}}],
        aggregation="unique_count_agg",
        field_name="seat",
    )
    send(api, april(3), {"seat": "s1"})
    bill(api, april(3, 13))  # the in-advance fee of s1: 1 seat x 10 = 10.00 USD
    send(api, april(10), {"seat": "s1", "operation_type": "remove"})
    bill(api, april(10, 13))  # the removal bills nothing
    charge = only_charge(api)
    # No seat is left (units 0), but the period's high-water mark, 1 seat, was billed in
    # advance: the amount stays 1 x 10 = 10.00 USD.
    assert charge["units"] == "0.0"
    assert charge["amount_cents"] == 1000


def test_a_negative_value_lowers_the_units_shown_not_the_amount_billed(api: Any) -> None:
    setup(
        api,
        [{"charge_model": "standard", "pay_in_advance": True, "properties": {"amount": "10"}}],
    )
    send(api, april(3), {"gb": 2})
    send(api, april(10), {"gb": -2})
    bill(api, april(10, 13))  # fees: +2 rises the mark to 2 (20.00 USD), -2 costs 0
    with api.database.unit_of_work() as session:
        fees = session.scalars(select(Fee.amount_cents).where(Fee.pay_in_advance.is_(True)))
        assert sorted(fees) == [0, 2000]
    charge = only_charge(api)
    # Total 2 - 2 = 0; billed mark 2: priced on max(0, 2) = 2 -> 20.00 USD.
    assert (charge["units"], charge["amount_cents"]) == ("0.0", 2000)
    send(api, april(20), {"gb": 1})
    charge = only_charge(api)
    # Not billed yet: total 1, still under the mark 2, so the amount stays 20.00 USD.
    assert (charge["units"], charge["amount_cents"]) == ("1.0", 2000)
    send(api, april(21), {"gb": 3})
    charge = only_charge(api)
    # Total 1 + 3 = 4 rises above the mark: 4 x 10 = 40.00 USD, before any fee for it...
    assert (charge["units"], charge["amount_cents"]) == ("4.0", 4000)
    bill(api, april(21, 13))
    charge = only_charge(api)
    # ... and after: the +1 fee is 0 (1 < 2), the +3 fee bills the mark's rise from 2 to
    # 4: 2 x 10 = 20.00 USD; fees 20 + 0 + 0 + 20 = 40.00 USD, as shown.
    assert (charge["units"], charge["amount_cents"]) == ("4.0", 4000)


# --- point 8: overlapping filters -----------------------------------------------------------

OVERLAPPING = [
    {
        "charge_model": "standard",
        "properties": {"amount": "1"},
        "filters": [
            {
                "invoice_display_name": "Any cloud",
                "properties": {"amount": "2"},
                "values": {"cloud": ["aws", "gcp"]},
            },
            {
                "invoice_display_name": "AWS",
                "properties": {"amount": "5"},
                "values": {"cloud": ["aws"]},
            },
        ],
    }
]


def test_overlapping_filters_count_each_event_in_its_most_specific_filter(api: Any) -> None:
    setup(api, OVERLAPPING, filters=CLOUDS)
    send(api, april(5), {"gb": 10, "cloud": "aws"}, {"gb": 20, "cloud": "gcp"}, {"gb": 7})
    charge = only_charge(api)
    # aws goes to {cloud: [aws]} (declared second, but narrower): 10 x 5 = 50.00 USD;
    # gcp to {cloud: [aws, gcp]}: 20 x 2 = 40.00; no cloud, default: 7 x 1 = 7.00.
    assert filter_rows(charge["filters"]) == {
        "Any cloud": ("20.0", 1, 4000),
        "AWS": ("10.0", 1, 5000),
        None: ("7.0", 1, 700),
    }
    assert (charge["units"], charge["amount_cents"]) == ("37.0", 9700)


def test_overlapping_filters_on_the_invoice(api: Any) -> None:
    setup(api, OVERLAPPING, filters=CLOUDS)
    send(api, april(5), {"gb": 10, "cloud": "aws"}, {"gb": 20, "cloud": "gcp"}, {"gb": 7})
    bill(api, datetime(2024, 5, 1, 1, tzinfo=UTC))
    with api.database.unit_of_work() as session:
        fees = session.scalars(select(Fee).where(Fee.fee_type == "charge"))
        billed = {f.item["filter_invoice_display_name"]: (f.units, f.amount_cents) for f in fees}
    # The same split as in usage: AWS 10 x 5, any cloud 20 x 2, default 7 x 1.
    assert billed == {"AWS": (10, 5000), "Any cloud": (20, 4000), None: (7, 700)}


# --- point 9: grouped_by inside a filter ------------------------------------------------------

GROUPED_FILTER = [
    {
        "charge_model": "standard",
        "properties": {"amount": "1"},
        "filters": [
            {
                "invoice_display_name": "AWS",
                "properties": {"amount": "2", "pricing_group_keys": ["region"]},
                "values": {"cloud": ["aws"]},
            }
        ],
    }
]
GROUPED_EVENTS = (
    {"gb": 10, "cloud": "aws", "region": "eu"},
    {"gb": 5, "cloud": "aws", "region": "eu"},
    {"gb": 20, "cloud": "aws", "region": "us"},
    {"gb": 4, "cloud": "gcp", "region": "eu"},
)


def test_a_filter_s_grouped_by_splits_its_bucket_in_usage(api: Any) -> None:
    setup(api, GROUPED_FILTER, filters=CLOUDS)
    send(api, april(5), *GROUPED_EVENTS)
    charge = only_charge(api)
    # AWS (grouped by region): eu 10 + 5 = 15 x 2 = 30.00 USD, us 20 x 2 = 40.00 USD.
    # Default bucket (the charge's properties, not grouped): gcp 4 x 1 = 4.00 USD.
    groups = [
        (g["grouped_by"], g["units"], g["amount_cents"], filter_rows(g["filters"]))
        for g in charge["grouped_usage"]
    ]
    assert groups == [
        ({"region": "eu"}, "15.0", 3000, {"AWS": ("15.0", 2, 3000)}),
        ({"region": "us"}, "20.0", 4000, {"AWS": ("20.0", 1, 4000)}),
        ({}, "4.0", 400, {None: ("4.0", 1, 400)}),
    ]
    # The charge's filter rows add the AWS groups up: 35 GB, 30 + 40 = 70.00 USD.
    assert filter_rows(charge["filters"]) == {"AWS": ("35.0", 3, 7000), None: ("4.0", 1, 400)}
    assert charge["amount_cents"] == 7400


def test_a_filter_s_grouped_by_gives_one_fee_per_filter_and_group(api: Any) -> None:
    setup(api, GROUPED_FILTER, filters=CLOUDS)
    send(api, april(5), *GROUPED_EVENTS)
    bill(api, datetime(2024, 5, 1, 1, tzinfo=UTC))
    with api.database.unit_of_work() as session:
        fees = session.scalars(select(Fee).where(Fee.fee_type == "charge"))
        billed = sorted(
            (
                f.item["filter_invoice_display_name"] or "",
                json.dumps(f.item["grouped_by"]),
                f.amount_cents,
            )
            for f in fees
        )
    # As in usage: AWS/eu 15 x 2, AWS/us 20 x 2, default 4 x 1.
    assert billed == [
        ("", "{}", 400),
        ("AWS", '{"region": "eu"}', 3000),
        ("AWS", '{"region": "us"}', 4000),
    ]


# --- point 10: a grouped charge without events ------------------------------------------------


def test_a_grouped_charge_without_events_shows_one_zero_group_with_null_keys(api: Any) -> None:
    setup(
        api,
        [
            {
                "charge_model": "standard",
                "properties": {"amount": "1", "pricing_group_keys": ["region", "cloud"]},
            }
        ],
    )
    charge = only_charge(api)
    assert charge["grouped_usage"] == [
        {
            "units": "0.0",
            "total_aggregated_units": "0.0",
            "events_count": 0,
            "amount_cents": 0,
            "pricing_unit_details": None,
            "grouped_by": {"region": None, "cloud": None},
            "filters": [],
            "presentation_breakdowns": [],
        }
    ]
    assert (charge["units"], charge["amount_cents"]) == ("0.0", 0)


# --- point 11: current_usage query parameters -------------------------------------------------

REGION_GROUPED = [
    {
        "charge_model": "standard",
        "code": "storage",
        "properties": {"amount": "1", "pricing_group_keys": ["region"]},
    },
    {"charge_model": "standard", "code": "storage_flat", "properties": {"amount": "3"}},
]


def _groups(charge: dict[str, Any]) -> list[tuple[dict[str, Any], str, int]]:
    return [(g["grouped_by"], g["units"], g["amount_cents"]) for g in charge["grouped_usage"]]


def test_group_parameters_restrict_grouped_charges_to_one_group(api: Any) -> None:
    setup(api, REGION_GROUPED)
    send(api, april(5), {"gb": 10, "region": "eu"}, {"gb": 20, "region": "us"}, {"gb": 5})
    charges = {
        c["charge"]["code"]: c for c in usage(api, **{"group[region]": "eu"})["charges_usage"]
    }
    # Only region eu: 10 GB x 1 = 10.00 USD. The ungrouped charge keeps every event:
    # (10 + 20 + 5) x 3 = 105.00 USD.
    assert _groups(charges["storage"]) == [({"region": "eu"}, "10.0", 1000)]
    assert charges["storage"]["amount_cents"] == 1000
    assert charges["storage_flat"]["amount_cents"] == 10500
    legacy = usage(api, filter_by_group=json.dumps({"region": "us"}), charge_code="storage")
    (storage,) = legacy["charges_usage"]
    # The deprecated JSON form, restricted to one charge: us 20 x 1 = 20.00 USD.
    assert _groups(storage) == [({"region": "us"}, "20.0", 2000)]
    assert legacy["amount_cents"] == 2000


def test_skip_grouping_returns_one_fee_per_charge(api: Any) -> None:
    setup(api, REGION_GROUPED)
    send(api, april(5), {"gb": 10, "region": "eu"}, {"gb": 20, "region": "us"}, {"gb": 5})
    grouped = only_charge(api, billable_metric_code="m", charge_code="storage")
    # The null group 5 (the event without a region), eu 10, us 20.
    assert sorted(_groups(grouped), key=str) == [
        ({"region": "eu"}, "10.0", 1000),
        ({"region": "us"}, "20.0", 2000),
        ({"region": None}, "5.0", 500),
    ]
    skipped = only_charge(api, charge_code="storage", skip_grouping="true")
    # One fee over every event: (10 + 20 + 5) x 1 = 35.00 USD, and no groups.
    assert skipped["grouped_usage"] == []
    assert (skipped["units"], skipped["amount_cents"]) == ("35.0", 3500)


def test_a_malformed_filter_by_group_is_a_validation_error(api: Any) -> None:
    setup(api, REGION_GROUPED)
    response = api.get(
        "customers/c/current_usage",
        params={"external_subscription_id": "s", "filter_by_group": "[1, 2]"},
    )
    assert response.status_code == 422, response.text
    assert "filter_by_group" in response.json()["error_details"]
