"""May this customer use feature X now? One answer from the entitlement, the period's
usage against the feature's usage limits, and (when asked) the prepaid balance.

Usage comes from `metering`'s current usage, which reads through the usage cache: a check
right after another one costs a cache look-up, not an aggregation (bench/entitlements.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.entitlements import (
    Decision,
    LimitUse,
    Refusal,
    ResolvedPrivilege,
    decide,
)
from meterly.domain.errors import NotFound
from meterly.services.entitlements.features import as_privilege
from meterly.services.entitlements.grants import SubscriptionGrant, subscription_grants
from meterly.services.metering import usage
from meterly.store.tables import Subscription, Wallet


@dataclass(frozen=True, slots=True)
class AccessCheck:
    external_subscription_id: str
    feature_code: str
    decision: Decision
    privileges: list[ResolvedPrivilege]
    limits: list[LimitUse]
    prepaid_balance_cents: int | None
    checked_at: datetime


def check(
    session: Session,
    *,
    organization_id: str,
    external_subscription_id: str,
    feature_code: str,
    at: datetime,
    require_prepaid_balance: bool = False,
) -> AccessCheck:
    subs = list(
        session.scalars(
            select(Subscription).where(
                Subscription.organization_id == organization_id,
                Subscription.external_id == external_subscription_id,
            )
        )
    )
    if not subs:
        raise NotFound("subscription")
    sub = next((s for s in subs if s.status == "active"), None)
    if sub is None:
        return AccessCheck(
            external_subscription_id,
            feature_code,
            Decision(False, Refusal.NO_ACTIVE_SUBSCRIPTION),
            [],
            [],
            None,
            at,
        )
    grant = next(
        (g for g in subscription_grants(session, sub) if g.feature.code == feature_code), None
    )
    privileges = grant.resolved if grant else []
    limits = _limits(session, sub, grant, at=at) if grant else []
    balance = _prepaid_balance(session, sub) if require_prepaid_balance else None
    decision = decide(
        entitled=grant is not None,
        privileges=privileges,
        limits=limits,
        prepaid_balance_cents=balance,
    )
    return AccessCheck(
        external_subscription_id, feature_code, decision, privileges, limits, balance, at
    )


def _limits(
    session: Session, sub: Subscription, grant: SubscriptionGrant, *, at: datetime
) -> list[LimitUse]:
    values = {p.code: p.value for p in grant.resolved}
    found = []
    for row in grant.privileges:
        privilege = as_privilege(row)
        limit = values.get(privilege.code)
        if privilege.billable_metric_code is None or not isinstance(limit, int):
            continue
        found.append(
            LimitUse(
                privilege.code,
                privilege.billable_metric_code,
                limit,
                _units(session, sub, privilege.billable_metric_code, at=at),
            )
        )
    return found


def _units(
    session: Session, sub: Subscription, metric_code: str, *, at: datetime
) -> Decimal | None:
    """The metric's units in the subscription's current period; None when its plan does
    not charge the metric (Meterly meters usage per charge)."""
    try:
        period, _ = usage.current_usage(
            session,
            organization_id=sub.organization_id,
            external_customer_id=sub.customer.external_id,
            external_subscription_id=sub.external_id,
            at=at,
            apply_taxes=False,
            billable_metric_code=metric_code,
        )
    except NotFound:
        return None
    return sum((charge.units for charge in period.charges), Decimal(0))


def _prepaid_balance(session: Session, sub: Subscription) -> int:
    """What the customer's active wallets still hold, after the usage not yet invoiced."""
    total = session.scalar(
        select(func.coalesce(func.sum(Wallet.ongoing_balance_cents), 0)).where(
            Wallet.customer_id == sub.customer_id, Wallet.status == "active"
        )
    )
    return int(total or 0)
