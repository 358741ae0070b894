"""Properties of credit-note amounts: the lines add up, the rounding shift is tiny."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.credit_notes import (
    CreditableFee,
    CreditNoteItemRequest,
    compute_credit_note_amounts,
)
from meterly.domain.taxes import Tax

TAXES = [Tax(code="a", name="A", rate=Decimal("20")), Tax(code="b", name="B", rate=Decimal("5.5"))]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_items_and_taxes_add_up_to_the_total(data: st.DataObject) -> None:
    amount = data.draw(st.integers(1, 1_000_000))
    coupons = data.draw(st.decimals(min_value=0, max_value=amount, places=5))
    taxes = tuple(data.draw(st.lists(st.sampled_from(TAXES), unique_by=lambda t: t.code)))
    fee = CreditableFee(
        id="f", amount_cents=amount, precise_coupons_amount_cents=coupons, taxes=taxes
    )
    item = data.draw(st.integers(0, amount))
    a = compute_credit_note_amounts(
        fees=[fee], items=[CreditNoteItemRequest(fee_id="f", amount_cents=item)]
    )
    assert a.total_amount_cents == a.sub_total_excluding_taxes_amount_cents + a.taxes_amount_cents
    assert abs(a.rounding_adjustment_cents) <= len(taxes) + 1
    assert a.total_amount_cents >= 0
    assert a.precise_coupons_adjustment_amount_cents <= item
