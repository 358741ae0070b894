"""Credit-note taxes and rounding (lago-semantics.md item 14, "Credit-note taxes"):
taxes are the rounded sum of the precise per-tax amounts, the total is
round(items − coupon share + precise taxes), the taxes move by one cent so the lines add
up, and the note that credits everything left gives back exactly what remains."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.coupons import AppliedCoupon, CouponType, Frequency
from meterly.domain.credit_notes import (
    CreditableFee,
    CreditNoteAmounts,
    CreditNoteItemRequest,
    InvoiceCreditState,
    compute_credit_note_amounts,
    estimate_credit_note,
    split_to_total,
    validate_credit_note,
)
from meterly.domain.errors import ValidationFailed
from meterly.domain.invoicing import FeeLine, InvoiceTotals, compute_invoice
from meterly.domain.money import currency
from meterly.domain.taxes import Tax

EUR = currency("EUR")
VAT = Tax(code="vat", name="VAT", rate=Decimal("20"))
LOW = Tax(code="low", name="Low", rate=Decimal("5"))
ECO = Tax(code="eco", name="Eco", rate=Decimal("5.5"))


def invoice_of(fees: list[FeeLine], coupons: list[AppliedCoupon] | None = None) -> InvoiceTotals:
    return compute_invoice(currency=EUR, fees=fees, coupons=coupons or [])


def state_of(inv: InvoiceTotals, fees: list[FeeLine]) -> InvoiceCreditState:
    """The invoice as the credit-note rules read it, before any note."""
    taxes = {f.id: f.taxes for f in fees}
    return InvoiceCreditState(
        fees=tuple(
            CreditableFee(
                id=r.fee_id,
                amount_cents=r.amount_cents,
                precise_coupons_amount_cents=r.precise_coupons_amount_cents,
                taxes=taxes[r.fee_id],
            )
            for r in inv.fees
        ),
        fees_total_amount_cents=inv.sub_total_including_taxes_amount_cents,
        total_amount_cents=inv.total_amount_cents,
        taxes_amount_cents=inv.taxes_amount_cents,
    )


def after(state: InvoiceCreditState, note: CreditNoteAmounts) -> InvoiceCreditState:
    """The state once `note` is credited in full (credit = total)."""
    credited = {i.fee_id: i.amount_cents for i in note.items}
    return replace(
        state,
        fees=tuple(
            replace(f, credited_amount_cents=f.credited_amount_cents + credited.get(f.id, 0))
            for f in state.fees
        ),
        credited_amount_cents=state.credited_amount_cents + note.total_amount_cents,
        notes_taxes_amount_cents=state.notes_taxes_amount_cents + note.taxes_amount_cents,
        notes_taxes_rounding_cents=state.notes_taxes_rounding_cents
        + (note.taxes_amount_cents - note.precise_taxes_amount_cents),
    )


def credit(state: InvoiceCreditState, *items: tuple[str, int]) -> CreditNoteAmounts:
    requests = [CreditNoteItemRequest(fee_id=f, amount_cents=a) for f, a in items]
    note = compute_credit_note_amounts(fees=state.fees, items=requests, invoice=state)
    validate_credit_note(invoice=state, amounts=note, credit_amount_cents=note.total_amount_cents)
    return note


def add_on(id: str, cents: int, *taxes: Tax) -> FeeLine:
    return FeeLine(
        id=id, fee_type="add_on", amount_cents=cents, precise_amount_cents=Decimal(cents),
        taxes=taxes,
    )  # fmt: skip


def test_two_full_notes_with_two_taxes_never_exceed_the_invoice() -> None:
    fees = [add_on("one", 6833, VAT, LOW), add_on("two", 6834, VAT, LOW)]
    inv = invoice_of(fees)
    # base 6833 + 6834 = 13667; VAT 13667 × 20 % = 2733.4 → 2733, LOW 13667 × 5 % = 683.35
    # → 683 (each tax rounded once on the invoice): taxes 3416, total 13667 + 3416 = 17083
    assert (inv.taxes_amount_cents, inv.sub_total_including_taxes_amount_cents) == (3416, 17083)
    state = state_of(inv, fees)

    first = credit(state, ("one", 6833))
    # VAT 6833 × 20 % = 1366.6, LOW 6833 × 5 % = 341.65; precise taxes 1708.25 → 1708 (the
    # rounded per-tax amounts 1367 + 342 would have made 1709); total round(6833 + 1708.25)
    # = 8541 = 6833 + 1708
    assert first.precise_taxes_amount_cents == Decimal("1708.25")
    assert (first.sub_total_excluding_taxes_amount_cents, first.taxes_amount_cents) == (6833, 1708)
    assert first.total_amount_cents == 8541
    state = after(state, first)

    second = credit(state, ("two", 6834))
    # everything left: precise taxes 1366.8 + 341.7 = 1708.5, minus the first note's
    # rounding (1708 − 1708.25 = −0.25) → 1708.75. What remains of the invoice:
    # 17083 − 8541 = 8542, of which taxes 3416 − 1708 = 1708 and sub-total 6834.
    assert second.precise_taxes_amount_cents == Decimal("1708.75")
    assert (second.sub_total_excluding_taxes_amount_cents, second.taxes_amount_cents) == (
        6834,
        1708,
    )
    assert second.total_amount_cents == 8542
    # 8541 + 8542 = 17083: exactly the invoice, never a cent more
    assert first.total_amount_cents + second.total_amount_cents == 17083
    assert after(state, second).remaining_amount_cents == 0


def test_lago_two_add_ons_refunded_separately() -> None:
    """Lago's "two similar items are refunded separately" scenario: 68.33 twice, 20 %."""
    fees = [add_on("a", 6833, VAT), add_on("b", 6833, VAT)]
    inv = invoice_of(fees)
    # 13666 × 20 % = 2733.2 → 2733; 13666 + 2733 = 16399
    assert inv.sub_total_including_taxes_amount_cents == 16399
    state = state_of(inv, fees)
    first = credit(state, ("a", 6833))
    # 6833 × 20 % = 1366.6 → 1367; 6833 + 1367 = 8200; rounding 1367 − 1366.6 = 0.4
    assert (first.precise_taxes_amount_cents, first.taxes_amount_cents) == (
        Decimal("1366.6"),
        1367,
    )
    assert first.total_amount_cents == 8200
    state = after(state, first)
    est = estimate_credit_note(
        invoice=state, items=[CreditNoteItemRequest(fee_id="b", amount_cents=6833)]
    )
    # 1366.6 − 0.4 = 1366.2 → 1366; 6833 + 1366 = 8199 (Lago: 13_66, "1366.2", 8199)
    assert est.amounts.precise_taxes_amount_cents == Decimal("1366.2")
    assert est.amounts.taxes_amount_cents == 1366
    assert est.amounts.total_amount_cents == 8199
    assert est.max_creditable_amount_cents == 8199


def test_taxes_move_by_one_cent_so_the_lines_add_up() -> None:
    fee = CreditableFee(
        id="f", amount_cents=1000, precise_coupons_amount_cents=Decimal("1.4"), taxes=(VAT,)
    )
    note = compute_credit_note_amounts(
        fees=[fee], items=[CreditNoteItemRequest(fee_id="f", amount_cents=1000)]
    )
    # sub-total round(1000 − 1.4) = round(998.6) = 999; taxes 998.6 × 20 % = 199.72 → 200;
    # total round(1000 − 1.4 + 199.72) = round(1198.32) = 1198; 999 + 200 = 1199, so the
    # taxes move down one cent: 999 + 199 = 1198
    assert note.sub_total_excluding_taxes_amount_cents == 999
    assert note.taxes_amount_cents == 199
    assert note.total_amount_cents == 1198


def test_a_tax_free_note_moves_its_total_not_its_taxes() -> None:
    # an item of 7143 for a precise 7142.5 on a fee with a small coupon share: the
    # sub-total and round(items − share) fall on either side of a half cent; with no tax,
    # the gap must not become a 1-cent tax, so the total follows the sub-total
    fee = CreditableFee(id="f", amount_cents=10000, precise_coupons_amount_cents=Decimal("0.42"))
    note = compute_credit_note_amounts(
        fees=[fee],
        items=[
            CreditNoteItemRequest(
                fee_id="f", amount_cents=7143, precise_amount_cents=Decimal("7142.5")
            )
        ],
    )
    # share 7142.5 × 0.42/10000 = 0.299985; sub round(7142.200015) = 7142, while
    # round(7143 − 0.299985) = round(7142.700015) = 7143
    assert note.taxes_amount_cents == 0
    assert note.total_amount_cents == note.sub_total_excluding_taxes_amount_cents == 7142


def test_a_note_above_what_remains_is_refused_without_tolerance() -> None:
    fees = [add_on("a", 6833, VAT), add_on("b", 6833, VAT)]
    state = state_of(invoice_of(fees), fees)
    # the invoice (16399) already gave back 8200 + 8000: 199 left, a note of 200 is refused
    state = replace(state, credited_amount_cents=16200)
    note = compute_credit_note_amounts(
        fees=state.fees, items=[CreditNoteItemRequest(fee_id="b", amount_cents=167)]
    )
    # 167 + 33.4 → 33: 200
    assert note.total_amount_cents == 200
    with pytest.raises(ValidationFailed) as err:
        validate_credit_note(invoice=state, amounts=note, offset_amount_cents=199)
    assert err.value.details["base"] == ["higher_than_remaining_invoice_amount"]


def test_split_snaps_onto_the_total() -> None:
    # total 8199 asked as 8200: the credit gives the cent back; refund-only moves the refund
    assert split_to_total(
        total_amount_cents=8199, credit_amount_cents=8200, refund_amount_cents=0,
        offset_amount_cents=0,
    ).credit_amount_cents == 8199  # fmt: skip
    s = split_to_total(
        total_amount_cents=8200, credit_amount_cents=0, refund_amount_cents=8199,
        offset_amount_cents=0,
    )  # fmt: skip
    assert (s.credit_amount_cents, s.refund_amount_cents, s.offset_amount_cents) == (0, 8200, 0)


# --- property: any split of an invoice into notes never exceeds it ----------------------------

TAX_SETS = [(), (VAT,), (VAT, LOW), (VAT, ECO), (ECO,)]


@st.composite
def invoices_and_splits(
    draw: st.DrawFn,
) -> tuple[list[FeeLine], list[AppliedCoupon], list[list[int]]]:
    n = draw(st.integers(1, 4))
    fees = [
        add_on(f"f{i}", draw(st.integers(1, 200_000)), *draw(st.sampled_from(TAX_SETS)))
        for i in range(n)
    ]
    coupons: list[AppliedCoupon] = []
    if draw(st.booleans()):
        coupons.append(
            AppliedCoupon(
                id="c", coupon_code="c", coupon_type=CouponType.FIXED_AMOUNT,
                frequency=Frequency.FOREVER, created_at=datetime(2024, 1, 1, tzinfo=UTC),
                amount_cents=draw(st.integers(1, 50_000)), amount_currency="EUR",
            )
        )  # fmt: skip
    # for each partial note, a fraction (in per mille) of what is left of each fee
    notes = draw(st.lists(st.lists(st.integers(0, 1000), min_size=n, max_size=n), max_size=4))
    return fees, coupons, notes


@settings(max_examples=300, deadline=None)
@given(invoices_and_splits())
def test_any_split_into_notes_never_exceeds_the_invoice(
    case: tuple[list[FeeLine], list[AppliedCoupon], list[list[int]]],
) -> None:
    fees, coupons, partials = case
    inv = invoice_of(fees, coupons)
    state = state_of(inv, fees)
    given_back = 0

    def issue(items: list[tuple[str, int]]) -> None:
        nonlocal state, given_back
        requests = [CreditNoteItemRequest(fee_id=f, amount_cents=a) for f, a in items if a > 0]
        note = compute_credit_note_amounts(fees=state.fees, items=requests, invoice=state)
        # every note's lines add up
        assert (
            note.sub_total_excluding_taxes_amount_cents + note.taxes_amount_cents
            == note.total_amount_cents
        )
        assert note.taxes_amount_cents >= 0 and note.sub_total_excluding_taxes_amount_cents >= 0
        try:
            validate_credit_note(
                invoice=state, amounts=note, credit_amount_cents=note.total_amount_cents
            )
        except ValidationFailed:
            return
        given_back += note.total_amount_cents
        state = after(state, note)

    for per_mille in partials:
        issue(
            [
                (f.id, f.creditable_amount_cents * p // 1000)
                for f, p in zip(state.fees, per_mille, strict=True)
            ]
        )
        assert given_back <= inv.sub_total_including_taxes_amount_cents
    # the note that credits everything left
    issue([(f.id, f.creditable_amount_cents) for f in state.fees])
    assert given_back <= inv.sub_total_including_taxes_amount_cents
    # and once every fee is credited, nothing of the invoice is left either (it took
    # exactly what remained)
    if all(f.creditable_amount_cents == 0 for f in state.fees) and state.remaining_amount_cents:
        raise AssertionError(f"{state.remaining_amount_cents} left after crediting every fee")
