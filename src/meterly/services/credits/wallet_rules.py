"""Recurring transaction rules: the interval and threshold top-ups a wallet asks for, as
sent (`RuleInput`), checked and stored with the wallet; `wallet_top_ups` fires them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.money import ZERO
from meterly.domain.wallets import TopUpInterval, TopUpMethod
from meterly.services.common import new_id
from meterly.services.credits.wallet_terms import ACTIVE
from meterly.store.tables_wallets import RecurringTransactionRule, Wallet


@dataclass(frozen=True, slots=True)
class RuleInput:
    """One recurring transaction rule as sent (`lago_id` names an existing rule)."""

    lago_id: str | None = None
    trigger: str | None = None
    interval: str | None = None
    method: str | None = None
    paid_credits: Decimal | None = None
    granted_credits: Decimal | None = None
    threshold_credits: Decimal | None = None
    target_ongoing_balance: Decimal | None = None
    started_at: datetime | None = None
    expiration_at: datetime | None = None
    grants_target_top_up: bool | None = None
    invoice_requires_successful_payment: bool | None = None
    ignore_paid_top_up_limits: bool | None = None
    transaction_metadata: list[dict[str, Any]] | None = None
    transaction_name: str | None = None


def rules_of(session: Session, wallet: Wallet) -> list[RecurringTransactionRule]:
    return list(
        session.scalars(
            select(RecurringTransactionRule)
            .where(
                RecurringTransactionRule.wallet_id == wallet.id,
                RecurringTransactionRule.status == ACTIVE,
            )
            .order_by(RecurringTransactionRule.position, RecurringTransactionRule.id)
        )
    )


def check_rules(
    errors: dict[str, list[str]],
    rules: Sequence[RuleInput],
    *,
    existing: Mapping[str, RecurringTransactionRule],
) -> list[RuleInput]:
    for rule in rules:
        if not _valid_rule(rule, existing.get(rule.lago_id or "")):
            errors["recurring_transaction_rules"] = ["invalid_recurring_rule"]
            break
    return list(rules)


def _valid_rule(rule: RuleInput, old: RecurringTransactionRule | None) -> bool:
    if rule.lago_id and old is None:
        return False
    trigger = rule.trigger or (old.trigger if old else None)
    method = rule.method or (old.method if old else TopUpMethod.FIXED.value)
    if trigger == "interval":
        interval = rule.interval or (old.interval if old else None)
        if interval not in {i.value for i in TopUpInterval}:
            return False
    elif trigger == "threshold":
        threshold = rule.threshold_credits
        if threshold is None and old is None:
            return False
    else:
        return False
    if method == TopUpMethod.TARGET.value:
        target = rule.target_ongoing_balance
        if target is None and (old is None or old.target_ongoing_balance is None):
            return False
    elif method == TopUpMethod.FIXED.value:
        paid = (
            rule.paid_credits
            if rule.paid_credits is not None
            else (old.paid_credits if old else ZERO)
        )
        granted = (
            rule.granted_credits
            if rule.granted_credits is not None
            else (old.granted_credits if old else ZERO)
        )
        if paid <= 0 and granted <= 0:
            return False
    else:
        return False
    return True


def save_rule(
    session: Session,
    wallet: Wallet,
    rule: RuleInput,
    row: RecurringTransactionRule | None,
    now: datetime,
    position: int,
) -> RecurringTransactionRule:
    if row is None:
        row = RecurringTransactionRule(
            id=new_id(),
            wallet_id=wallet.id,
            status=ACTIVE,
            trigger=rule.trigger or "interval",
            method=TopUpMethod.FIXED.value,
            paid_credits=ZERO,
            granted_credits=ZERO,
            threshold_credits=ZERO,
            grants_target_top_up=False,
            invoice_requires_successful_payment=wallet.invoice_requires_successful_payment,
            ignore_paid_top_up_limits=False,
            transaction_metadata=[],
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    for name in (
        "trigger",
        "interval",
        "method",
        "paid_credits",
        "granted_credits",
        "threshold_credits",
        "target_ongoing_balance",
        "started_at",
        "expiration_at",
        "grants_target_top_up",
        "invoice_requires_successful_payment",
        "ignore_paid_top_up_limits",
        "transaction_metadata",
        "transaction_name",
    ):
        value = getattr(rule, name)
        if value is not None:
            setattr(row, name, value)
    row.position = position
    row.updated_at = now
    session.flush()
    return row
