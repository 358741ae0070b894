"""Billable metrics: what to aggregate from events, and how."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.usage import (
    AggregationType,
    BillableMetric,
    MetricFilter,
    RoundingFunction,
)
from meterly.services.common import Clock, new_id
from meterly.store.tables import BillableMetricRow, Charge, Plan, Subscription

# Lago: recurring only makes sense where the total carries over a period boundary.
_RECURRING_ALLOWED = {
    AggregationType.SUM,
    AggregationType.UNIQUE_COUNT,
    AggregationType.WEIGHTED_SUM,
}


@dataclass(frozen=True, slots=True)
class MetricInput:
    """A create or update request; None means "not sent"."""

    name: str | None = None
    code: str | None = None
    description: str | None = None
    aggregation_type: str | None = None
    field_name: str | None = None
    recurring: bool | None = None
    rounding_function: str | None = None
    rounding_precision: int | None = None
    weighted_interval: str | None = None
    expression: str | None = None
    filters: list[dict[str, Any]] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


def to_domain(row: BillableMetricRow) -> BillableMetric:
    return BillableMetric(
        code=row.code,
        aggregation_type=AggregationType(row.aggregation_type),
        field_name=row.field_name,
        recurring=row.recurring,
        rounding_function=RoundingFunction(row.rounding_function)
        if row.rounding_function
        else None,
        rounding_precision=row.rounding_precision,
        weighted_interval=row.weighted_interval,
        filters=tuple(
            MetricFilter(key=f["key"], values=tuple(f["values"])) for f in row.filters or ()
        ),
    )


def find(session: Session, *, organization_id: str, code: str) -> BillableMetricRow:
    row = session.scalar(
        select(BillableMetricRow).where(
            BillableMetricRow.organization_id == organization_id,
            BillableMetricRow.code == code,
            BillableMetricRow.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("billable_metric")
    return row


def find_by_id(session: Session, *, organization_id: str, metric_id: str) -> BillableMetricRow:
    row = session.get(BillableMetricRow, metric_id)
    if row is None or row.organization_id != organization_id or row.deleted_at is not None:
        raise NotFound("billable_metric")
    return row


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int
) -> tuple[list[BillableMetricRow], int]:
    where = (
        BillableMetricRow.organization_id == organization_id,
        BillableMetricRow.deleted_at.is_(None),
    )
    total = session.scalar(select(func.count()).select_from(BillableMetricRow).where(*where)) or 0
    rows = session.scalars(
        select(BillableMetricRow)
        .where(*where)
        .order_by(BillableMetricRow.created_at.desc(), BillableMetricRow.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def create(
    session: Session, *, organization_id: str, data: MetricInput, clock: Clock
) -> BillableMetricRow:
    errors: dict[str, list[str]] = {}
    for required in ("name", "code", "aggregation_type"):
        if not getattr(data, required):
            errors[required] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    assert data.code is not None
    exists = session.scalar(
        select(BillableMetricRow.id).where(
            BillableMetricRow.organization_id == organization_id,
            BillableMetricRow.code == data.code,
            BillableMetricRow.deleted_at.is_(None),
        )
    )
    if exists:
        raise ValidationFailed.field("code", "value_already_exist")
    now = clock.now()
    row = BillableMetricRow(
        id=new_id(),
        organization_id=organization_id,
        code=data.code,
        name=data.name,
        description=data.description,
        recurring=False,
        filters=[],
        created_at=now,
        updated_at=now,
    )
    _apply(row, data, creating=True)
    session.add(row)
    session.flush()
    return row


def update(
    session: Session, *, row: BillableMetricRow, data: MetricInput, clock: Clock
) -> BillableMetricRow:
    """Lago: once a plan uses the metric only name, description and filters may change."""
    attached = is_attached(session, row.id)
    if data.code and data.code != row.code and not attached:
        taken = session.scalar(
            select(BillableMetricRow.id).where(
                BillableMetricRow.organization_id == row.organization_id,
                BillableMetricRow.code == data.code,
                BillableMetricRow.deleted_at.is_(None),
            )
        )
        if taken:
            raise ValidationFailed.field("code", "value_already_exist")
        row.code = data.code
    if data.name:
        row.name = data.name
    if "description" in data.sent:
        row.description = data.description
    if attached:
        if data.filters is not None:
            row.filters = _filters(data.filters)
    else:
        _apply(row, data, creating=False)
    row.updated_at = clock.now()
    return row


def is_attached(session: Session, metric_id: str) -> bool:
    return (
        session.scalar(
            select(Charge.id)
            .where(Charge.billable_metric_id == metric_id, Charge.deleted_at.is_(None))
            .limit(1)
        )
        is not None
    )


@dataclass(frozen=True, slots=True)
class MetricUse:
    """Who prices a metric: the plans charging it, and the active subscriptions on them."""

    plans: tuple[Plan, ...] = ()
    active_subscriptions: int = 0


def uses(session: Session, *, organization_id: str) -> dict[str, MetricUse]:
    """Per metric id, the catalogue plans with a live charge on it and the active
    subscriptions billed through them. A subscription with plan overrides is on a child plan
    with its own charges: it counts for the metrics its own plan charges, under its parent."""
    charged = session.execute(
        select(Charge.billable_metric_id, Charge.plan_id)
        .join(Plan, Plan.id == Charge.plan_id)
        .where(
            Charge.organization_id == organization_id,
            Charge.deleted_at.is_(None),
            Plan.deleted_at.is_(None),
        )
        .distinct()
    ).all()
    active = dict(
        session.execute(
            select(Subscription.plan_id, func.count())
            .where(
                Subscription.organization_id == organization_id,
                Subscription.status == "active",
            )
            .group_by(Subscription.plan_id)
        ).all()
    )
    by_id = _plans_with_parents(session, {plan_id for _, plan_id in charged})
    plans: dict[str, dict[str, Plan]] = {}
    subscriptions: dict[str, int] = {}
    for metric_id, plan_id in charged:
        plan = by_id[plan_id]
        shown = by_id[plan.parent_id] if plan.parent_id else plan
        plans.setdefault(metric_id, {})[shown.id] = shown
        subscriptions[metric_id] = subscriptions.get(metric_id, 0) + active.get(plan_id, 0)
    return {
        metric_id: MetricUse(
            plans=tuple(sorted(rows.values(), key=lambda p: p.name)),
            active_subscriptions=subscriptions.get(metric_id, 0),
        )
        for metric_id, rows in plans.items()
    }


def _plans_with_parents(session: Session, plan_ids: set[str]) -> dict[str, Plan]:
    found = {p.id: p for p in session.scalars(select(Plan).where(Plan.id.in_(plan_ids)))}
    parents = {p.parent_id for p in found.values() if p.parent_id} - found.keys()
    found |= {p.id: p for p in session.scalars(select(Plan).where(Plan.id.in_(parents)))}
    return found


def delete(session: Session, *, row: BillableMetricRow, clock: Clock) -> BillableMetricRow:
    """Soft delete; the charges that priced it go with it (Lago cascades)."""
    now = clock.now()
    row.deleted_at = now
    for charge in session.scalars(
        select(Charge).where(Charge.billable_metric_id == row.id, Charge.deleted_at.is_(None))
    ):
        charge.deleted_at = now
    return row


def _apply(row: BillableMetricRow, data: MetricInput, *, creating: bool) -> None:
    errors: dict[str, list[str]] = {}
    aggregation = data.aggregation_type or row.aggregation_type
    try:
        agg = AggregationType(aggregation)
    except ValueError:
        raise ValidationFailed.field("aggregation_type", "value_is_invalid") from None
    recurring = data.recurring if data.recurring is not None else row.recurring
    field_name = data.field_name if "field_name" in data.sent else row.field_name
    if agg is AggregationType.COUNT:
        field_name = None
    elif not field_name:
        errors["field_name"] = ["value_is_mandatory"]
    if recurring and agg not in _RECURRING_ALLOWED:
        errors["recurring"] = ["not_compatible_with_aggregation_type"]
    weighted = data.weighted_interval or row.weighted_interval
    if agg is AggregationType.WEIGHTED_SUM:
        weighted = weighted or "seconds"
        if weighted != "seconds":
            errors["weighted_interval"] = ["value_is_invalid"]
    else:
        weighted = None
    rounding = data.rounding_function if "rounding_function" in data.sent else None
    if rounding is not None and rounding not in {r.value for r in RoundingFunction}:
        errors["rounding_function"] = ["value_is_invalid"]
    if data.expression:
        errors.update(_check_expression(data.expression))
    if errors:
        raise ValidationFailed(errors)
    row.aggregation_type = agg.value
    row.recurring = bool(recurring)
    row.field_name = field_name
    row.weighted_interval = weighted
    if creating or "rounding_function" in data.sent:
        row.rounding_function = rounding
    if creating or "rounding_precision" in data.sent:
        row.rounding_precision = data.rounding_precision
    if creating or "expression" in data.sent:
        row.expression = data.expression
    if data.filters is not None:
        row.filters = _filters(data.filters)


def _filters(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for item in raw:
        key, values = item.get("key"), item.get("values")
        if not isinstance(key, str) or not key or not isinstance(values, list) or not values:
            raise ValidationFailed.field("filters", "value_is_invalid")
        if not all(isinstance(v, str) for v in values):
            raise ValidationFailed.field("filters", "value_is_invalid")
        result.append({"key": key, "values": sorted(set(values))})
    return result


def _check_expression(expression: str) -> dict[str, list[str]]:
    from meterly.domain.expressions import ExpressionError, parse_expression

    try:
        parse_expression(expression)
    except ExpressionError:
        return {"expression": ["invalid_expression"]}
    return {}
