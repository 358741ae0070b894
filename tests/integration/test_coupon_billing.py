"""Coupons in the invoice waterfall: billing runs on a fixed clock, both backends.

Every amount is worked out by hand from Lago's rules (lago-semantics.md, "Coupons"):
metric-limited coupons first, then plan-limited, then the others, each group by the
applied coupon's creation; each on what is left of its fees, spread pro rata; taxes
on each fee after its coupons.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from meterly.services import runs
from meterly.services.common import FrozenClock


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def catalogue(
    api: Any, *, currency: str = "EUR", amount: int = 10000, tax_rate: float = 20.0
) -> None:
    calls = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    assert (
        api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": tax_rate}}).status_code
        == 200
    )
    for code in ("startup", "other"):
        plan = {
            "name": code,
            "code": code,
            "interval": "monthly",
            "amount_cents": amount,
            "amount_currency": currency,
            "tax_codes": ["vat"],
            "charges": [
                {
                    "billable_metric_id": calls["lago_id"],
                    "charge_model": "standard",
                    "properties": {"amount": "1"},
                }
            ],
        }
        response = api.post("plans", {"plan": plan})
        assert response.status_code == 200, response.text


def subscribe(api: Any, *, plan: str = "startup", currency: str = "EUR") -> None:
    customer = {"external_id": "cust", "name": "Customer", "currency": currency}
    assert api.post("customers", {"customer": customer}).status_code == 200
    subscription = {
        "external_customer_id": "cust",
        "plan_code": plan,
        "external_id": "sub",
        "billing_time": "calendar",
        "subscription_at": at(2024, 1, 1).isoformat(),
    }
    response = api.post("subscriptions", {"subscription": subscription})
    assert response.status_code == 200, response.text


def send_calls(api: Any, count: int, when: datetime) -> None:
    events = [
        {
            "transaction_id": f"c{i}",
            "external_subscription_id": "sub",
            "code": "calls",
            "timestamp": str(int(when.timestamp())),
        }
        for i in range(count)
    ]
    assert api.post("events/batch", {"events": events}).status_code == 200


def coupon_applied(api: Any, **coupon: Any) -> str:
    """Create a coupon and apply it to the customer, one minute after the previous one."""
    coupon.setdefault("name", coupon["code"])
    response = api.post("coupons", {"coupon": coupon})
    assert response.status_code == 200, response.text
    applied = api.post(
        "applied_coupons",
        {"applied_coupon": {"external_customer_id": "cust", "coupon_code": coupon["code"]}},
    )
    assert applied.status_code == 200, applied.text
    api.client.app.state.clock.advance(timedelta(minutes=1))
    lago_id: str = applied.json()["applied_coupon"]["lago_id"]
    return lago_id


def run(api: Any, as_of: datetime) -> list[dict[str, Any]]:
    """Bill up to `as_of`; the invoices issued, as the API shows them."""
    report = runs.run(api.database, as_of=as_of, clock=FrozenClock(as_of))
    assert report.errors == []
    return [api.get(f"invoices/{i}").json()["invoice"] for i in report.invoices]


def applied_coupons(api: Any) -> dict[str, dict[str, Any]]:
    body = api.get("applied_coupons", params={"external_customer_id": "cust"}).json()
    return {a["coupon_code"]: a for a in body["applied_coupons"]}


def test_metric_then_plan_then_date_order_and_taxes_after_coupons(api: Any) -> None:
    catalogue(api)
    subscribe(api)
    send_calls(api, 50, at(2024, 1, 10))  # 50 calls at 1.00 = 50.00
    fixed = coupon_applied(
        api, code="thirty", coupon_type="fixed_amount", amount_cents=3000, amount_currency="EUR"
    )
    plan = coupon_applied(
        api,
        code="plan10",
        coupon_type="percentage",
        percentage_rate=10,
        frequency="forever",
        applies_to={"plan_codes": ["startup"]},
    )
    metric = coupon_applied(
        api,
        code="calls50",
        coupon_type="percentage",
        percentage_rate="50",
        applies_to={"billable_metric_codes": ["calls"]},
    )
    (invoice,) = run(api, at(2024, 2, 1, 1))
    # fees: subscription 10000 + calls 5000 = 15000
    # calls50 (metric) first: 50% of 5000 = 2500           -> sub 10000, calls 2500
    # plan10 next: 10% of 12500 = 1250 (1000 + 250)        -> sub 9000, calls 2250
    # thirty last: 3000 of 11250 (2400 + 600)              -> sub 6600, calls 1650
    # taxes 20%: 1320 + 330 = 1650; total 8250 + 1650
    assert invoice["fees_amount_cents"] == 15000
    assert invoice["coupons_amount_cents"] == 6750
    assert invoice["sub_total_excluding_taxes_amount_cents"] == 8250
    assert invoice["taxes_amount_cents"] == 1650
    assert invoice["total_amount_cents"] == 9900
    # Each credit line names its coupon (Lago's item is the coupon, not the application).
    coupon_ids = {a["lago_id"]: a["lago_coupon_id"] for a in applied_coupons(api).values()}
    credits = [(c["item"]["lago_item_id"], c["amount_cents"]) for c in invoice["credits"]]
    assert credits == [
        (coupon_ids[metric], 2500),
        (coupon_ids[plan], 1250),
        (coupon_ids[fixed], 3000),
    ]
    assert all(c["item"]["type"] == "coupon" and c["before_taxes"] for c in invoice["credits"])
    fees = {f["item"]["type"]: f for f in invoice["fees"]}
    assert fees["subscription"]["precise_coupons_amount_cents"] == "3400.0"
    assert fees["charge"]["precise_coupons_amount_cents"] == "3350.0"
    state = applied_coupons(api)
    assert state["thirty"]["status"] == "terminated"
    assert state["thirty"]["amount_cents_remaining"] == 0
    assert state["calls50"]["status"] == "terminated"  # once
    assert state["plan10"]["status"] == "active"  # forever
    assert [c["amount_cents"] for c in state["plan10"]["credits"]] == [1250]
    assert state["plan10"]["credits"][0]["invoice"]["lago_id"] == invoice["lago_id"]


def test_fixed_coupon_larger_than_the_invoice_carries_over(api: Any) -> None:
    catalogue(api)
    subscribe(api)
    coupon_applied(
        api, code="big", coupon_type="fixed_amount", amount_cents=15000, amount_currency="EUR"
    )
    (january,) = run(api, at(2024, 2, 1, 1))
    # 10000 of fees, all taken by the coupon: nothing to pay, 5000 left.
    assert january["coupons_amount_cents"] == 10000
    assert january["taxes_amount_cents"] == 0
    assert january["total_amount_cents"] == 0
    assert january["status"] == "finalized"
    state = applied_coupons(api)["big"]
    assert state["status"] == "active" and state["amount_cents_remaining"] == 5000
    (february,) = run(api, at(2024, 3, 1, 1))
    # 10000 - 5000 left on the coupon = 5000, VAT 20% = 1000
    assert february["coupons_amount_cents"] == 5000
    assert february["taxes_amount_cents"] == 1000
    assert february["total_amount_cents"] == 6000
    state = applied_coupons(api)["big"]
    assert state["status"] == "terminated" and state["amount_cents_remaining"] == 0
    assert [c["amount_cents"] for c in state["credits"]] == [10000, 5000]
    (march,) = run(api, at(2024, 4, 1, 1))
    assert march["coupons_amount_cents"] == 0 and march["total_amount_cents"] == 12000


def test_recurring_coupon_applies_for_its_periods_then_terminates(api: Any) -> None:
    catalogue(api)
    subscribe(api)
    coupon_applied(
        api,
        code="two_months",
        coupon_type="percentage",
        percentage_rate=10.0,
        frequency="recurring",
        frequency_duration=2,
    )
    (january,) = run(api, at(2024, 2, 1, 1))
    assert january["coupons_amount_cents"] == 1000 and january["total_amount_cents"] == 10800
    state = applied_coupons(api)["two_months"]
    assert state["status"] == "active" and state["frequency_duration_remaining"] == 1
    (february,) = run(api, at(2024, 3, 1, 1))
    assert february["coupons_amount_cents"] == 1000 and february["total_amount_cents"] == 10800
    state = applied_coupons(api)["two_months"]
    assert state["status"] == "terminated" and state["frequency_duration_remaining"] == 0
    (march,) = run(api, at(2024, 4, 1, 1))
    assert march["coupons_amount_cents"] == 0 and march["total_amount_cents"] == 12000
    assert march["credits"] == []


def test_plan_limited_coupon_skips_another_plans_invoice(api: Any) -> None:
    catalogue(api)
    subscribe(api, plan="startup")
    coupon_applied(
        api,
        code="other_only",
        coupon_type="percentage",
        percentage_rate=50,
        applies_to={"plan_codes": ["other"]},
    )
    (invoice,) = run(api, at(2024, 2, 1, 1))
    assert invoice["coupons_amount_cents"] == 0
    assert invoice["total_amount_cents"] == 12000
    assert invoice["credits"] == []
    state = applied_coupons(api)["other_only"]
    assert state["status"] == "active" and state["credits"] == []


def test_fixed_coupon_in_another_currency_than_the_invoice_is_skipped(api: Any) -> None:
    catalogue(api)
    subscribe(api)
    response = api.post(
        "coupons",
        {
            "coupon": {
                "name": "usd",
                "code": "usd",
                "coupon_type": "fixed_amount",
                "amount_cents": 500,
                "amount_currency": "USD",
            }
        },
    )
    assert response.status_code == 200
    refused = api.post(
        "applied_coupons",
        {"applied_coupon": {"external_customer_id": "cust", "coupon_code": "usd"}},
    )
    assert refused.status_code == 422
    (invoice,) = run(api, at(2024, 2, 1, 1))
    assert invoice["coupons_amount_cents"] == 0 and invoice["total_amount_cents"] == 12000


def test_zero_decimal_currency_coupons(api: Any) -> None:
    catalogue(api, currency="JPY", amount=1000, tax_rate=10.0)
    subscribe(api, currency="JPY")
    coupon_applied(
        api, code="yen300", coupon_type="fixed_amount", amount_cents=300, amount_currency="JPY"
    )
    coupon_applied(api, code="third", coupon_type="percentage", percentage_rate="33.3")
    (invoice,) = run(api, at(2024, 2, 1, 1))
    # 1000 yen; yen300 first (older): 700 left; 33.3% of 700 = 233.1 -> 233; 467 left;
    # tax 10% = 46.7 -> 47; total 514 yen.
    assert invoice["currency"] == "JPY"
    assert invoice["fees_amount_cents"] == 1000
    assert invoice["coupons_amount_cents"] == 533
    assert invoice["sub_total_excluding_taxes_amount_cents"] == 467
    assert invoice["taxes_amount_cents"] == 47
    assert invoice["total_amount_cents"] == 514
    assert [c["amount_cents"] for c in invoice["credits"]] == [300, 233]
    assert all(c["amount_currency"] == "JPY" for c in invoice["credits"])


def test_terminated_applied_coupon_is_not_applied(api: Any) -> None:
    catalogue(api)
    subscribe(api)
    applied_id = coupon_applied(api, code="ten", coupon_type="percentage", percentage_rate=10)
    assert api.delete(f"customers/cust/applied_coupons/{applied_id}").status_code == 200
    (invoice,) = run(api, at(2024, 2, 1, 1))
    assert invoice["coupons_amount_cents"] == 0 and invoice["total_amount_cents"] == 12000
