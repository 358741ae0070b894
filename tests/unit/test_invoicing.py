"""Invoice waterfall scenarios with exact cents, computed by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterly.domain.coupons import AppliedCoupon, CouponType, Frequency
from meterly.domain.credit_notes import (
    CreditableFee,
    CreditNoteItemRequest,
    compute_credit_note_amounts,
)
from meterly.domain.errors import ValidationFailed
from meterly.domain.invoicing import CreditNoteBalance, FeeLine, apportion, compute_invoice
from meterly.domain.money import currency
from meterly.domain.taxes import Tax
from meterly.domain.wallets import AppliesTo, WalletBalance

EUR = currency("EUR")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
VAT = Tax(code="vat", name="VAT", rate=Decimal("20"))
ECO = Tax(code="eco", name="Eco", rate=Decimal("5.5"))


def fee(
    id: str,
    amount: int,
    *,
    fee_type: str = "charge",
    plan: str | None = "premium",
    metric: str | None = None,
    taxes: tuple[Tax, ...] = (),
) -> FeeLine:
    return FeeLine(
        id=id,
        fee_type=fee_type,
        amount_cents=amount,
        precise_amount_cents=Decimal(amount),
        plan_code=plan,
        billable_metric_code=metric,
        taxes=taxes,
    )


def percentage(id: str, rate: str, *, minutes: int = 0, **kw: object) -> AppliedCoupon:
    return AppliedCoupon(
        id=id,
        coupon_code=id,
        coupon_type=CouponType.PERCENTAGE,
        frequency=Frequency.FOREVER,
        created_at=T0 + timedelta(minutes=minutes),
        percentage_rate=Decimal(rate),
        **kw,  # type: ignore[arg-type]
    )


def fixed(
    id: str, cents: int, *, minutes: int = 0, cur: str = "EUR", **kw: object
) -> AppliedCoupon:
    return AppliedCoupon(
        id=id,
        coupon_code=id,
        coupon_type=CouponType.FIXED_AMOUNT,
        frequency=Frequency.ONCE,
        created_at=T0 + timedelta(minutes=minutes),
        amount_cents=cents,
        amount_currency=cur,
        **kw,  # type: ignore[arg-type]
    )


def wallet(
    id: str, cents: int, *, priority: int = 50, minutes: int = 0, **kw: object
) -> WalletBalance:
    return WalletBalance(
        id=id,
        balance_cents=cents,
        rate_amount=Decimal(str(kw.pop("rate", "1"))),
        created_at=T0 + timedelta(minutes=minutes),
        priority=priority,
        **kw,  # type: ignore[arg-type]
    )


def test_full_waterfall_with_every_step() -> None:
    subscription = fee("sub", 10000, fee_type="subscription", taxes=(VAT,))
    usage = fee("usage", 5000, metric="api_calls", taxes=(VAT, ECO))
    inv = compute_invoice(
        currency=EUR,
        fees=[subscription, usage],
        coupons=[percentage("ten", "10", minutes=1), fixed("thousand", 1000, minutes=2)],
        credit_note_credits=[CreditNoteBalance(id="cn", balance_amount_cents=3000, created_at=T0)],
        wallets=[wallet("w", 5000, rate="2")],
    )
    # fees: 10000 + 5000 = 15000
    assert inv.fees_amount_cents == 15000
    # 10 % coupon on 15000 = 1500, spread 10000/15000 → 1000 and 5000/15000 → 500
    # fixed 1000 on the rest 13500, each share on its own (half up, 5 places):
    # sub 1000×9000/13500 = 666.666666… → 666.66667, usage 1000×4500/13500 = 333.333333…
    # → 333.33333 (no remainder pushed onto the last fee; together 1000.00000)
    ten, thousand = inv.coupons
    assert (ten.amount_cents, thousand.amount_cents) == (1500, 1000)
    assert [a.precise_amount_cents for a in ten.allocations] == [Decimal(1000), Decimal(500)]
    assert [a.precise_amount_cents for a in thousand.allocations] == [
        Decimal("666.66667"),
        Decimal("333.33333"),
    ]
    assert inv.coupons_amount_cents == 2500
    sub_r, usage_r = inv.fees
    assert sub_r.precise_coupons_amount_cents == Decimal("1666.66667")
    assert usage_r.precise_coupons_amount_cents == Decimal("833.33333")
    # sub total excl. taxes: 15000 − 2500 = 12500
    assert inv.sub_total_excluding_taxes_amount_cents == 12500
    # VAT: 8333.33333 × 20 % = 1666.666666 and 4166.66667 × 20 % = 833.333334 → 2500.0 → 2500
    # ECO: 4166.66667 × 5.5 % = 229.16666685 → 229
    vat, eco = inv.applied_taxes
    assert (vat.tax.code, vat.precise_amount_cents, vat.amount_cents) == (
        "vat",
        Decimal("2500"),
        2500,
    )
    assert vat.base_amount_cents == 12500
    assert (eco.tax.code, eco.amount_cents, eco.base_amount_cents) == ("eco", 229, 4167)
    assert sub_r.taxes_amount_cents == 1667  # 1666.666666 rounded on the fee
    assert usage_r.taxes_amount_cents == 1063  # 833.333334 + 229.16666685 = 1062.50000085 → 1063
    assert inv.taxes_amount_cents == 2729
    # incl. taxes: 12500 + 2729 = 15229
    assert inv.sub_total_including_taxes_amount_cents == 15229
    # credit note 3000 fully used: 15229 − 3000 = 12229
    assert inv.credit_notes_amount_cents == 3000
    assert inv.credit_notes[0].remaining_balance_cents == 0
    assert inv.credit_notes[0].consumed
    assert inv.total_before_prepaid_amount_cents == 12229
    # wallet 5000 cents at 2 € a credit: 50.00 € = 25.00 credits; 12229 − 5000 = 7229
    (w,) = inv.wallets
    assert (w.amount_cents, w.credit_amount, w.remaining_balance_cents) == (
        5000,
        Decimal("25.00"),
        0,
    )
    assert inv.prepaid_credit_amount_cents == 5000
    assert inv.total_amount_cents == inv.total_due_amount_cents == 7229
    assert inv.payment_status == "pending"
    # the credit-note share per fee is pro rata to the tax-inclusive amounts
    assert sum(f.precise_credit_notes_amount_cents for f in inv.fees) == 3000


def test_coupon_larger_than_invoice_is_capped_and_keeps_its_remainder() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[fee("a", 10000, taxes=(VAT,)), fee("b", 5000, taxes=(VAT,))],
        coupons=[fixed("big", 20000)],
    )
    # min(20000, 15000) = 15000: the invoice is free, nothing left to tax
    (app,) = inv.coupons
    assert app.amount_cents == 15000
    assert app.consumption.amount_cents_remaining == 5000
    assert not app.consumption.terminated
    assert [f.precise_coupons_amount_cents for f in inv.fees] == [Decimal(10000), Decimal(5000)]
    assert inv.taxes_amount_cents == 0
    assert inv.total_amount_cents == 0
    assert inv.payment_status == "succeeded"


def test_second_coupon_is_not_applied_once_the_subtotal_is_zero() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[fee("a", 1000)],
        coupons=[fixed("first", 5000, minutes=1), percentage("second", "10", minutes=2)],
    )
    assert [c.applied_coupon.id for c in inv.coupons] == ["first"]


def test_metric_limited_then_plan_limited_then_others() -> None:
    fees = [
        fee("sub", 10000, fee_type="subscription", plan="p"),
        fee("api", 5000, plan="p", metric="api"),
        fee("addon", 2000, fee_type="add_on", plan=None),
    ]
    coupons = [
        percentage("open", "50", minutes=1),
        fixed("plan", 1000, minutes=2, plan_codes=("p",)),
        percentage("metric", "10", minutes=3, billable_metric_codes=("api",)),
    ]
    inv = compute_invoice(currency=EUR, fees=fees, coupons=coupons)
    assert [c.applied_coupon.id for c in inv.coupons] == ["metric", "plan", "open"]
    metric, plan, open_ = inv.coupons
    # metric 10 % of the api fee 5000 = 500, all on "api"
    assert metric.amount_cents == 500
    assert [a.fee_id for a in metric.allocations] == ["api"]
    # plan coupon base: sub 10000 + api 4500 = 14500 → 1000: 1000×10000/14500 =
    # 689.655172… → 689.65517 and 1000×4500/14500 = 310.344827… → 310.34483 (each on its own)
    assert plan.base_amount_cents == Decimal(14500)
    assert [a.precise_amount_cents for a in plan.allocations] == [
        Decimal("689.65517"),
        Decimal("310.34483"),
    ]
    # open coupon: 50 % of 17000 − 1500 = 15500 → 7750
    assert open_.amount_cents == 7750
    assert inv.sub_total_excluding_taxes_amount_cents == 17000 - 500 - 1000 - 7750


def test_same_group_coupons_follow_created_at() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[fee("a", 1000)],
        coupons=[fixed("late", 100, minutes=5), fixed("early", 300, minutes=1)],
    )
    assert [c.applied_coupon.id for c in inv.coupons] == ["early", "late"]


def test_progressive_billing_credit_goes_to_charge_fees_before_coupons() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[
            fee("sub", 1000, fee_type="subscription", taxes=(VAT,)),
            fee("api", 3000, metric="api", taxes=(VAT,)),
        ],
        progressive_billing_credit_cents=1200,
        coupons=[percentage("ten", "10")],
    )
    # 4000 − 1200 (charges only) = 2800; 10 % coupon on 2800 = 280 → 2520
    assert inv.progressive_billing_credit_amount_cents == 1200
    assert inv.coupons_amount_cents == 280
    assert inv.sub_total_excluding_taxes_amount_cents == 2520
    # VAT 20 % of 2520 = 504
    assert inv.taxes_amount_cents == 504
    api = inv.fees[1]
    assert api.progressive_billing_credit_precise_cents == Decimal(1200)
    assert inv.total_amount_cents == 3024


def test_progressive_billing_credit_is_capped_at_the_charges() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[fee("sub", 1000, fee_type="subscription"), fee("api", 300, metric="api")],
        progressive_billing_credit_cents=500,
    )
    assert inv.progressive_billing_credit_amount_cents == 300
    assert inv.total_amount_cents == 1000


def test_half_cent_tax_tie_rounds_up() -> None:
    # 1050 × 5 % = 52.5 → 53 (half up)
    tax = Tax(code="t5", name="T5", rate=Decimal("5"))
    inv = compute_invoice(currency=EUR, fees=[fee("a", 1050, taxes=(tax,))])
    assert inv.taxes_amount_cents == 53
    assert inv.total_amount_cents == 1103


def test_invoice_tax_is_rounded_once_per_tax_not_per_fee() -> None:
    # each fee: 105 × 10 % = 10.5 → 11 on the fee; the invoice rounds 21.0 once → 21
    tax = Tax(code="t10", name="T10", rate=Decimal("10"))
    inv = compute_invoice(
        currency=EUR, fees=[fee("a", 105, taxes=(tax,)), fee("b", 105, taxes=(tax,))]
    )
    assert [f.taxes_amount_cents for f in inv.fees] == [11, 11]
    assert inv.taxes_amount_cents == 21


def test_kwd_three_decimals() -> None:
    kwd = currency("KWD")
    tax = Tax(code="t5", name="T5", rate=Decimal("5"))
    # 1 234.567 KWD = 1234567 fils; 5 % = 61728.35 → 61728 fils
    inv = compute_invoice(
        currency=kwd,
        fees=[fee("a", 1234567, taxes=(tax,))],
        wallets=[wallet("w", 100500, rate="1")],
    )
    assert inv.taxes_amount_cents == 61728
    # wallet 100.500 KWD at 1 KWD a credit = 100.500 credits
    assert inv.wallets[0].credit_amount == Decimal("100.500")
    assert inv.total_amount_cents == 1234567 + 61728 - 100500


def test_jpy_zero_decimals() -> None:
    jpy = currency("JPY")
    tax = Tax(code="t10", name="T10", rate=Decimal("10"))
    inv = compute_invoice(
        currency=jpy,
        fees=[fee("a", 1001, taxes=(tax,))],
        coupons=[fixed("y", 333, cur="JPY")],
        wallets=[wallet("w", 500, rate="1")],
    )
    # 1001 − 333 = 668 yen; 10 % = 66.8 → 67; 735 − 500 wallet = 235
    assert inv.taxes_amount_cents == 67
    assert inv.wallets[0].credit_amount == Decimal(500)
    assert inv.total_amount_cents == 235


def test_fixed_coupon_in_another_currency_is_skipped() -> None:
    inv = compute_invoice(
        currency=EUR, fees=[fee("a", 1000)], coupons=[fixed("usd", 100, cur="USD")]
    )
    assert inv.coupons == ()
    assert inv.total_amount_cents == 1000


def test_wallets_by_priority_and_applies_to() -> None:
    fees = [
        fee("sub", 10000, fee_type="subscription"),
        fee("api", 5000, metric="api"),
        fee("storage", 2000, metric="storage"),
    ]
    api_only = wallet(
        "api_only", 3000, priority=1, applies_to=AppliesTo(billable_metric_codes=("api",))
    )
    sub_only = wallet(
        "sub_only", 4000, priority=2, applies_to=AppliesTo(fee_types=("subscription",))
    )
    general = wallet("general", 100000, priority=50)
    inv = compute_invoice(currency=EUR, fees=fees, wallets=[general, sub_only, api_only])
    assert [w.wallet_id for w in inv.wallets] == ["api_only", "sub_only", "general"]
    api_w, sub_w, gen_w = inv.wallets
    # api_only pays 3000 of the api group (5000)
    assert api_w.amount_cents == 3000
    assert [(g.fee_type, g.billable_metric_code) for g in api_w.groups] == [("charge", "api")]
    # sub_only pays 4000 of the subscription group (10000)
    assert sub_w.amount_cents == 4000
    # general pays the rest: 6000 + 2000 + 2000 = 10000
    assert gen_w.amount_cents == 10000
    assert gen_w.remaining_balance_cents == 90000
    assert inv.total_amount_cents == 0
    assert inv.payment_status == "succeeded"


def test_restricted_wallet_cannot_pay_other_fees() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[
            fee("sub", 10000, fee_type="subscription", taxes=(VAT,)),
            fee("api", 5000, metric="api"),
        ],
        wallets=[wallet("api_only", 100000, applies_to=AppliesTo(billable_metric_codes=("api",)))],
    )
    # 10000 + 2000 VAT + 5000 = 17000; the wallet pays only the api group 5000
    assert inv.prepaid_credit_amount_cents == 5000
    assert inv.total_amount_cents == 12000


def test_wallet_pays_the_tax_inclusive_amount() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[fee("api", 5000, metric="api", taxes=(VAT,))],
        wallets=[wallet("w", 100000, applies_to=AppliesTo(fee_types=("charge",)))],
    )
    assert inv.prepaid_credit_amount_cents == 6000
    assert inv.total_amount_cents == 0


def test_wallet_running_dry_leaves_the_rest_due() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[fee("a", 1000)],
        wallets=[wallet("small", 700, priority=1), wallet("empty", 0, priority=2)],
    )
    (w,) = inv.wallets
    assert (w.wallet_id, w.amount_cents, w.remaining_balance_cents) == ("small", 700, 0)
    assert inv.total_amount_cents == 300
    assert inv.payment_status == "pending"


def test_wallet_credits_use_the_rate() -> None:
    # 1797 cents at 1 € a credit: 17.97 credits; at 3 €: 5.99 credits
    inv = compute_invoice(
        currency=EUR, fees=[fee("a", 1797)], wallets=[wallet("w", 5000, rate="3")]
    )
    assert inv.wallets[0].credit_amount == Decimal("5.99")


def test_credit_note_is_consumed_by_the_next_invoice() -> None:
    # first invoice: 10000 + 20 % VAT; a credit note on half the fee
    first = compute_invoice(currency=EUR, fees=[fee("f1", 10000, taxes=(VAT,))])
    assert first.total_amount_cents == 12000
    cn = compute_credit_note_amounts(
        fees=[CreditableFee(id="f1", amount_cents=10000, taxes=(VAT,))],
        items=[CreditNoteItemRequest(fee_id="f1", amount_cents=5000)],
    )
    assert cn.total_amount_cents == 6000
    # next invoice: 4000 + 800 VAT = 4800, the 6000 credit pays it all, 1200 stays
    second = compute_invoice(
        currency=EUR,
        fees=[fee("f2", 4000, taxes=(VAT,))],
        credit_note_credits=[
            CreditNoteBalance(id="cn1", balance_amount_cents=cn.total_amount_cents, created_at=T0)
        ],
    )
    (used,) = second.credit_notes
    assert (used.amount_cents, used.remaining_balance_cents) == (4800, 1200)
    assert not used.consumed
    assert second.total_amount_cents == 0
    # the invoice after that takes the remaining 1200
    third = compute_invoice(
        currency=EUR,
        fees=[fee("f3", 2000)],
        credit_note_credits=[
            CreditNoteBalance(
                id="cn1", balance_amount_cents=used.remaining_balance_cents, created_at=T0
            )
        ],
    )
    assert third.credit_notes_amount_cents == 1200
    assert third.total_amount_cents == 800


def test_credit_notes_oldest_first() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[fee("a", 1000)],
        credit_note_credits=[
            CreditNoteBalance(
                id="new", balance_amount_cents=800, created_at=T0 + timedelta(days=1)
            ),
            CreditNoteBalance(id="old", balance_amount_cents=600, created_at=T0),
        ],
    )
    assert [(c.credit_note_id, c.amount_cents) for c in inv.credit_notes] == [
        ("old", 600),
        ("new", 400),
    ]
    assert inv.total_amount_cents == 0


def test_credit_notes_come_before_wallets() -> None:
    inv = compute_invoice(
        currency=EUR,
        fees=[fee("a", 1000)],
        credit_note_credits=[CreditNoteBalance(id="cn", balance_amount_cents=400, created_at=T0)],
        wallets=[wallet("w", 10000)],
    )
    assert inv.credit_notes_amount_cents == 400
    assert inv.prepaid_credit_amount_cents == 600
    assert inv.wallets[0].remaining_balance_cents == 9400


def test_empty_invoice_is_paid() -> None:
    inv = compute_invoice(currency=EUR, fees=[])
    assert inv.total_amount_cents == 0
    assert inv.payment_status == "succeeded"


def test_duplicate_fee_ids_are_rejected() -> None:
    with pytest.raises(ValidationFailed):
        compute_invoice(currency=EUR, fees=[fee("a", 1), fee("a", 2)])


def test_negative_fee_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        fee("a", -1)


def test_apportion_sums_to_the_total() -> None:
    assert apportion(total=201, weights=[Decimal("100.4"), Decimal("100.4")]) == [101, 100]
    assert apportion(total=0, weights=[Decimal(1)]) == [0]
    assert apportion(total=10, weights=[Decimal(0), Decimal(0)]) == [0, 0]
