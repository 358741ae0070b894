"""Credit notes: amounts, estimate, validation, termination credit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from meterly.domain.credit_notes import (
    CreditableFee,
    CreditNoteItemRequest,
    InvoiceCreditState,
    compute_credit_note_amounts,
    estimate_credit_note,
    remaining_days,
    single_day_price,
    termination_credit,
    validate_credit_note,
)
from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.taxes import Tax

VAT = Tax(code="vat", name="VAT", rate=Decimal("20"))
FEE = CreditableFee(id="f", amount_cents=10000, taxes=(VAT,))


def invoice(**kw: object) -> InvoiceCreditState:
    base: dict[str, object] = {
        "fees": (FEE,),
        "fees_total_amount_cents": 12000,
        "total_amount_cents": 12000,
    }
    base.update(kw)
    return InvoiceCreditState(**base)  # type: ignore[arg-type]


def items(cents: int) -> list[CreditNoteItemRequest]:
    return [CreditNoteItemRequest(fee_id="f", amount_cents=cents)]


def test_amounts_with_taxes() -> None:
    a = compute_credit_note_amounts(fees=[FEE], items=items(5000))
    assert (
        a.sub_total_excluding_taxes_amount_cents,
        a.taxes_amount_cents,
        a.total_amount_cents,
    ) == (5000, 1000, 6000)
    assert a.taxes_rate == Decimal("20.00000")
    assert a.rounding_adjustment_cents == 0


def test_coupons_adjustment_is_the_items_share_of_the_fee_coupons() -> None:
    fee = CreditableFee(
        id="f", amount_cents=10000, precise_coupons_amount_cents=Decimal(1000), taxes=(VAT,)
    )
    a = compute_credit_note_amounts(fees=[fee], items=items(5000))
    # 5000 × 1000/10000 = 500 adjustment; (5000 − 500) × 20 % = 900; 4500 + 900 = 5400
    assert a.coupons_adjustment_amount_cents == 500
    assert a.sub_total_excluding_taxes_amount_cents == 4500
    assert a.taxes_amount_cents == 900
    assert a.total_amount_cents == 5400


def test_one_cent_rounding_adjustment_so_lines_add_up() -> None:
    # 5 unused days of 7 at 10000/7 a day: item 7142.857… → 7143 (items are pre-tax);
    # tax 1428.571… → 1429; lines 7143 + 1429 = 8572,
    # while the precise total 8571.428… would round to 8571: one cent shifted.
    precise = Decimal(10000) * 5 / 7
    a = compute_credit_note_amounts(
        fees=[FEE],
        items=[CreditNoteItemRequest(fee_id="f", amount_cents=7143, precise_amount_cents=precise)],
    )
    assert a.sub_total_excluding_taxes_amount_cents == 7143
    assert a.taxes_amount_cents == 1429
    assert a.total_amount_cents == 8572
    assert a.rounding_adjustment_cents == 1


def test_item_above_the_fee_remaining_amount() -> None:
    fee = CreditableFee(id="f", amount_cents=10000, credited_amount_cents=9000)
    with pytest.raises(ValidationFailed) as err:
        compute_credit_note_amounts(fees=[fee], items=items(1001))
    assert err.value.details == {"amount_cents": ["higher_than_remaining_fee_amount"]}


def test_unknown_fee() -> None:
    with pytest.raises(NotFound) as err:
        compute_credit_note_amounts(
            fees=[FEE], items=[CreditNoteItemRequest(fee_id="nope", amount_cents=1)]
        )
    assert err.value.code == "fee_not_found"


def test_estimate_unpaid_invoice() -> None:
    est = estimate_credit_note(invoice=invoice(), items=items(5000))
    assert est.amounts.total_amount_cents == 6000
    assert est.max_creditable_amount_cents == 6000
    assert est.max_refundable_amount_cents == 0
    assert est.max_offsettable_amount_cents == 6000


def test_estimate_paid_invoice_with_earlier_notes() -> None:
    inv = invoice(
        total_paid_amount_cents=12000, total_amount_cents=12000, credited_amount_cents=8000
    )
    est = estimate_credit_note(invoice=inv, items=items(5000))
    # the invoice can still give back 12000 − 8000 = 4000
    assert est.max_creditable_amount_cents == 4000
    assert est.max_refundable_amount_cents == 4000
    assert est.max_offsettable_amount_cents == 0


def test_valid_credit_note_passes() -> None:
    a = compute_credit_note_amounts(fees=[FEE], items=items(5000))
    validate_credit_note(invoice=invoice(), amounts=a, credit_amount_cents=6000)


def test_credit_above_invoice_remaining() -> None:
    a = compute_credit_note_amounts(fees=[FEE], items=items(5000))
    with pytest.raises(ValidationFailed) as err:
        validate_credit_note(
            invoice=invoice(credited_amount_cents=7000), amounts=a, credit_amount_cents=6000
        )
    assert err.value.details == {
        "credit_amount_cents": ["higher_than_remaining_invoice_amount"],
        "base": ["higher_than_remaining_invoice_amount"],
    }


def test_refund_rules() -> None:
    a = compute_credit_note_amounts(fees=[FEE], items=items(5000))
    with pytest.raises(ValidationFailed) as err:
        validate_credit_note(invoice=invoice(), amounts=a, refund_amount_cents=6000)
    assert err.value.details == {"refund_amount_cents": ["cannot_refund_unpaid_invoice"]}
    with pytest.raises(ValidationFailed) as err:
        validate_credit_note(
            invoice=invoice(total_paid_amount_cents=100), amounts=a, refund_amount_cents=6000
        )
    assert err.value.details == {"refund_amount_cents": ["higher_than_remaining_invoice_amount"]}
    validate_credit_note(
        invoice=invoice(total_paid_amount_cents=12000),
        amounts=a,
        refund_amount_cents=2000,
        credit_amount_cents=4000,
    )


def test_split_must_match_the_total() -> None:
    a = compute_credit_note_amounts(fees=[FEE], items=items(5000))
    with pytest.raises(ValidationFailed) as err:
        validate_credit_note(invoice=invoice(), amounts=a, credit_amount_cents=100)
    assert err.value.details == {"base": ["does_not_match_item_amounts"]}
    # one unit of rounding is tolerated
    validate_credit_note(invoice=invoice(), amounts=a, credit_amount_cents=5999)


def test_offset_above_due() -> None:
    a = compute_credit_note_amounts(fees=[FEE], items=items(5000))
    with pytest.raises(ValidationFailed) as err:
        validate_credit_note(
            invoice=invoice(total_paid_amount_cents=8000), amounts=a, offset_amount_cents=6000
        )
    assert err.value.details == {"offset_amount_cents": ["higher_than_remaining_invoice_amount"]}


def test_zero_total_is_refused() -> None:
    a = compute_credit_note_amounts(fees=[FEE], items=items(0))
    with pytest.raises(ValidationFailed) as err:
        validate_credit_note(invoice=invoice(), amounts=a)
    assert err.value.details == {"base": ["total_amount_must_be_positive"]}


def test_remaining_days_termination_vs_upgrade() -> None:
    # period Jan 1..31, terminated Jan 25: 26..31 = 6 days; upgraded Jan 25: 25..31 = 7
    end, day = date(2024, 1, 31), date(2024, 1, 25)
    assert remaining_days(period_end=end, terminated_on=day) == 6
    assert remaining_days(period_end=end, terminated_on=day, upgrade=True) == 7
    assert remaining_days(period_end=end, terminated_on=end) == 0


def test_termination_credit() -> None:
    # 3100 a month of 31 days: 100 a day × 6 days = 600
    fee = CreditableFee(id="f", amount_cents=3100)
    day = single_day_price(amount_cents=3100, period_days=31)
    credit = termination_credit(
        fee=fee, day_price_cents=day, period_end=date(2024, 1, 31), terminated_on=date(2024, 1, 25)
    )
    assert (credit.amount_cents, credit.remaining_days) == (600, 6)


def test_termination_credit_capped_by_earlier_notes() -> None:
    fee = CreditableFee(id="f", amount_cents=3100, credited_amount_cents=2800)
    credit = termination_credit(
        fee=fee,
        day_price_cents=Decimal(100),
        period_end=date(2024, 1, 31),
        terminated_on=date(2024, 1, 25),
    )
    assert credit.amount_cents == 300


def test_termination_with_taxes_adds_up() -> None:
    # weekly 10000 fee, 7 days; upgrade on day 3 of 7 → 5 days unused: 7142.857…
    fee = CreditableFee(id="f", amount_cents=10000, taxes=(VAT,))
    day = single_day_price(amount_cents=10000, period_days=7)
    credit = termination_credit(
        fee=fee,
        day_price_cents=day,
        period_end=date(2024, 1, 7),
        terminated_on=date(2024, 1, 3),
        upgrade=True,
    )
    assert credit.remaining_days == 5
    a = compute_credit_note_amounts(
        fees=[fee],
        items=[CreditNoteItemRequest(fee_id="f", amount_cents=credit.amount_cents,
                                     precise_amount_cents=credit.precise_amount_cents)],
    )  # fmt: skip
    assert (
        a.sub_total_excluding_taxes_amount_cents,
        a.taxes_amount_cents,
        a.total_amount_cents,
    ) == (7143, 1429, 8572)


def test_creditable_amount_including_taxes() -> None:
    fee = CreditableFee(
        id="f",
        amount_cents=10000,
        precise_coupons_amount_cents=Decimal(1000),
        taxes=(VAT,),
        credited_amount_cents=5000,
    )
    # (10000 − 5000) × 0.9 = 4500; + 20 % = 5400
    assert fee.creditable_amount_including_taxes() == Decimal(5400)
