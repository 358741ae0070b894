"""A charge's filters: the prices of a charge for events with given property values.

Each filter carries its own properties (priced like its charge) and the metric's filter
values it matches. Charges replace their filters wholesale with `replace_filters`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.pricing import charge_model as parse_charge_model
from meterly.services.catalog import charge_properties
from meterly.services.common import Clock, new_id
from meterly.store.tables import BillableMetricRow, Charge, ChargeFilter

ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"


# --- inputs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterInput:
    invoice_display_name: str | None = None
    properties: dict[str, Any] | None = None
    values: dict[str, list[str]] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


# --- charge filters ----------------------------------------------------------------


def find_filter(session: Session, *, charge: Charge, filter_id: str) -> ChargeFilter:
    row = session.get(ChargeFilter, filter_id)
    if row is None or row.charge_id != charge.id or row.deleted_at is not None:
        raise NotFound("charge_filter")
    return row


def list_filters_page(
    session: Session, *, charge: Charge, page: int, per_page: int
) -> tuple[list[ChargeFilter], int]:
    where = (ChargeFilter.charge_id == charge.id, ChargeFilter.deleted_at.is_(None))
    total = session.scalar(select(func.count()).select_from(ChargeFilter).where(*where)) or 0
    rows = session.scalars(
        select(ChargeFilter)
        .where(*where)
        .order_by(ChargeFilter.created_at, ChargeFilter.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def create_filter(
    session: Session, *, charge: Charge, data: FilterInput, clock: Clock
) -> ChargeFilter:
    metric = session.get_one(BillableMetricRow, charge.billable_metric_id)
    values = _filter_values(metric, data.values)
    _check_values_free(charge, values, exclude=None)
    now = clock.now()
    row = ChargeFilter(
        id=new_id(),
        charge_id=charge.id,
        invoice_display_name=data.invoice_display_name,
        properties=_filter_properties(charge, data.properties),
        values=values,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    session.expire(charge, ["filters"])
    return row


def update_filter(
    session: Session, *, charge: Charge, row: ChargeFilter, data: FilterInput, clock: Clock
) -> ChargeFilter:
    metric = session.get_one(BillableMetricRow, charge.billable_metric_id)
    if data.values is not None:
        values = _filter_values(metric, data.values)
        _check_values_free(charge, values, exclude=row.id)
        row.values = values
    if data.properties is not None:
        row.properties = _filter_properties(charge, data.properties)
    if "invoice_display_name" in data.sent:
        row.invoice_display_name = data.invoice_display_name
    row.updated_at = clock.now()
    session.flush()
    return row


def delete_filter(session: Session, *, row: ChargeFilter, clock: Clock) -> ChargeFilter:
    row.deleted_at = clock.now()
    session.flush()
    return row


def replace_filters(
    session: Session,
    *,
    charge: Charge,
    metric: BillableMetricRow,
    filters: Sequence[FilterInput],
    now: datetime,
) -> None:
    """Filters matched by their values keep their id; new ones are created, the rest go."""
    existing = {
        _values_key(f.values): f
        for f in session.scalars(
            select(ChargeFilter).where(
                ChargeFilter.charge_id == charge.id, ChargeFilter.deleted_at.is_(None)
            )
        )
    }
    seen: set[str] = set()
    for data in filters:
        values = _filter_values(metric, data.values)
        key = _values_key(values)
        if key in seen:
            raise ValidationFailed.field("values", "value_already_exist")
        seen.add(key)
        properties = _filter_properties(charge, data.properties)
        row = existing.get(key)
        if row is None:
            session.add(
                ChargeFilter(
                    id=new_id(),
                    charge_id=charge.id,
                    invoice_display_name=data.invoice_display_name,
                    properties=properties,
                    values=values,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            row.invoice_display_name = data.invoice_display_name
            row.properties = properties
            row.updated_at = now
    for key, row in existing.items():
        if key not in seen:
            row.deleted_at = now
    session.flush()


def _filter_properties(charge: Charge, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    model = parse_charge_model(charge.charge_model)
    return charge_properties.properties(
        model, raw if raw is not None else charge_properties.defaults(model)
    )


def _filter_values(
    metric: BillableMetricRow, raw: Mapping[str, Any] | None
) -> dict[str, list[str]]:
    """Keys and values must be declared by the metric's filters (or be the catch-all)."""
    if not raw:
        raise ValidationFailed.field("values", "value_is_mandatory")
    declared = {f["key"]: set(f["values"]) for f in metric.filters or ()}
    result: dict[str, list[str]] = {}
    for key, values in raw.items():
        if key not in declared or not isinstance(values, list) or not values:
            raise ValidationFailed.field("values", "value_is_invalid")
        if values == [ALL_FILTER_VALUES]:
            result[key] = [ALL_FILTER_VALUES]
            continue
        if not all(isinstance(v, str) and v in declared[key] for v in values):
            raise ValidationFailed.field("values", "value_is_invalid")
        result[key] = list(dict.fromkeys(values))
    return result


def _check_values_free(
    charge: Charge, values: Mapping[str, list[str]], exclude: str | None
) -> None:
    key = _values_key(values)
    for other in charge.filters:
        if other.id != exclude and other.deleted_at is None and _values_key(other.values) == key:
            raise ValidationFailed.field("values", "value_already_exist")


def _values_key(values: Mapping[str, Any]) -> str:
    return repr(sorted((k, sorted(v)) for k, v in values.items()))
