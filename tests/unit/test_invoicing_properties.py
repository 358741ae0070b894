"""Properties of the invoice waterfall: every total is the sum of its lines, nothing is
negative, coupon spreads add up and stay within their fees, no credit is used twice or
beyond its balance, wallet balances are their ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.coupons import AppliedCoupon, CouponType, Frequency
from meterly.domain.invoicing import CreditNoteBalance, FeeLine, InvoiceTotals, compute_invoice
from meterly.domain.money import Currency, currency
from meterly.domain.taxes import Tax
from meterly.domain.wallets import (
    AppliesTo,
    TransactionKind,
    TransactionStatus,
    TransactionType,
    WalletBalance,
    WalletTransaction,
    credits_to_cents,
    ledger_balance_credits,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TAXES = [
    Tax(code="vat", name="VAT", rate=Decimal("20")),
    Tax(code="eco", name="Eco", rate=Decimal("5.5")),
    Tax(code="odd", name="Odd", rate=Decimal("33.333")),
    Tax(code="zero", name="Zero", rate=Decimal("0")),
]
CURRENCIES = [currency("EUR"), currency("JPY"), currency("KWD")]
FEE_TYPES = ["subscription", "charge", "add_on", "commitment"]
METRICS = ["api", "storage"]
PLANS = ["p", "q"]


@st.composite
def fee_lines(draw: st.DrawFn) -> list[FeeLine]:
    n = draw(st.integers(0, 6))
    out = []
    for i in range(n):
        fee_type = draw(st.sampled_from(FEE_TYPES))
        amount = draw(st.one_of(st.integers(0, 2_000), st.integers(0, 10_000_000)))
        out.append(
            FeeLine(
                id=f"f{i}",
                fee_type=fee_type,
                amount_cents=amount,
                precise_amount_cents=Decimal(amount),
                plan_code=None if fee_type == "add_on" else draw(st.sampled_from(PLANS)),
                billable_metric_code=draw(st.sampled_from(METRICS))
                if fee_type == "charge"
                else None,
                taxes=tuple(
                    draw(st.lists(st.sampled_from(TAXES), max_size=3, unique_by=lambda t: t.code))
                ),
            )
        )
    return out


@st.composite
def applied_coupons(draw: st.DrawFn, cur: Currency) -> list[AppliedCoupon]:
    n = draw(st.integers(0, 4))
    out = []
    for i in range(n):
        limit = draw(st.sampled_from(["none", "plan", "metric"]))
        plan_codes = (draw(st.sampled_from(PLANS)),) if limit == "plan" else ()
        metric_codes = (draw(st.sampled_from(METRICS)),) if limit == "metric" else ()
        created_at = T0 + timedelta(minutes=draw(st.integers(0, 100)))
        if draw(st.booleans()):
            out.append(
                AppliedCoupon(
                    id=f"c{i}",
                    coupon_code=f"c{i}",
                    coupon_type=CouponType.PERCENTAGE,
                    frequency=draw(st.sampled_from(list(Frequency))),
                    frequency_duration=3,
                    created_at=created_at,
                    percentage_rate=draw(st.decimals(min_value=0, max_value=120, places=2)),
                    plan_codes=plan_codes,
                    billable_metric_codes=metric_codes,
                )
            )
        else:
            amount = draw(st.integers(0, 5_000_000))
            out.append(
                AppliedCoupon(
                    id=f"c{i}",
                    coupon_code=f"c{i}",
                    coupon_type=CouponType.FIXED_AMOUNT,
                    frequency=draw(st.sampled_from(list(Frequency))),
                    frequency_duration=2,
                    created_at=created_at,
                    amount_cents=amount,
                    amount_currency=cur.code,
                    amount_cents_remaining=draw(st.one_of(st.none(), st.integers(0, amount))),
                    plan_codes=plan_codes,
                    billable_metric_codes=metric_codes,
                )
            )
    return out


@st.composite
def ledgers(draw: st.DrawFn) -> list[WalletTransaction]:
    out = []
    for i in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(list(TransactionKind)))
        inbound = kind in (TransactionKind.PURCHASED, TransactionKind.GRANTED)
        out.append(
            WalletTransaction(
                id=f"t{i}",
                transaction_type=TransactionType.INBOUND if inbound else TransactionType.OUTBOUND,
                status=draw(st.sampled_from(list(TransactionStatus))),
                transaction_status=kind,
                credit_amount=draw(st.decimals(min_value=0, max_value=100_000, places=2)),
            )
        )
    return out


@st.composite
def wallet_balances(draw: st.DrawFn, cur: Currency) -> list[WalletBalance]:
    out = []
    for i in range(draw(st.integers(0, 3))):
        opening = WalletTransaction(
            id="opening",
            transaction_type=TransactionType.INBOUND,
            status=TransactionStatus.SETTLED,
            transaction_status=TransactionKind.GRANTED,
            credit_amount=draw(st.decimals(min_value=0, max_value=200_000, places=2)),
        )
        ledger = [opening, *draw(ledgers())]
        credits = max(ledger_balance_credits(ledger), Decimal(0))
        rate = draw(st.sampled_from([Decimal("1"), Decimal("0.5"), Decimal("1.5"), Decimal("3")]))
        limit = draw(st.sampled_from(["none", "types", "metrics"]))
        out.append(
            WalletBalance(
                id=f"w{i}",
                balance_cents=credits_to_cents(credits=credits, rate_amount=rate, currency=cur),
                credits_balance=credits,
                rate_amount=rate,
                created_at=T0 + timedelta(minutes=draw(st.integers(0, 10))),
                priority=draw(st.integers(1, 50)),
                applies_to=AppliesTo(
                    fee_types=tuple(draw(st.lists(st.sampled_from(FEE_TYPES), max_size=2)))
                    if limit == "types"
                    else (),
                    billable_metric_codes=tuple(
                        draw(st.lists(st.sampled_from(METRICS), max_size=2))
                    )
                    if limit == "metrics"
                    else (),
                ),
            )
        )
    return out


@st.composite
def invoices(
    draw: st.DrawFn,
) -> tuple[
    InvoiceTotals, list[FeeLine], list[AppliedCoupon], list[CreditNoteBalance], list[WalletBalance]
]:
    cur = draw(st.sampled_from(CURRENCIES))
    fees = draw(fee_lines())
    coupons = draw(applied_coupons(cur))
    notes = [
        CreditNoteBalance(
            id=f"cn{i}",
            balance_amount_cents=draw(st.integers(0, 3_000_000)),
            created_at=T0 + timedelta(days=draw(st.integers(0, 30))),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    wallets = draw(wallet_balances(cur))
    pb = draw(st.integers(0, 5_000_000))
    inv = compute_invoice(
        currency=cur,
        fees=fees,
        progressive_billing_credit_cents=pb,
        coupons=coupons,
        credit_note_credits=notes,
        wallets=wallets,
    )
    return inv, fees, coupons, notes, wallets


Case = tuple[
    InvoiceTotals, list[FeeLine], list[AppliedCoupon], list[CreditNoteBalance], list[WalletBalance]
]

PROPS = settings(max_examples=300, deadline=None)


@PROPS
@given(invoices())
def test_every_total_is_the_sum_of_its_lines(case: Case) -> None:
    inv, fees, *_ = case
    assert inv.fees_amount_cents == sum(f.amount_cents for f in fees)
    assert inv.coupons_amount_cents == sum(c.amount_cents for c in inv.coupons)
    assert inv.taxes_amount_cents == sum(t.amount_cents for t in inv.applied_taxes)
    assert inv.credit_notes_amount_cents == sum(c.amount_cents for c in inv.credit_notes)
    assert inv.prepaid_credit_amount_cents == sum(w.amount_cents for w in inv.wallets)
    assert inv.sub_total_excluding_taxes_amount_cents == (
        inv.fees_amount_cents
        - inv.progressive_billing_credit_amount_cents
        - inv.coupons_amount_cents
    )
    assert inv.sub_total_including_taxes_amount_cents == (
        inv.sub_total_excluding_taxes_amount_cents + inv.taxes_amount_cents
    )
    assert inv.total_before_prepaid_amount_cents == (
        inv.sub_total_including_taxes_amount_cents - inv.credit_notes_amount_cents
    )
    assert inv.total_amount_cents == (
        inv.fees_amount_cents
        - inv.progressive_billing_credit_amount_cents
        - inv.coupons_amount_cents
        + inv.taxes_amount_cents
        - inv.credit_notes_amount_cents
        - inv.prepaid_credit_amount_cents
    )
    assert inv.total_due_amount_cents == inv.total_amount_cents
    assert (inv.payment_status == "succeeded") == (inv.total_amount_cents == 0)
    # precise per-fee coupon shares add up to the integer credits, up to the rounding of
    # each coupon share to 5 places (half a unit of the 5th decimal per fee and coupon)
    slack = Decimal("0.000005") * len(inv.fees) * len(inv.coupons)
    assert (
        abs(
            sum(f.precise_coupons_amount_cents for f in inv.fees)
            - (inv.progressive_billing_credit_amount_cents + inv.coupons_amount_cents)
        )
        <= slack
    )


@PROPS
@given(invoices())
def test_no_total_is_ever_negative(case: Case) -> None:
    inv = case[0]
    for value in (
        inv.sub_total_excluding_taxes_amount_cents,
        inv.taxes_amount_cents,
        inv.sub_total_including_taxes_amount_cents,
        inv.total_before_prepaid_amount_cents,
        inv.total_amount_cents,
    ):
        assert value >= 0


@PROPS
@given(invoices())
def test_coupon_allocations_stay_within_fees_and_sum_to_the_coupon(case: Case) -> None:
    inv = case[0]
    for app in inv.coupons:
        shares = [a.precise_amount_cents for a in app.allocations]
        # each share is rounded on its own (no remainder pushed onto the last fee)
        assert abs(sum(shares) - app.amount_cents) <= Decimal("0.000005") * len(shares)
        assert all(s >= 0 for s in shares)
        assert app.amount_cents <= app.base_amount_cents
    for f in inv.fees:
        assert Decimal(0) <= f.precise_coupons_amount_cents <= f.amount_cents
        assert f.precise_coupons_amount_cents == f.precise_coupons_amount_cents.quantize(
            Decimal("0.00001")
        )


@PROPS
@given(invoices())
def test_no_credit_is_used_twice_or_beyond_its_balance(case: Case) -> None:
    inv, _fees, coupons, notes, wallets = case
    coupon_ids = [c.applied_coupon.id for c in inv.coupons]
    assert len(coupon_ids) == len(set(coupon_ids))
    by_coupon = {c.id: c for c in coupons}
    for app in inv.coupons:
        source = by_coupon[app.applied_coupon.id]
        if source.coupon_type is CouponType.FIXED_AMOUNT:
            assert app.amount_cents <= source.remaining_amount_cents
            if source.frequency is Frequency.ONCE:
                assert (
                    app.consumption.amount_cents_remaining
                    == source.remaining_amount_cents - app.amount_cents
                )
        assert (
            app.consumption.amount_cents_remaining is None
            or app.consumption.amount_cents_remaining >= 0
        )
    note_ids = [c.credit_note_id for c in inv.credit_notes]
    assert len(note_ids) == len(set(note_ids))
    by_note = {n.id: n for n in notes}
    for used in inv.credit_notes:
        assert 0 < used.amount_cents <= by_note[used.credit_note_id].balance_amount_cents
        assert (
            used.remaining_balance_cents
            == by_note[used.credit_note_id].balance_amount_cents - used.amount_cents
        )
    wallet_ids = [w.wallet_id for w in inv.wallets]
    assert len(wallet_ids) == len(set(wallet_ids))
    by_wallet = {w.id: w for w in wallets}
    for used_w in inv.wallets:
        source_w = by_wallet[used_w.wallet_id]
        assert 0 < used_w.amount_cents <= source_w.balance_cents
        assert used_w.remaining_balance_cents == source_w.balance_cents - used_w.amount_cents
        assert source_w.credits_balance is not None
        assert 0 <= used_w.credit_amount <= source_w.credits_balance
        assert sum(g.amount_cents for g in used_w.groups) == used_w.amount_cents
        for g in used_w.groups:
            assert source_w.applies_to.allows(
                fee_type=g.fee_type, billable_metric_code=g.billable_metric_code
            )


@PROPS
@given(ledgers(), st.sampled_from(CURRENCIES), st.integers(0, 10_000_000))
def test_wallet_balance_is_its_ledger_after_consumption(
    ledger: list[WalletTransaction], cur: Currency, fee_cents: int
) -> None:
    credits = max(ledger_balance_credits(ledger), Decimal(0))
    # the balance is exactly the sum of the ledger's settled lines
    signed = sum(
        (t.credit_amount if t.transaction_type is TransactionType.INBOUND else -t.credit_amount)
        for t in ledger
        if t.status is TransactionStatus.SETTLED
    )
    assert ledger_balance_credits(ledger) == signed
    rate = Decimal("1.5")
    w = WalletBalance(
        id="w",
        balance_cents=credits_to_cents(credits=credits, rate_amount=rate, currency=cur),
        credits_balance=credits,
        rate_amount=rate,
        created_at=T0,
    )
    fee = FeeLine(
        id="f", fee_type="charge", amount_cents=fee_cents, precise_amount_cents=Decimal(fee_cents)
    )
    inv = compute_invoice(currency=cur, fees=[fee], wallets=[w])
    outbound = [
        WalletTransaction(
            id=f"out-{c.wallet_id}",
            transaction_type=TransactionType.OUTBOUND,
            status=TransactionStatus.SETTLED,
            transaction_status=TransactionKind.INVOICED,
            credit_amount=c.credit_amount,
        )
        for c in inv.wallets
    ]
    after = ledger_balance_credits([*ledger, *outbound])
    if ledger_balance_credits(ledger) >= 0:
        assert after >= 0
    consumed = sum((c.credit_amount for c in inv.wallets), Decimal(0))
    assert after == ledger_balance_credits(ledger) - consumed
    if inv.wallets and inv.wallets[0].remaining_balance_cents == 0:
        assert after == ledger_balance_credits(ledger) - credits
