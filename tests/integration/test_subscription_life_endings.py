"""A subscription's life to its end (issue 21, points 1, 5, 6, 7; lago-semantics items 11,
13 and 14): days counted on local dates (the start day and the termination day billed,
also at 00:00), the credit note of a plan paid in advance made before the termination
invoice that consumes it, `ending_at` ending a subscription by itself, and a lowered grace
period finalizing the drafts now due.

Every run goes through the billing run with a frozen clock that moves, on SQLite and
PostgreSQL. Each figure is worked by hand from Lago's rules in the comment beside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from meterly.services.common import FrozenClock
from tests.integration.life_helpers import (
    at,
    bill,
    credit_notes,
    customer,
    fees,
    invoice,
    item_metric,
    ok,
    plan,
    send_items,
    subscribe,
    subscription_rows,
    terminate,
    termination_invoice,
    vat,
)

# --- point 1: day counting ---------------------------------------------------------


def test_quarterly_calendar_plan_started_mid_period_and_terminated_at_midnight(
    api: Any, clock: FrozenClock
) -> None:
    # Q1 2024 = 31 + 29 + 31 = 91 days: 9100 is 100 a day.
    plan(api, "quarterly", amount=9100, interval="quarterly")
    customer(api)
    subscribe(api, clock, at(2024, 2, 10, 15, 30), "quarterly")
    assert bill(api, clock, at(2024, 2, 29, 12)).invoices == []
    terminate(api, clock, at(2024, 3, 1))
    (fee,) = fees(api)
    # From the beginning of Feb 10 to Mar 1 00:00, which still counts: Feb 10..29 = 20
    # days + Mar 1 = 21 days x 100 = 2100 (not ceil(19 d 8.5 h) = 20 days = 2000).
    assert (fee.amount_cents, fee.first_day) == (2100, "2024-02-10")
    # Nothing more at the quarter's end: the termination billed the period.
    assert bill(api, clock, at(2024, 4, 1, 1)).invoices == []
    assert len(fees(api)) == 1


def test_arrears_termination_at_midnight_bills_that_day(api: Any, clock: FrozenClock) -> None:
    # Lago's manual-termination spec: Feb 2025 has 28 days, 10000 a month.
    plan(api, "monthly", amount=10000)
    customer(api)
    subscribe(api, clock, at(2025, 2, 8), "monthly")
    terminate(api, clock, at(2025, 2, 21))
    (fee,) = fees(api)
    # Feb 8..21, the 21st from its 00:00: 14 of 28 days = 5000 (not 13 days = 4643).
    assert fee.amount_cents == 5000


# --- point 5: termination of a plan paid in advance --------------------------------


def test_in_advance_termination_credit_is_consumed_by_the_termination_invoice(
    api: Any, clock: FrozenClock
) -> None:
    # Lago's manual-termination spec, with its 20 % tax.
    item_metric(api)
    vat(api, 20)
    plan(api, "monthly", amount=10000, pay_in_advance=True, with_items=True, taxed=True)
    customer(api)
    subscribe(api, clock, at(2025, 2, 8), "monthly")
    bill(api, clock, at(2025, 2, 8))
    (first,) = fees(api)
    # Feb 8..28 = 21 of 28 days in advance = 7500 (+20 % = 9000 due).
    assert first.amount_cents == 7500
    assert invoice(api, first.invoice_id).total_amount_cents == 9000
    send_items(api, at(2025, 2, 10), count=5, each=10, prefix="e")  # 50 units x 1 EUR
    terminate(api, clock, at(2025, 2, 21))
    (note,) = credit_notes(api)
    # Used Feb 8..21 (the 21st from 00:00 counts): unused Feb 22..28 = 7 days x
    # 10000/28 = 2500, +20 % = 3000.
    assert note.total_amount_cents == 3000
    ending = termination_invoice(api, "monthly")
    # Charges 5000 + 20 % = 6000, less the 3000 credit made before this invoice.
    assert ending.credit_notes_amount_cents == 3000
    assert ending.total_amount_cents == 3000
    assert credit_notes(api)[0].balance_amount_cents == 0


@pytest.mark.parametrize(
    ("timezone", "start", "end", "credit"),
    [
        # Feb 8 00:00 .. 12:00 UTC: used Feb 8, unused Feb 9..28 = 20 days x 10000/28
        # = 7142.86 -> 7143.
        ("UTC", at(2025, 2, 8), at(2025, 2, 8, 12), 7143),
        # Feb 8 12:00 .. 22:00 in Los Angeles (Feb 8 20:00 .. Feb 9 06:00 UTC): still
        # the local Feb 8, so 20 unused days: 7143. (On UTC dates: 19 days.)
        ("America/Los_Angeles", at(2025, 2, 8, 20), at(2025, 2, 9, 6), 7143),
        # Terminated the next local morning at 07:00, before the 12:00 start time: Feb 8
        # and 9 used, Feb 10..28 = 19 days x 10000/28 = 6785.71 -> 6786.
        ("America/Los_Angeles", at(2025, 2, 8, 20), at(2025, 2, 9, 15), 6786),
    ],
)
def test_in_advance_plan_terminated_on_its_first_day(
    api: Any, clock: FrozenClock, timezone: str, start: datetime, end: datetime, credit: int
) -> None:
    item_metric(api)
    plan(api, "monthly", amount=10000, pay_in_advance=True, with_items=True)
    customer(api, timezone=timezone)
    subscribe(api, clock, start, "monthly")
    bill(api, clock, start)
    (first,) = fees(api)
    # The local Feb 8..28 = 21 of 28 days = 7500 (calendar plan started mid-month).
    assert first.amount_cents == 7500
    send_items(api, start, count=5, each=10, prefix="e")  # 50 units x 1 EUR = 5000
    terminate(api, clock, end)
    (note,) = credit_notes(api)
    assert note.credit_amount_cents == credit
    # The termination invoice's 5000 of charges consume 5000 of that credit.
    ending = termination_invoice(api, "monthly")
    assert (ending.credit_notes_amount_cents, ending.total_amount_cents) == (5000, 0)
    assert credit_notes(api)[0].balance_amount_cents == credit - 5000


def test_termination_on_the_trials_last_day_credits_the_whole_fee(
    api: Any, clock: FrozenClock
) -> None:
    plan(api, "monthly", amount=3100, pay_in_advance=True, trial=5)
    customer(api)
    subscribe(api, clock, at(2024, 1, 1), "monthly")
    # The trial ends on Jan 6 00:00: the fee is billed then, Jan 6..31 = 26 days = 2600.
    bill(api, clock, at(2024, 1, 6))
    (fee,) = fees(api)
    assert fee.amount_cents == 2600
    terminate(api, clock, at(2024, 1, 6, 10))
    (note,) = credit_notes(api)
    # Terminated on the trial's last day: the whole fee comes back, 2600 (not the 25
    # days after Jan 6 = 2500).
    assert note.credit_amount_cents == 2600


def test_a_draft_paid_invoice_gets_a_draft_credit_note_finalized_with_it(
    api: Any, clock: FrozenClock
) -> None:
    ok(
        api.put(
            "organizations",
            {"organization": {"billing_configuration": {"invoice_grace_period": 3}}},
        )
    )
    plan(api, "monthly", amount=3100, pay_in_advance=True)
    customer(api)
    subscribe(api, clock, at(2024, 1, 1), "monthly")
    bill(api, clock, at(2024, 1, 1))
    (fee,) = fees(api)
    assert invoice(api, fee.invoice_id).status == "draft"  # until Jan 4 00:00
    terminate(api, clock, at(2024, 1, 2, 12))
    (note,) = credit_notes(api)
    # Used Jan 1..2, unused Jan 3..31 = 29 days x 100 = 2900, a draft like its invoice.
    assert (note.status, note.credit_amount_cents) == ("draft", 2900)
    bill(api, clock, at(2024, 1, 4, 1))
    paid = invoice(api, fee.invoice_id)
    assert paid.status == "finalized" and paid.number is not None
    (note,) = credit_notes(api)
    assert note.status == "finalized"
    assert note.number == f"{paid.number}-CN001"
    assert note.balance_amount_cents == 2900


# --- point 6: ending_at --------------------------------------------------------------


def test_ending_at_terminates_the_subscription_at_that_instant(
    api: Any, clock: FrozenClock
) -> None:
    # Lago's terminate-ended spec (Europe/Paris, UTC+2 in September).
    plan(api, "monthly", amount=1000)
    customer(api, timezone="Europe/Paris")
    subscribe(
        api,
        clock,
        at(2023, 9, 5),
        "monthly",
        billing_time="anniversary",
        ending_at=at(2023, 9, 6),
    )
    assert bill(api, clock, at(2023, 9, 5, 23)).invoices == []  # not ended yet
    bill(api, clock, at(2023, 9, 6, 0, 15))
    (sub,) = subscription_rows(api)
    assert sub.status == "terminated"
    assert sub.terminated_at == at(2023, 9, 6)
    (fee,) = fees(api)
    # Sep 5 02:00 .. Sep 6 02:00 in Paris: Sep 5 and 6 = 2 days of the anniversary period
    # Sep 5..Oct 4 (30 days): 2 x 1000/30 = 66.67 -> 67.
    assert fee.amount_cents == 67
    ending = invoice(api, fee.invoice_id)
    assert (ending.total_amount_cents, ending.issuing_date) == (67, "2023-09-06")
    # A second run bills nothing more.
    assert bill(api, clock, at(2023, 10, 5, 1)).invoices == []


def test_ending_at_on_a_billing_date_of_an_in_advance_plan(api: Any, clock: FrozenClock) -> None:
    # Lago's terminate-ended spec, calendar plan paid in advance, ending on Oct 1 00:00.
    plan(api, "monthly", amount=1000, pay_in_advance=True)
    customer(api)
    subscribe(api, clock, at(2023, 8, 1), "monthly", ending_at=at(2023, 10, 1))
    bill(api, clock, at(2023, 8, 1))
    bill(api, clock, at(2023, 9, 1))
    bill(api, clock, at(2023, 10, 1, 0, 15))
    # August and September paid in advance; October never starts: no October fee and no
    # credit note (September was used to its last day).
    assert [(f.amount_cents, f.first_day) for f in fees(api)] == [
        (1000, "2023-08-01"),
        (1000, "2023-09-01"),
    ]
    assert credit_notes(api) == []
    ending = termination_invoice(api, "monthly")
    assert ending.total_amount_cents == 0


# --- point 7: grace period lowered -----------------------------------------------------


def test_lowering_the_organization_grace_period_finalizes_due_drafts(
    api: Any, clock: FrozenClock
) -> None:
    ok(
        api.put(
            "organizations",
            {"organization": {"billing_configuration": {"invoice_grace_period": 3}}},
        )
    )
    plan(api, "monthly", amount=3100)
    customer(api)
    subscribe(api, clock, at(2024, 1, 1), "monthly")
    bill(api, clock, at(2024, 2, 1, 1))
    (fee,) = fees(api)
    assert invoice(api, fee.invoice_id).status == "draft"  # until Feb 4 00:00
    clock.set(at(2024, 2, 2, 12))

    def grace(days: int) -> None:
        body = {"organization": {"billing_configuration": {"invoice_grace_period": days}}}
        ok(api.put("organizations", body))

    grace(2)  # Feb 1 + 2 days = Feb 3 00:00, still ahead: stays a draft
    assert invoice(api, fee.invoice_id).status == "draft"
    grace(1)  # Feb 1 + 1 day = Feb 2 00:00, passed at 12:00: finalized at once
    finalized = invoice(api, fee.invoice_id)
    assert finalized.status == "finalized" and finalized.number is not None


def test_lowering_a_customer_grace_period_finalizes_its_due_drafts(
    api: Any, clock: FrozenClock
) -> None:
    plan(api, "monthly", amount=3100)
    customer(api, grace=5)
    subscribe(api, clock, at(2024, 1, 1), "monthly")
    bill(api, clock, at(2024, 2, 1, 1))
    (fee,) = fees(api)
    assert invoice(api, fee.invoice_id).status == "draft"  # until Feb 6 00:00
    clock.set(at(2024, 2, 3, 9))
    customer(api, grace=4)  # Feb 5 00:00: not yet
    assert invoice(api, fee.invoice_id).status == "draft"
    customer(api, grace=2)  # Feb 3 00:00: passed at 09:00
    assert invoice(api, fee.invoice_id).status == "finalized"
