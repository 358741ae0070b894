"""The spend-control pass: progressive-billing thresholds and usage alerts.

The worker runs it every few seconds and `meterly bill` once per run. Each subscription
and each alert is checked in its own unit of work, so one failure does not block others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from meterly.services.common import Clock
from meterly.services.spend_control import alerts, progressive_billing
from meterly.store.clock_scope import alert_in_scope
from meterly.store.tables import Subscription
from meterly.store.tables_spend import Alert
from meterly.store.uow import Database

log = logging.getLogger(__name__)


@dataclass
class SpendReport:
    progressive_invoices: list[str] = field(default_factory=list)
    alerts_triggered: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def run_checks(
    database: Database, *, clock: Clock, organization_id: str | None = None
) -> SpendReport:
    report = SpendReport()
    with database.unit_of_work() as session:
        subscription_ids = progressive_billing.checks_due(session, organization_id=organization_id)
        query = select(Alert.id).where(Alert.deleted_at.is_(None), alert_in_scope())
        if organization_id:
            query = query.where(Alert.organization_id == organization_id)
        alert_ids = list(session.scalars(query))
    for sub_id in subscription_ids:
        try:
            with database.unit_of_work() as session:
                sub = session.get(Subscription, sub_id)
                if sub is None:
                    continue
                invoice = progressive_billing.check_thresholds(session, sub=sub, clock=clock)
                if invoice is not None:
                    report.progressive_invoices.append(invoice.id)
        except Exception as exc:  # one subscription must not stop the pass
            log.exception("threshold check failed for %s", sub_id)
            report.errors.append((sub_id, f"{type(exc).__name__}: {exc}"))
    for alert_id in alert_ids:
        try:
            with database.unit_of_work() as session:
                alert = session.get(Alert, alert_id)
                if alert is not None and alerts.evaluate(session, alert=alert, clock=clock):
                    report.alerts_triggered += 1
        except Exception as exc:
            log.exception("alert evaluation failed for %s", alert_id)
            report.errors.append((alert_id, f"{type(exc).__name__}: {exc}"))
    return report
