"""Coupons: which fees a coupon reaches, in what order, how much, and what it consumes.

Lago semantics (lago-semantics.md "Coupons", lago-features.md §13):

* order: coupons limited to billable metrics first, then coupons limited to plans,
  then the others; inside each group by the applied coupon's `created_at` ascending;
* base: an unlimited coupon applies to the invoice's remaining subtotal (every fee's
  `amount_cents − precise_coupons_amount_cents`); a limited coupon to the same sum over
  its eligible fees only;
* percentage: `round(base × rate / 100)` (half up), capped at the base;
  fixed amount: `min(amount_cents or amount_cents_remaining for "once", base)`;
  a base with a fractional cent caps at its whole cents (the credit column is integer);
* the credit is spread over the eligible fees pro rata to their remaining amount into
  `precise_coupons_amount_cents` (5 decimals): each fee's share is computed on its own,
  `credit × remaining / base` rounded half up to 5 places and capped at what is left of
  the fee (Lago's `Fee#compute_precise_credit_amount_cents`, stored as numeric(30,5)).
  No remainder is pushed onto the last fee, so the shares may differ from the credit by
  at most half a 5th-decimal unit per fee;
* consumption: a recurring coupon loses one period per invoice and terminates at 0; a
  `once` percentage coupon terminates after one invoice; a `once` fixed coupon keeps
  `amount_cents_remaining` and terminates when it is exhausted; `forever` never does.
* a fixed-amount coupon in another currency than the invoice is skipped; a coupon with
  no eligible fee is skipped (nothing consumed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum

from meterly.domain.errors import ValidationFailed
from meterly.domain.money import FEE_ROUNDING, ZERO, round_cents

HUNDRED = Decimal(100)
# Fee.precise_coupons_amount_cents is numeric(30,5).
COUPON_PLACES = 5
_COUPON_QUANTUM = Decimal(1).scaleb(-COUPON_PLACES)


class CouponType(StrEnum):
    FIXED_AMOUNT = "fixed_amount"
    PERCENTAGE = "percentage"


class Frequency(StrEnum):
    ONCE = "once"
    RECURRING = "recurring"
    FOREVER = "forever"


class Expiration(StrEnum):
    NO_EXPIRATION = "no_expiration"
    TIME_LIMIT = "time_limit"


class AppliedCouponStatus(StrEnum):
    ACTIVE = "active"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Coupon:
    """A coupon definition."""

    code: str
    name: str
    coupon_type: CouponType
    frequency: Frequency = Frequency.ONCE
    amount_cents: int | None = None
    amount_currency: str | None = None
    percentage_rate: Decimal | None = None
    frequency_duration: int | None = None
    expiration: Expiration = Expiration.NO_EXPIRATION
    expiration_at: datetime | None = None
    reusable: bool = True
    plan_codes: tuple[str, ...] = ()
    billable_metric_codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _validate_terms(
            coupon_type=self.coupon_type,
            frequency=self.frequency,
            amount_cents=self.amount_cents,
            amount_currency=self.amount_currency,
            percentage_rate=self.percentage_rate,
            frequency_duration=self.frequency_duration,
        )
        if self.expiration is Expiration.TIME_LIMIT and self.expiration_at is None:
            raise ValidationFailed.field("expiration_at", "value_is_mandatory")
        if self.plan_codes and self.billable_metric_codes:
            # Lago limits a coupon either to plans or to billable metrics, not both.
            raise ValidationFailed.field("applies_to", "value_is_invalid")

    @property
    def limited_plans(self) -> bool:
        return bool(self.plan_codes)

    @property
    def limited_billable_metrics(self) -> bool:
        return bool(self.billable_metric_codes)

    def is_expired(self, *, at: datetime) -> bool:
        """True once a time-limited coupon's `expiration_at` has passed."""
        return (
            self.expiration is Expiration.TIME_LIMIT
            and self.expiration_at is not None
            and at >= self.expiration_at
        )


@dataclass(frozen=True, slots=True)
class AppliedCoupon:
    """A coupon applied to a customer, with the effective (possibly overridden) terms.

    `amount_cents_remaining` is None until a `once` fixed coupon is first used (then the
    full `amount_cents` is available). `frequency_duration_remaining` counts the billing
    periods left for a recurring coupon.
    """

    id: str
    coupon_code: str
    coupon_type: CouponType
    frequency: Frequency
    created_at: datetime
    amount_cents: int | None = None
    amount_currency: str | None = None
    percentage_rate: Decimal | None = None
    frequency_duration: int | None = None
    frequency_duration_remaining: int | None = None
    amount_cents_remaining: int | None = None
    plan_codes: tuple[str, ...] = ()
    billable_metric_codes: tuple[str, ...] = ()
    status: AppliedCouponStatus = AppliedCouponStatus.ACTIVE

    def __post_init__(self) -> None:
        _validate_terms(
            coupon_type=self.coupon_type,
            frequency=self.frequency,
            amount_cents=self.amount_cents,
            amount_currency=self.amount_currency,
            percentage_rate=self.percentage_rate,
            frequency_duration=self.frequency_duration,
        )
        if self.amount_cents_remaining is not None and self.amount_cents_remaining < 0:
            raise ValidationFailed.field("amount_cents_remaining", "value_is_out_of_range")

    @classmethod
    def from_coupon(
        cls,
        coupon: Coupon,
        *,
        id: str,
        created_at: datetime,
        amount_cents: int | None = None,
        amount_currency: str | None = None,
        percentage_rate: Decimal | None = None,
        frequency: Frequency | None = None,
        frequency_duration: int | None = None,
    ) -> AppliedCoupon:
        """Apply a coupon to a customer; the overrides replace the coupon's terms."""
        freq = frequency or coupon.frequency
        duration = (
            frequency_duration if frequency_duration is not None else coupon.frequency_duration
        )
        return cls(
            id=id,
            coupon_code=coupon.code,
            coupon_type=coupon.coupon_type,
            frequency=freq,
            created_at=created_at,
            amount_cents=amount_cents if amount_cents is not None else coupon.amount_cents,
            amount_currency=amount_currency or coupon.amount_currency,
            percentage_rate=percentage_rate
            if percentage_rate is not None
            else coupon.percentage_rate,
            frequency_duration=duration,
            frequency_duration_remaining=duration if freq is Frequency.RECURRING else None,
            plan_codes=coupon.plan_codes,
            billable_metric_codes=coupon.billable_metric_codes,
        )

    @property
    def limited_plans(self) -> bool:
        return bool(self.plan_codes)

    @property
    def limited_billable_metrics(self) -> bool:
        return bool(self.billable_metric_codes)

    @property
    def remaining_amount_cents(self) -> int:
        """What a fixed coupon can still give on one invoice."""
        if self.frequency is Frequency.ONCE and self.amount_cents_remaining is not None:
            return self.amount_cents_remaining
        return self.amount_cents or 0


def _validate_terms(
    *,
    coupon_type: CouponType,
    frequency: Frequency,
    amount_cents: int | None,
    amount_currency: str | None,
    percentage_rate: Decimal | None,
    frequency_duration: int | None,
) -> None:
    if coupon_type is CouponType.FIXED_AMOUNT:
        if amount_cents is None or isinstance(amount_cents, bool) or amount_cents < 0:
            raise ValidationFailed.field("amount_cents", "value_is_invalid")
        if not amount_currency:
            raise ValidationFailed.field("amount_currency", "value_is_mandatory")
    else:
        if (
            not isinstance(percentage_rate, Decimal)
            or not percentage_rate.is_finite()
            or percentage_rate < 0
        ):
            raise ValidationFailed.field("percentage_rate", "value_is_invalid")
    if frequency is Frequency.RECURRING and (frequency_duration is None or frequency_duration < 1):
        raise ValidationFailed.field("frequency_duration", "value_is_invalid")


@dataclass(frozen=True, slots=True)
class CouponableFee:
    """What a coupon needs to know about a fee."""

    id: str
    fee_type: str
    amount_cents: int
    precise_coupons_amount_cents: Decimal = ZERO
    plan_code: str | None = None
    billable_metric_code: str | None = None

    @property
    def remaining_cents(self) -> Decimal:
        """What is left of the fee after earlier coupons and credits."""
        return max(Decimal(self.amount_cents) - self.precise_coupons_amount_cents, ZERO)


def is_eligible(applied_coupon: AppliedCoupon, fee: CouponableFee) -> bool:
    """A metric-limited coupon reaches charge fees of its metrics; a plan-limited one the
    fees of subscriptions to its plans; an unlimited one every fee."""
    if applied_coupon.limited_billable_metrics:
        return (
            fee.fee_type == "charge"
            and fee.billable_metric_code is not None
            and fee.billable_metric_code in applied_coupon.billable_metric_codes
        )
    if applied_coupon.limited_plans:
        return fee.plan_code is not None and fee.plan_code in applied_coupon.plan_codes
    return True


def order_coupons(coupons: Sequence[AppliedCoupon]) -> tuple[AppliedCoupon, ...]:
    """Metric-limited first, then plan-limited, then the others; each by created_at."""

    def key(c: AppliedCoupon) -> tuple[int, datetime]:
        group = 0 if c.limited_billable_metrics else 1 if c.limited_plans else 2
        return (group, c.created_at)

    return tuple(sorted(coupons, key=key))


def coupon_amount(*, applied_coupon: AppliedCoupon, base_amount_cents: Decimal) -> int:
    """The credit of one coupon on a base (integer minor units, never above the base)."""
    cap = int(max(base_amount_cents, ZERO).to_integral_value(rounding=ROUND_FLOOR))
    if applied_coupon.coupon_type is CouponType.PERCENTAGE:
        rate = applied_coupon.percentage_rate or ZERO
        discounted = base_amount_cents * rate / HUNDRED
        if discounted >= base_amount_cents:
            return cap
        return min(round_cents(discounted, FEE_ROUNDING), cap)
    return max(min(applied_coupon.remaining_amount_cents, cap), 0)


@dataclass(frozen=True, slots=True)
class FeeAllocation:
    """The share of a credit allocated to one fee (5 decimals)."""

    fee_id: str
    precise_amount_cents: Decimal


@dataclass(frozen=True, slots=True)
class CouponConsumption:
    """What applying the coupon to one invoice leaves of it."""

    applied_coupon_id: str
    amount_cents: int
    amount_cents_remaining: int | None
    frequency_duration_remaining: int | None
    terminated: bool


@dataclass(frozen=True, slots=True)
class CouponApplication:
    """One coupon on one invoice: its base, its credit, its spread and its consumption."""

    applied_coupon: AppliedCoupon
    base_amount_cents: Decimal
    amount_cents: int
    allocations: tuple[FeeAllocation, ...]
    consumption: CouponConsumption

    @property
    def updated_applied_coupon(self) -> AppliedCoupon:
        """The applied coupon after this invoice."""
        c = self.consumption
        return replace(
            self.applied_coupon,
            amount_cents_remaining=c.amount_cents_remaining,
            frequency_duration_remaining=c.frequency_duration_remaining,
            status=AppliedCouponStatus.TERMINATED if c.terminated else self.applied_coupon.status,
        )


def consume(applied_coupon: AppliedCoupon, amount_cents: int) -> CouponConsumption:
    """The state of the applied coupon after it gave `amount_cents` on one invoice."""
    remaining: int | None = applied_coupon.amount_cents_remaining
    periods = applied_coupon.frequency_duration_remaining
    terminated = False
    if applied_coupon.frequency is Frequency.RECURRING:
        periods = (periods if periods is not None else applied_coupon.frequency_duration or 0) - 1
        terminated = periods <= 0
    elif applied_coupon.frequency is Frequency.ONCE:
        if applied_coupon.coupon_type is CouponType.PERCENTAGE:
            terminated = True
        else:
            before = applied_coupon.remaining_amount_cents
            remaining = before - amount_cents
            terminated = remaining <= 0
    return CouponConsumption(
        applied_coupon_id=applied_coupon.id,
        amount_cents=amount_cents,
        amount_cents_remaining=remaining,
        frequency_duration_remaining=periods,
        terminated=terminated,
    )


def apply_coupon(
    *,
    applied_coupon: AppliedCoupon,
    fees: Sequence[CouponableFee],
    currency_code: str,
) -> CouponApplication | None:
    """Apply one coupon to the fees as they stand (after earlier credits).

    None when the coupon does not apply: terminated, another currency, or no eligible fee.
    """
    if applied_coupon.status is AppliedCouponStatus.TERMINATED:
        return None
    if (
        applied_coupon.coupon_type is CouponType.FIXED_AMOUNT
        and (applied_coupon.amount_currency or "").upper() != currency_code.upper()
    ):
        return None
    eligible = [f for f in fees if is_eligible(applied_coupon, f)]
    if not eligible:
        return None
    base = sum((f.remaining_cents for f in eligible), ZERO)
    amount = coupon_amount(applied_coupon=applied_coupon, base_amount_cents=base)
    shares = coupon_shares(amount=Decimal(amount), weights=[f.remaining_cents for f in eligible])
    return CouponApplication(
        applied_coupon=applied_coupon,
        base_amount_cents=base,
        amount_cents=amount,
        allocations=tuple(
            FeeAllocation(fee_id=f.id, precise_amount_cents=s)
            for f, s in zip(eligible, shares, strict=True)
        ),
        consumption=consume(applied_coupon, amount),
    )


def coupon_shares(
    *, amount: Decimal, weights: Sequence[Decimal], places: int = COUPON_PLACES
) -> list[Decimal]:
    """Each weight's share of `amount`, computed independently: `amount × weight / Σ
    weights`, rounded half up to `places` (the column's scale) and capped at the weight.

    Lago computes every fee's coupon share on its own, so two equal fees always get the
    same share; the shares need not sum exactly to `amount` (each is off by at most half a
    unit of the last place).
    """
    quantum = Decimal(1).scaleb(-places)
    positive = [max(w, ZERO) for w in weights]
    total_weight = sum(positive, ZERO)
    if total_weight <= 0 or amount <= 0:
        return [ZERO] * len(positive)
    left = min(amount, total_weight)
    return [
        min((left * w / total_weight).quantize(quantum, rounding=ROUND_HALF_UP), w)
        for w in positive
    ]


def allocate_pro_rata(
    *, amount: Decimal, weights: Sequence[Decimal], places: int = COUPON_PLACES
) -> list[Decimal]:
    """Spread `amount` over `weights` pro rata, each share rounded down to `places`.

    Each share is at most its weight and the shares sum exactly to `amount` (which is
    first capped at the sum of the weights, themselves truncated to `places`). The last
    positive weight takes the remainder, and any residue is given to whichever weight
    still has room.
    """
    quantum = Decimal(1).scaleb(-places)
    caps = [max(w, ZERO).quantize(quantum, rounding=ROUND_DOWN) for w in weights]
    total_weight = sum(caps, ZERO)
    left = min(max(amount, ZERO), total_weight)
    shares = [ZERO] * len(caps)
    weight_left = total_weight
    positive = [i for i, c in enumerate(caps) if c > 0]
    for n, i in enumerate(positive):
        if n == len(positive) - 1:
            share = min(left, caps[i])
        else:
            share = (left * caps[i] / weight_left).quantize(quantum, rounding=ROUND_DOWN)
            share = min(share, caps[i])
        shares[i] = share
        left -= share
        weight_left -= caps[i]
    for i in positive:
        if left <= 0:
            break
        room = caps[i] - shares[i]
        extra = min(room, left)
        shares[i] += extra
        left -= extra
    return shares
