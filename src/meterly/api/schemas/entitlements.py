"""Features and entitlements on the wire (Lago's feature, plan and subscription
entitlement objects), and Meterly's access check."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.domain.entitlements import ResolvedPrivilege
from meterly.services.entitlements import AccessCheck, Grant, SubscriptionGrant
from meterly.store.tables import Feature, FeaturePrivilege


class FeatureIn(Payload):
    code: str | None = None
    name: str | None = None
    description: str | None = None
    privileges: list[Any] | None = None


def privilege(row: FeaturePrivilege) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "value_type": row.value_type,
        "config": dict(row.config or {}),
    }


def feature(row: Feature, privileges: Iterable[FeaturePrivilege]) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "description": row.description,
        "privileges": [privilege(p) for p in privileges],
        "created_at": iso(row.created_at),
    }


def plan_entitlement(grant: Grant) -> dict[str, Any]:
    """The feature with each privilege the plan gives a value."""
    return {
        "code": grant.feature.code,
        "name": grant.feature.name,
        "description": grant.feature.description,
        "privileges": [
            {**privilege(p), "value": grant.values[p.code]}
            for p in grant.privileges
            if p.code in grant.values
        ],
    }


def subscription_entitlement(grant: SubscriptionGrant) -> dict[str, Any]:
    rows = {p.code: p for p in grant.privileges}
    return {
        "code": grant.feature.code,
        "name": grant.feature.name,
        "description": grant.feature.description,
        "privileges": [_resolved(rows[r.code], r) for r in grant.resolved],
        "overrides": dict(grant.overrides),
    }


def _resolved(row: FeaturePrivilege, resolved: ResolvedPrivilege) -> dict[str, Any]:
    return {
        **privilege(row),
        "value": resolved.value,
        "plan_value": resolved.plan_value,
        "override_value": resolved.override_value,
    }


def access_check(check: AccessCheck) -> dict[str, Any]:
    return {
        "external_subscription_id": check.external_subscription_id,
        "feature_code": check.feature_code,
        "has_access": check.decision.has_access,
        "reason": check.decision.reason.value if check.decision.reason else None,
        "privileges": {p.code: p.value for p in check.privileges},
        "limits": [
            {
                "privilege_code": limit.privilege_code,
                "billable_metric_code": limit.billable_metric_code,
                "limit": limit.limit,
                "usage": None if limit.usage is None else format(limit.usage, "f"),
                "remaining": None if limit.remaining is None else format(limit.remaining, "f"),
            }
            for limit in check.limits
        ],
        "prepaid_balance_cents": check.prepaid_balance_cents,
        "checked_at": iso(check.checked_at),
    }
