"""What plans grant and what subscriptions override (Lago's plan and subscription
entitlements), and the resolved entitlements of a subscription."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.entitlements import PrivilegeValue, ResolvedPrivilege, coerce, resolve
from meterly.domain.errors import NotFound, ValidationFailed
from meterly.services.common import Clock, new_id
from meterly.services.entitlements.features import as_privilege, privileges_of
from meterly.store.tables import (
    Feature,
    FeaturePrivilege,
    Plan,
    PlanEntitlement,
    Subscription,
    SubscriptionEntitlement,
)

# {feature_code: {privilege_code: value}}, as Lago's EntitlementUpdateInput.
Requested = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Grant:
    """A feature with the privilege values a plan gives it."""

    feature: Feature
    privileges: list[FeaturePrivilege]
    values: dict[str, PrivilegeValue]


@dataclass(frozen=True, slots=True)
class SubscriptionGrant:
    """A feature a subscription has, each privilege with its plan and override values."""

    feature: Feature
    privileges: list[FeaturePrivilege]
    resolved: list[ResolvedPrivilege]
    overrides: dict[str, PrivilegeValue]


def granting_plan_id(plan: Plan) -> str:
    """A subscription's overridden plan is a hidden child: its parent's grants apply."""
    return plan.parent_id or plan.id


def plan_grants(session: Session, plan: Plan) -> list[Grant]:
    rows = session.execute(
        select(PlanEntitlement, Feature)
        .join(Feature, Feature.id == PlanEntitlement.feature_id)
        .where(PlanEntitlement.plan_id == granting_plan_id(plan))
        .order_by(Feature.code)
    ).all()
    privileges = privileges_of(session, [feature.id for _, feature in rows])
    return [
        Grant(feature, privileges[feature.id], dict(grant.privilege_values or {}))
        for grant, feature in rows
    ]


def plan_grant(session: Session, plan: Plan, feature_code: str) -> Grant:
    for grant in plan_grants(session, plan):
        if grant.feature.code == feature_code:
            return grant
    raise NotFound("entitlement")


def set_plan_grants(
    session: Session, *, plan: Plan, requested: Requested, replace: bool, clock: Clock
) -> None:
    """POST replaces the plan's entitlements with the ones sent; PATCH changes only the
    features sent, and in them only the privileges sent."""
    checked = _checked(session, plan.organization_id, requested)
    current = {
        row.feature_id: row
        for row in session.scalars(
            select(PlanEntitlement).where(PlanEntitlement.plan_id == plan.id)
        )
    }
    now = clock.now()
    if replace:
        kept = {f.id for f, _ in checked}
        for feature_id, stale in current.items():
            if feature_id not in kept:
                session.delete(stale)
    for feature, values in checked:
        row = current.get(feature.id)
        if row is None:
            session.add(
                PlanEntitlement(
                    id=new_id(),
                    organization_id=plan.organization_id,
                    plan_id=plan.id,
                    feature_id=feature.id,
                    privilege_values=values,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            row.privilege_values = values if replace else {**row.privilege_values, **values}
            row.updated_at = now
    session.flush()


def remove_plan_grant(session: Session, *, plan: Plan, feature_code: str) -> Grant:
    grant = plan_grant(session, plan, feature_code)
    row = _plan_row(session, plan, grant.feature)
    session.delete(row)
    session.flush()
    return grant


def remove_plan_privilege(
    session: Session, *, plan: Plan, feature_code: str, privilege_code: str, clock: Clock
) -> Grant:
    grant = plan_grant(session, plan, feature_code)
    if privilege_code not in grant.values:
        raise NotFound("privilege")
    row = _plan_row(session, plan, grant.feature)
    values = dict(row.privilege_values)
    del values[privilege_code]
    row.privilege_values = values
    row.updated_at = clock.now()
    session.flush()
    return plan_grant(session, plan, feature_code)


# --- subscriptions ---------------------------------------------------------------------


def subscription_grants(session: Session, sub: Subscription) -> list[SubscriptionGrant]:
    """The features the subscription has: its plan's, less the ones it removed, plus its
    own, each privilege resolved (override, else the plan's value)."""
    plan_values = {g.feature.id: g for g in plan_grants(session, sub.plan)}
    overrides = {
        row.feature_id: row
        for row in session.scalars(
            select(SubscriptionEntitlement).where(SubscriptionEntitlement.subscription_id == sub.id)
        )
    }
    features: dict[str, Feature] = {g.feature.id: g.feature for g in plan_values.values()}
    missing = [fid for fid in overrides if fid not in features]
    if missing:
        features.update(
            {f.id: f for f in session.scalars(select(Feature).where(Feature.id.in_(missing)))}
        )
    privileges = privileges_of(session, list(features))
    granted = []
    for feature in sorted(features.values(), key=lambda f: f.code):
        override = overrides.get(feature.id)
        if override is not None and override.removed:
            continue
        plan_grant_ = plan_values.get(feature.id)
        own = dict(override.privilege_values or {}) if override is not None else {}
        rows = privileges[feature.id]
        resolved = resolve(
            [as_privilege(p) for p in rows], plan_grant_.values if plan_grant_ else {}, own
        )
        granted.append(SubscriptionGrant(feature, rows, resolved, own))
    return granted


def patch_subscription(
    session: Session, *, sub: Subscription, requested: Requested, clock: Clock
) -> None:
    """Override the sent privileges of the sent features (a removed feature comes back)."""
    checked = _checked(session, sub.organization_id, requested)
    now = clock.now()
    for feature, values in checked:
        row = _subscription_row(session, sub, feature)
        if row is None:
            session.add(
                SubscriptionEntitlement(
                    id=new_id(),
                    organization_id=sub.organization_id,
                    subscription_id=sub.id,
                    feature_id=feature.id,
                    privilege_values=values,
                    removed=False,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            row.privilege_values = {**(row.privilege_values or {}), **values}
            row.removed = False
            row.updated_at = now
    session.flush()


def remove_from_subscription(
    session: Session, *, sub: Subscription, feature_code: str, clock: Clock
) -> SubscriptionGrant:
    """The subscription no longer has the feature: a feature its plan grants is marked
    removed (the plan keeps granting it to others); its own feature is simply dropped."""
    grant = _subscription_grant(session, sub, feature_code)
    row = _subscription_row(session, sub, grant.feature)
    plan_grants_it = any(g.feature.id == grant.feature.id for g in plan_grants(session, sub.plan))
    now = clock.now()
    if plan_grants_it:
        if row is None:
            row = SubscriptionEntitlement(
                id=new_id(),
                organization_id=sub.organization_id,
                subscription_id=sub.id,
                feature_id=grant.feature.id,
                privilege_values={},
                removed=True,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        row.removed = True
        row.privilege_values = {}
        row.updated_at = now
    elif row is not None:
        session.delete(row)
    session.flush()
    return grant


def remove_subscription_override(
    session: Session, *, sub: Subscription, feature_code: str, privilege_code: str, clock: Clock
) -> SubscriptionGrant:
    """The privilege's override goes: the plan's value applies again."""
    grant = _subscription_grant(session, sub, feature_code)
    if privilege_code not in grant.overrides:
        raise NotFound("privilege")
    row = _subscription_row(session, sub, grant.feature)
    assert row is not None
    values = dict(row.privilege_values)
    del values[privilege_code]
    row.privilege_values = values
    row.updated_at = clock.now()
    session.flush()
    return _subscription_grant(session, sub, feature_code)


def _subscription_grant(
    session: Session, sub: Subscription, feature_code: str
) -> SubscriptionGrant:
    for grant in subscription_grants(session, sub):
        if grant.feature.code == feature_code:
            return grant
    raise NotFound("entitlement")


def _subscription_row(
    session: Session, sub: Subscription, feature: Feature
) -> SubscriptionEntitlement | None:
    return session.scalar(
        select(SubscriptionEntitlement).where(
            SubscriptionEntitlement.subscription_id == sub.id,
            SubscriptionEntitlement.feature_id == feature.id,
        )
    )


def _plan_row(session: Session, plan: Plan, feature: Feature) -> PlanEntitlement:
    row = session.scalar(
        select(PlanEntitlement).where(
            PlanEntitlement.plan_id == granting_plan_id(plan),
            PlanEntitlement.feature_id == feature.id,
        )
    )
    if row is None:
        raise NotFound("entitlement")
    return row


def _checked(
    session: Session, organization_id: str, requested: Requested
) -> list[tuple[Feature, dict[str, PrivilegeValue]]]:
    """Every feature exists and every privilege sent exists on it with a value of its type;
    nothing is written before all of them are checked."""
    if not isinstance(requested, Mapping):
        raise ValidationFailed.field("entitlements", "value_is_invalid")
    codes = list(requested)
    features = {
        f.code: f
        for f in session.scalars(
            select(Feature).where(
                Feature.organization_id == organization_id, Feature.code.in_(codes)
            )
        )
    }
    unknown = [c for c in codes if c not in features]
    if unknown:
        raise NotFound("feature")
    privileges = privileges_of(session, [f.id for f in features.values()])
    checked = []
    for code in codes:
        feature = features[code]
        sent = requested[code] if requested[code] is not None else {}
        if not isinstance(sent, Mapping):
            raise ValidationFailed.field(f"entitlements.{code}", "value_is_invalid")
        by_code = {p.code: as_privilege(p) for p in privileges[feature.id]}
        values: dict[str, PrivilegeValue] = {}
        for privilege_code, raw in sent.items():
            privilege = by_code.get(privilege_code)
            if privilege is None:
                raise NotFound("privilege")
            values[privilege_code] = coerce(
                privilege, raw, field=f"entitlements.{code}.{privilege_code}"
            )
        checked.append((feature, values))
    return checked
