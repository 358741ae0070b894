"""Wallets (prepaid credits): credits and money, balances, limits, top-up rules.

* `credits × rate_amount = money`. Money → credits is rounded to the currency's
  precision, half up (CREDIT_ROUNDING): 17.9699999 → 17.97; credits → money is
  rounded to the minor unit half up.
* A wallet's balance is the sum of its ledger: settled inbound transactions (purchased
  and granted credits) minus settled outbound ones (invoiced consumption and voided
  credits). Pending and failed transactions do not count.
* The ongoing balance is the balance minus the current (draft) usage amount, taxes
  included; it may go below zero (that is when `wallet.depleted_ongoing_balance` fires).
* Priority 1..50, 1 first, 50 by default; wallets are applied by priority, then
  `created_at`. `applies_to` limits a wallet to fee types and/or charge fees of given
  billable metrics; a wallet with no limit pays every fee.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from meterly.domain.errors import ValidationFailed
from meterly.domain.money import CREDIT_ROUNDING, ZERO, Currency, from_minor, round_minor

MIN_PRIORITY = 1
MAX_PRIORITY = 50
DEFAULT_PRIORITY = 50


def validate_rate_amount(rate_amount: Decimal) -> Decimal:
    if not isinstance(rate_amount, Decimal) or not rate_amount.is_finite() or rate_amount <= 0:
        raise ValidationFailed.field("rate_amount", "value_is_invalid")
    return rate_amount


def validate_priority(priority: int) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValidationFailed.field("priority", "value_is_invalid")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValidationFailed.field("priority", "value_is_out_of_range")
    return priority


def credits_to_cents(*, credits: Decimal, rate_amount: Decimal, currency: Currency) -> int:
    """Credits → integer minor units: `credits × rate_amount`, rounded half up."""
    return round_minor(credits * validate_rate_amount(rate_amount), currency, CREDIT_ROUNDING)


def cents_to_credits(*, cents: int, rate_amount: Decimal, currency: Currency) -> Decimal:
    """Minor units → credits, rounded to the currency precision half up (17.9699 → 17.97)."""
    credits = from_minor(cents, currency) / validate_rate_amount(rate_amount)
    return credits.quantize(currency.quantum, rounding=CREDIT_ROUNDING)


@dataclass(frozen=True, slots=True)
class AppliesTo:
    """A wallet's limits: fee types and billable metric codes (empty: no limit)."""

    fee_types: tuple[str, ...] = ()
    billable_metric_codes: tuple[str, ...] = ()

    @property
    def unrestricted(self) -> bool:
        return not self.fee_types and not self.billable_metric_codes

    def allows(self, *, fee_type: str, billable_metric_code: str | None = None) -> bool:
        """A fee is payable if its type is listed, or it is a charge of a listed metric."""
        if self.unrestricted:
            return True
        if fee_type in self.fee_types:
            return True
        return (
            fee_type == "charge"
            and billable_metric_code is not None
            and billable_metric_code in self.billable_metric_codes
        )


@dataclass(frozen=True, slots=True)
class WalletBalance:
    """What the invoice waterfall needs of an active wallet."""

    id: str
    balance_cents: int
    rate_amount: Decimal
    created_at: datetime
    priority: int = DEFAULT_PRIORITY
    applies_to: AppliesTo = field(default_factory=AppliesTo)
    code: str | None = None
    # The balance in credits (the ledger's sum). When given, a consumption never takes
    # more credits than this, and draining the wallet takes exactly this.
    credits_balance: Decimal | None = None

    def __post_init__(self) -> None:
        validate_rate_amount(self.rate_amount)
        validate_priority(self.priority)
        if self.balance_cents < 0:
            raise ValidationFailed.field("balance_cents", "value_is_out_of_range")
        if self.credits_balance is not None and self.credits_balance < 0:
            raise ValidationFailed.field("credits_balance", "value_is_out_of_range")

    def credits_for(self, *, cents: int, currency: Currency) -> Decimal:
        """Credits taken from this wallet for a consumption of `cents`."""
        credits = cents_to_credits(cents=cents, rate_amount=self.rate_amount, currency=currency)
        if self.credits_balance is None:
            return credits
        if cents >= self.balance_cents:
            return self.credits_balance
        return min(credits, self.credits_balance)


def application_order(wallets: Sequence[WalletBalance]) -> tuple[WalletBalance, ...]:
    """Priority ascending (1 first), then created_at ascending."""
    return tuple(sorted(wallets, key=lambda w: (w.priority, w.created_at)))


class TransactionType(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class TransactionStatus(StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    FAILED = "failed"


class TransactionKind(StrEnum):
    """Lago's `transaction_status`."""

    PURCHASED = "purchased"
    GRANTED = "granted"
    VOIDED = "voided"
    INVOICED = "invoiced"


@dataclass(frozen=True, slots=True)
class WalletTransaction:
    """One ledger line, in credits (money = credits × rate_amount)."""

    id: str
    transaction_type: TransactionType
    status: TransactionStatus
    transaction_status: TransactionKind
    credit_amount: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.credit_amount, Decimal) or self.credit_amount < 0:
            raise ValidationFailed.field("credit_amount", "value_is_invalid")

    @property
    def signed_credits(self) -> Decimal:
        """The transaction's effect on the balance (0 unless settled)."""
        if self.status is not TransactionStatus.SETTLED:
            return ZERO
        if self.transaction_type is TransactionType.INBOUND:
            return self.credit_amount
        return -self.credit_amount


def ledger_balance_credits(transactions: Sequence[WalletTransaction]) -> Decimal:
    """The credits balance: Σ settled inbound − Σ settled outbound."""
    return sum((t.signed_credits for t in transactions), ZERO)


def consumed_credits(transactions: Sequence[WalletTransaction]) -> Decimal:
    """Credits spent on invoices (settled outbound `invoiced`)."""
    return sum(
        (
            t.credit_amount
            for t in transactions
            if t.status is TransactionStatus.SETTLED
            and t.transaction_type is TransactionType.OUTBOUND
            and t.transaction_status is TransactionKind.INVOICED
        ),
        ZERO,
    )


@dataclass(frozen=True, slots=True)
class Balance:
    credits: Decimal
    cents: int


def ledger_balance(
    *, transactions: Sequence[WalletTransaction], rate_amount: Decimal, currency: Currency
) -> Balance:
    credits = ledger_balance_credits(transactions)
    return Balance(
        credits=credits,
        cents=credits_to_cents(credits=credits, rate_amount=rate_amount, currency=currency),
    )


@dataclass(frozen=True, slots=True)
class OngoingBalance:
    ongoing_balance_cents: int
    credits_ongoing_balance: Decimal
    ongoing_usage_balance_cents: int
    credits_ongoing_usage_balance: Decimal


def ongoing_balance(
    *,
    balance_cents: int,
    current_usage_amount_cents: int,
    rate_amount: Decimal,
    currency: Currency,
) -> OngoingBalance:
    """Balance minus the current usage (tax-inclusive amount of the draft fees)."""
    usage = max(current_usage_amount_cents, 0)
    ongoing = balance_cents - usage
    return OngoingBalance(
        ongoing_balance_cents=ongoing,
        credits_ongoing_balance=_signed_credits(ongoing, rate_amount, currency),
        ongoing_usage_balance_cents=usage,
        credits_ongoing_usage_balance=cents_to_credits(
            cents=usage, rate_amount=rate_amount, currency=currency
        ),
    )


def _signed_credits(cents: int, rate_amount: Decimal, currency: Currency) -> Decimal:
    magnitude = cents_to_credits(cents=abs(cents), rate_amount=rate_amount, currency=currency)
    return -magnitude if cents < 0 else magnitude


class TopUpMethod(StrEnum):
    FIXED = "fixed"
    TARGET = "target"


class TopUpInterval(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    YEARLY = "yearly"


@dataclass(frozen=True, slots=True)
class TopUp:
    """Credits a recurring rule adds: paid ones (invoiced) and granted ones (free)."""

    paid_credits: Decimal
    granted_credits: Decimal

    @property
    def total_credits(self) -> Decimal:
        return self.paid_credits + self.granted_credits


def top_up_amount(
    *,
    ongoing_balance_credits: Decimal,
    method: TopUpMethod,
    paid: Decimal = ZERO,
    granted: Decimal = ZERO,
    target: Decimal | None = None,
    grants_target_top_up: bool = False,
) -> TopUp | None:
    """What a triggered rule adds: fixed paid/granted, or the gap up to the target."""
    if method is TopUpMethod.FIXED:
        if paid <= 0 and granted <= 0:
            return None
        return TopUp(paid_credits=max(paid, ZERO), granted_credits=max(granted, ZERO))
    if target is None:
        raise ValidationFailed.field("target_ongoing_balance", "value_is_mandatory")
    gap = target - ongoing_balance_credits
    if gap <= 0:
        return None
    if grants_target_top_up:
        return TopUp(paid_credits=ZERO, granted_credits=gap)
    return TopUp(paid_credits=gap, granted_credits=ZERO)


def threshold_top_up(
    *,
    ongoing_balance_credits: Decimal,
    threshold_credits: Decimal,
    method: TopUpMethod,
    paid: Decimal = ZERO,
    granted: Decimal = ZERO,
    target: Decimal | None = None,
    grants_target_top_up: bool = False,
    pending_top_up: bool = False,
) -> TopUp | None:
    """A threshold rule fires when the ongoing balance is at or below the threshold.

    None when it does not fire, when a top-up is already pending, or when there is
    nothing to add (a target already reached).
    """
    if pending_top_up or ongoing_balance_credits > threshold_credits:
        return None
    return top_up_amount(
        ongoing_balance_credits=ongoing_balance_credits,
        method=method,
        paid=paid,
        granted=granted,
        target=target,
        grants_target_top_up=grants_target_top_up,
    )


_MONTHS = {
    TopUpInterval.MONTHLY: 1,
    TopUpInterval.QUARTERLY: 3,
    TopUpInterval.SEMIANNUAL: 6,
    TopUpInterval.YEARLY: 12,
}


def interval_top_up_due(*, interval: TopUpInterval, started_on: date, today: date) -> bool:
    """Is an interval rule due `today`? Never on its start day, never before it.

    Weekly: the start's weekday. Monthly/quarterly/semiannual/yearly: the start's day
    of month every 1/3/6/12 months; when the month is shorter than that day, its last day.
    """
    if today <= started_on:
        return False
    if interval is TopUpInterval.WEEKLY:
        return today.weekday() == started_on.weekday()
    months = (today.year - started_on.year) * 12 + (today.month - started_on.month)
    if months % _MONTHS[interval] != 0:
        return False
    last_day = calendar.monthrange(today.year, today.month)[1]
    return today.day == min(started_on.day, last_day)
