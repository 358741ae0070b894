"""Lago's analytics rows on the wire (lago-api.md §7.10, lago-features.md §22)."""

from __future__ import annotations

from datetime import date
from typing import Any

from meterly.api.wire import dec
from meterly.services.analytics import MonthRow, usage_analytics


def month(value: date) -> str:
    """Lago sends the first instant of the month: `2024-01-01T00:00:00.000Z`."""
    return f"{value.isoformat()}T00:00:00.000Z"


def gross_revenue(row: MonthRow) -> dict[str, Any]:
    return {
        "month": month(row.month),
        "amount_cents": row.amount_cents,
        "currency": row.currency,
        "invoices_count": row.invoices_count,
        "billing_entity_id": None,
    }


def mrr(row: MonthRow) -> dict[str, Any]:
    return {"month": month(row.month), "amount_cents": row.amount_cents, "currency": row.currency}


def invoiced_usage(row: MonthRow) -> dict[str, Any]:
    return {
        "month": month(row.month),
        "code": row.code,
        "currency": row.currency,
        "amount_cents": row.amount_cents,
    }


def invoice_collection(row: MonthRow) -> dict[str, Any]:
    return {
        "month": month(row.month),
        "payment_status": row.payment_status,
        "invoices_count": row.invoices_count,
        "amount_cents": row.amount_cents,
        "currency": row.currency,
    }


def overdue_balance(row: MonthRow) -> dict[str, Any]:
    return {
        "month": month(row.month),
        "amount_cents": row.amount_cents,
        "currency": row.currency,
        "lago_invoice_ids": list(row.invoice_ids),
        "billing_entity_id": None,
    }


def usage(organization_id: str, row: usage_analytics.UsageRow) -> dict[str, Any]:
    return {
        "organization_id": organization_id,
        "start_of_period_dt": row.start.isoformat(),
        "end_of_period_dt": row.end.isoformat(),
        "amount_currency": row.currency,
        "amount_cents": row.amount_cents,
        "billable_metric_code": row.billable_metric_code,
        "units": dec(row.units),
        "is_billable_metric_deleted": row.metric_deleted,
    }
