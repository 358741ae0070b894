"""Coupon rules: amounts, eligibility, order, spread and consumption."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterly.domain.coupons import (
    AppliedCoupon,
    AppliedCouponStatus,
    Coupon,
    CouponableFee,
    CouponType,
    Expiration,
    Frequency,
    allocate_pro_rata,
    apply_coupon,
    consume,
    coupon_amount,
    is_eligible,
    order_coupons,
)
from meterly.domain.errors import ValidationFailed

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def pct(rate: str, **kw: object) -> AppliedCoupon:
    base: dict[str, object] = {
        "id": "c",
        "coupon_code": "c",
        "coupon_type": CouponType.PERCENTAGE,
        "frequency": Frequency.FOREVER,
        "created_at": T0,
        "percentage_rate": Decimal(rate),
    }
    base.update(kw)
    return AppliedCoupon(**base)  # type: ignore[arg-type]


def fixed(cents: int, **kw: object) -> AppliedCoupon:
    base: dict[str, object] = {
        "id": "c",
        "coupon_code": "c",
        "coupon_type": CouponType.FIXED_AMOUNT,
        "frequency": Frequency.ONCE,
        "created_at": T0,
        "amount_cents": cents,
        "amount_currency": "EUR",
    }
    base.update(kw)
    return AppliedCoupon(**base)  # type: ignore[arg-type]


def test_percentage_rounds_half_up() -> None:
    # 1005 × 10 % = 100.5 → 101
    assert coupon_amount(applied_coupon=pct("10"), base_amount_cents=Decimal(1005)) == 101


def test_percentage_is_capped_at_the_base() -> None:
    assert coupon_amount(applied_coupon=pct("150"), base_amount_cents=Decimal(1000)) == 1000


def test_fixed_is_capped_at_the_base() -> None:
    assert coupon_amount(applied_coupon=fixed(5000), base_amount_cents=Decimal(1200)) == 1200


def test_fixed_once_uses_its_remaining_amount() -> None:
    c = fixed(5000, amount_cents_remaining=700)
    assert coupon_amount(applied_coupon=c, base_amount_cents=Decimal(1200)) == 700


def test_fractional_base_caps_at_whole_cents() -> None:
    assert coupon_amount(applied_coupon=fixed(5000), base_amount_cents=Decimal("99.5")) == 99


def test_once_fixed_consumption_keeps_the_remainder() -> None:
    c = consume(fixed(5000), 1200)
    assert (c.amount_cents_remaining, c.terminated) == (3800, False)
    c2 = consume(fixed(5000, amount_cents_remaining=3800), 3800)
    assert (c2.amount_cents_remaining, c2.terminated) == (0, True)


def test_once_percentage_terminates_after_one_invoice() -> None:
    assert consume(pct("10", frequency=Frequency.ONCE), 100).terminated


def test_recurring_counts_down_its_periods() -> None:
    c = pct(
        "10", frequency=Frequency.RECURRING, frequency_duration=3, frequency_duration_remaining=2
    )
    first = consume(c, 10)
    assert (first.frequency_duration_remaining, first.terminated) == (1, False)
    last = consume(pct("10", frequency=Frequency.RECURRING, frequency_duration=3,
                       frequency_duration_remaining=1), 10)  # fmt: skip
    assert (last.frequency_duration_remaining, last.terminated) == (0, True)


def test_forever_never_terminates() -> None:
    assert not consume(pct("10"), 100).terminated


def test_applied_coupon_from_coupon_with_overrides() -> None:
    coupon = Coupon(
        code="spring",
        name="Spring",
        coupon_type=CouponType.PERCENTAGE,
        percentage_rate=Decimal("10"),
        frequency=Frequency.RECURRING,
        frequency_duration=3,
        plan_codes=("p",),
    )
    applied = AppliedCoupon.from_coupon(
        coupon, id="ac", created_at=T0, percentage_rate=Decimal("15"), frequency_duration=6
    )
    assert applied.percentage_rate == Decimal("15")
    assert applied.frequency_duration_remaining == 6
    assert applied.plan_codes == ("p",)


def test_coupon_cannot_be_limited_to_plans_and_metrics() -> None:
    with pytest.raises(ValidationFailed):
        Coupon(
            code="x",
            name="x",
            coupon_type=CouponType.PERCENTAGE,
            percentage_rate=Decimal(1),
            plan_codes=("p",),
            billable_metric_codes=("m",),
        )


def test_fixed_coupon_needs_an_amount_and_a_currency() -> None:
    with pytest.raises(ValidationFailed):
        Coupon(code="x", name="x", coupon_type=CouponType.FIXED_AMOUNT, amount_cents=100)


def test_recurring_needs_a_duration() -> None:
    with pytest.raises(ValidationFailed):
        pct("10", frequency=Frequency.RECURRING)


def test_time_limited_coupon_expires() -> None:
    coupon = Coupon(
        code="x",
        name="x",
        coupon_type=CouponType.PERCENTAGE,
        percentage_rate=Decimal(1),
        expiration=Expiration.TIME_LIMIT,
        expiration_at=T0,
    )
    assert not coupon.is_expired(at=T0 - timedelta(seconds=1))
    assert coupon.is_expired(at=T0)


def test_eligibility() -> None:
    sub = CouponableFee(id="s", fee_type="subscription", amount_cents=1, plan_code="p")
    api = CouponableFee(
        id="a", fee_type="charge", amount_cents=1, plan_code="p", billable_metric_code="api"
    )
    other = CouponableFee(
        id="o", fee_type="charge", amount_cents=1, plan_code="q", billable_metric_code="x"
    )
    metric = pct("1", billable_metric_codes=("api",))
    plan = pct("1", plan_codes=("p",))
    assert [is_eligible(metric, f) for f in (sub, api, other)] == [False, True, False]
    assert [is_eligible(plan, f) for f in (sub, api, other)] == [True, True, False]
    assert all(is_eligible(pct("1"), f) for f in (sub, api, other))


def test_order_metric_then_plan_then_created_at() -> None:
    a = pct("1", id="a", created_at=T0)
    b = pct("1", id="b", created_at=T0 + timedelta(1), plan_codes=("p",))
    c = pct("1", id="c", created_at=T0 + timedelta(2), billable_metric_codes=("m",))
    d = pct("1", id="d", created_at=T0 - timedelta(1), billable_metric_codes=("m",))
    assert [x.id for x in order_coupons([a, b, c, d])] == ["d", "c", "b", "a"]


def test_apply_spreads_pro_rata_and_reports_consumption() -> None:
    fees = [
        CouponableFee(id="x", fee_type="charge", amount_cents=100),
        CouponableFee(id="y", fee_type="charge", amount_cents=200),
    ]
    app = apply_coupon(applied_coupon=fixed(100), fees=fees, currency_code="EUR")
    assert app is not None
    # each share on its own, half up to 5 places: 100 × 100/300 = 33.333333… → 33.33333,
    # 100 × 200/300 = 66.666666… → 66.66667
    assert [a.precise_amount_cents for a in app.allocations] == [
        Decimal("33.33333"),
        Decimal("66.66667"),
    ]
    assert app.updated_applied_coupon.amount_cents_remaining == 0
    assert app.updated_applied_coupon.status is AppliedCouponStatus.TERMINATED


def test_apply_skips_terminated_and_ineligible() -> None:
    fees = [CouponableFee(id="x", fee_type="charge", amount_cents=100)]
    done = fixed(100, status=AppliedCouponStatus.TERMINATED)
    assert apply_coupon(applied_coupon=done, fees=fees, currency_code="EUR") is None
    limited = pct("10", plan_codes=("nope",))
    assert apply_coupon(applied_coupon=limited, fees=fees, currency_code="EUR") is None


def test_allocation_caps_each_share() -> None:
    shares = allocate_pro_rata(
        amount=Decimal(500), weights=[Decimal(100), Decimal(0), Decimal(200)]
    )
    assert shares == [Decimal(100), Decimal(0), Decimal(200)]
