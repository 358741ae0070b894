"""Usage alerts: tell the customer's systems when usage or a balance crosses a threshold.

Alerts are evaluated by the worker (every few seconds) from the same usage figures the API
shows. A threshold is reported once per billing period (once ever for lifetime figures):
the (alert, period, threshold) key of `triggered_alerts` makes a second report impossible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.services.catalog import billable_metrics as metric_service
from meterly.services.common import Clock, new_id
from meterly.services.credits import wallets
from meterly.services.metering import charges_window, compute_usage
from meterly.services.notifications import webhooks
from meterly.services.spend_control.progressive_billing import lifetime_usage
from meterly.store.tables import BillableMetricRow, Subscription
from meterly.store.tables_spend import Alert, TriggeredAlert
from meterly.store.tables_wallets import Wallet

SUBSCRIPTION_TYPES = (
    "current_usage_amount",
    "billable_metric_current_usage_amount",
    "billable_metric_current_usage_units",
    "lifetime_usage_amount",
    "billable_metric_lifetime_usage_units",
)
WALLET_TYPES = (
    "wallet_balance_amount",
    "wallet_credits_balance",
    "wallet_ongoing_balance_amount",
    "wallet_credits_ongoing_balance",
)
_METRIC_TYPES = {
    "billable_metric_current_usage_amount",
    "billable_metric_current_usage_units",
    "billable_metric_lifetime_usage_units",
}
_LIFETIME_TYPES = {"lifetime_usage_amount", "billable_metric_lifetime_usage_units"}


@dataclass(frozen=True, slots=True)
class AlertInput:
    alert_type: str | None = None
    code: str | None = None
    name: str | None = None
    billable_metric_code: str | None = None
    thresholds: list[dict[str, Any]] | None = None
    direction: str | None = None


def _thresholds(raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed.field("thresholds", "value_is_mandatory")
    result, seen = [], set()
    for item in raw:
        if not isinstance(item, dict) or item.get("value") is None:
            raise ValidationFailed.field("thresholds", "value_is_invalid")
        try:
            value = Decimal(str(item["value"]))
        except InvalidOperation:
            raise ValidationFailed.field("thresholds", "value_is_invalid") from None
        if not value.is_finite() or value in seen:
            raise ValidationFailed.field("thresholds", "duplicated_values")
        seen.add(value)
        result.append(
            {
                "code": item.get("code"),
                "value": format(value, "f"),
                "recurring": bool(item.get("recurring")),
            }
        )
    if sum(1 for t in result if t["recurring"]) > 1:
        raise ValidationFailed.field("thresholds", "only_one_recurring_threshold")
    return sorted(result, key=lambda t: (t["recurring"], Decimal(t["value"])))


def create(
    session: Session,
    *,
    organization_id: str,
    data: AlertInput,
    clock: Clock,
    external_subscription_id: str | None = None,
    wallet_id: str | None = None,
) -> Alert:
    errors: dict[str, list[str]] = {}
    allowed = WALLET_TYPES if wallet_id else SUBSCRIPTION_TYPES
    if not data.alert_type:
        errors["alert_type"] = ["value_is_mandatory"]
    elif data.alert_type not in allowed:
        errors["alert_type"] = ["value_is_invalid"]
    if not data.code:
        errors["code"] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    metric_id = None
    if data.alert_type in _METRIC_TYPES:
        if not data.billable_metric_code:
            raise ValidationFailed.field("billable_metric", "value_is_mandatory")
        metric_id = metric_service.find(
            session, organization_id=organization_id, code=data.billable_metric_code
        ).id
    direction = data.direction or ("decreasing" if wallet_id else "increasing")
    if direction not in ("increasing", "decreasing"):
        raise ValidationFailed.field("direction", "value_is_invalid")
    taken = session.scalar(
        select(Alert.id).where(
            Alert.organization_id == organization_id,
            Alert.external_subscription_id == external_subscription_id,
            Alert.wallet_id == wallet_id,
            Alert.code == data.code,
            Alert.deleted_at.is_(None),
        )
    )
    if taken:
        raise ValidationFailed.field("code", "value_already_exist")
    now = clock.now()
    alert = Alert(
        id=new_id(),
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        wallet_id=wallet_id,
        alert_type=data.alert_type,
        code=data.code,
        name=data.name,
        billable_metric_id=metric_id,
        thresholds=_thresholds(data.thresholds),
        direction=direction,
        previous_value=Decimal(0),
        created_at=now,
        updated_at=now,
    )
    session.add(alert)
    session.flush()
    return alert


def update(session: Session, *, alert: Alert, data: AlertInput, clock: Clock) -> Alert:
    if data.name is not None:
        alert.name = data.name
    if data.thresholds is not None:
        alert.thresholds = _thresholds(data.thresholds)
    if data.billable_metric_code is not None and alert.alert_type in _METRIC_TYPES:
        alert.billable_metric_id = metric_service.find(
            session, organization_id=alert.organization_id, code=data.billable_metric_code
        ).id
    alert.updated_at = clock.now()
    return alert


def find(
    session: Session,
    *,
    organization_id: str,
    code: str,
    external_subscription_id: str | None = None,
    wallet_id: str | None = None,
) -> Alert:
    alert = session.scalar(
        select(Alert).where(
            Alert.organization_id == organization_id,
            Alert.external_subscription_id == external_subscription_id,
            Alert.wallet_id == wallet_id,
            Alert.code == code,
            Alert.deleted_at.is_(None),
        )
    )
    if alert is None:
        raise NotFound("alert")
    return alert


def list_for(
    session: Session,
    *,
    organization_id: str,
    external_subscription_id: str | None = None,
    wallet_id: str | None = None,
) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(
                Alert.organization_id == organization_id,
                Alert.external_subscription_id == external_subscription_id,
                Alert.wallet_id == wallet_id,
                Alert.deleted_at.is_(None),
            )
            .order_by(Alert.created_at)
        )
    )


def delete(session: Session, *, alert: Alert, clock: Clock) -> Alert:
    alert.deleted_at = clock.now()
    return alert


def metric_code(session: Session, alert: Alert) -> str | None:
    if alert.billable_metric_id is None:
        return None
    row = session.get(BillableMetricRow, alert.billable_metric_id)
    return row.code if row else None


# --- evaluation ------------------------------------------------------------------------


def crossed(
    thresholds: Sequence[Mapping[str, Any]], *, previous: Decimal, current: Decimal, direction: str
) -> list[tuple[str, Mapping[str, Any]]]:
    """(threshold key, threshold) crossed moving from `previous` to `current`.

    Increasing: value in (previous, current]. Decreasing: value in [current, previous).
    The recurring threshold repeats every `value` above the largest fixed one.
    """
    fixed = [t for t in thresholds if not t.get("recurring")]
    hits: list[tuple[str, Mapping[str, Any]]] = []
    for t in fixed:
        value = Decimal(str(t["value"]))
        if (direction == "increasing" and previous < value <= current) or (
            direction == "decreasing" and current <= value < previous
        ):
            hits.append((format(value, "f"), t))
    recurring = next((t for t in thresholds if t.get("recurring")), None)
    if recurring is not None and direction == "increasing":
        step = Decimal(str(recurring["value"]))
        base = max((Decimal(str(t["value"])) for t in fixed), default=Decimal(0))
        if step > 0 and current > base:
            start = int(max(previous - base, Decimal(0)) // step) + 1
            end = int((current - base) // step)
            for n in range(start, end + 1):
                hits.append((f"recurring:{base + step * n}", recurring))
    return hits


def _subscription_value(
    session: Session, alert: Alert, sub: Subscription, now: datetime
) -> tuple[Decimal, str]:

    window, full_days = charges_window(session, sub, at=now)
    period_key = window.start.isoformat()
    if alert.alert_type == "lifetime_usage_amount":
        return Decimal(lifetime_usage(session, sub=sub, at=now).total_cents), "lifetime"
    if alert.alert_type == "billable_metric_lifetime_usage_units":
        started = sub.started_at or sub.subscription_at
        from meterly.domain.periods import BillingPeriod

        window = BillingPeriod(start=started, end=max(now, started), timezone=window.timezone)
        period_key = "lifetime"
    usage = compute_usage(
        session, sub=sub, window=window, full_period_days=full_days, apply_taxes=False
    )
    charges = usage.charges
    if alert.billable_metric_id:
        charges = tuple(
            c for c in charges if c.charge.billable_metric_id == alert.billable_metric_id
        )
    if alert.alert_type == "current_usage_amount":
        return Decimal(usage.amount_cents), period_key
    if alert.alert_type.endswith("_units"):
        return sum((c.units for c in charges), Decimal(0)), period_key
    return Decimal(sum(c.amount_cents for c in charges)), period_key


def evaluate(session: Session, *, alert: Alert, clock: Clock) -> TriggeredAlert | None:
    """Compare the alert's figure with its last one; report newly crossed thresholds."""
    now = clock.now()
    if alert.wallet_id is not None:
        value = _wallet_value(session, alert, now)
        if value is None:
            return None
        period_key = "wallet"
    else:
        sub = session.scalar(
            select(Subscription).where(
                Subscription.organization_id == alert.organization_id,
                Subscription.external_id == alert.external_subscription_id,
                Subscription.status == "active",
            )
        )
        if sub is None:
            return None
        value, period_key = _subscription_value(session, alert, sub, now)
    previous = alert.previous_value
    # Current-usage figures start from zero again in a new period.
    if (
        period_key not in ("lifetime", "wallet")
        and alert.last_processed_at is not None
        and _period_key_at(session, alert, alert.last_processed_at) != period_key
    ):
        previous = Decimal(0)
    hits = crossed(alert.thresholds, previous=previous, current=value, direction=alert.direction)
    alert.previous_value = value
    alert.last_processed_at = now
    if not hits:
        return None
    fresh = []
    for key, threshold in hits:
        try:
            with session.begin_nested():
                session.add(
                    TriggeredAlert(
                        id=new_id(),
                        alert_id=alert.id,
                        period_key=period_key,
                        threshold_key=key,
                        current_value=value,
                        previous_value=previous,
                        crossed_thresholds=[dict(threshold)],
                        triggered_at=now,
                    )
                )
                session.flush()
            fresh.append(threshold)
        except IntegrityError:
            continue  # already reported in this period
    if not fresh:
        return None
    record = TriggeredAlert(
        id=new_id(),
        alert_id=alert.id,
        period_key=period_key,
        threshold_key="summary:" + new_id(),
        current_value=value,
        previous_value=previous,
        crossed_thresholds=[dict(t) for t in fresh],
        triggered_at=now,
    )
    session.add(record)
    session.flush()
    webhooks_enqueue(session, alert=alert, record=record, clock=clock)
    return record


def _period_key_at(session: Session, alert: Alert, at: datetime) -> str | None:

    sub = session.scalar(
        select(Subscription).where(
            Subscription.organization_id == alert.organization_id,
            Subscription.external_id == alert.external_subscription_id,
            Subscription.status == "active",
        )
    )
    if sub is None or at < (sub.started_at or sub.subscription_at):
        return None
    window, _days = charges_window(session, sub, at=at)
    return window.start.isoformat()


def triggered_alert_payload(
    session: Session, record: TriggeredAlert, alert: Alert
) -> dict[str, Any]:
    """Lago's `triggered_alert` object, rendered when the crossing happens."""
    return {
        "lago_id": record.id,
        "lago_alert_id": alert.id,
        "lago_organization_id": alert.organization_id,
        "external_subscription_id": alert.external_subscription_id,
        "lago_wallet_id": alert.wallet_id,
        "alert_code": alert.code,
        "alert_name": alert.name,
        "alert_type": alert.alert_type,
        "billable_metric_code": metric_code(session, alert),
        "current_value": format(record.current_value, "f"),
        "previous_value": format(record.previous_value, "f"),
        "crossed_thresholds": record.crossed_thresholds,
        "triggered_at": record.triggered_at.isoformat().replace("+00:00", "Z"),
    }


def webhooks_enqueue(
    session: Session, *, alert: Alert, record: TriggeredAlert, clock: Clock
) -> None:

    webhooks.enqueue(
        session,
        organization_id=alert.organization_id,
        webhook_type="alert.triggered",
        object_type="triggered_alert",
        object_id=record.id,
        clock=clock,
        payload=triggered_alert_payload(session, record, alert),
    )


def _wallet_value(session: Session, alert: Alert, now: datetime) -> Decimal | None:
    """The wallet figure a wallet alert watches (None once the wallet is gone)."""

    wallet = session.get(Wallet, alert.wallet_id)
    if wallet is None or wallet.status != "active":
        return None
    if alert.alert_type == "wallet_balance_amount":
        return Decimal(wallet.balance_cents)
    if alert.alert_type == "wallet_credits_balance":
        return Decimal(wallet.credits_balance)
    ongoing = wallets.ongoing_of(session, wallet=wallet, at=now)
    if alert.alert_type == "wallet_ongoing_balance_amount":
        return Decimal(ongoing.ongoing_balance_cents)
    return Decimal(ongoing.credits_ongoing_balance)


def evaluate_all(session: Session, *, clock: Clock, organization_id: str | None = None) -> int:
    query = select(Alert).where(Alert.deleted_at.is_(None))
    if organization_id:
        query = query.where(Alert.organization_id == organization_id)
    return sum(1 for alert in session.scalars(query) if evaluate(session, alert=alert, clock=clock))
