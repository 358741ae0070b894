"""Features and their privileges (Lago's `/features`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from meterly.domain.entitlements import (
    MAX_CODE,
    MAX_DESCRIPTION,
    Privilege,
    ValueType,
    value_type,
)
from meterly.domain.errors import NotFound, ValidationFailed
from meterly.services.catalog import billable_metrics
from meterly.services.common import Clock, new_id
from meterly.store.tables import (
    Feature,
    FeaturePrivilege,
    PlanEntitlement,
    SubscriptionEntitlement,
)


@dataclass(frozen=True, slots=True)
class FeatureInput:
    """A create or update request; `sent` names the fields present in it."""

    code: str | None = None
    name: str | None = None
    description: str | None = None
    privileges: Sequence[Mapping[str, Any]] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


def find(session: Session, *, organization_id: str, code: str) -> Feature:
    row = session.scalar(
        select(Feature).where(Feature.organization_id == organization_id, Feature.code == code)
    )
    if row is None:
        raise NotFound("feature")
    return row


def privileges_of(
    session: Session, feature_ids: Sequence[str]
) -> dict[str, list[FeaturePrivilege]]:
    """Each feature's privileges, in the order they were added."""
    found: dict[str, list[FeaturePrivilege]] = {fid: [] for fid in feature_ids}
    if feature_ids:
        rows = session.scalars(
            select(FeaturePrivilege)
            .where(FeaturePrivilege.feature_id.in_(feature_ids))
            .order_by(FeaturePrivilege.position)
        )
        for row in rows:
            found[row.feature_id].append(row)
    return found


def as_privilege(row: FeaturePrivilege) -> Privilege:
    config = row.config or {}
    return Privilege(
        code=row.code,
        value_type=ValueType(row.value_type),
        select_options=tuple(config.get("select_options") or ()),
        billable_metric_code=config.get("billable_metric_code"),
    )


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int, search: str | None
) -> tuple[list[Feature], int]:
    where = [Feature.organization_id == organization_id]
    if search:
        term = f"%{search.lower()}%"
        where.append(
            or_(
                func.lower(Feature.code).like(term),
                func.lower(func.coalesce(Feature.name, "")).like(term),
                func.lower(func.coalesce(Feature.description, "")).like(term),
            )
        )
    total = session.scalar(select(func.count()).select_from(Feature).where(*where)) or 0
    rows = session.scalars(
        select(Feature)
        .where(*where)
        .order_by(Feature.created_at.desc(), Feature.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def create(session: Session, *, organization_id: str, data: FeatureInput, clock: Clock) -> Feature:
    if not data.code:
        raise ValidationFailed.field("code", "value_is_mandatory")
    _check_text(data)
    if session.scalar(
        select(Feature.id).where(
            Feature.organization_id == organization_id, Feature.code == data.code
        )
    ):
        raise ValidationFailed.field("code", "value_already_exist")
    now = clock.now()
    row = Feature(
        id=new_id(),
        organization_id=organization_id,
        code=data.code,
        name=data.name,
        description=data.description,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _upsert_privileges(session, row, data.privileges or (), clock=clock)
    return row


def update(session: Session, *, row: Feature, data: FeatureInput, clock: Clock) -> Feature:
    """Name and description as sent; privileges sent are added or changed, others kept
    (a privilege is removed only through its own DELETE route, which also removes it from
    every plan and subscription)."""
    _check_text(data)
    if "name" in data.sent:
        row.name = data.name
    if "description" in data.sent:
        row.description = data.description
    if data.privileges is not None:
        _upsert_privileges(session, row, data.privileges, clock=clock)
    row.updated_at = clock.now()
    session.flush()
    return row


def delete_feature(session: Session, *, row: Feature) -> None:
    """Deleting a feature takes it away from every plan and subscription (as Lago does)."""
    for table in (PlanEntitlement, SubscriptionEntitlement, FeaturePrivilege):
        session.execute(delete(table).where(table.feature_id == row.id))
    session.delete(row)
    session.flush()


def delete_privilege(session: Session, *, row: Feature, privilege_code: str, clock: Clock) -> None:
    """The privilege goes, and so do the values plans and subscriptions gave it."""
    privilege = session.scalar(
        select(FeaturePrivilege).where(
            FeaturePrivilege.feature_id == row.id, FeaturePrivilege.code == privilege_code
        )
    )
    if privilege is None:
        raise NotFound("privilege")
    grants: list[PlanEntitlement | SubscriptionEntitlement] = [
        *session.scalars(select(PlanEntitlement).where(PlanEntitlement.feature_id == row.id)),
        *session.scalars(
            select(SubscriptionEntitlement).where(SubscriptionEntitlement.feature_id == row.id)
        ),
    ]
    for grant in grants:
        if privilege_code in (grant.privilege_values or {}):
            values = dict(grant.privilege_values)
            del values[privilege_code]
            grant.privilege_values = values
    session.delete(privilege)
    row.updated_at = clock.now()
    session.flush()


def _check_text(data: FeatureInput) -> None:
    if data.code is not None and len(data.code) > MAX_CODE:
        raise ValidationFailed.field("code", "value_is_too_long")
    if data.name is not None and len(data.name) > MAX_CODE:
        raise ValidationFailed.field("name", "value_is_too_long")
    if data.description is not None and len(data.description) > MAX_DESCRIPTION:
        raise ValidationFailed.field("description", "value_is_too_long")


def _upsert_privileges(
    session: Session, feature: Feature, sent: Sequence[Mapping[str, Any]], *, clock: Clock
) -> None:
    existing = {p.code: p for p in privileges_of(session, [feature.id])[feature.id]}
    position = max((p.position for p in existing.values()), default=-1)
    seen: set[str] = set()
    for index, raw in enumerate(sent):
        where = f"privileges.{index}"
        if not isinstance(raw, Mapping):
            raise ValidationFailed.field(where, "value_is_invalid")
        code = raw.get("code")
        if not isinstance(code, str) or not code:
            raise ValidationFailed.field(f"{where}.code", "value_is_mandatory")
        if len(code) > MAX_CODE:
            raise ValidationFailed.field(f"{where}.code", "value_is_too_long")
        if code in seen:
            raise ValidationFailed.field(f"{where}.code", "value_already_exist")
        seen.add(code)
        name = raw.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > MAX_CODE):
            raise ValidationFailed.field(f"{where}.name", "value_is_invalid")
        row = existing.get(code)
        # The type of an existing privilege is kept unless sent: its values depend on it.
        kind = value_type(
            raw.get("value_type", row.value_type if row else None), field=f"{where}.value_type"
        )
        config = _config(session, feature.organization_id, kind, raw.get("config"), where)
        if row is None:
            position += 1
            session.add(
                FeaturePrivilege(
                    id=new_id(),
                    feature_id=feature.id,
                    code=code,
                    name=name,
                    value_type=kind.value,
                    position=position,
                    config=config,
                    created_at=clock.now(),
                )
            )
        else:
            if "name" in raw:
                row.name = name
            row.value_type = kind.value
            row.config = config
    session.flush()


def _config(
    session: Session, organization_id: str, kind: ValueType, raw: object, where: str
) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValidationFailed.field(f"{where}.config", "value_is_invalid")
    config: dict[str, Any] = {}
    options = raw.get("select_options")
    if kind is ValueType.SELECT:
        if (
            not isinstance(options, list)
            or not options
            or not all(isinstance(o, str) and o for o in options)
        ):
            raise ValidationFailed.field(f"{where}.config.select_options", "value_is_mandatory")
        config["select_options"] = list(dict.fromkeys(options))
    metric_code = raw.get("billable_metric_code")
    if metric_code is not None:
        # Meterly's extension: an integer privilege naming a metric is a usage limit.
        if kind is not ValueType.INTEGER or not isinstance(metric_code, str):
            raise ValidationFailed.field(f"{where}.config.billable_metric_code", "value_is_invalid")
        billable_metrics.find(session, organization_id=organization_id, code=metric_code)
        config["billable_metric_code"] = metric_code
    return config
