"""Minimum commitments through a subscription's life, billing runs with a moving frozen
clock, both backends (lago-semantics item 14).

The true-up of a commitment period compares the commitment, prorated to the
subscription's days in that period, with every subscription, charge and pay-in-advance
charge fee whose service lies in the period, wherever it was invoiced. A plan paid in
advance trues up the period that just closed on the invoice that starts the next one.

The catalogue follows Lago's commitment scenarios: a plan of 100.00 (10_000 cents), a
minimum commitment of 10_000.00 (1_000_000 cents), three sum metrics priced 1.00 a unit:
`metered` (in arrears), `metered_advance` (pay in advance) and `advance_recurring` (pay
in advance, recurring: its units are billed again, in advance, for every new period).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Fee, Invoice

COMMITMENT = 1_000_000
PLAN_AMOUNT = 10_000


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def set_clock(api: Any, moment: datetime) -> None:
    api.client.app.state.clock.set(moment)


def setup(
    api: Any,
    *,
    interval: str,
    pay_in_advance: bool,
    start: datetime,
    billing_time: str = "anniversary",
    bill_charges_monthly: bool = False,
    grace_days: int = 0,
) -> None:
    if grace_days:
        billing = {"billing_configuration": {"invoice_grace_period": grace_days}}
        assert api.put("organizations", {"organization": billing}).status_code == 200
    codes = {"metered": False, "metered_advance": False, "advance_recurring": True}
    metrics = {}
    for code, recurring in codes.items():
        response = api.post(
            "billable_metrics",
            {
                "billable_metric": {
                    "name": code,
                    "code": code,
                    "aggregation_type": "sum_agg",
                    "field_name": "total",
                    "recurring": recurring,
                }
            },
        )
        assert response.status_code == 200, response.text
        metrics[code] = response.json()["billable_metric"]["lago_id"]
    plan: dict[str, Any] = {
        "name": "Committed",
        "code": "committed",
        "interval": interval,
        "amount_cents": PLAN_AMOUNT,
        "amount_currency": "EUR",
        "pay_in_advance": pay_in_advance,
        "bill_charges_monthly": bill_charges_monthly,
        "minimum_commitment": {"amount_cents": COMMITMENT},
        "charges": [
            {
                "billable_metric_id": metrics[code],
                "charge_model": "standard",
                "pay_in_advance": code != "metered",
                "invoiceable": True,
                "properties": {"amount": "1"},
            }
            for code in codes
        ],
    }
    response = api.post("plans", {"plan": plan})
    assert response.status_code == 200, response.text
    set_clock(api, start)
    response = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust",
                "plan_code": "committed",
                "external_id": "sub",
                "billing_time": billing_time,
                "subscription_at": start.isoformat(),
            }
        },
    )
    assert response.status_code == 200, response.text


def send(api: Any, when: datetime, totals: dict[str, int]) -> None:
    set_clock(api, when)
    events = [
        {
            "transaction_id": f"{code}-{when.isoformat()}",
            "external_subscription_id": "sub",
            "code": code,
            "timestamp": int(when.timestamp()),
            "properties": {"total": str(total)},
        }
        for code, total in totals.items()
    ]
    response = api.post("events/batch", {"events": events})
    assert response.status_code == 200, response.text


def run(api: Any, when: datetime) -> None:
    set_clock(api, when)
    report = runs.run(api.database, as_of=when, clock=FrozenClock(when))
    assert report.errors == []


def commitments(api: Any) -> list[tuple[datetime, int]]:
    """(start of the period trued up, true-up) of every commitment fee, oldest first."""
    with api.database.unit_of_work() as session:
        rows = session.scalars(
            select(Fee)
            .where(Fee.fee_type == "commitment", Fee.deleted_at.is_(None))
            .order_by(Fee.from_datetime)
        )
        return [(f.from_datetime, f.amount_cents) for f in rows if f.from_datetime]


def invoice_fees(api: Any, issued: datetime) -> list[tuple[str, str | None, int]]:
    """(fee type, metric code, amount) of the invoices issued on `issued`'s day."""
    with api.database.unit_of_work() as session:
        rows = session.scalars(
            select(Fee)
            .join(Invoice, Invoice.id == Fee.invoice_id)
            .where(Invoice.issuing_date == at(issued.year, issued.month, issued.day))
            .order_by(Fee.fee_type, Fee.amount_cents)
        )
        return [
            (f.fee_type, f.item.get("code") if f.fee_type == "charge" else None, f.amount_cents)
            for f in rows
            if not f.pay_in_advance
        ]


# Anniversary periods from 2024-03-01 00:00 UTC: whole periods, no proration anywhere.
# (interval, end of the first period = start of the second, end of the second)
PERIODS = [
    ("weekly", at(2024, 3, 8), at(2024, 3, 15)),
    ("monthly", at(2024, 4, 1), at(2024, 5, 1)),
    ("quarterly", at(2024, 6, 1), at(2024, 9, 1)),
    ("yearly", at(2025, 3, 1), at(2026, 3, 1)),
]
START = at(2024, 3, 1)


@pytest.mark.parametrize(("interval", "second", "third"), PERIODS)
def test_in_arrears_true_up_counts_in_advance_fees_and_the_renewed_recurring_charge(
    api: Any, interval: str, second: datetime, third: datetime
) -> None:
    setup(api, interval=interval, pay_in_advance=False, start=START)
    send(api, at(2024, 3, 1, 1), {"advance_recurring": 10, "metered": 10, "metered_advance": 10})
    run(api, at(2024, 3, 1, 2))  # the two pay-in-advance fees: 10 x 1.00 each
    run(api, second)
    # Period 1: subscription 10_000 + metered 1_000 (this invoice) + metered_advance 1_000
    # and advance_recurring 1_000 (their own in-advance invoices) = 13_000;
    # 1_000_000 - 13_000 = 987_000 (Lago's in-arrears anniversary scenario).
    # The recurring charge billed again on this invoice is for period 2: not counted here.
    run(api, third)
    # Period 2: subscription 10_000 + advance_recurring billed again for period 2 on the
    # first invoice 1_000 = 11_000; 1_000_000 - 11_000 = 989_000.
    assert commitments(api) == [(START, 987_000), (second, 989_000)]


@pytest.mark.parametrize(("interval", "second", "third"), PERIODS)
def test_in_advance_true_up_is_for_the_period_that_closed(
    api: Any, interval: str, second: datetime, third: datetime
) -> None:
    setup(api, interval=interval, pay_in_advance=True, start=START)
    run(api, START)  # the first period's fee, in advance: no true-up yet
    send(api, at(2024, 3, 1, 1), {"advance_recurring": 15, "metered": 25, "metered_advance": 30})
    run(api, at(2024, 3, 1, 2))
    assert commitments(api) == []
    run(api, second)
    # Period 1, trued up when period 2 starts: subscription 10_000 (paid at the start) +
    # metered 2_500 (this invoice) + metered_advance 3_000 + advance_recurring 1_500 =
    # 17_000; 1_000_000 - 17_000 = 983_000 (Lago's in-advance anniversary scenario). This
    # invoice's own subscription fee and renewed recurring charge are for period 2.
    run(api, third)
    # Period 2: subscription 10_000 + advance_recurring renewed 1_500 = 11_500;
    # 1_000_000 - 11_500 = 988_500.
    assert commitments(api) == [(START, 983_000), (second, 988_500)]


@pytest.mark.parametrize("pay_in_advance", [False, True])
def test_calendar_first_period_is_prorated_by_its_own_days(api: Any, pay_in_advance: bool) -> None:
    start = at(2024, 3, 10)
    setup(
        api, interval="monthly", pay_in_advance=pay_in_advance, start=start, billing_time="calendar"
    )
    run(api, start)
    send(api, at(2024, 3, 10, 1), {"advance_recurring": 10, "metered": 10, "metered_advance": 10})
    run(api, at(2024, 3, 10, 2))
    run(api, at(2024, 4, 1))
    run(api, at(2024, 5, 1))
    # March: 10..31 = 22 of 31 days. Commitment 1_000_000 x 22/31 = 709_677.42 -> 709_677.
    # Subscription fee 10_000 x 22/31 = 7_096.77 -> 7_097 (in arrears on April 1st, in
    # advance on March 10th), metered 1_000, metered_advance 1_000, advance_recurring
    # 1_000: 10_097; 709_677 - 10_097 = 699_580. In advance it is issued on April 1st
    # with April's fee, and still prorated by March's 22 days.
    # April (30 of 30 days): 1_000_000 - (10_000 + 1_000 renewed recurring) = 989_000.
    assert commitments(api) == [(start, 699_580), (at(2024, 4, 1), 989_000)]


def test_yearly_plan_billing_charges_monthly_counts_every_monthly_invoice(api: Any) -> None:
    setup(api, interval="yearly", pay_in_advance=False, start=START, bill_charges_monthly=True)
    send(api, at(2024, 3, 1, 1), {"advance_recurring": 10, "metered": 10, "metered_advance": 10})
    run(api, at(2024, 3, 1, 2))
    run(api, at(2024, 4, 1))
    # The monthly charges invoice: metered 1_000 of March and advance_recurring billed
    # again for April 1_000; no true-up before the year closes.
    assert sorted(invoice_fees(api, at(2024, 4, 1))) == [
        ("charge", "advance_recurring", 1_000),
        ("charge", "metered", 1_000),
    ]
    assert commitments(api) == []
    run(api, at(2025, 3, 1))  # catches up every monthly boundary, then the year's end
    # The year: subscription 10_000 + metered 1_000 + metered_advance 1_000 +
    # advance_recurring 1_000 (its event) + advance_recurring renewed for April..February,
    # 11 x 1_000 on the monthly invoices of April 1st..February 1st = 24_000;
    # 1_000_000 - 24_000 = 976_000. The renewal on March 1st 2025 is for the next year.
    assert commitments(api) == [(START, 976_000)]


@pytest.mark.parametrize(("pay_in_advance", "april"), [(False, 494_000), (True, 489_000)])
def test_termination_trues_up_the_open_period_to_the_termination_day(
    api: Any, pay_in_advance: bool, april: int
) -> None:
    setup(api, interval="monthly", pay_in_advance=pay_in_advance, start=START)
    run(api, START)
    send(api, at(2024, 3, 1, 1), {"advance_recurring": 10})
    run(api, at(2024, 3, 1, 2))
    run(api, at(2024, 4, 1))
    set_clock(api, at(2024, 4, 15, 12))
    assert api.delete("subscriptions/sub").status_code == 200
    # March: 1_000_000 - (10_000 + 1_000 recurring event) = 989_000, on April 1st's invoice
    # in both cases.
    # April, terminated on the 15th: 15 of 30 days, commitment 1_000_000 x 15/30 = 500_000.
    # In arrears the subscription fee is 10_000 x 15/30 = 5_000; in advance the 10_000
    # paid on April 1st for April counts whole (its unused days are credited by a credit
    # note, not by the true-up). With advance_recurring renewed for April, 1_000:
    # 500_000 - 6_000 = 494_000 in arrears, 500_000 - 11_000 = 489_000 in advance.
    assert commitments(api) == [(START, 989_000), (at(2024, 4, 1), april)]


def test_a_draft_refreshed_after_its_grace_period_keeps_its_true_up_up_to_date(
    api: Any,
) -> None:
    setup(api, interval="monthly", pay_in_advance=False, start=START, grace_days=2)
    send(api, at(2024, 3, 1, 1), {"advance_recurring": 10, "metered": 10, "metered_advance": 10})
    run(api, at(2024, 3, 1, 2))
    run(api, at(2024, 4, 1))
    # As in the in-arrears scenario: 1_000_000 - 13_000 = 987_000, on a draft.
    assert commitments(api) == [(START, 987_000)]
    send(api, at(2024, 3, 20), {"metered": 5})  # a late event of March, sent on the 20th
    run(api, at(2024, 4, 3, 1))  # the grace period ended on April 3rd 00:00: finalized
    # Refreshed: metered 15 x 1.00 = 1_500; 1_000_000 - (10_000 + 1_500 + 1_000 + 1_000)
    # = 986_500.
    assert commitments(api) == [(START, 986_500)]
    with api.database.unit_of_work() as session:
        statuses = {
            invoice.status
            for invoice in session.scalars(
                select(Invoice)
                .join(Fee, Fee.invoice_id == Invoice.id)
                .where(Fee.fee_type == "commitment", Fee.deleted_at.is_(None))
            )
        }
    assert statuses == {"finalized"}


def test_the_true_up_and_the_renewed_charge_are_on_the_invoice_api(api: Any) -> None:
    setup(api, interval="monthly", pay_in_advance=False, start=START)
    send(api, at(2024, 3, 1, 1), {"advance_recurring": 10, "metered": 10, "metered_advance": 10})
    run(api, at(2024, 3, 1, 2))
    run(api, at(2024, 4, 1))
    listed = api.get("invoices", params={"external_customer_id": "cust"}).json()["invoices"]
    (periodic,) = [
        i for i in listed if i["invoice_type"] == "subscription" and i["fees_amount_cents"] > 2_000
    ]
    body = api.get(f"invoices/{periodic['lago_id']}").json()["invoice"]
    fees = sorted((f["item"]["type"], f["item"]["code"], f["amount_cents"]) for f in body["fees"])
    # Subscription 10_000, metered 1_000 in arrears, advance_recurring billed again for
    # April 1_000, and the true-up 1_000_000 - 13_000 = 987_000 (worked above).
    assert fees == [
        ("charge", "advance_recurring", 1_000),
        ("charge", "metered", 1_000),
        ("commitment", "minimum_commitment", 987_000),
        ("subscription", "committed", 10_000),
    ]
    # 10_000 + 1_000 + 1_000 + 987_000 = 999_000, no taxes or credits.
    assert body["fees_amount_cents"] == 999_000
    assert body["total_amount_cents"] == 999_000


def test_a_downgrade_applied_on_the_boundary_trues_up_the_whole_last_period(api: Any) -> None:
    setup(api, interval="monthly", pay_in_advance=False, start=START, billing_time="calendar")
    cheaper = {
        "name": "Cheaper",
        "code": "cheaper",
        "interval": "monthly",
        "amount_cents": 1_000,
        "amount_currency": "EUR",
        "pay_in_advance": False,
    }
    assert api.post("plans", {"plan": cheaper}).status_code == 200
    run(api, at(2024, 4, 1))
    run(api, at(2024, 5, 1))
    set_clock(api, at(2024, 5, 15))
    change = {"external_customer_id": "cust", "plan_code": "cheaper", "external_id": "sub"}
    assert api.post("subscriptions", {"subscription": change}).status_code == 200
    run(api, datetime(2024, 6, 1, 0, 15, 49, tzinfo=UTC))
    # Lago's termination scenario: March, April and May each bill the subscription fee
    # 10_000 and nothing else; the downgrade ends the old plan on June 1st 00:00, so May
    # is consumed whole (31 of 31 days): 1_000_000 - 10_000 = 990_000 each time.
    assert commitments(api) == [
        (START, 990_000),
        (at(2024, 4, 1), 990_000),
        (at(2024, 5, 1), 990_000),
    ]
