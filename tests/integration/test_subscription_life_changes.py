"""A subscription's life through plan changes (issue 21, point 2; lago-semantics item 14):
the subscription that replaces another keeps the original `subscription_at` as its billing
anchor, and trials run from the first start of the external id.

Every run goes through the billing run with a frozen clock that moves, on SQLite and
PostgreSQL. Each figure is worked by hand from Lago's rules in the comment beside it (the
monthly→yearly and multiple-upgrade figures are the ones Lago's own scenario specs pin).
"""

from __future__ import annotations

from typing import Any

from meterly.services.common import FrozenClock
from tests.integration.life_helpers import (
    at,
    bill,
    credit_notes,
    customer,
    fees,
    invoice,
    plan,
    subscribe,
    subscription_rows,
    terminate,
    vat,
)


def test_monthly_to_yearly_upgrade_keeps_the_anniversary_anchor(
    api: Any, clock: FrozenClock
) -> None:
    plan(api, "monthly", amount=1000, pay_in_advance=True)
    plan(api, "yearly", amount=12000, interval="yearly", pay_in_advance=True)
    customer(api)
    subscribe(api, clock, at(2023, 6, 29, 12, 12), "monthly", billing_time="anniversary")
    bill(api, clock, at(2023, 6, 29, 12, 12))
    bill(api, clock, at(2023, 7, 29, 12, 12))
    bill(api, clock, at(2023, 8, 29, 12, 12))
    # Upgrade on Sep 28 05:00, in the period Aug 29..Sep 28 (31 days) paid in advance.
    subscribe(api, clock, at(2023, 9, 28, 5), "yearly", billing_time="anniversary")
    bill(api, clock, at(2023, 9, 28, 5))
    billed = fees(api)
    assert [(f.plan_code, f.amount_cents, f.first_day, f.last_day) for f in billed] == [
        # Anniversary periods from Jun 29, each billed whole at its start.
        ("monthly", 1000, "2023-06-29", "2023-07-28"),
        ("monthly", 1000, "2023-07-29", "2023-08-28"),
        ("monthly", 1000, "2023-08-29", "2023-09-28"),
        # The yearly period keeps the Jun 29 anchor: Jun 29 2023..Jun 28 2024 = 366 days
        # (Feb 29 2024 in it); billed from the upgrade day, Sep 28 2023, to Jun 28 2024:
        # 3 (Sep 28-30) + 31 + 30 + 31 + 31 + 29 + 31 + 30 + 31 + 28 (Jun 1-28) = 275 days.
        # 275 x 12000 / 366 = 9016.39 -> 9016.
        ("yearly", 9016, "2023-09-28", "2024-06-28"),
    ]
    # The upgrade day goes to the new plan: the monthly plan's unused days start on it,
    # Sep 28 only = 1 day x 1000 / 31 = 32.26 -> 32 (Lago's upgrade spec: 32).
    (note,) = credit_notes(api)
    assert note.credit_amount_cents == 32
    # The note is made before the invoice of the change, which consumes it.
    yearly_invoice = invoice(api, billed[-1].invoice_id)
    assert yearly_invoice.credit_notes_amount_cents == 32
    assert yearly_invoice.total_amount_cents == 9016 - 32
    # The next yearly boundary is the anchor's anniversary, Jun 29 2024, not Sep 28.
    assert bill(api, clock, at(2024, 6, 28, 12)).invoices == []
    bill(api, clock, at(2024, 6, 29, 1))
    last = fees(api)[-1]
    # A full year Jun 29 2024..Jun 28 2025, in advance: 12000.
    assert (last.plan_code, last.amount_cents, last.first_day, last.last_day) == (
        "yearly",
        12000,
        "2024-06-29",
        "2025-06-28",
    )


def test_downgrade_starts_on_the_boundary_and_keeps_the_anchor(
    api: Any, clock: FrozenClock
) -> None:
    plan(api, "big", amount=3100)
    plan(api, "small", amount=2900)
    customer(api)
    # Anchored on Jan 31: boundaries Feb 29 (Feb has no 31st), Mar 31, Apr 30 ...
    subscribe(api, clock, at(2024, 1, 31, 10), "big", billing_time="anniversary")
    subscribe(api, clock, at(2024, 2, 10), "small", billing_time="anniversary")
    bill(api, clock, at(2024, 2, 29, 1))
    # The downgrade starts at the end of the big plan's period, Feb 29 00:00.
    rows = subscription_rows(api)
    (old,) = [r for r in rows if r.previous_subscription_id is None]
    (new,) = [r for r in rows if r.previous_subscription_id == old.id]
    assert new.started_at == at(2024, 2, 29)
    assert old.terminated_at is not None and old.terminated_at < at(2024, 2, 29)
    # Its periods keep the Jan 31 anchor: Feb 29..Mar 30, next boundary Mar 31. (Anchored
    # on its own start it would close on Mar 29.)
    assert bill(api, clock, at(2024, 3, 29, 12)).invoices == []
    bill(api, clock, at(2024, 3, 31, 1))
    billed = [(f.plan_code, f.amount_cents, f.first_day, f.last_day) for f in fees(api)]
    assert billed == [
        # Jan 31..Feb 28 in arrears: the whole anniversary period, 3100.
        ("big", 3100, "2024-01-31", "2024-02-28"),
        # Feb 29..Mar 30 = 1 + 30 = 31 days, the whole period: 2900.
        ("small", 2900, "2024-02-29", "2024-03-30"),
    ]


def test_three_upgrades_in_one_month_prorate_on_the_anchored_period(
    api: Any, clock: FrozenClock
) -> None:
    vat(api, 25)
    plan(api, "p1", amount=1000, pay_in_advance=True, taxed=True)
    plan(api, "p2", amount=1500, pay_in_advance=True, taxed=True)
    plan(api, "p3", amount=1900, pay_in_advance=True, taxed=True)
    plan(api, "p4", amount=2400, pay_in_advance=True, taxed=True)
    customer(api)
    subscribe(api, clock, at(2024, 3, 5, 12, 12), "p1", billing_time="anniversary")
    bill(api, clock, at(2024, 3, 5, 12, 12))
    for when, code in (
        (at(2024, 3, 12, 12, 12), "p2"),
        (at(2024, 3, 12, 13, 12), "p3"),
        (at(2024, 3, 20, 9), "p4"),
    ):
        subscribe(api, clock, when, code, billing_time="anniversary")
        bill(api, clock, when)
    # Every period is the anniversary period Mar 5..Apr 4 = 27 + 4 = 31 days.
    billed = [(f.plan_code, f.amount_cents, f.first_day) for f in fees(api)]
    assert billed == [
        ("p1", 1000, "2024-03-05"),  # the whole first period, in advance
        ("p2", 1161, "2024-03-12"),  # Mar 12..Apr 4 = 24 days x 1500/31 = 1161.29
        ("p3", 1471, "2024-03-12"),  # the same 24 days x 1900/31 = 1470.97
        ("p4", 1239, "2024-03-20"),  # Mar 20..Apr 4 = 16 days x 2400/31 = 1238.71
    ]
    notes = [n.credit_amount_cents for n in credit_notes(api)]
    assert notes == [
        # p1: 24 unused days from the upgrade day: 1000/31 x 24 = 774.19, +25 % = 967.74.
        968,
        # p2: 24 days x 1500/31 = 1161.29 is more than the fee billed, 1161: capped at
        # 1161, +25 % = 1451.25 -> 1451 (Lago's multiple-upgrade spec: 1451).
        1451,
        # p3: 16 days x 1900/31 = 980.65 (under its 1471 fee), +25 % = 1225.81 -> 1226.
        1226,
    ]
    # p4 bills its first whole period on Apr 5, from the Mar 5 anchor: 2400.
    bill(api, clock, at(2024, 4, 5, 1))
    assert [(f.plan_code, f.amount_cents, f.first_day, f.last_day) for f in fees(api)][-1] == (
        "p4",
        2400,
        "2024-04-05",
        "2024-05-04",
    )


def test_a_subscription_recreated_with_the_same_external_id_gets_no_new_trial(
    api: Any, clock: FrozenClock
) -> None:
    plan(api, "trial", amount=3100, trial=10)
    customer(api)
    subscribe(api, clock, at(2024, 1, 1), "trial")
    terminate(api, clock, at(2024, 1, 5, 12))
    subscribe(api, clock, at(2024, 1, 20), "trial")
    bill(api, clock, at(2024, 2, 1, 1))
    billed = [(f.amount_cents, f.first_day, f.last_day) for f in fees(api)]
    assert billed == [
        # Terminated inside the trial (Jan 1 + 10 days = Jan 11): nothing to bill.
        (0, "2024-01-01", "2024-01-05"),
        # The trial ran from the first start of the external id and ended on Jan 11: the
        # new subscription bills Jan 20..31 = 12 days x 3100/31 = 1200 (a new trial from
        # Jan 20 would have left Jan 30..31 = 200).
        (1200, "2024-01-20", "2024-01-31"),
    ]
