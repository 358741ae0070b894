"""Time-travel billing scenarios: fixed clock, real database (SQLite and PostgreSQL).

Every amount is worked out by hand in the test, from Lago's rules in lago-semantics.md.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee, Invoice, InvoiceSubscription


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def ts(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def setup_catalogue(
    api: Any,
    *,
    interval: str = "monthly",
    pay_in_advance: bool = False,
    amount: int = 3100,
    trial: float | None = None,
    tax: bool = False,
) -> None:
    calls = api.post(
        "billable_metrics",
        {"billable_metric": {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}},
    ).json()["billable_metric"]
    if tax:
        api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": 20.0}})
    plan: dict[str, Any] = {
        "name": f"Plan {interval}",
        "code": "plan",
        "interval": interval,
        "amount_cents": amount,
        "amount_currency": "EUR",
        "pay_in_advance": pay_in_advance,
        "charges": [
            {
                "billable_metric_id": calls["lago_id"],
                "charge_model": "package",
                "properties": {"amount": "10", "package_size": 100, "free_units": 0},
            }
        ],
    }
    if trial is not None:
        plan["trial_period"] = trial
    if tax:
        plan["tax_codes"] = ["vat"]
    response = api.post("plans", {"plan": plan})
    assert response.status_code == 200, response.text


def subscribe(
    api: Any,
    start: datetime,
    *,
    billing_time: str = "calendar",
    timezone: str | None = None,
    external_id: str = "sub",
) -> None:
    customer: dict[str, Any] = {"external_id": "cust", "name": "Customer"}
    if timezone:
        customer["timezone"] = timezone
    api.post("customers", {"customer": customer})
    response = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust",
                "plan_code": "plan",
                "external_id": external_id,
                "billing_time": billing_time,
                "subscription_at": start.isoformat(),
            }
        },
    )
    assert response.status_code == 200, response.text


def send_calls(api: Any, count: int, when: datetime, prefix: str = "c") -> None:
    events = [
        {
            "transaction_id": f"{prefix}{i}",
            "external_subscription_id": "sub",
            "code": "calls",
            "timestamp": ts(when),
        }
        for i in range(count)
    ]
    for start in range(0, len(events), 100):
        assert api.post("events/batch", {"events": events[start : start + 100]}).status_code == 200


def run(api: Any, as_of: datetime) -> runs.RunReport:
    report = runs.run(api.database, as_of=as_of, clock=FrozenClock(as_of))
    assert report.errors == []
    return report


def invoices(api: Any) -> list[Invoice]:
    with api.database.unit_of_work() as session:
        rows = list(
            session.scalars(select(Invoice).order_by(Invoice.issuing_date, Invoice.created_at))
        )
        for row in rows:
            _ = row.fees, row.periods
        return rows


def fee_amounts(invoice: Invoice) -> dict[str, int]:
    return {f.fee_type: f.amount_cents for f in invoice.fees if f.fee_type != "charge"} | {
        "charge": sum(f.amount_cents for f in invoice.fees if f.fee_type == "charge")
    }


def test_monthly_calendar_in_arrears_bills_fee_and_usage_once(api: Any) -> None:
    setup_catalogue(api)
    subscribe(api, at(2024, 1, 1))
    send_calls(api, 250, at(2024, 1, 10))  # 3 packages of 100 at 10 EUR = 30.00
    report = run(api, at(2024, 2, 1, 1))
    assert len(report.invoices) == 1
    (invoice,) = invoices(api)
    assert fee_amounts(invoice) == {"subscription": 3100, "charge": 3000}
    assert invoice.total_amount_cents == 6100
    assert invoice.status == "finalized" and invoice.number is not None
    assert invoice.issuing_date.date().isoformat() == "2024-02-01"
    # A second run for the same instant bills nothing.
    assert run(api, at(2024, 2, 1, 1)).invoices == []
    assert len(invoices(api)) == 1


def test_catch_up_after_downtime_bills_each_missed_period(api: Any) -> None:
    setup_catalogue(api)
    subscribe(api, at(2024, 1, 1))
    report = run(api, at(2024, 4, 2))
    assert len(report.invoices) == 3
    assert [i.issuing_date.date().isoformat() for i in invoices(api)] == [
        "2024-02-01",
        "2024-03-01",
        "2024-04-01",
    ]


def test_mid_period_calendar_start_is_prorated(api: Any) -> None:
    setup_catalogue(api, amount=1000)
    subscribe(api, at(2024, 1, 15))
    run(api, at(2024, 2, 1, 1))
    (invoice,) = invoices(api)
    # 17 of 31 days: 1000 x 17 / 31 = 548.387 -> 548
    assert fee_amounts(invoice)["subscription"] == 548


def test_anniversary_on_the_31st_through_leap_february(api: Any) -> None:
    setup_catalogue(api)
    subscribe(api, at(2024, 1, 31), billing_time="anniversary")
    run(api, at(2024, 4, 1))
    periods = []
    with api.database.unit_of_work() as session:
        for row in session.scalars(
            select(InvoiceSubscription).order_by(InvoiceSubscription.boundary)
        ):
            periods.append(
                (row.from_datetime.date().isoformat(), row.to_datetime.date().isoformat())
            )
    assert periods == [("2024-01-31", "2024-02-28"), ("2024-02-29", "2024-03-30")]


def test_customer_timezone_east_of_utc_bills_at_local_midnight(api: Any) -> None:
    setup_catalogue(api)
    subscribe(api, at(2023, 12, 31, 15), timezone="Asia/Tokyo")  # 2024-01-01 00:00 in Tokyo
    # 2024-01-31 15:00 UTC is 2024-02-01 00:00 in Tokyo: the January period closed.
    assert len(run(api, at(2024, 1, 31, 15)).invoices) == 1
    (invoice,) = invoices(api)
    assert fee_amounts(invoice)["subscription"] == 3100
    assert invoice.issuing_date.date().isoformat() == "2024-02-01"


def test_customer_timezone_west_of_utc_is_not_billed_before_local_midnight(api: Any) -> None:
    setup_catalogue(api)
    subscribe(api, at(2024, 1, 1, 8), timezone="America/Los_Angeles")
    assert run(api, at(2024, 2, 1, 7)).invoices == []  # 23:00 on Jan 31 in Los Angeles
    assert len(run(api, at(2024, 2, 1, 8)).invoices) == 1


def test_pay_in_advance_plan_bills_the_period_at_its_start(api: Any) -> None:
    setup_catalogue(api, pay_in_advance=True, amount=3100)
    subscribe(api, at(2024, 1, 1))
    run(api, at(2024, 1, 1, 1))
    (first,) = invoices(api)
    assert fee_amounts(first) == {"subscription": 3100, "charge": 0}
    send_calls(api, 100, at(2024, 1, 20))
    run(api, at(2024, 2, 1, 1))
    second = invoices(api)[1]
    # February's fee in advance, January's usage in arrears.
    assert fee_amounts(second) == {"subscription": 3100, "charge": 1000}


@pytest.mark.parametrize(
    ("interval", "as_of", "expected"),
    [
        ("weekly", at(2024, 1, 15, 1), 2),
        ("quarterly", at(2024, 7, 1, 1), 2),
        ("yearly", at(2025, 1, 1, 1), 1),
    ],
)
def test_other_intervals(api: Any, interval: str, as_of: datetime, expected: int) -> None:
    setup_catalogue(api, interval=interval)
    subscribe(api, at(2024, 1, 1))  # a Monday
    assert len(run(api, as_of).invoices) == expected
    assert all(fee_amounts(i)["subscription"] == 3100 for i in invoices(api))


def test_trial_days_are_not_billed(api: Any) -> None:
    setup_catalogue(api, amount=3100, trial=10)
    subscribe(api, at(2024, 1, 1))
    run(api, at(2024, 2, 1, 1))
    (invoice,) = invoices(api)
    # Trial ends on Jan 11: 21 of 31 days billed -> 2100.
    assert fee_amounts(invoice)["subscription"] == 2100


def test_termination_bills_the_open_period_at_once(api: Any) -> None:
    setup_catalogue(api, amount=3100)
    subscribe(api, at(2024, 1, 1))
    send_calls(api, 150, at(2024, 1, 5))
    api.client.app.state.clock.set(at(2024, 1, 10, 12))
    response = api.delete("subscriptions/sub")
    assert response.status_code == 200, response.text
    (invoice,) = invoices(api)
    # Jan 1 to Jan 10 12:00 -> 10 days billed (the termination day is billed): 1000.
    assert fee_amounts(invoice) == {"subscription": 1000, "charge": 2000}
    assert run(api, at(2024, 2, 1, 1)).invoices == []


def test_taxes_apply_to_every_fee(api: Any) -> None:
    setup_catalogue(api, amount=3100, tax=True)
    subscribe(api, at(2024, 1, 1))
    send_calls(api, 1, at(2024, 1, 5))
    run(api, at(2024, 2, 1, 1))
    (invoice,) = invoices(api)
    assert invoice.fees_amount_cents == 4100
    assert invoice.taxes_amount_cents == 820
    assert invoice.total_amount_cents == 4920


def test_upgrade_terminates_and_starts_the_new_plan_the_same_day(api: Any) -> None:
    setup_catalogue(api, amount=3100)
    big = api.post(
        "plans",
        {
            "plan": {
                "name": "Big",
                "code": "big",
                "interval": "monthly",
                "amount_cents": 6200,
                "amount_currency": "EUR",
                "pay_in_advance": False,
            }
        },
    )
    assert big.status_code == 200
    subscribe(api, at(2024, 1, 1))
    api.client.app.state.clock.set(at(2024, 1, 11, 9))
    response = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust",
                "plan_code": "big",
                "external_id": "sub",
            }
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["subscription"]["plan_code"] == "big"
    (old_invoice,) = invoices(api)
    # The upgrade day goes to the new plan: Jan 1..10 on the old one = 10 days = 1000.
    assert fee_amounts(old_invoice)["subscription"] == 1000
    run(api, at(2024, 2, 1, 1))
    new_invoice = invoices(api)[1]
    # Jan 11 09:00 .. Jan 31: 21 days of 6200/31 = 4200.
    assert fee_amounts(new_invoice)["subscription"] == 4200


def test_downgrade_waits_for_the_end_of_the_period(api: Any) -> None:
    setup_catalogue(api, amount=3100)
    api.post(
        "plans",
        {
            "plan": {
                "name": "Small",
                "code": "small",
                "interval": "monthly",
                "amount_cents": 310,
                "amount_currency": "EUR",
                "pay_in_advance": False,
            }
        },
    )
    subscribe(api, at(2024, 1, 1))
    api.client.app.state.clock.set(at(2024, 1, 11))
    body = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust",
                "plan_code": "small",
                "external_id": "sub",
            }
        },
    ).json()["subscription"]
    assert body["plan_code"] == "plan" and body["next_plan_code"] == "small"
    assert body["downgrade_plan_date"] == "2024-02-01"
    run(api, at(2024, 2, 1, 1))
    assert [fee_amounts(i)["subscription"] for i in invoices(api)] == [3100]
    run(api, at(2024, 3, 1, 1))
    assert [fee_amounts(i)["subscription"] for i in invoices(api)] == [3100, 310]


def test_grace_period_keeps_a_draft_that_picks_up_late_events(api: Any) -> None:
    setup_catalogue(api)
    api.put(
        "organizations", {"organization": {"billing_configuration": {"invoice_grace_period": 3}}}
    )
    subscribe(api, at(2024, 1, 1))
    run(api, at(2024, 2, 1, 1))
    (draft,) = invoices(api)
    assert draft.status == "draft" and draft.number is None
    send_calls(api, 100, at(2024, 1, 31, 23), prefix="late")  # arrives during the grace period
    run(api, at(2024, 2, 4, 1))
    (final,) = invoices(api)
    assert final.status == "finalized"
    assert fee_amounts(final)["charge"] == 1000


def test_two_concurrent_runs_never_duplicate_an_invoice(api: Any) -> None:
    setup_catalogue(api)
    for n in range(5):
        subscribe(api, at(2024, 1, 1), external_id=f"sub{n}")
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        runs.run(api.database, as_of=at(2024, 3, 1, 1), clock=FrozenClock(at(2024, 3, 1, 1)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Five subscriptions of one customer, two boundaries (Feb 1, Mar 1): ten billed periods,
    # consolidated on one invoice per boundary (lago-semantics 14, "Consolidation").
    with api.database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(InvoiceSubscription)) == 10
        assert session.scalar(select(func.count()).select_from(Invoice)) == 2
        assert (
            session.scalar(
                select(func.count()).select_from(Fee).where(Fee.fee_type == "subscription")
            )
            == 10
        )


def test_terminating_a_pay_in_advance_plan_credits_the_unused_days(api: Any) -> None:
    setup_catalogue(api, pay_in_advance=True, amount=3100)
    subscribe(api, at(2024, 1, 1))
    run(api, at(2024, 1, 1, 1))  # January paid in advance: 3100
    api.client.app.state.clock.set(at(2024, 1, 10, 12))
    bad = api.delete("subscriptions/sub", params={"on_termination_credit_note": "maybe"})
    assert bad.status_code == 422
    assert api.get("subscriptions/sub").json()["subscription"]["status"] == "active"
    response = api.delete("subscriptions/sub", params={"on_termination_credit_note": "credit"})
    assert response.status_code == 200, response.text
    (note,) = api.get("credit_notes").json()["credit_notes"]
    # Jan 11..31 unused: 21 days x 3100/31 = 2100.
    assert note["credit_amount_cents"] == 2100
    assert note["balance_amount_cents"] == 2100
