"""Wallet rules: conversions, ledger balance, ongoing balance, top-up rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from meterly.domain.errors import ValidationFailed
from meterly.domain.money import currency
from meterly.domain.wallets import (
    AppliesTo,
    TopUpInterval,
    TopUpMethod,
    TransactionKind,
    TransactionStatus,
    TransactionType,
    WalletBalance,
    WalletTransaction,
    application_order,
    cents_to_credits,
    consumed_credits,
    credits_to_cents,
    interval_top_up_due,
    ledger_balance,
    ongoing_balance,
    threshold_top_up,
)

EUR = currency("EUR")
JPY = currency("JPY")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def tx(
    kind: TransactionKind, credits: str, status: TransactionStatus = TransactionStatus.SETTLED
) -> WalletTransaction:
    inbound = kind in (TransactionKind.PURCHASED, TransactionKind.GRANTED)
    return WalletTransaction(
        id=f"{kind}-{credits}",
        transaction_type=TransactionType.INBOUND if inbound else TransactionType.OUTBOUND,
        status=status,
        transaction_status=kind,
        credit_amount=Decimal(credits),
    )


def test_credits_times_rate_is_money() -> None:
    assert credits_to_cents(credits=Decimal("10"), rate_amount=Decimal("1.5"), currency=EUR) == 1500


def test_money_to_credits_rounds_to_currency_precision() -> None:
    # 1797 cents / 1 = 17.97 ; 5391 / 3 = 17.97 ; 1000 / 3 = 3.333… → 3.33
    assert cents_to_credits(cents=1797, rate_amount=Decimal(1), currency=EUR) == Decimal("17.97")
    assert cents_to_credits(cents=1000, rate_amount=Decimal(3), currency=EUR) == Decimal("3.33")
    # 17.9699999 credits' worth → 17.97
    assert Decimal("17.9699999").quantize(EUR.quantum) == Decimal("17.97")


def test_jpy_cents_are_credits() -> None:
    # "5000 cents is 50 credits in EUR but 5000 in JPY"
    assert cents_to_credits(cents=5000, rate_amount=Decimal(1), currency=EUR) == Decimal(50)
    assert cents_to_credits(cents=5000, rate_amount=Decimal(1), currency=JPY) == Decimal(5000)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValidationFailed):
        cents_to_credits(cents=1, rate_amount=Decimal(0), currency=EUR)


def test_priority_bounds() -> None:
    for bad in (0, 51):
        with pytest.raises(ValidationFailed):
            WalletBalance(
                id="w", balance_cents=0, rate_amount=Decimal(1), created_at=T0, priority=bad
            )
    assert (
        WalletBalance(id="w", balance_cents=0, rate_amount=Decimal(1), created_at=T0).priority == 50
    )


def test_application_order() -> None:
    a = WalletBalance(
        id="a", balance_cents=1, rate_amount=Decimal(1), created_at=T0.replace(day=2), priority=5
    )
    b = WalletBalance(id="b", balance_cents=1, rate_amount=Decimal(1), created_at=T0, priority=5)
    c = WalletBalance(id="c", balance_cents=1, rate_amount=Decimal(1), created_at=T0, priority=1)
    assert [w.id for w in application_order([a, b, c])] == ["c", "b", "a"]


def test_applies_to() -> None:
    assert AppliesTo().allows(fee_type="add_on")
    limited = AppliesTo(fee_types=("subscription",), billable_metric_codes=("api",))
    assert limited.allows(fee_type="subscription")
    assert limited.allows(fee_type="charge", billable_metric_code="api")
    assert not limited.allows(fee_type="charge", billable_metric_code="storage")
    assert not limited.allows(fee_type="add_on")


def test_balance_is_the_sum_of_the_ledger() -> None:
    ledger = [
        tx(TransactionKind.PURCHASED, "100"),
        tx(TransactionKind.GRANTED, "20"),
        tx(TransactionKind.INVOICED, "35.5"),
        tx(TransactionKind.VOIDED, "4.5"),
        tx(TransactionKind.PURCHASED, "1000", TransactionStatus.PENDING),
        tx(TransactionKind.PURCHASED, "1000", TransactionStatus.FAILED),
    ]
    bal = ledger_balance(transactions=ledger, rate_amount=Decimal("2"), currency=EUR)
    # 100 + 20 − 35.5 − 4.5 = 80 credits = 160.00 €
    assert bal.credits == Decimal(80)
    assert bal.cents == 16000
    assert consumed_credits(ledger) == Decimal("35.5")


def test_ongoing_balance_subtracts_tax_inclusive_usage() -> None:
    ob = ongoing_balance(
        balance_cents=10000, current_usage_amount_cents=12000, rate_amount=Decimal(1), currency=EUR
    )
    assert ob.ongoing_balance_cents == -2000
    assert ob.credits_ongoing_balance == Decimal("-20.00")
    assert ob.credits_ongoing_usage_balance == Decimal("120.00")


def test_threshold_fixed_top_up() -> None:
    top = threshold_top_up(
        ongoing_balance_credits=Decimal(10),
        threshold_credits=Decimal(10),
        method=TopUpMethod.FIXED,
        paid=Decimal(50),
        granted=Decimal(5),
    )
    assert top is not None
    assert (top.paid_credits, top.granted_credits, top.total_credits) == (
        Decimal(50),
        Decimal(5),
        Decimal(55),
    )


def test_threshold_not_reached() -> None:
    assert (
        threshold_top_up(
            ongoing_balance_credits=Decimal("10.01"),
            threshold_credits=Decimal(10),
            method=TopUpMethod.FIXED,
            paid=Decimal(50),
        )
        is None
    )


def test_threshold_target_tops_up_the_gap() -> None:
    top = threshold_top_up(
        ongoing_balance_credits=Decimal(-5),
        threshold_credits=Decimal(0),
        method=TopUpMethod.TARGET,
        target=Decimal(100),
    )
    assert top is not None and top.paid_credits == Decimal(105)
    granted = threshold_top_up(
        ongoing_balance_credits=Decimal(0),
        threshold_credits=Decimal(0),
        method=TopUpMethod.TARGET,
        target=Decimal(100),
        grants_target_top_up=True,
    )
    assert granted is not None and granted.granted_credits == Decimal(100)


def test_threshold_with_pending_top_up_waits() -> None:
    assert (
        threshold_top_up(
            ongoing_balance_credits=Decimal(0),
            threshold_credits=Decimal(10),
            method=TopUpMethod.FIXED,
            paid=Decimal(1),
            pending_top_up=True,
        )
        is None
    )


def test_target_requires_a_target() -> None:
    with pytest.raises(ValidationFailed):
        threshold_top_up(
            ongoing_balance_credits=Decimal(0),
            threshold_credits=Decimal(1),
            method=TopUpMethod.TARGET,
        )


def test_interval_rules() -> None:
    start = date(2024, 1, 31)  # a Wednesday
    assert not interval_top_up_due(interval=TopUpInterval.WEEKLY, started_on=start, today=start)
    assert interval_top_up_due(
        interval=TopUpInterval.WEEKLY, started_on=start, today=date(2024, 2, 7)
    )
    assert not interval_top_up_due(
        interval=TopUpInterval.WEEKLY, started_on=start, today=date(2024, 2, 8)
    )
    # monthly on the 31st: the last day of shorter months
    assert interval_top_up_due(
        interval=TopUpInterval.MONTHLY, started_on=start, today=date(2024, 2, 29)
    )
    assert not interval_top_up_due(
        interval=TopUpInterval.MONTHLY, started_on=start, today=date(2024, 2, 28)
    )
    assert interval_top_up_due(
        interval=TopUpInterval.QUARTERLY, started_on=start, today=date(2024, 4, 30)
    )
    assert not interval_top_up_due(
        interval=TopUpInterval.QUARTERLY, started_on=start, today=date(2024, 3, 31)
    )
    assert interval_top_up_due(
        interval=TopUpInterval.SEMIANNUAL, started_on=start, today=date(2024, 7, 31)
    )
    assert interval_top_up_due(
        interval=TopUpInterval.YEARLY, started_on=date(2024, 2, 29), today=date(2025, 2, 28)
    )
    assert not interval_top_up_due(
        interval=TopUpInterval.YEARLY, started_on=start, today=date(2024, 12, 31)
    )
