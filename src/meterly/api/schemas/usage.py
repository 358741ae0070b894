"""Customer usage (current, projected) on the wire."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from meterly.api.wire import dec, iso, iso_date
from meterly.domain.money import Currency
from meterly.services.metering import BucketUsage, ChargeUsage, SubscriptionUsage, project_bucket


def _filter_row(bucket: BucketUsage, projection: tuple[Decimal, int] | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "units": dec(bucket.units),
        "total_aggregated_units": dec(bucket.units),
        "events_count": bucket.events_count,
        "amount_cents": bucket.fee.amount_cents,
        "pricing_unit_details": None,
        "invoice_display_name": bucket.charge_filter.invoice_display_name
        if bucket.charge_filter
        else None,
        "values": dict(bucket.charge_filter.values) if bucket.charge_filter else None,
        "presentation_breakdowns": [],
    }
    if projection is not None:
        row["values"] = row["values"] or {}
        row["projected_units"] = dec(projection[0])
        row["projected_amount_cents"] = projection[1]
    return row


def _charge_usage(usage: ChargeUsage, cur: Currency, ratio: Decimal | None) -> dict[str, Any]:
    charge, metric = usage.charge, usage.charge.billable_metric
    projections = [
        project_bucket(b, charge, cur, ratio) if ratio is not None else None for b in usage.buckets
    ]
    has_filters = bool(charge.filters)
    plain = [(b, p) for b, p in zip(usage.buckets, projections, strict=True) if not b.grouped_by]
    grouped: dict[tuple[tuple[str, Any], ...], list[tuple[BucketUsage, Any]]] = {}
    for b, p in zip(usage.buckets, projections, strict=True):
        if b.grouped_by:
            grouped.setdefault(tuple(sorted(b.grouped_by.items())), []).append((b, p))
    body: dict[str, Any] = {
        "units": dec(usage.units),
        "total_aggregated_units": dec(usage.units),
        "events_count": usage.events_count,
        "amount_cents": usage.amount_cents,
        "amount_currency": cur.code,
        "pricing_unit_details": None,
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
        "filters": [_filter_row(b, p) for b, p in plain] if has_filters else [],
        "grouped_usage": [
            {
                "units": dec(sum((b.units for b, _ in rows), Decimal(0))),
                "total_aggregated_units": dec(sum((b.units for b, _ in rows), Decimal(0))),
                "events_count": sum(b.events_count for b, _ in rows),
                "amount_cents": sum(b.fee.amount_cents for b, _ in rows),
                "pricing_unit_details": None,
                "grouped_by": dict(key),
                "filters": [_filter_row(b, p) for b, p in rows] if has_filters else [],
                "presentation_breakdowns": [],
            }
            for key, rows in grouped.items()
        ],
        "presentation_breakdowns": [],
    }
    if ratio is not None:
        body["projected_units"] = dec(sum((p[0] for p in projections if p), Decimal(0)))
        body["projected_amount_cents"] = sum(p[1] for p in projections if p)
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
