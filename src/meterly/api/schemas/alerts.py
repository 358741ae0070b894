"""Alerts and lifetime usage on the wire."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.store.tables import BillableMetricRow, Subscription
from meterly.store.tables_spend import Alert


class ThresholdIn(Payload):
    code: str | None = None
    value: str | int | None = None
    recurring: bool | None = None


class AlertIn(Payload):
    alert_type: str | None = None
    code: str | None = None
    name: str | None = None
    billable_metric_code: str | None = None
    direction: str | None = None
    thresholds: list[dict[str, Any]] | None = None


def alert(session: Session, row: Alert) -> dict[str, Any]:
    """Lago's alert; its billable_metric is the full metric object (the client needs it)."""
    from meterly.api.schemas.billable_metrics import billable_metric
    from meterly.store.tables_wallets import Wallet

    metric = (
        session.get(BillableMetricRow, row.billable_metric_id) if row.billable_metric_id else None
    )
    wallet = session.get(Wallet, row.wallet_id) if row.wallet_id else None
    wallet_code = wallet.code if wallet else None
    return {
        "lago_id": row.id,
        "lago_organization_id": row.organization_id,
        "subscription_external_id": row.external_subscription_id,
        "external_subscription_id": row.external_subscription_id,
        "lago_wallet_id": row.wallet_id,
        "wallet_code": wallet_code,
        "alert_type": row.alert_type,
        "code": row.code,
        "name": row.name,
        "direction": row.direction,
        "previous_value": format(row.previous_value, "f"),
        "last_processed_at": iso(row.last_processed_at),
        "thresholds": [
            {"code": t.get("code"), "value": t["value"], "recurring": bool(t.get("recurring"))}
            for t in row.thresholds
        ],
        "created_at": iso(row.created_at),
        "billable_metric": billable_metric(metric, counters=False) if metric else None,
    }


def lifetime_usage(
    sub: Subscription,
    *,
    record_id: str,
    historical: int,
    invoiced: int,
    current: int,
    thresholds: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "lago_id": record_id,
        "lago_subscription_id": sub.id,
        "external_subscription_id": sub.external_id,
        "external_historical_usage_amount_cents": historical,
        "invoiced_usage_amount_cents": invoiced,
        "current_usage_amount_cents": current,
        "from_datetime": iso(sub.started_at or sub.subscription_at),
        "to_datetime": iso(sub.terminated_at),
        "usage_thresholds": [
            {**t, "reached_at": iso(t["reached_at"]) if t.get("reached_at") else None}
            for t in thresholds
        ],
    }
