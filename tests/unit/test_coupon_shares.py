"""Coupon shares: each fee's `precise_coupons_amount_cents` is computed on its own
(`credit × fee remaining / base`, half up to 5 places), no remainder on the last fee."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.coupons import (
    AppliedCoupon,
    CouponableFee,
    CouponType,
    Frequency,
    apply_coupon,
    coupon_shares,
)
from meterly.domain.invoicing import FeeLine, compute_invoice
from meterly.domain.money import currency
from meterly.domain.taxes import Tax

EUR = currency("EUR")
T0 = datetime(2023, 8, 29, tzinfo=UTC)
TEN = Tax(code="vat", name="VAT", rate=Decimal("10"))


def fixed(id: str, cents: int, *, minutes: int = 0) -> AppliedCoupon:
    return AppliedCoupon(
        id=id,
        coupon_code="c",
        coupon_type=CouponType.FIXED_AMOUNT,
        frequency=Frequency.FOREVER,
        created_at=T0 + timedelta(minutes=minutes),
        amount_cents=cents,
        amount_currency="EUR",
    )


def test_three_equal_fees_get_equal_shares() -> None:
    fees = [CouponableFee(id=i, fee_type="charge", amount_cents=100) for i in "abc"]
    app = apply_coupon(applied_coupon=fixed("c", 100), fees=fees, currency_code="EUR")
    assert app is not None
    # 100 × 100/300 = 33.333333… → 33.33333 for each fee; the remainder rule would have
    # given the last one 100 − 2 × 33.33333 = 33.33334
    assert [a.precise_amount_cents for a in app.allocations] == [Decimal("33.33333")] * 3


def test_a_share_rounds_half_up_on_its_own() -> None:
    # 1 × 1/8 = 0.125 and 1 × 7/8 = 0.875 are exact; 2 × 1/3 = 0.666666… → 0.66667 and
    # 2 × 2/3 = 1.333333… → 1.33333 (together 1.99999, nothing pushed onto the last)
    assert coupon_shares(amount=Decimal(1), weights=[Decimal(1), Decimal(7)]) == [
        Decimal("0.125"),
        Decimal("0.875"),
    ]
    assert coupon_shares(amount=Decimal(2), weights=[Decimal(1), Decimal(2)]) == [
        Decimal("0.66667"),
        Decimal("1.33333"),
    ]


def test_lago_scenario_two_fixed_coupons_over_six_fees() -> None:
    """Lago's "applying multiple times the same coupon" credit-note scenario: a plan of
    1999 with five charges (99290, 299770, 3130, 6460, 3130), two fixed 10.00 coupons."""
    amounts = [99290, 299770, 3130, 6460, 3130, 1999]
    fees = [
        FeeLine(
            id=f"f{n}",
            fee_type="charge",
            amount_cents=a,
            precise_amount_cents=Decimal(a),
            taxes=(TEN,),
        )
        for n, a in enumerate(amounts)
    ]
    inv = compute_invoice(
        currency=EUR, fees=fees, coupons=[fixed("one", 1000), fixed("two", 1000, minutes=1)]
    )
    # fees: 99290 + 299770 + 3130 + 6460 + 3130 + 1999 = 413779
    assert inv.fees_amount_cents == 413779
    # coupon one, base 413779: 1000 × 99290/413779 = 239.959011… → 239.95901,
    # 1000 × 299770/413779 = 724.468858… → 724.46886, 1000 × 3130/413779 = 7.564424… →
    # 7.56442, 1000 × 6460/413779 = 15.612198… → 15.61220, 1000 × 1999/413779 =
    # 4.831081… → 4.83108 (sum 999.99999). Coupon two, on what is left (413779 − 999.99999
    # = 412779.00001): every fee keeps its proportion, so it gives the same shares again.
    # Each fee: twice its share (Lago's figures: 479.91802, 1448.93772, 15.12884, 31.2244,
    # 15.12884, 9.66216)
    assert [f.precise_coupons_amount_cents for f in inv.fees] == [
        Decimal("479.91802"),
        Decimal("1448.93772"),
        Decimal("15.12884"),
        Decimal("31.22440"),
        Decimal("15.12884"),
        Decimal("9.66216"),
    ]
    # coupons 1000 + 1000 = 2000; taxes 10 % of 413779 − 1999.99998 = 411779.00002 →
    # 41177.900002 → 41178; total 413779 − 2000 + 41178 = 452957 (Lago: 452_957)
    assert inv.coupons_amount_cents == 2000
    assert inv.taxes_amount_cents == 41178
    assert inv.total_amount_cents == 452957


weights = st.lists(st.decimals(min_value=0, max_value=10_000_000, places=5), max_size=8)


@settings(max_examples=300, deadline=None)
@given(weights, st.integers(0, 20_000_000))
def test_each_share_is_its_own_rounded_proportion(ws: list[Decimal], amount: int) -> None:
    shares = coupon_shares(amount=Decimal(amount), weights=ws)
    total = sum(ws, Decimal(0))
    credit = min(Decimal(amount), total)
    assert len(shares) == len(ws)
    for share, w in zip(shares, ws, strict=True):
        assert Decimal(0) <= share <= w
        assert share == share.quantize(Decimal("0.00001"))
        # within half a unit of the 5th decimal of the exact proportion
        exact = credit * w / total if total > 0 else Decimal(0)
        assert abs(share - exact) <= Decimal("0.000005")
    # equal weights always get equal shares (no fee takes a remainder)
    for a, b in zip(ws, shares, strict=True):
        for c, d in zip(ws, shares, strict=True):
            if a == c:
                assert b == d
