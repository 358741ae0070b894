"""Customer usage (current, projected) on the wire."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from meterly.api.wire import dec, iso, iso_date
from meterly.domain.money import Currency
from meterly.services.metering import BucketUsage, ChargeUsage, SubscriptionUsage, project_bucket

Row = tuple[BucketUsage, tuple[Decimal, int] | None]


def _totals(rows: list[Row]) -> dict[str, Any]:
    """Units (full, unprorated: lago-semantics.md item 13), events and amount of buckets."""
    units = dec(sum((b.usage_units for b, _ in rows), Decimal(0)))
    return {
        "units": units,
        "total_aggregated_units": units,
        "events_count": sum(b.events_count for b, _ in rows),
        "amount_cents": sum(b.fee.amount_cents for b, _ in rows),
        "pricing_unit_details": None,
    }


def _filter_rows(rows: list[Row], has_filters: bool) -> list[dict[str, Any]]:
    """One row per charge filter (and the default bucket) over `rows`, Lago's
    `fees.group_by(charge_filter)`: a filter split into groups adds its groups up."""
    if not has_filters:
        return []
    by_filter: dict[str | None, list[Row]] = {}
    for row in rows:
        bucket = row[0]
        by_filter.setdefault(bucket.charge_filter.id if bucket.charge_filter else None, []).append(
            row
        )
    out = []
    for merged in by_filter.values():
        charge_filter = merged[0][0].charge_filter
        body: dict[str, Any] = {
            **_totals(merged),
            "invoice_display_name": charge_filter.invoice_display_name if charge_filter else None,
            "values": dict(charge_filter.values) if charge_filter else None,
            "presentation_breakdowns": breakdowns(b for b, _ in merged),
        }
        if merged[0][1] is not None:
            body["values"] = body["values"] or {}
            body.update(_projected(merged))
        out.append(body)
    return out


def breakdowns(buckets: Iterable[BucketUsage]) -> list[dict[str, Any]]:
    """Lago's `presentation_breakdowns`: the buckets' units summed per presentation values."""
    units: dict[tuple[tuple[str, str | None], ...], Decimal] = {}
    for bucket in buckets:
        for by, value in bucket.presentation:
            units[by] = units.get(by, Decimal(0)) + value
    return [{"presentation_by": dict(by), "units": dec(value)} for by, value in units.items()]


def _projected(rows: list[Row]) -> dict[str, Any]:
    return {
        "projected_units": dec(sum((p[0] for _, p in rows if p), Decimal(0))),
        "projected_amount_cents": sum(p[1] for _, p in rows if p),
    }


def _grouped_usage(rows: list[Row], has_filters: bool) -> list[dict[str, Any]]:
    """One entry per `grouped_by` (Lago's `fees.group_by(grouped_by)`), each with its
    filter rows; none when no bucket is grouped."""
    if not any(b.grouped_by for b, _ in rows):
        return []
    by_group: dict[tuple[tuple[str, Any], ...], list[Row]] = {}
    for row in rows:
        by_group.setdefault(tuple(row[0].grouped_by.items()), []).append(row)
    return [
        {
            **_totals(group_rows),
            "grouped_by": dict(key),
            "filters": _filter_rows(group_rows, has_filters),
            "presentation_breakdowns": breakdowns(b for b, _ in group_rows),
        }
        for key, group_rows in by_group.items()
    ]


def _charge_usage(usage: ChargeUsage, cur: Currency, ratio: Decimal | None) -> dict[str, Any]:
    charge, metric = usage.charge, usage.charge.billable_metric
    rows: list[Row] = [
        (b, project_bucket(b, charge, cur, ratio) if ratio is not None else None)
        for b in usage.buckets
    ]
    has_filters = bool(charge.filters)
    body: dict[str, Any] = {
        **_totals(rows),
        "amount_currency": cur.code,
        "charge": {
            "lago_id": charge.id,
            "code": charge.code,
            "charge_model": charge.charge_model,
            "invoice_display_name": charge.invoice_display_name,
        },
        "billable_metric": {
            "lago_id": metric.id,
            "name": metric.name,
            "code": metric.code,
            "aggregation_type": metric.aggregation_type,
        },
        "filters": _filter_rows(rows, has_filters),
        "grouped_usage": _grouped_usage(rows, has_filters),
        "presentation_breakdowns": breakdowns(b for b, _ in rows),
    }
    if ratio is not None:
        body.update(_projected(rows))
        body["projected_presentation_breakdowns"] = []
    return body


def customer_usage(usage: SubscriptionUsage, *, ratio: Decimal | None = None) -> dict[str, Any]:
    charges = [_charge_usage(c, usage.currency, ratio) for c in usage.charges]
    body: dict[str, Any] = {
        "from_datetime": iso(usage.window.start),
        "to_datetime": iso(usage.window.end),
        "issuing_date": iso_date(_issuing_day(usage)),
        "currency": usage.currency.code,
        "amount_cents": usage.amount_cents,
        "total_amount_cents": usage.total_amount_cents,
        "taxes_amount_cents": usage.taxes_amount_cents,
        "lago_invoice_id": None,
        "charges_usage": charges,
    }
    if ratio is not None:
        body["projected_amount_cents"] = sum(c["projected_amount_cents"] for c in charges)
    return body


def _issuing_day(usage: SubscriptionUsage) -> Any:
    from meterly.domain.periods import local_date

    return local_date(usage.window.end_exclusive, timezone=usage.window.timezone)
